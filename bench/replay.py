"""Replay a job stream on a snapshot: arrivals, departures, a FIFO queue, one strategy.

At each arrival the job joins the queue; the queue is drained from its head while
the head fits (strict FIFO: a job that does not fit blocks the ones behind it, as
Kueue's StrictFIFO does) and again at each departure. Every ``place()`` call is
timed; fragmentation is sampled just before each arrival is considered.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from dataclasses import dataclass, field

from netsched.domain.cost import Cost
from netsched.domain.demand import Demand
from netsched.domain.gang import Placement
from netsched.domain.placement import place
from netsched.domain.topology import ClusterSnapshot
from workloads import TraceJob


@dataclass
class Placed:
    demand: Demand
    cost: Cost
    waited: float


@dataclass
class ReplayResult:
    strategy: str
    placed: list[Placed] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    latencies_by_gpus: list[tuple[int, float]] = field(default_factory=list)
    fragmentation: list[float] = field(default_factory=list)
    partial_nodes: list[int] = field(default_factory=list)
    waited: int = 0
    left_waiting: int = 0


def fragmentation(snap: ClusterSnapshot, leaf_gpus: dict[int, int]) -> tuple[float, int]:
    """(share of free GPUs outside fully free leaves, nodes partly used)."""
    free_total = sum(snap.free[d] for d in leaf_gpus)
    whole = sum(snap.free[d] for d, gpus in leaf_gpus.items() if snap.free[d] == gpus)
    partial = sum(1 for h, n in enumerate(snap.nodes) if 0 < snap.free[h] < n.allocatable_gpus)
    return (1 - whole / free_total if free_total else 0.0), partial


def replay(snapshot: ClusterSnapshot, jobs: list[TraceJob], strategy: str) -> ReplayResult:
    result = ReplayResult(strategy)
    leaf_gpus = {
        d: sum(snapshot.nodes[h].allocatable_gpus for h in snapshot.domains[d].hosts)
        for d in snapshot.tier_domains(1)
    }
    snap = snapshot
    queue: deque[TraceJob] = deque()
    departures: list[tuple[float, int, dict[str, int]]] = []
    last_arrival = jobs[-1].arrival if jobs else 0.0
    sequence = 0

    def drain(now: float) -> None:
        nonlocal snap, sequence
        while queue:
            job = queue[0]
            started = time.perf_counter()
            outcome = place(job.demand, snap, strategy=strategy)
            elapsed = time.perf_counter() - started
            result.latencies.append(elapsed)
            result.latencies_by_gpus.append((job.demand.total_gpus, elapsed))
            if not isinstance(outcome, Placement):
                return
            queue.popleft()
            taken = outcome.gpus_by_node()
            snap = snap.with_allocation(taken)
            sequence += 1
            heapq.heappush(departures, (now + job.duration, sequence, taken))
            result.placed.append(Placed(job.demand, outcome.cost, now - job.arrival))

    for job in jobs:
        while departures and departures[0][0] <= job.arrival:
            when, _, taken = heapq.heappop(departures)
            snap = snap.without_allocation(taken)
            drain(when)
        frag, partial = fragmentation(snap, leaf_gpus)
        result.fragmentation.append(frag)
        result.partial_nodes.append(partial)
        queue.append(job)
        drain(job.arrival)
        if queue:  # FIFO: if anything is left, the job just queued is
            result.waited += 1
    result.left_waiting = len(queue)
    while departures and queue:  # finish the stream so every job is costed once
        when, _, taken = heapq.heappop(departures)
        snap = snap.without_allocation(taken)
        drain(max(when, last_arrival))
    return result
