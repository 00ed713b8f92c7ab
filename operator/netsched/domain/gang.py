"""What every placement strategy shares: outcomes, capacity counting, ring order, words.

A strategy is a pure function ``(Demand, ClusterSnapshot) -> Placement |
Unschedulable``. The pieces here are the vocabulary they have in common, so that
every strategy counts capacity, orders ranks, costs and explains a gang the same
way, and only the choice of nodes differs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from netsched.domain.cost import Cost, predict
from netsched.domain.demand import Demand, Pattern
from netsched.domain.scheme import TopologyScheme
from netsched.domain.topology import ClusterSnapshot


@dataclass(frozen=True, slots=True)
class RankAssignment:
    """Rank ``rank`` of the gang runs on ``node`` with ``gpus`` GPUs."""

    rank: int
    node: str
    gpus: int


@dataclass(frozen=True, slots=True)
class Placement:
    """Where every rank of a gang goes, what that costs, and why, in one line.

    Attributes:
        demand: the job's ``namespace/name``.
        strategy: the strategy that chose it.
        ranks: one entry per pod, in rank (ring) order.
        cost: the predicted cost of the placement.
        explanation: one line for people (``kubectl describe``, events, the CLI).
    """

    demand: str
    strategy: str
    ranks: tuple[RankAssignment, ...]
    cost: Cost
    explanation: str

    @property
    def nodes(self) -> tuple[str, ...]:
        """The node of every rank, in rank order (nodes repeat when they host several pods)."""
        return tuple(r.node for r in self.ranks)

    def gpus_by_node(self) -> dict[str, int]:
        """GPUs taken per node, ready for :meth:`ClusterSnapshot.with_allocation`."""
        taken: dict[str, int] = {}
        for rank in self.ranks:
            taken[rank.node] = taken.get(rank.node, 0) + rank.gpus
        return taken


@dataclass(frozen=True, slots=True)
class Unschedulable:
    """The gang cannot be placed now; ``reason`` says why in one line, for people.

    Attributes:
        demand: the job's ``namespace/name``.
        strategy: the strategy that gave up.
        reason: what is missing, with numbers (goes into the job's condition).
        explanation: the longer story: cluster-wide room, excluded nodes.
    """

    demand: str
    strategy: str
    reason: str
    explanation: str


Outcome = Placement | Unschedulable
Strategy = Callable[[Demand, ClusterSnapshot], Outcome]


def checked(name: str) -> Callable[[Strategy], Strategy]:
    """Decorate a strategy so that a malformed demand becomes :class:`Unschedulable`.

    Bad input (unknown tier names, Hybrid without matching degrees) must never crash
    the operator: it becomes a reason the user can act on.
    """

    def decorate(strategy: Strategy) -> Strategy:
        @functools.wraps(strategy)
        def run(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
            problem = demand_problem(demand, snapshot.scheme)
            if problem:
                return Unschedulable(demand.name, name, problem, problem)
            return strategy(demand, snapshot)

        return run

    return decorate


def demand_problem(demand: Demand, scheme: TopologyScheme) -> str | None:
    """What is wrong with ``demand`` for this scheme, or None if nothing."""
    tiers = ", ".join(scheme.tier_names)
    if demand.replicas < 1:
        return f"replicas must be at least 1, got {demand.replicas}"
    if demand.gpus_per_pod < 0:
        return f"GPUs per pod must not be negative, got {demand.gpus_per_pod}"
    for field, tier in (("maxTier", demand.max_tier), ("preferredTier", demand.preferred_tier)):
        if tier is not None and tier not in scheme.tier_names:
            return f"{field} {tier!r} is not a tier of this topology; use one of {tiers}"
    degrees = demand.degrees
    if demand.pattern is Pattern.HYBRID and (
        degrees is None or degrees.total != demand.total_gpus or demand.gpus_per_pod < 1
    ):
        return (
            f"Hybrid needs parallelism degrees with tensor*pipeline*data = "
            f"{demand.total_gpus} (replicas * GPUs per pod), got {degrees}"
        )
    return None


@dataclass(frozen=True, slots=True)
class Capacity:
    """How many pods of one demand fit, per domain: phase 1 of every strategy.

    Attributes:
        pods: domain index -> pods of ``gpus_per_pod`` that fit in it. A node with
            7 free GPUs holds no 8-GPU pod; CPU-only pods (0 GPUs) count one per node,
            so a CPU-only gang spreads rather than piling onto one node.
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
    """Count pods per domain bottom-up: hosts first, then each tier from its children."""
    room = [
        snapshot.free[h] // gpus_per_pod if gpus_per_pod > 0 else 1
        for h in range(snapshot.host_count)
    ]
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


def ring_order(snapshot: ClusterSnapshot, shares: Iterable[tuple[int, int]]) -> list[str]:
    """Node per rank for ``(host, pods)`` shares: hosts in path order, a host's pods adjacent.

    Hosts are numbered depth-first in path order, so sorting by host index keeps the
    ranks of every domain contiguous: a ring (or a chain) over them leaves each
    domain once. Shares of the same host are merged.
    """
    pods: dict[int, int] = {}
    for host, count in shares:
        pods[host] = pods.get(host, 0) + count
    nodes = snapshot.nodes
    return [nodes[host].name for host in sorted(pods) for _ in range(pods[host])]


def placed(
    demand: Demand,
    snapshot: ClusterSnapshot,
    *,
    strategy: str,
    order: Sequence[str],
    cost: Cost | None = None,
) -> Placement:
    """Wrap a rank order into a :class:`Placement`, costing it unless ``cost`` is given."""
    cost = cost if cost is not None else predict(demand, order, snapshot)
    ranks = tuple(
        RankAssignment(rank=i, node=node, gpus=demand.gpus_per_pod) for i, node in enumerate(order)
    )
    return Placement(demand.name, strategy, ranks, cost, explain(demand, snapshot, cost, order))


def explain(demand: Demand, snapshot: ClusterSnapshot, cost: Cost, order: Sequence[str]) -> str:
    """``"32 GPUs on 4 nodes under leaf c/s/l; ring leaves no leaf; 0.42 s comm/step"``."""
    nodes = len(set(order))
    head = (
        f"{demand.total_gpus} GPUs on {nodes} node{'s' if nodes != 1 else ''} "
        f"under {cost.tier_spanned} {cost.domain}"
    )
    return f"{head}; {_traffic(demand, snapshot, cost, order)}; {cost.comm_seconds:.3g} s comm/step"


_PATTERN_WORDS = {
    Pattern.DATA_PARALLEL: "ring",
    Pattern.MODEL_PARALLEL: "chain",
    Pattern.PIPELINE_PARALLEL: "pipeline",
    Pattern.EXPERT_PARALLEL: "all-to-all",
    Pattern.HYBRID: "hybrid traffic",
}


def _traffic(demand: Demand, snapshot: ClusterSnapshot, cost: Cost, order: Sequence[str]) -> str:
    word = _PATTERN_WORDS.get(demand.pattern)
    if word is None:
        return "no inter-pod traffic"
    tiers = snapshot.scheme.tier_names
    rank = tiers.index(cost.tier_spanned)
    if rank == 0:
        return f"{word} stays on one node"
    below = tiers[rank - 1]
    if rank == 1:
        crossing = f"{word} leaves no {cost.tier_spanned}"
    else:
        children = {snapshot.ancestors(snapshot.host_index(n))[rank - 1] for n in order}
        crossing = f"{word} crosses {len(children)} {plural(below)}"
    if cost.bottleneck is None:
        return crossing
    domain = snapshot.domains[snapshot.domain_index(cost.bottleneck)]
    how = "measured" if domain.measured else "nominal"
    others = snapshot.crossing_gangs(domain.index)
    if others:
        gangs = f"{others} other gang{'s' if others != 1 else ''}"
        how = f"{how} {domain.uplink_gbps:g} Gbps shared with {gangs}"
    return (
        f"{crossing}; bottleneck {domain.tier} uplink {domain.id} "
        f"at {snapshot.effective_gbps(domain.index):g} Gbps ({how})"
    )


def plural(tier: str) -> str:
    """``leaf`` -> ``leaves``, ``spine`` -> ``spines``, ``switch`` -> ``switches``."""
    if tier.endswith("f"):
        return tier[:-1] + "ves"
    if tier.endswith(("s", "x", "ch", "sh")):
        return tier + "es"
    return tier + "s"


def no_room(
    demand: Demand, snapshot: ClusterSnapshot, capacity: Capacity, *, strategy: str, rank: int
) -> Unschedulable:
    """Say why no domain of tier ``rank`` holds the gang, with the numbers that matter."""
    tiers = snapshot.scheme.tier_names
    tier, per_pod = tiers[rank], demand.gpus_per_pod
    ask = f"needs {demand.replicas} pods of {per_pod} GPUs ({demand.total_gpus} GPUs)"
    domains = snapshot.tier_domains(rank)
    if not domains:
        reason = f"{ask}; no node is schedulable"
    else:
        best = max(domains, key=lambda d: (capacity.pods[d], snapshot.free[d], -d))
        limit = f" (maxTier={demand.max_tier})" if demand.max_tier else ""
        reason = (
            f"{ask} under one {tier}{limit}; the best {tier}, {snapshot.domains[best].id}, "
            f"has room for {capacity.pods[best]} ({snapshot.free[best]} GPUs free)"
        )
        if per_pod > 0 and snapshot.free[best] >= demand.total_gpus:
            reason += f", scattered over nodes with fewer than {per_pod} free"
        if rank > 0:
            below = snapshot.tier_domains(rank - 1)
            full = sum(1 for d in below if capacity.pods[d] == 0)
            if full:
                reason += f"; {full} of {len(below)} {plural(tiers[rank - 1])} are full"
    return Unschedulable(demand.name, strategy, reason, _context(reason, snapshot, capacity))


def _context(reason: str, snapshot: ClusterSnapshot, capacity: Capacity) -> str:
    widest = snapshot.tier_domains(len(snapshot.scheme.tier_names) - 1)
    room = sum(capacity.pods[d] for d in widest)
    free = sum(snapshot.free[d] for d in widest)
    text = (
        f"{reason}. Cluster-wide there is room for {room} such pods "
        f"({free} GPUs free on {snapshot.host_count} schedulable nodes)"
    )
    if snapshot.excluded:
        name, why = min(snapshot.excluded.items())
        text += f"; {len(snapshot.excluded)} nodes are excluded (e.g. {name}: {why})"
    return text + ". Wait for running jobs to finish, ask for fewer GPUs, or widen maxTier."
