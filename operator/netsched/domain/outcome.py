"""What a placement strategy returns, and the three ways every strategy builds it.

A strategy is a pure function ``(Demand, ClusterSnapshot) -> Placement |
Unschedulable``. Strategies differ only in the nodes they choose: they all guard
against malformed demands with :func:`checked`, wrap a rank order with
:func:`placed` (which costs and explains it) and give up with :func:`no_room`, so
every outcome is costed and worded the same way.

:func:`checked` also splits a gang that no widest-level domain holds over several
of them (:func:`split_over_domains`), the way Kueue's topology-aware scheduling does
at its top level: largest domain first. Only without ``maxTier``: a job that names
one says it must not span wider.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from netsched.domain.capacity import Capacity, count_capacity
from netsched.domain.cost import Cost, predict
from netsched.domain.demand import Demand, Pattern, demand_problems
from netsched.domain.explanation import explain, no_room_context, no_room_reason
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
    the operator: it becomes a reason the user can act on, worded as
    :func:`netsched.api.validate_training_job` words it, field path first.
    """

    def decorate(strategy: Strategy) -> Strategy:
        @functools.wraps(strategy)
        def run(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
            problems = demand_problems(demand, snapshot.scheme)
            if problems:
                reason = "; ".join(str(problem) for problem in problems)
                return Unschedulable(demand.name, name, reason, reason)
            outcome = strategy(demand, snapshot)
            if isinstance(outcome, Placement) or demand.max_tier is not None:
                return outcome
            return split_over_domains(demand, snapshot, strategy, name=name) or outcome

        return run

    return decorate


def split_over_domains(
    demand: Demand, snapshot: ClusterSnapshot, strategy: Strategy, *, name: str
) -> Placement | None:
    """The gang split over several widest-level domains, or None when they cannot hold it.

    The domains are taken largest first (most pods of the gang they hold), each as
    many pods as it holds, until the gang is placed: the fewest domains, so the
    fewest bytes over the interconnect. ``strategy`` places each domain's share on
    its own (a ring of the share's pods, for a Hybrid job), and the ranks follow
    the domains in that order, so the ring or chain crosses the interconnect once
    per domain boundary; the whole gang is then costed as one. None without an
    interconnect (a single widest-level domain).
    """
    if not snapshot.interconnected:
        return None
    capacity = count_capacity(snapshot, demand.gpus_per_pod)
    roots = snapshot.tier_domains(len(snapshot.scheme.levels))
    ordered = sorted(roots, key=lambda d: (-capacity.pods[d], d))
    if sum(capacity.pods[d] for d in ordered) < demand.replicas:
        return None
    order: list[str] = []
    left = demand.replicas
    for root in ordered:
        share = min(left, capacity.pods[root])
        if share == 0:
            break
        outcome = strategy(_share_of(demand, share), _only_under(snapshot, root))
        if not isinstance(outcome, Placement):
            return None
        order += outcome.nodes
        left -= share
    return placed(demand, snapshot, strategy=name, order=order)


def _share_of(demand: Demand, replicas: int) -> Demand:
    """The part of ``demand`` one domain takes: its pods, talking as the gang does."""
    pattern = Pattern.DATA_PARALLEL if demand.pattern is Pattern.HYBRID else demand.pattern
    return replace(demand, replicas=replicas, pattern=pattern, degrees=None, preferred_tier=None)


def _only_under(snapshot: ClusterSnapshot, root: int) -> ClusterSnapshot:
    """``snapshot`` with every GPU outside domain ``root`` taken."""
    inside = snapshot.domains[root].hosts
    elsewhere = {
        snapshot.nodes[h].name: snapshot.free[h]
        for h in range(snapshot.host_count)
        if h not in inside and snapshot.free[h]
    }
    return snapshot.with_allocation(elsewhere)


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


def no_room(
    demand: Demand, snapshot: ClusterSnapshot, capacity: Capacity, *, strategy: str, rank: int
) -> Unschedulable:
    """Give up: no domain of tier ``rank`` holds the gang; say why, with the numbers."""
    reason = no_room_reason(demand, snapshot, capacity, rank=rank)
    context = no_room_context(demand, snapshot, capacity, reason=reason)
    return Unschedulable(demand.name, strategy, reason, context)
