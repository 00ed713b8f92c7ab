"""How many pods of one gang fit, per domain: phase 1 of every placement strategy.

Every strategy starts by counting, bottom-up, how many pods of ``gpus_per_pod``
GPUs each host, leaf, spine, ... can hold (:func:`count_capacity`); they then
choose among the domains of one tier that hold the whole gang (:func:`fitting`),
never wider than the gang's ``maxTier`` (:func:`tier_limit`). :func:`without`
recounts with one domain masked, to route a gang around a degraded uplink.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netsched.domain.demand import Demand
from netsched.domain.scheme import TopologyScheme
from netsched.domain.topology import ClusterSnapshot


@dataclass(frozen=True, slots=True)
class Capacity:
    """How many pods of one demand fit, per domain: phase 1 of every strategy.

    Attributes:
        pods: domain index -> pods of ``gpus_per_pod`` that fit in it. A node with
            7 free GPUs holds no 8-GPU pod.
        best: domain index -> for each tier up to its own, the most pods any single
            descendant domain of that tier holds (``best[d][0]``: the roomiest host).
        fastest_host: domain index -> the fastest host uplink (Gbps) among its hosts
            with room, for lower bounds on communication time.
        hosts: domain index -> how many of its hosts have room for a pod.
    """

    pods: tuple[int, ...]
    best: tuple[tuple[int, ...], ...]
    fastest_host: tuple[float, ...]
    hosts: tuple[int, ...]

    def speed(self, snapshot: ClusterSnapshot, domain: int) -> float:
        """The fastest a gang's traffic can leave ``domain``: its uplink, or its best host's.

        Traffic leaving a domain crosses its uplink and at least one host uplink
        inside, so a leaf whose only roomy host has a degraded NIC is slow too.
        """
        return min(snapshot.effective_gbps(domain) or 0.0, self.fastest_host[domain])

    def fit_tier(self, domain: int, pods: int) -> int:
        """The lowest tier rank at which one descendant of ``domain`` holds ``pods``."""
        return next(rank for rank, most in enumerate(self.best[domain]) if most >= pods)


def count_capacity(snapshot: ClusterSnapshot, gpus_per_pod: int) -> Capacity:
    """Count pods per domain bottom-up: hosts first, then each tier from its children.

    Raises:
        ValueError: ``gpus_per_pod`` is below 1 (every strategy refuses such a
            demand first: see :func:`~netsched.domain.demand.gpu_problems`).
    """
    if gpus_per_pod < 1:
        raise ValueError(f"pods of {gpus_per_pod} GPUs: netsched counts GPU pods only")
    room = [snapshot.free[h] // gpus_per_pod for h in range(snapshot.host_count)]
    switches = [
        d for r in range(1, len(snapshot.scheme.tier_names)) for d in snapshot.tier_domains(r)
    ]
    return _recount(snapshot, room, switches, base=None)


def without(snapshot: ClusterSnapshot, capacity: Capacity, domain: int) -> Capacity:
    """``capacity`` with every host under ``domain`` counted as full.

    Used to route a gang around a degraded link: a masked domain offers no room.
    """
    masked = snapshot.domains[domain].hosts
    room = [0 if h in masked else capacity.pods[h] for h in range(snapshot.host_count)]
    touched: set[int] = set()
    for host in masked:
        touched.update(snapshot.ancestors(host)[1:])
    order = sorted(touched, key=lambda d: (snapshot.domains[d].tier_rank, d))
    return _recount(snapshot, room, order, base=capacity)


def _recount(
    snapshot: ClusterSnapshot, room: list[int], switches: Sequence[int], *, base: Capacity | None
) -> Capacity:
    """Recompute ``switches`` (narrowest first) from hosts' ``room``; others from ``base``."""
    domains = snapshot.domains
    pods = list(base.pods) if base else [0] * len(domains)
    best: list[tuple[int, ...]] = list(base.best) if base else [()] * len(domains)
    fastest = list(base.fastest_host) if base else [0.0] * len(domains)
    hosts = list(base.hosts) if base else [0] * len(domains)
    for host, count in enumerate(room):
        pods[host] = count
        best[host] = (count,)
        fastest[host] = (snapshot.effective_gbps(host) or 0.0) if count else 0.0
        hosts[host] = 1 if count else 0
    for index in switches:
        kids = domains[index].children
        pods[index] = sum(pods[k] for k in kids)
        lower = tuple(max(best[k][j] for k in kids) for j in range(domains[index].tier_rank))
        best[index] = (*lower, pods[index])
        fastest[index] = max(fastest[k] for k in kids)
        hosts[index] = sum(hosts[k] for k in kids)
    return Capacity(
        pods=tuple(pods), best=tuple(best), fastest_host=tuple(fastest), hosts=tuple(hosts)
    )


def tier_limit(demand: Demand, scheme: TopologyScheme) -> int:
    """The widest tier rank the gang may span: its maxTier, else the widest level."""
    if demand.max_tier is not None:
        return scheme.tier_rank(demand.max_tier)
    return len(scheme.tier_names) - 1


def fitting(snapshot: ClusterSnapshot, capacity: Capacity, *, rank: int, pods: int) -> list[int]:
    """The domains of one tier that hold ``pods`` pods, in path order."""
    return [d for d in snapshot.tier_domains(rank) if capacity.pods[d] >= pods]
