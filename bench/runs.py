"""The four runs of the placement benchmark, all on the pure engine (``place``).

Replays of the Philly-derived streams, the sweep of large gangs on empty clusters,
netsched against the exact ``optimal``, and the latency of one huge placement.
"""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import clusters
import workloads
from netsched.domain.bandwidth import BandwidthEstimate
from netsched.domain.capacity import count_capacity
from netsched.domain.cost import Cost
from netsched.domain.demand import Demand, Pattern
from netsched.domain.placement import Outcome, Placement, place
from netsched.domain.scheme import DEFAULT_SCHEME
from netsched.domain.topology import ClusterSnapshot, build_snapshot
from netsched.domain.topology_sources import fat_tree
from netsched.domain.traffic import COUNTED_PATTERNS
from replay import Observer, ReplayResult, replay

ROOT = Path(__file__).resolve().parents[1]
TRACES = sorted((ROOT.parent / "shared/data/philly-gavel").glob("*.trace"))
STRATEGIES = ("netsched", "tas", "spread", "binpack", "random")
LOAD = 0.9
RUNNING_SHARE = 0.5
"""Share of the optimality instances with running gangs on some uplinks."""


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def ratio(a: float, b: float) -> str:
    if b == 0:
        return "-" if a == 0 else "inf"
    return f"{a / b:.2f}"


# --- part 1: replays ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A job stream the replays can run: its short name, how it reads, and its jobs."""

    key: str
    """Suffix of the replay's name: ``""`` (Philly as recorded), ``"x8"``, ``"large"``."""
    title: str
    jobs: Callable[[], list[workloads.TraceJob]]


PHILLY = Stream("", "Philly x1", lambda: workloads.read_traces(TRACES))
PHILLY_X8 = Stream("x8", "Philly x8", lambda: workloads.read_traces(TRACES, gpus_per_trace_gpu=8))
LARGE = Stream("large", "large gangs", workloads.large_stream)


@dataclass(frozen=True)
class ReplayRun:
    """One replay: a cluster, a job stream, one queueing policy."""

    cluster: str
    stream: Stream
    queueing: str
    jobs: int
    factor: float
    profile: tuple[float, ...]
    shared: bool = False

    @property
    def name(self) -> str:
        name = f"{self.cluster} {self.stream.key}".strip()
        return f"{name} shared" if self.shared else name

    @property
    def label(self) -> str:
        """Which run a figure comes from, for the PASS/FAIL lines."""
        links = ", links shared by running gangs" if self.shared else ""
        return (
            f"replay {self.name} ({self.stream.title}, {self.jobs} jobs, {self.queueing}, "
            f"{LOAD:.0%} load{links})"
        )


@dataclass
class ReplaySummary:
    run: ReplayRun
    strategy: str
    comm: list[float]
    comm_by_pattern: dict[str, list[float]]
    tiers: Counter[str]
    cross: dict[str, float]
    result: ReplayResult
    audit: CrossingAudit
    head_to_head: HeadToHead | None = None
    chose_with_shares: float | None = None
    """netsched's mean comm/step when it chose with the running gangs' shares (shared runs)."""

    @property
    def mean_comm(self) -> float:
        return mean(self.comm)


def is_issue_replay(summary: ReplaySummary) -> bool:
    """Whether the issue's bars read this replay: a Philly stream, each gang costed alone.

    The bars name the Philly-derived streams and DESIGN.md's cost model; the large
    stream and the shared-link runs go beyond both and are reported beside them.
    """
    return summary.run.stream.key != LARGE.key and not summary.run.shared


def summarise(
    run: ReplayRun, result: ReplayResult, audit: CrossingAudit, rival: HeadToHead | None
) -> ReplaySummary:
    multi = [p for p in result.placed if p.demand.replicas > 1]
    cross: dict[str, float] = {}
    by_pattern: dict[str, list[float]] = {}
    for p in multi:
        for tier, size in p.cost.cross_tier_bytes.items():
            cross[tier] = cross.get(tier, 0.0) + size / len(multi)
        by_pattern.setdefault(p.demand.pattern.value, []).append(p.cost.comm_seconds)
    return ReplaySummary(
        run=run,
        strategy=result.strategy,
        comm=[p.cost.comm_seconds for p in multi],
        comm_by_pattern=by_pattern,
        tiers=Counter(p.cost.tier_spanned for p in multi),
        cross=cross,
        result=result,
        audit=audit,
        head_to_head=rival,
    )


@dataclass
class CrossingAudit:
    """Counts the gangs a strategy spread over several spines, and how many had to be.

    A crossing is *forced* when no single spine domain had room for the gang's pods
    at that moment (counted on the snapshot the strategy saw).
    """

    crossed: int = 0
    forced: int = 0

    def __call__(self, job: workloads.TraceJob, snap: ClusterSnapshot, outcome: Outcome) -> None:
        top = snap.scheme.tier_names[-1]
        if not isinstance(outcome, Placement) or outcome.cost.tier_spanned != top:
            return
        self.crossed += 1
        capacity = count_capacity(snap, job.demand.gpus_per_pod)
        spines = snap.tier_domains(len(snap.scheme.tier_names) - 2)
        self.forced += all(capacity.pods[d] < job.demand.replicas for d in spines)


@dataclass
class HeadToHead:
    """Re-places every gang a strategy placed with ``rival`` on the same snapshot.

    ``decisions`` counts the gangs both placed, ``rival_faster`` those where the
    rival's placement was predicted faster: a strategy that loses over a stream but
    never here loses through the states its earlier choices left, not a choice.
    """

    rival: str
    decisions: int = 0
    rival_faster: int = 0

    def __call__(self, job: workloads.TraceJob, snap: ClusterSnapshot, outcome: Outcome) -> None:
        if not isinstance(outcome, Placement):
            return
        other = place(job.demand, snap, strategy=self.rival)
        if isinstance(other, Placement):
            self.decisions += 1
            self.rival_faster += other.cost.comm_seconds < outcome.cost.comm_seconds * (1 - 1e-9)


def observe_all(*observers: Observer | None) -> Observer:
    """One observer that calls each of ``observers`` (None stands for none) in turn."""
    present = [o for o in observers if o is not None]

    def observe(job: workloads.TraceJob, snap: ClusterSnapshot, outcome: Outcome) -> None:
        for observer in present:
            observer(job, snap, outcome)

    return observe


REPLAYS: tuple[tuple[Callable[[], clusters.Cluster], Stream, bool], ...] = (
    (clusters.lingjun, PHILLY, False),
    (clusters.superpod, PHILLY, False),
    (lambda: clusters.fattree(1024), PHILLY, False),
    (clusters.degraded, PHILLY, False),
    (clusters.lingjun, PHILLY_X8, False),
    (clusters.degraded, PHILLY_X8, False),
    (clusters.lingjun, LARGE, False),
    (clusters.degraded, LARGE, False),
    (clusters.lingjun, PHILLY, True),
    (clusters.degraded, PHILLY, True),
    (clusters.lingjun, PHILLY_X8, True),
    (clusters.degraded, PHILLY_X8, True),
    (clusters.lingjun, LARGE, True),
    (clusters.degraded, LARGE, True),
)
"""(cluster, stream, links shared) of every replay. The x8 and large streams are too
large for the 1024-GPU SuperPOD-like cluster at any load below 100 % (x8), or hold gangs
as large as it (large). The issue's bars are read on the unshared runs (DESIGN.md's cost
model: each gang alone on the fabric); the shared runs add running gangs' fair shares of
every link (an extension, reported beside them)."""
PROFILE_AT = (0.25, 0.5, 0.75, 1.0)


def run_replays(
    quick: bool, queueing: str, log: Callable[[str], None]
) -> dict[str, list[ReplaySummary]]:
    out: dict[str, list[ReplaySummary]] = {}
    for make, stream, shared in REPLAYS:
        every = stream.jobs()
        cluster = make()
        jobs, factor = workloads.compress(
            every[: len(every) // 6] if quick else every, cluster_gpus=cluster.gpus, load=LOAD
        )
        profile = workloads.demand_profile(jobs, cluster_gpus=cluster.gpus, at=PROFILE_AT)
        run = ReplayRun(cluster.name, stream, queueing, len(jobs), factor, tuple(profile), shared)
        log(f"{run.label}: arrivals compressed {factor:.2f}x")
        out[run.name] = []
        for strategy in STRATEGIES:
            started = time.perf_counter()
            audit = CrossingAudit()
            rival = HeadToHead("tas") if strategy == "netsched" else None
            result = replay(
                cluster.snapshot,
                jobs,
                strategy,
                queueing=queueing,
                shared_links=shared,
                observe=observe_all(audit, rival),
            )
            summary = summarise(run, result, audit, rival)
            out[run.name].append(summary)
            log(
                f"  {strategy:<9} mean comm {summary.mean_comm * 1e3:8.2f} ms  "
                f"cross-spine {summary.cross.get('spine', 0.0) / 1e9:.3f} GB  "
                f"waited {result.waited:5d}  ({time.perf_counter() - started:.0f} s)"
            )
        if shared:
            extension = replay(
                cluster.snapshot,
                jobs,
                "netsched",
                queueing=queueing,
                shared_links=True,
                choose_with_shares=True,
            )
            ours = out[run.name][STRATEGIES.index("netsched")]
            ours.chose_with_shares = summarise(run, extension, CrossingAudit(), None).mean_comm
            log(f"  netsched choosing with the shares: {ours.chose_with_shares * 1e3:.2f} ms")
    return out


# --- part 2: sweep of large gangs on empty clusters ---------------------------------------------


def run_sweep(quick: bool, log: Callable[[str], None]) -> dict[str, dict[str, list[Cost]]]:
    demands = workloads.sweep()
    if quick:
        demands = [d for d in demands if d.total_gpus <= 256]
    makers = (
        clusters.lingjun,
        clusters.superpod,
        lambda: clusters.fattree(8192),
        clusters.degraded,
    )
    out: dict[str, dict[str, list[Cost]]] = {}
    for make in makers:
        cluster = make()
        out[cluster.name] = {s: [] for s in STRATEGIES}
        for demand in demands:
            for strategy in STRATEGIES:
                outcome = place(demand, cluster.snapshot, strategy=strategy)
                if isinstance(outcome, Placement):
                    out[cluster.name][strategy].append(outcome.cost)
        log(
            f"sweep {cluster.name}: "
            + ", ".join(
                f"{s} {mean([c.comm_seconds for c in costs]) * 1e3:.0f} ms"
                for s, costs in out[cluster.name].items()
            )
        )
    return out


# --- part 3: netsched against the exact optimum ---------------------------------------------------


def random_instance(
    rng: random.Random, pattern: Pattern, index: int
) -> tuple[Demand, ClusterSnapshot]:
    """A tree of at most 32 hosts, some GPUs taken, some uplinks measured slower or shared.

    Half the instances also carry 1-4 running gangs, each crossing 1-3 random uplinks
    (host, leaf or spine), so the yardstick is checked on shared links too.
    """
    spines, leaves, hosts = rng.randint(1, 2), rng.randint(1, 4), rng.randint(2, 4)
    nodes = fat_tree(cores=1, spines_per_core=spines, leaves_per_spine=leaves, hosts_per_leaf=hosts)
    used = {n.name: rng.choice((0, 0, 0, 2, 4, 6, 8)) for n in nodes}
    measured: dict[str, float] = {}  # domain id -> measured Gbps
    for n in nodes:  # some leaves (through their first host) and some hosts measured slower
        if n.name.endswith("-h0") and rng.random() < 0.4:
            leaf = "/".join(n.labels[level.label_key] for level in DEFAULT_SCHEME.levels)
            measured[leaf] = DEFAULT_SCHEME.levels[2].uplink_gbps * rng.uniform(0.1, 1.0)
        if rng.random() < 0.2:
            measured[n.name] = DEFAULT_SCHEME.host_gbps * rng.uniform(0.25, 1.0)
    idle = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)
    bandwidth = BandwidthEstimate.of(measured, idle.fabric, at=clusters.NOW, degraded_fraction=1.0)
    snap = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME, used_gpus=used, bandwidth=bandwidth)
    if rng.random() < RUNNING_SHARE:
        uplinks = [d.id for d in snap.domains if d.parent is not None]
        for _ in range(rng.randint(1, 4)):
            snap = snap.with_allocation({}, links=rng.sample(uplinks, rng.randint(1, 3)))
    per_pod = rng.choice((1, 2, 4, 8))
    replicas = rng.randint(2, 12)
    demand = Demand(
        name=f"rand/{index}",
        replicas=replicas,
        gpus_per_pod=per_pod,
        pattern=pattern,
        bytes_per_step=10**9,
    )
    return demand, snap


@dataclass
class OptimalResult:
    instances: int
    within: int
    gaps: list[float]
    by_pattern: dict[str, tuple[int, int]]


def run_optimal(quick: bool, log: Callable[[str], None]) -> OptimalResult:
    rng = random.Random(20250101)
    per_pattern = 15 if quick else 60
    gaps: list[float] = []
    by_pattern: dict[str, tuple[int, int]] = {}
    index = 0
    for pattern in COUNTED_PATTERNS:  # the patterns the optimal strategy models
        done = within = 0
        while done < per_pattern:
            index += 1
            demand, snap = random_instance(rng, pattern, index)
            best = place(demand, snap, strategy="optimal")
            ours = place(demand, snap, strategy="netsched")
            if not isinstance(best, Placement) or not isinstance(ours, Placement):
                continue  # does not fit: draw again
            done += 1
            exact, got = best.cost.comm_seconds, ours.cost.comm_seconds
            gap = 0.0 if got <= exact else (got - exact) / exact if exact else float("inf")
            gaps.append(gap)
            within += gap <= 0.05
        by_pattern[pattern.value] = (within, done)
        log(f"optimal {pattern.value}: {within}/{done} within 5 %")
    total = sum(n for _, n in by_pattern.values())
    return OptimalResult(total, sum(w for w, _ in by_pattern.values()), gaps, by_pattern)


# --- part 4: latency of one huge placement --------------------------------------------------------


def run_big_latency(quick: bool, log: Callable[[str], None]) -> list[float]:
    cluster = clusters.fattree(8192)
    repeats = 1 if quick else 4
    big = [d for d in workloads.sweep() if d.total_gpus == 1024]
    times = []
    for _ in range(repeats):
        for demand in big:
            started = time.perf_counter()
            place(demand, cluster.snapshot, strategy="netsched")
            times.append(time.perf_counter() - started)
    log(f"1024-GPU on fattree-8192: p95 {percentile(times, 0.95) * 1e3:.0f} ms")
    return times
