"""Job completion time on a shared fabric: a stream of gangs, placed by one strategy, each
running its steps while the gangs beside it come and go.

The replay of placements (``bench/replay.py``) gives every job a fixed duration. Here a job
has a number of **steps**, and each step takes its compute time plus its communication time
as the cost model predicts it *now*: on the links it crosses, shared with every gang running
on them (:meth:`~netsched.domain.topology.ClusterSnapshot.with_allocation` registers a gang's
uplinks). When a gang arrives on a link or leaves it, every running gang on that link is
re-costed, and its remaining steps finish later or sooner. Between two events nothing
changes, so the simulation jumps from event to event (arrivals, completions) and stays exact
for the model.

Per job: its wait (arrival to start), run time (start to end) and completion time
``JCT = wait + run``. Per stream: mean and p95 JCT, makespan, GPU utilisation, and the share of
step time spent communicating.

Queueing is Kueue's ``BestEffortFIFO`` (its default): the queue is offered GPUs by priority,
then arrival, at every completion; a job that does not fit does not block the ones behind it.
A job that fits nowhere even on the empty cluster is never started (``start`` stays None).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from netsched.domain.cost import predict
from netsched.domain.demand import Demand
from netsched.domain.placement import DEFAULT_STRATEGY, Placement, place
from netsched.domain.topology import ClusterSnapshot


@dataclass(frozen=True, slots=True)
class SimulatedJob:
    """One job of a trace.

    Attributes:
        arrival: seconds since the trace's start.
        steps: training steps it runs before it ends.
        compute_seconds: one step's compute, without communication (an assumption per
            job type: the trace does not say).
    """

    name: str
    arrival: float
    demand: Demand
    steps: int
    compute_seconds: float
    priority: int = 0


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What became of one job; ``start`` and ``end`` are None for a job never started."""

    name: str
    gpus: int
    pattern: str
    arrival: float
    start: float | None
    end: float | None
    tier: str | None
    comm_seconds: float
    """Its communication seconds per step, averaged over its steps."""
    compute_seconds: float

    @classmethod
    def of(
        cls,
        job: SimulatedJob,
        *,
        start: float | None = None,
        end: float | None = None,
        tier: str | None = None,
        comm_seconds: float = 0.0,
    ) -> JobOutcome:
        """What became of ``job``; without ``start``, a job that never started."""
        demand = job.demand
        return cls(job.name, demand.total_gpus, str(demand.pattern), job.arrival, start, end,
                   tier, comm_seconds, job.compute_seconds)  # fmt: skip

    @property
    def wait(self) -> float | None:
        return None if self.start is None else self.start - self.arrival

    @property
    def run(self) -> float | None:
        return None if self.start is None or self.end is None else self.end - self.start

    @property
    def jct(self) -> float | None:
        return None if self.end is None else self.end - self.arrival


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """One strategy's run of a stream."""

    strategy: str
    jobs: tuple[JobOutcome, ...]
    total_gpus: int

    @property
    def finished(self) -> list[JobOutcome]:
        return [j for j in self.jobs if j.end is not None]

    @property
    def never_started(self) -> list[JobOutcome]:
        return [j for j in self.jobs if j.start is None]

    @property
    def makespan(self) -> float:
        """From the first arrival to the last completion."""
        done = self.finished
        if not done:
            return 0.0
        return max(j.end or 0.0 for j in done) - min(j.arrival for j in self.jobs)

    def jct(self, quantile: float | None = None) -> float:
        """The mean JCT of the finished jobs, or its ``quantile`` (nearest rank)."""
        values = sorted(j.jct or 0.0 for j in self.finished)
        if not values:
            return 0.0
        if quantile is None:
            return sum(values) / len(values)
        return values[min(len(values) - 1, max(0, math.ceil(quantile * len(values)) - 1))]

    @property
    def utilisation(self) -> float:
        """GPU-seconds held by running jobs over all GPU-seconds of the makespan."""
        span = self.makespan
        if span <= 0 or self.total_gpus <= 0:
            return 0.0
        held = sum(j.gpus * (j.run or 0.0) for j in self.finished)
        return held / (self.total_gpus * span)

    @property
    def comm_share(self) -> float:
        """The mean, over finished jobs, of the share of step time spent communicating."""
        shares = [
            j.comm_seconds / (j.comm_seconds + j.compute_seconds)
            for j in self.finished
            if j.comm_seconds + j.compute_seconds > 0
        ]
        return sum(shares) / len(shares) if shares else 0.0


@dataclass
class _Running:
    job: SimulatedJob
    placement: Placement
    taken: dict[str, int]
    links: tuple[str, ...]
    started: float
    remaining: float
    comm: float = 0.0
    last: float = 0.0
    comm_steps: float = 0.0
    """Communication seconds summed over the steps run so far."""

    @property
    def step_seconds(self) -> float:
        return self.job.compute_seconds + self.comm

    def advance(self, now: float) -> None:
        if self.step_seconds > 0:
            steps = min(self.remaining, (now - self.last) / self.step_seconds)
        else:
            steps = self.remaining
        self.remaining -= steps
        self.comm_steps += steps * self.comm
        self.last = now

    def ends_at(self) -> float:
        return self.last + self.remaining * self.step_seconds


def pods_that_fit(snapshot: ClusterSnapshot, gpus_per_pod: int) -> int:
    """How many pods of ``gpus_per_pod`` the free GPUs hold, node by node."""
    if gpus_per_pod == 0:
        return snapshot.host_count
    return sum(snapshot.free[host] // gpus_per_pod for host in range(snapshot.host_count))


def could_hold(snapshot: ClusterSnapshot, demand: Demand) -> bool:
    """Whether the free GPUs hold ``replicas`` pods of ``gpus_per_pod`` (a strategy is asked
    only then: otherwise it could only say "no room")."""
    per_pod = demand.gpus_per_pod
    if per_pod == 0:
        return snapshot.host_count >= demand.replicas
    room = 0
    for host in range(snapshot.host_count):  # stops as soon as there is room
        room += snapshot.free[host] // per_pod
        if room >= demand.replicas:
            return True
    return False


@dataclass
class _Stream:
    snapshot: ClusterSnapshot
    strategy: str
    running: dict[str, _Running] = field(default_factory=dict)
    on_link: dict[str, set[str]] = field(default_factory=dict)
    outcomes: dict[str, JobOutcome] = field(default_factory=dict)

    def start(self, job: SimulatedJob, now: float, *, room_checked: bool = False) -> bool:
        if not room_checked and not could_hold(self.snapshot, job.demand):
            return False
        outcome = place(job.demand, self.snapshot, strategy=self.strategy)
        if not isinstance(outcome, Placement):
            return False
        taken = outcome.gpus_by_node()
        links = outcome.cost.crossed_uplinks
        self.snapshot = self.snapshot.with_allocation(taken, links=links)
        gang = _Running(job, outcome, taken, links, started=now, remaining=job.steps, last=now)
        self.running[job.name] = gang
        for link in links:
            self.on_link.setdefault(link, set()).add(job.name)
        self._recost(self._sharing(links) | {job.name})
        return True

    def finish(self, name: str, now: float) -> None:
        gang = self.running.pop(name)
        self.snapshot = self.snapshot.without_allocation(gang.taken, links=gang.links)
        for link in gang.links:
            self.on_link[link].discard(name)
        steps = gang.job.steps
        self.outcomes[name] = JobOutcome.of(
            gang.job, start=gang.started, end=now, tier=gang.placement.cost.tier_spanned,
            comm_seconds=gang.comm_steps / steps if steps else 0.0,
        )  # fmt: skip
        self._recost(self._sharing(gang.links))

    def _sharing(self, links: Iterable[str]) -> set[str]:
        return {name for link in links for name in self.on_link.get(link, ())}

    def _recost(self, names: Iterable[str]) -> None:
        """Each gang's communication per step, on its links as the others share them now."""
        for name in names:
            gang = self.running[name]
            others = self.snapshot.without_allocation({}, links=gang.links)
            gang.comm = predict(gang.job.demand, gang.placement.nodes, others).comm_seconds

    def advance(self, now: float) -> None:
        for gang in self.running.values():
            gang.advance(now)

    def next_end(self) -> tuple[float, str] | None:
        return min(((g.ends_at(), n) for n, g in self.running.items()), default=None)


def simulate(
    snapshot: ClusterSnapshot,
    jobs: Sequence[SimulatedJob],
    *,
    strategy: str = DEFAULT_STRATEGY,
    progress: Callable[[int], None] | None = None,
) -> StreamOutcome:
    """Run ``jobs`` (any order; taken by arrival; names unique) on ``snapshot`` with
    ``strategy``.

    ``progress`` is called with the number of jobs arrived so far, after each arrival.

    Example:
        >>> from netsched.domain.demand import Pattern
        >>> from netsched.domain.scheme import DEFAULT_SCHEME
        >>> from netsched.domain.topology import build_snapshot
        >>> from netsched.domain.topology_sources import fat_tree
        >>> nodes = fat_tree(cores=1, spines_per_core=1, leaves_per_spine=2, hosts_per_leaf=2)
        >>> snap = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)
        >>> gang = Demand(name="ml/a", replicas=2, gpus_per_pod=8,
        ...               pattern=Pattern.DATA_PARALLEL, bytes_per_step=10**9)
        >>> run = simulate(snap, [SimulatedJob("ml/a", 0.0, gang, steps=100, compute_seconds=0.5)])
        >>> [round(j.jct or 0, 1) for j in run.jobs]
        [52.0]
    """
    ordered = sorted(jobs, key=lambda j: (j.arrival, j.name))
    stream = _Stream(snapshot, strategy)
    total_gpus = sum(n.allocatable_gpus for n in snapshot.nodes)
    queue: list[SimulatedJob] = []
    arrived = 0

    def drain(now: float) -> None:
        """One pass over the queue. Free GPUs only shrink within it, so the pods that fit
        are counted once per pod size, and again only after a job starts."""
        waiting = []
        room: dict[int, int] = {}
        for job in sorted(queue, key=lambda j: (-j.priority, j.arrival, j.name)):
            per_pod = job.demand.gpus_per_pod
            if per_pod not in room:
                room[per_pod] = pods_that_fit(stream.snapshot, per_pod)
            if room[per_pod] >= job.demand.replicas and stream.start(job, now, room_checked=True):
                room.clear()
            else:
                waiting.append(job)
        queue[:] = waiting

    while arrived < len(ordered) or stream.running:
        arrival = ordered[arrived].arrival if arrived < len(ordered) else math.inf
        end = stream.next_end()
        if end is not None and end[0] <= arrival:
            now, name = end
            stream.advance(now)
            stream.finish(name, now)
            if queue:
                drain(now)
            continue
        stream.advance(arrival)
        job = ordered[arrived]
        arrived += 1
        if not stream.start(job, arrival):  # BestEffortFIFO: the queue does not block it
            queue.append(job)
        if progress is not None:
            progress(arrived)
    for job in queue:  # fits nowhere, even on the empty cluster
        stream.outcomes[job.name] = JobOutcome.of(job)
    return StreamOutcome(
        strategy, tuple(stream.outcomes[j.name] for j in ordered), total_gpus=total_gpus
    )
