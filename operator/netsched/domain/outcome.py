"""What a placement strategy returns, and the three ways every strategy builds it.

A strategy is a pure function ``(Demand, ClusterSnapshot) -> Placement |
Unschedulable``. Strategies differ only in the nodes they choose: they all guard
against malformed demands with :func:`checked`, wrap a rank order with
:func:`placed` (which costs and explains it) and give up with :func:`no_room`, so
every outcome is costed and worded the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from netsched.domain.capacity import Capacity
from netsched.domain.cost import Cost, predict
from netsched.domain.demand import Demand, demand_problems
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
            return strategy(demand, snapshot)

        return run

    return decorate


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
