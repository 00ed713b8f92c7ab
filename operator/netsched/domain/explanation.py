"""The words of a placement: one line for a Placement, a reason for an Unschedulable.

What people read in ``kubectl describe``, events and ``netsched place``. Every
strategy explains its outcome with these functions, so two strategies that chose
the same nodes say the same thing, and a reason always carries the numbers that
matter (pods asked for, the best domain's room, how many domains are full).
"""

from __future__ import annotations

from collections.abc import Sequence

from netsched.domain.capacity import Capacity
from netsched.domain.cost import Cost
from netsched.domain.demand import Demand, Pattern
from netsched.domain.topology import ClusterSnapshot


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


def no_room_reason(
    demand: Demand, snapshot: ClusterSnapshot, capacity: Capacity, *, rank: int
) -> str:
    """Why no domain of tier ``rank`` holds the gang, in one line with the numbers that matter."""
    tiers = snapshot.scheme.tier_names
    tier, per_pod = tiers[rank], demand.gpus_per_pod
    ask = f"needs {demand.replicas} pods of {per_pod} GPUs ({demand.total_gpus} GPUs)"
    domains = snapshot.tier_domains(rank)
    if not domains:
        return f"{ask}; no node is schedulable"
    best = max(domains, key=lambda d: (capacity.pods[d], snapshot.free[d], -d))
    limit = f" (maxTier={demand.max_tier})" if demand.max_tier else ""
    reason = (
        f"{ask} under one {tier}{limit}; the best {tier}, {snapshot.domains[best].id}, "
        f"has room for {capacity.pods[best]} ({snapshot.free[best]} GPUs free)"
    )
    if snapshot.free[best] >= demand.total_gpus:
        reason += f", scattered over nodes with fewer than {per_pod} free"
    if rank > 0:
        below = snapshot.tier_domains(rank - 1)
        full = sum(1 for d in below if capacity.pods[d] == 0)
        if full:
            reason += f"; {full} of {len(below)} {plural(tiers[rank - 1])} are full"
    return reason


def no_room_context(reason: str, snapshot: ClusterSnapshot, capacity: Capacity) -> str:
    """``reason`` with the cluster-wide room and the excluded nodes: the longer story."""
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
