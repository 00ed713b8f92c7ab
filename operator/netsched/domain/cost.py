"""The cost model: bytes per link per training step, and the time they take.

Given a :class:`~netsched.domain.demand.Demand`, its ranks in order (rank i runs on
node ``order[i]``) and a snapshot, :func:`predict` returns a :class:`Cost`.

Links are the uplinks of the switch tree (host -> leaf, leaf -> spine, spine ->
core) and, when there are several widest-level domains (two zones, two blocks), each
one's link to the others: the interconnect, at the NetworkTopology's widest level's
``uplinkGbps`` (default: the next level's uplink). They are full duplex, so a link's
load is its busier direction. How many bytes each pattern sends between which ranks
(ring all-reduce, pipeline chain, all-to-all, Hybrid's groups of them) is
:mod:`netsched.domain.traffic`'s rule; this module routes those bytes up to the
lowest common switch (or over the interconnect) and back down, and times them.

Traffic between ranks on the same node uses NVLink and costs nothing on the
network: intra-node bandwidth is an order of magnitude above a NIC's, so it never
sets the step time of a multi-node gang. That is the one simplification here.

The predicted communication time per step is the bottleneck: ``max over links of
bytes / (Gbps * 1e9 / 8)``, where a link's Gbps is its share
(:meth:`~netsched.domain.topology.ClusterSnapshot.effective_gbps`)::

    share = bandwidth / (1 + running gangs whose traffic crosses the link)

The bandwidth is the measured one when fresh, else the level's nominal one (see
:func:`netsched.domain.topology.build_snapshot`); both are always positive, so the
predicted time is always finite (JSON has no Infinity). Sharing is what makes a slow or
oversubscribed uplink hurt in a busy cluster: a leaf uplink at a quarter of 1.6
Tbps still carries one 400 Gbps ring at full speed, but not three. The model:

* **Unit: gangs, not bytes.** Every running gang that crosses an uplink counts as
  one flow there, however many bytes it sends. Collectives are bulk transfers that
  saturate whatever share they get (NCCL keeps a link busy for the whole
  all-reduce), so during the communication phase every crossing gang is a
  backlogged flow, and a link's capacity is split among backlogged flows, not in
  proportion to their payloads. A gang's own bytes are already counted per link.
* **Share: max-min fair, equal split.** With n backlogged flows and nothing else
  limiting them, max-min fair sharing (the allocation TCP-like and DCQCN-like
  congestion control aims at) gives each ``bandwidth / n``; see Bertsekas and
  Gallager, *Data Networks* (2nd ed., 1992), section 6.5.2, and Le Boudec, *Rate
  adaptation, congestion control and fairness: a tutorial* (EPFL, 2005). A new gang
  on a link other gangs cross is flow ``1 + others``.
* **Why it matters for placement.** Production studies of GPU clusters find that
  communication contention *between* jobs on shared links is common and costly:
  Crux (Cao et al., SIGCOMM 2024) measured it on Alibaba's Lingjun cluster, the
  one this project benchmarks on; CASSINI (Rajasekaran et al., NSDI 2024) places
  jobs so that those sharing a link interleave their communication phases.

What it leaves out, on purpose: other gangs' bursts overlap with ours all the time
(pessimistic: CASSINI shows phases can interleave, and a gang that is computing
leaves its share to others), a flow limited elsewhere leaves part of its share
unused (max-min would give it to the others), and the running gangs are not slowed
in turn (placement never moves a running gang). The count makes the cost depend on
the order gangs arrive in, as it does in a real cluster.

Where the counts come from: every TrainingJob that is Placing or Running is a
:class:`RunningGang` (its ranks' nodes, from ``status.placement``), and
:func:`with_running` costs each on the snapshot and counts it on every uplink it
crosses. The operator does this from its watch of TrainingJobs, ``netsched place``
from the TrainingJobs in the cluster file, and the replays and ``netsched simulate``
from the gangs they started.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from netsched.domain.demand import Demand, Pattern
from netsched.domain.fabric import Domain
from netsched.domain.topology import ClusterSnapshot
from netsched.domain.traffic import all_to_all_uplink_bytes, host_flows

BYTES_PER_GBPS = 1e9 / 8


@dataclass(frozen=True, slots=True)
class Cost:
    """What a placement costs per training step.

    Attributes:
        comm_seconds: predicted communication time per step (the bottleneck link's).
        tier_spanned: the lowest tier whose single domain holds every rank.
        domain: the id of that domain (a node name for ``"host"``).
        cross_tier_bytes: tier -> bytes per step over all uplinks of that tier, both
            directions summed, narrowest tier first. The widest tier is there only when
            several widest-level domains are joined (its bytes cross the interconnect).
        link_bytes: domain id -> bytes per step on its uplink, busier direction; only
            links that carry traffic.
        bottleneck: id of the domain whose uplink sets ``comm_seconds``; None without
            network traffic.
        bottleneck_gbps: that uplink's bandwidth, shared (see the module docstring).
        split: the widest-level domains the gang is split over, in path order, when no
            one domain holds it (then ``tier_spanned`` is the widest tier and
            ``domain`` their ids joined by ``+``); empty otherwise.
    """

    comm_seconds: float
    tier_spanned: str
    domain: str
    cross_tier_bytes: Mapping[str, float]
    link_bytes: Mapping[str, float]
    bottleneck: str | None = None
    bottleneck_gbps: float | None = None
    split: tuple[str, ...] = ()

    @property
    def crossed_uplinks(self) -> tuple[str, ...]:
        """Ids of the domains whose uplinks carry this gang's traffic, once it runs.

        What a running gang adds to a snapshot's flows
        (:meth:`~netsched.domain.topology.ClusterSnapshot.with_allocation`); traffic
        between ranks on one node never reaches a link, so never appears here.
        """
        return tuple(link for link, size in self.link_bytes.items() if size > 0)

    def ranking(self) -> tuple[float, ...]:
        """Sort key: comm time, then cross-tier bytes widest tier first (smaller wins).

        Times are rounded to 12 significant digits so that equal placements costed
        along different summation orders still tie.
        """
        widest_first = tuple(reversed(list(self.cross_tier_bytes.values())))
        return (_rounded(self.comm_seconds), *map(_rounded, widest_first))


def predict(demand: Demand, order: Sequence[str], snapshot: ClusterSnapshot) -> Cost:
    """Cost ``demand`` with rank i on node ``order[i]``.

    Example:
        >>> from netsched.domain.demand import Demand, Pattern, degree_problems
        >>> from netsched.domain.scheme import DEFAULT_SCHEME
        >>> from netsched.domain.topology import build_snapshot
        >>> from netsched.domain.topology_sources import fat_tree
        >>> nodes = fat_tree(cores=1, spines_per_core=1, leaves_per_spine=2, hosts_per_leaf=2)
        >>> snap = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)
        >>> job = Demand(name="ns/j", replicas=2, gpus_per_pod=8,
        ...              pattern=Pattern.DATA_PARALLEL, bytes_per_step=50_000_000_000)
        >>> predict(job, ["node-c0-s0-l0-h0", "node-c0-s0-l0-h1"], snap).comm_seconds
        1.0

    Raises:
        ValueError: ``order`` does not have one node per replica, or a Hybrid demand
            breaks a rule of :func:`~netsched.domain.demand.degree_problems`.
        KeyError: a node is unknown to the snapshot or excluded from it.
    """
    if len(order) != demand.replicas:
        raise ValueError(f"{demand.name}: {len(order)} nodes for {demand.replicas} ranks")
    hosts = [snapshot.host_index(node) for node in order]
    out: defaultdict[int, float] = defaultdict(float)
    into: defaultdict[int, float] = defaultdict(float)
    if demand.pattern is Pattern.EXPERT_PARALLEL:
        _add_all_to_all(snapshot, hosts, float(demand.bytes_per_step), out, into)
    else:
        _add_pairs(snapshot, host_flows(demand, hosts), out, into)
    return _summarise(snapshot, hosts, out, into)


def _add_pairs(
    snapshot: ClusterSnapshot,
    flows: Mapping[tuple[int, int], float],
    out: defaultdict[int, float],
    into: defaultdict[int, float],
) -> None:
    """Route each host-to-host flow up to the lowest common switch and back down."""
    for (source, target), size in flows.items():
        up, down = snapshot.ancestors(source), snapshot.ancestors(target)
        for climbing, descending in zip(up, down, strict=True):
            if climbing == descending:
                break
            out[climbing] += size
            into[descending] += size


def _add_all_to_all(
    snapshot: ClusterSnapshot,
    hosts: Sequence[int],
    payload: float,
    out: defaultdict[int, float],
    into: defaultdict[int, float],
) -> None:
    ranks = len(hosts)
    inside = Counter(d for host in hosts for d in snapshot.ancestors(host))
    for domain, count in inside.items():
        if count == ranks:
            continue
        size = all_to_all_uplink_bytes(ranks=ranks, inside=count, payload=payload)
        out[domain] += size
        into[domain] += size


def _summarise(
    snapshot: ClusterSnapshot,
    hosts: Sequence[int],
    out: Mapping[int, float],
    into: Mapping[int, float],
) -> Cost:
    domains = snapshot.domains
    tiers = snapshot.scheme.tier_names
    crossing = dict.fromkeys(tiers if snapshot.interconnected else tiers[:-1], 0.0)
    link_bytes: dict[str, float] = {}
    worst: tuple[float, int, int] | None = None
    for index in sorted(set(out) | set(into)):
        domain = domains[index]
        busier = max(out.get(index, 0.0), into.get(index, 0.0))
        crossing[domain.tier] += out.get(index, 0.0) + into.get(index, 0.0)
        link_bytes[domain.id] = busier
        seconds = _seconds(busier, snapshot.effective_gbps(index))
        key = (seconds, domain.tier_rank, index)
        if worst is None or key[:2] > worst[:2]:
            worst = key
    used = set(hosts)
    spanned = _lowest_common(snapshot, used)
    roots = () if spanned or not used else _roots(snapshot, used)
    return Cost(
        comm_seconds=worst[0] if worst else 0.0,
        tier_spanned=spanned.tier if spanned else tiers[-1 if roots else 0],
        domain=spanned.id if spanned else "+".join(roots),
        split=roots,
        cross_tier_bytes=MappingProxyType(crossing),
        link_bytes=MappingProxyType(link_bytes),
        bottleneck=domains[worst[2]].id if worst else None,
        bottleneck_gbps=snapshot.effective_gbps(worst[2]) if worst else None,
    )


def _seconds(size: float, gbps: float | None) -> float:
    """Seconds ``size`` bytes take on a link, always finite.

    Every link that carries traffic has positive bandwidth: TopologyScheme and
    LinkSample refuse anything else, and only the widest level, which no traffic
    crosses, has none.
    """
    if size <= 0:
        return 0.0
    if gbps is None or gbps <= 0:
        raise ValueError(f"{size:g} bytes on a link without bandwidth ({gbps} Gbps)")
    return size / (gbps * BYTES_PER_GBPS)


def _roots(snapshot: ClusterSnapshot, hosts: Iterable[int]) -> tuple[str, ...]:
    """Ids of the widest-level domains holding ``hosts``, in path order."""
    found = {snapshot.ancestors(h)[-1] for h in hosts}
    return tuple(snapshot.domains[d].id for d in sorted(found))


def _lowest_common(snapshot: ClusterSnapshot, hosts: Iterable[int]) -> Domain | None:
    """The lowest domain holding every host; None without hosts (or across cores)."""
    chains = [snapshot.ancestors(h) for h in hosts]
    if not chains:
        return None
    for level in range(len(chains[0])):
        found = {chain[level] for chain in chains}
        if len(found) == 1:
            return snapshot.domains[found.pop()]
    return None


def _rounded(value: float) -> float:
    return float(f"{value:.12g}")


@dataclass(frozen=True, slots=True)
class RunningGang:
    """A gang whose pods run (or are bound to run) on ``nodes``, rank i on ``nodes[i]``.

    What the operator knows of every placed TrainingJob, and what ``netsched place``
    reads from the TrainingJobs of a cluster file: their traffic shares the uplinks
    it crosses with any gang placed next (see :func:`with_running`).
    """

    demand: Demand
    nodes: tuple[str, ...]


def with_running(snapshot: ClusterSnapshot, gangs: Iterable[RunningGang]) -> ClusterSnapshot:
    """``snapshot`` with every running gang's traffic on the uplinks it crosses.

    A gang's links come from :func:`predict` on ``snapshot`` itself, so they follow this
    snapshot's tiers whatever NetworkTopology the gang was placed with: the wires are
    the same. A gang that cannot be costed here (one of its nodes is unknown, excluded
    or under another widest-level domain than the rest) is counted in
    :attr:`~netsched.domain.topology.ClusterSnapshot.unmatched_flows` and left out.
    """
    links: list[str] = []
    unmatched = 0
    for gang in gangs:
        crossed = _GANG_LINKS.crossed(gang, snapshot)
        if crossed is None:
            unmatched += 1
        else:
            links.extend(crossed)
    shared = snapshot.with_allocation({}, links=links) if links else snapshot
    if not unmatched:
        return shared
    return dataclasses.replace(shared, unmatched_flows=shared.unmatched_flows + unmatched)


class _GangLinks:
    """The uplinks each running gang crosses, kept while the fabric is the same object.

    An operator builds a snapshot for every decision, and each applies every running
    gang: on a busy cluster that is hundreds of :func:`predict` calls a decision. Which
    uplinks a gang crosses depends only on the gang and the fabric (its hosts and their
    domains), and the fabric is reused between snapshots while the nodes do not change
    (:mod:`netsched.domain.topology`), so the answers are kept per gang until another
    fabric comes. Bounded: cleared when it holds :data:`_GANG_LINKS_KEPT` gangs.
    """

    def __init__(self) -> None:
        self._fabric: object | None = None
        self._links: dict[RunningGang, tuple[str, ...] | None] = {}

    def crossed(self, gang: RunningGang, snapshot: ClusterSnapshot) -> tuple[str, ...] | None:
        """The ids of the uplinks ``gang`` crosses, or None if it cannot be costed here."""
        if snapshot.fabric is not self._fabric or len(self._links) >= _GANG_LINKS_KEPT:
            self._fabric, self._links = snapshot.fabric, {}
        if gang not in self._links:
            try:
                links = tuple(predict(gang.demand, gang.nodes, snapshot).crossed_uplinks)
            except (KeyError, ValueError):
                links = None
            self._links[gang] = links
        return self._links[gang]


_GANG_LINKS_KEPT = 16_384
_GANG_LINKS = _GangLinks()
