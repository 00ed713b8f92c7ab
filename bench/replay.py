"""Replay a job stream on a snapshot: arrivals, departures, a queue, one strategy.

Two queueing policies, named as Kueue's ClusterQueue ``queueingStrategy``
(https://kueue.sigs.k8s.io/docs/concepts/cluster_queue/#queueing-strategy):

* ``BestEffortFIFO`` (Kueue's default, and ours): jobs are tried oldest first, but
  one that does not fit does not block younger ones that do. At a departure the
  whole queue is offered GPUs in arrival order; at an arrival only the new job is,
  since nothing was freed that an earlier pass had not already offered.
* ``StrictFIFO``: the queue drains from its head while the head fits; a job that
  does not fit blocks every job behind it.

A queued job is handed to ``place()`` only when the free GPUs could hold its pods
at all (``gpus_per_pod`` on some node, ``replicas`` times over); otherwise the
strategy could only say "no room", and the replay would time that instead of a
decision. Every ``place()`` call is timed; fragmentation and GPU utilisation are
sampled just before each arrival is considered.

With ``shared_links``, a placed gang registers the uplinks its traffic crosses (its
cost's ``crossed_uplinks``) on the snapshot until it departs, so every later gang is
costed with its fair share of those links (see :mod:`netsched.domain.cost`). Every
strategy still *chooses* on the snapshot without them, as ``netsched place`` and
DESIGN.md's cost model do, unless ``choose_with_shares`` hands it the shared one (the
extension netsched and ``optimal`` can read). Without ``shared_links``, every gang is
costed alone on the fabric.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from netsched.domain.cost import Cost, predict
from netsched.domain.demand import Demand
from netsched.domain.placement import Outcome, Placement, place
from netsched.domain.simulation import could_hold
from netsched.domain.topology import ClusterSnapshot
from workloads import TraceJob

QUEUEING = ("BestEffortFIFO", "StrictFIFO")
Observer = Callable[[TraceJob, ClusterSnapshot, Outcome], None]
"""Called with (job, snapshot it was placed on, outcome) after each ``place()`` call."""


@dataclass
class Placed:
    demand: Demand
    cost: Cost
    waited: float


@dataclass
class ReplayResult:
    strategy: str
    queueing: str
    placed: list[Placed] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    latencies_by_gpus: list[tuple[int, float]] = field(default_factory=list)
    fragmentation: list[float] = field(default_factory=list)
    partial_nodes: list[int] = field(default_factory=list)
    busy: list[float] = field(default_factory=list)
    waited: int = 0
    left_waiting: int = 0


def fragmentation(snap: ClusterSnapshot, leaf_gpus: dict[int, int]) -> tuple[float, int]:
    """(share of free GPUs outside fully free leaves, nodes partly used)."""
    free_total = sum(snap.free[d] for d in leaf_gpus)
    whole = sum(snap.free[d] for d, gpus in leaf_gpus.items() if snap.free[d] == gpus)
    partial = sum(1 for h, n in enumerate(snap.nodes) if 0 < snap.free[h] < n.allocatable_gpus)
    return (1 - whole / free_total if free_total else 0.0), partial


def replay(
    snapshot: ClusterSnapshot,
    jobs: list[TraceJob],
    strategy: str,
    *,
    queueing: str = "BestEffortFIFO",
    shared_links: bool = False,
    choose_with_shares: bool = False,
    observe: Observer | None = None,
) -> ReplayResult:
    """Replay ``jobs`` (sorted by arrival) with one strategy under one queueing policy."""
    if queueing not in QUEUEING:
        raise ValueError(f"unknown queueing {queueing!r}; choose one of {', '.join(QUEUEING)}")
    strict = queueing == "StrictFIFO"
    result = ReplayResult(strategy, queueing)
    leaf_gpus = {
        d: sum(snapshot.nodes[h].allocatable_gpus for h in snapshot.domains[d].hosts)
        for d in snapshot.tier_domains(1)
    }
    total_gpus = sum(leaf_gpus.values())
    snap = snapshot  # GPUs taken and, with shared_links, running gangs on their uplinks
    alone = snapshot  # GPUs taken only: what the strategy chooses on by default
    queue: list[TraceJob] = []  # arrival order
    departures: list[tuple[float, int, dict[str, int], tuple[str, ...]]] = []
    last_arrival = jobs[-1].arrival if jobs else 0.0
    sequence = 0

    def attempt(job: TraceJob, now: float, short: dict[int, int] | None = None) -> bool:
        """Offer ``job`` the free GPUs; start it if its strategy places it.

        ``short`` maps GPUs per pod to the fewest pods found not to fit during this
        pass: GPUs are only taken within a pass, so a gang at least as large misses too.
        """
        nonlocal snap, alone, sequence
        per_pod, pods = job.demand.gpus_per_pod, job.demand.replicas
        if short is not None and pods >= short.get(per_pod, pods + 1):
            return False
        if not could_hold(snap, job.demand):
            if short is not None:
                short[per_pod] = pods
            return False
        chooser = alone if shared_links and not choose_with_shares else snap
        started = time.perf_counter()
        outcome = place(job.demand, chooser, strategy=strategy)
        elapsed = time.perf_counter() - started
        result.latencies.append(elapsed)
        result.latencies_by_gpus.append((job.demand.total_gpus, elapsed))
        if observe is not None:
            observe(job, chooser, outcome)
        if not isinstance(outcome, Placement):
            return False
        cost = outcome.cost
        if chooser is not snap:  # cost it on the links as the running gangs share them
            cost = predict(job.demand, outcome.nodes, snap)
        taken = outcome.gpus_by_node()
        links = cost.crossed_uplinks if shared_links else ()
        snap = snap.with_allocation(taken, links=links)
        alone = alone.with_allocation(taken) if shared_links else snap
        sequence += 1
        heapq.heappush(departures, (now + job.duration, sequence, taken, links))
        result.placed.append(Placed(job.demand, cost, now - job.arrival))
        return True

    def drain(now: float) -> None:
        """One pass over the queue in arrival order (StrictFIFO stops at the first miss)."""
        waiting: list[TraceJob] = []
        short: dict[int, int] = {}
        for position, job in enumerate(queue):
            if attempt(job, now, short):
                continue
            if strict:
                waiting += queue[position:]
                break
            waiting.append(job)
        queue[:] = waiting

    for job in jobs:
        while departures and departures[0][0] <= job.arrival:
            when, _, taken, links = heapq.heappop(departures)
            snap = snap.without_allocation(taken, links=links)
            alone = alone.without_allocation(taken) if shared_links else snap
            if not departures or departures[0][0] > when:  # simultaneous ends: one pass
                drain(when)
        frag, partial = fragmentation(snap, leaf_gpus)
        result.fragmentation.append(frag)
        result.partial_nodes.append(partial)
        result.busy.append(1 - sum(snap.free[d] for d in leaf_gpus) / total_gpus)
        if (strict and queue) or not attempt(job, job.arrival):
            queue.append(job)
            result.waited += 1
    result.left_waiting = len(queue)
    while departures and queue:  # finish the stream so every job is costed once
        when, _, taken, links = heapq.heappop(departures)
        snap = snap.without_allocation(taken, links=links)
        alone = alone.without_allocation(taken) if shared_links else snap
        drain(max(when, last_arrival))
    return result
