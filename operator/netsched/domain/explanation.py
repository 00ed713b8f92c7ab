"""The words of a placement: one line for a Placement, a reason for an Unschedulable.

What people read in ``kubectl describe``, events and ``netsched place``. Every
strategy explains its outcome with these functions, so two strategies that chose
the same nodes say the same thing, and a reason always carries the numbers that
matter (pods asked for, the best domain's room, how many domains are full).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from netsched.domain.capacity import Capacity
from netsched.domain.cost import Cost
from netsched.domain.demand import Demand, Pattern
from netsched.domain.topology import ClusterSnapshot


def explain(demand: Demand, snapshot: ClusterSnapshot, cost: Cost, order: Sequence[str]) -> str:
    """``"32 GPUs on 4 nodes under leaf c/s/l; ring leaves no leaf; 0.42 s comm/step"``."""
    nodes = len(set(order))
    where = (
        f"split over {len(cost.split)} {plural(cost.tier_spanned)} ({', '.join(cost.split)}: "
        "no one holds the gang)"
        if cost.split
        else f"under {cost.tier_spanned} {cost.domain}"
    )
    head = f"{demand.total_gpus} GPUs on {nodes} node{'s' if nodes != 1 else ''} {where}"
    detour = _around_degraded(snapshot, cost, order)
    return (
        f"{head}; {_traffic(demand, snapshot, cost, order)}{detour}; "
        f"{cost.comm_seconds:.3g} s comm/step"
    )


def _around_degraded(snapshot: ClusterSnapshot, cost: Cost, order: Sequence[str]) -> str:
    """``"; around degraded leaf uplink c/s/l2 (0.05 of 0.2 Gbps)"``: the degraded links under
    the placement's domain that no rank sits behind, so its traffic does not cross them."""
    if not snapshot.degraded:
        return ""
    top = None if cost.split else snapshot.domain_index(cost.domain)
    inside = range(snapshot.host_count) if top is None else snapshot.domains[top].hosts
    used = {snapshot.host_index(node) for node in order}
    avoided = [
        snapshot.domains[d]
        for d in snapshot.degraded
        if snapshot.domains[d].hosts.start in inside
        and snapshot.domains[d].index != top
        and not any(h in snapshot.domains[d].hosts for h in used)
    ]
    if not avoided:
        return ""
    shown = ", ".join(
        f"{d.tier} uplink {d.id} ({d.uplink_gbps or 0:.3g} of {d.nominal_gbps or 0:g} Gbps)"
        for d in avoided[:3]
    )
    more = f" and {len(avoided) - 3} more" if len(avoided) > 3 else ""
    return f"; around degraded {shown}{more}"


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
    """Why no domain of tier ``rank`` holds the gang, in one line with the numbers that matter.

    When nothing the gang could change would help (no node takes part, none has a
    GPU, none has enough for one pod), the reason says that, and what to fix,
    instead of comparing domains.
    """
    tiers = snapshot.scheme.tier_names
    tier, per_pod = tiers[rank], demand.gpus_per_pod
    ask = f"needs {demand.replicas} pods of {per_pod} GPUs ({demand.total_gpus} GPUs)"
    blocked = _blocked(demand, snapshot)
    if blocked is not None:
        return f"{ask}; {blocked}"
    domains = snapshot.tier_domains(rank)
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


def _blocked(demand: Demand, snapshot: ClusterSnapshot) -> str | None:
    """What keeps every gang of this pod size out, whatever runs: the cluster must change."""
    if snapshot.host_count == 0:
        return _no_node_takes_part(snapshot)
    largest = max(node.allocatable_gpus for node in snapshot.nodes)
    if largest == 0:
        return (
            "no schedulable node advertises nvidia.com/gpu in status.allocatable: install the "
            "NVIDIA device plugin (or the GPU Operator) on the GPU nodes and check that it runs"
        )
    if largest < demand.gpus_per_pod:
        return (
            f"no schedulable node has {demand.gpus_per_pod} GPUs (the largest has {largest}): "
            f"ask for at most {largest} GPUs per pod (and more replicas)"
        )
    return None


def _no_node_takes_part(snapshot: ClusterSnapshot) -> str:
    excluded, unlabelled = snapshot.excluded, snapshot.missing_labels
    if not excluded:
        return "the cluster has no nodes"
    if len(unlabelled) == len(excluded):
        keys = sorted({key for missing in unlabelled.values() for key in missing})
        label = f"the tier label {keys[0]}" if len(keys) == 1 else f"tier labels {', '.join(keys)}"
        return (
            f"every node lacks {label}: label the nodes, or name a NetworkTopology whose "
            "levels match their labels (spec.topology.networkTopology)"
        )
    causes = Counter(
        "missing tier labels" if name in unlabelled else why for name, why in excluded.items()
    )
    listed = ", ".join(f"{count} {why}" for why, count in causes.most_common())
    return f"no node is schedulable ({listed}): make nodes Ready, uncordon or label them"


def no_room_context(
    demand: Demand, snapshot: ClusterSnapshot, capacity: Capacity, *, reason: str
) -> str:
    """``reason`` with the cluster-wide room, the excluded nodes and what could help."""
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
    if _blocked(demand, snapshot) is not None:
        return text + "."  # the reason says what to fix; waiting or shrinking cannot help
    return f"{text}. {_advice(demand, snapshot, free=free)}."


def _advice(demand: Demand, snapshot: ClusterSnapshot, *, free: int) -> str:
    """Only what could help: waiting if GPUs are in use, a wider maxTier if one exists."""
    allocatable = sum(node.allocatable_gpus for node in snapshot.nodes)
    steps = []
    if free < allocatable:
        steps.append("wait for running jobs to finish")
    steps.append("ask for fewer GPUs")
    widest = len(snapshot.scheme.tier_names) - 1
    if demand.max_tier is not None and snapshot.scheme.tier_rank(demand.max_tier) < widest:
        steps.append("widen maxTier")
    text = steps[0] if len(steps) == 1 else f"{', '.join(steps[:-1])}, or {steps[-1]}"
    return text[0].upper() + text[1:]
