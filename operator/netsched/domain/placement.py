"""Placement: ``place(demand, snapshot)`` and the strategies behind it.

Every strategy is a pure function of a :class:`~netsched.domain.demand.Demand`
and a frozen :class:`~netsched.domain.topology.ClusterSnapshot`, returning a
:class:`Placement` (ranks in ring order, predicted cost, a one-line explanation)
or :class:`Unschedulable` (a reason a person can act on). The gang is all or
nothing; each pod takes ``gpus_per_pod`` GPUs on one node, and a node may host
several pods of the gang when it has room.

======== ==============================================================
name     what it does
======== ==============================================================
netsched lowest predicted communication time (measured bandwidth)
tas      Kueue's topology-aware scheduling (labels only)
spread   kube-scheduler default, least allocated node first
binpack  kube-scheduler ``MostAllocated``, fullest node first
random   uniformly random nodes, seeded by the job name
optimal  exact integer program (HiGHS), at most 32 nodes with room
======== ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from netsched.domain.demand import Demand
from netsched.domain.outcome import Outcome, Placement, RankAssignment, Strategy, Unschedulable
from netsched.domain.placement_baselines import place_binpack, place_random, place_spread, place_tas
from netsched.domain.placement_netsched import place_netsched
from netsched.domain.placement_optimal import MAX_OPTIMAL_NODES, OptimalUnsupported, place_optimal
from netsched.domain.topology import ClusterSnapshot

STRATEGIES: Mapping[str, Strategy] = MappingProxyType(
    {
        "netsched": place_netsched,
        "tas": place_tas,
        "spread": place_spread,
        "binpack": place_binpack,
        "random": place_random,
        "optimal": place_optimal,
    }
)
"""Strategy name -> strategy, for the CLI and the benchmarks."""

DEFAULT_STRATEGY = "netsched"


def place(
    demand: Demand, snapshot: ClusterSnapshot, *, strategy: str = DEFAULT_STRATEGY
) -> Outcome:
    """Place a gang on a snapshot.

    Example:
        >>> from netsched.domain.demand import Demand, Pattern
        >>> from netsched.domain.scheme import DEFAULT_SCHEME
        >>> from netsched.domain.topology import build_snapshot
        >>> from netsched.domain.topology_sources import fat_tree
        >>> nodes = fat_tree(cores=1, spines_per_core=2, leaves_per_spine=2, hosts_per_leaf=4)
        >>> snap = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)
        >>> job = Demand(name="ml/llm", replicas=4, gpus_per_pod=8,
        ...              pattern=Pattern.DATA_PARALLEL, bytes_per_step=10**9)
        >>> print(place(job, snap).explanation)  # doctest: +NORMALIZE_WHITESPACE
        32 GPUs on 4 nodes under leaf core-0/spine-0/leaf-0; ring leaves no leaf;
        bottleneck host uplink node-c0-s0-l0-h0 at 400 Gbps (nominal); 0.03 s comm/step

    Returns:
        :class:`Placement`, or :class:`Unschedulable` when the gang does not fit now or
        the demand is malformed (bad tier names, Hybrid degrees that do not multiply
        to its GPU count): bad input never raises.

    Raises:
        ValueError: ``strategy`` is not one of :data:`STRATEGIES`.
        OptimalUnsupported: ``strategy="optimal"`` on an instance it cannot solve.
    """
    try:
        chosen = STRATEGIES[strategy]
    except KeyError:
        names = ", ".join(STRATEGIES)
        raise ValueError(
            f"unknown placement strategy {strategy!r}; choose one of {names}"
        ) from None
    return chosen(demand, snapshot)


__all__ = [
    "DEFAULT_STRATEGY",
    "MAX_OPTIMAL_NODES",
    "STRATEGIES",
    "OptimalUnsupported",
    "Outcome",
    "Placement",
    "RankAssignment",
    "Strategy",
    "Unschedulable",
    "place",
]
