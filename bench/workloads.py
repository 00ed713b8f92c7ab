"""The jobs the placement benchmark replays: Philly-derived streams and synthetic large gangs.

Every assumption that turns a trace line into a :class:`Demand` lives in
:data:`JOB_TYPES` and :func:`pods_for`, so docs/benchmarks.md can print them.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from netsched.domain.demand import Demand, ParallelDegrees, Pattern
from netsched.domain.simulation import SimulatedJob
from netsched.trace import gang_shape, hybrid_degrees

GPUS_PER_HOST = 8
BYTES_PER_PARAM = 4  # fp32 gradients


@dataclass(frozen=True, slots=True)
class JobType:
    """What we assume about one Gavel job type (the trace gives only its name)."""

    prefix: str
    pattern: Pattern
    params_millions: float
    steps_per_second: float
    why: str


JOB_TYPES = (
    JobType("ResNet-18", Pattern.DATA_PARALLEL, 11.7, 25.0, "image classifier, DDP"),
    JobType("ResNet-50", Pattern.DATA_PARALLEL, 25.6, 4.0, "image classifier, DDP"),
    JobType("CycleGAN", Pattern.DATA_PARALLEL, 28.3, 2.0, "two generators + critics, DDP"),
    JobType("Transformer", Pattern.HYBRID, 65.0, 6.0, "tensor in a pod, 2 pipeline stages"),
    JobType("LM", Pattern.PIPELINE_PARALLEL, 50.0, 15.0, "stacked LSTM split by layers"),
    JobType("Recommendation", Pattern.EXPERT_PARALLEL, 25.0, 10.0, "embedding all-to-all"),
    JobType("A3C", Pattern.NONE, 1.0, 30.0, "independent RL workers"),
)


@dataclass(frozen=True, slots=True)
class TraceJob:
    """One line of a Philly-derived trace, turned into a gang with an arrival and a duration."""

    name: str
    demand: Demand
    arrival: float
    duration: float
    steps_per_second: float = 1.0
    """Its job type's throughput alone (Gavel's measurement; 1 for the large stream's
    gangs, an assumed second a step): the JCT benchmark's steps and compute per step."""


def job_type(name: str) -> JobType:
    return next(t for t in JOB_TYPES if name.startswith(t.prefix))


def pods_for(gpus: int) -> tuple[int, int]:
    """(replicas, GPUs per pod) on 8-GPU hosts (:func:`netsched.trace.gang_shape`)."""
    return gang_shape(gpus, GPUS_PER_HOST)


def demand_for(name: str, kind: JobType, gpus: int) -> Demand:
    replicas, per_pod = pods_for(gpus)
    payload = int(kind.params_millions * 1e6 * BYTES_PER_PARAM)
    degrees = None
    if kind.pattern is Pattern.HYBRID:
        degrees = hybrid_degrees(replicas, per_pod)
        payload //= per_pod * degrees.pipeline  # each GPU all-reduces its shard of the gradients
    if kind.pattern is Pattern.NONE:
        payload = 0
    return Demand(
        name=name,
        replicas=replicas,
        gpus_per_pod=per_pod,
        pattern=kind.pattern,
        bytes_per_step=payload,
        degrees=degrees,
    )


def read_traces(paths: list[Path], *, gpus_per_trace_gpu: int = 1) -> list[TraceJob]:
    """Every job of the given traces, merged by arrival time (ties by trace, then line).

    ``gpus_per_trace_gpu`` scales every job's size: 8 reads each trace GPU as an
    8-GPU node (a 4-GPU job becomes four 8-GPU pods), mirroring today's larger
    gangs; job types, payloads and durations stay as they are.
    """
    jobs: list[TraceJob] = []
    for path in paths:
        with path.open(newline="") as handle:
            for line, row in enumerate(csv.reader(handle, delimiter="\t")):
                kind = job_type(row[0])
                gpus = int(row[6]) * gpus_per_trace_gpu
                name = f"{path.stem}/{line:04d}"
                jobs.append(
                    TraceJob(
                        name=name,
                        demand=demand_for(name, kind, gpus),
                        arrival=float(row[5]),
                        duration=int(row[4]) / kind.steps_per_second,
                        steps_per_second=kind.steps_per_second,
                    )
                )
    return sorted(jobs, key=lambda j: j.arrival)


def window_load(jobs: list[TraceJob], *, cluster_gpus: int, factor: float) -> float:
    """GPU-seconds asked *inside* the arrival window / GPU-seconds the cluster offers in it.

    With arrivals divided by ``factor``: the mean share of the cluster an unbounded
    cluster would keep busy while jobs arrive. Work that runs past the last arrival
    is not counted, since no arrival can queue behind it.
    """
    start = min(j.arrival for j in jobs)
    window = (max(j.arrival for j in jobs) - start) / factor
    if window <= 0:
        return 0.0
    inside = sum(
        j.demand.total_gpus * min(j.duration, window - (j.arrival - start) / factor) for j in jobs
    )
    return inside / (cluster_gpus * window)


def compress(
    jobs: list[TraceJob], *, cluster_gpus: int, load: float
) -> tuple[list[TraceJob], float]:
    """Divide arrival times so :func:`window_load` is ``load``; durations are kept.

    Returns the jobs and the factor (at least 1: arrivals never move apart). The
    load counts only work inside the arrival window because the traces' durations
    are heavy-tailed (median 7 h, p90 146 h, longest 7870 h): asked / offered over
    the window would count work that runs long after the last arrival, and a large
    cluster, whose window is short, would then be far less busy than ``load``.
    ``window_load`` grows with the factor, so the factor is found by bisection.
    """
    low, high = 1.0, 1.0
    while window_load(jobs, cluster_gpus=cluster_gpus, factor=high) < load and high < 1e6:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        if window_load(jobs, cluster_gpus=cluster_gpus, factor=middle) < load:
            low = middle
        else:
            high = middle
    factor = high if window_load(jobs, cluster_gpus=cluster_gpus, factor=1.0) < load else 1.0
    start = min(j.arrival for j in jobs)
    moved = [
        TraceJob(j.name, j.demand, (j.arrival - start) / factor, j.duration, j.steps_per_second)
        for j in jobs
    ]
    return moved, factor


def demand_profile(
    jobs: list[TraceJob], *, cluster_gpus: int, at: tuple[float, ...]
) -> list[float]:
    """GPUs an unbounded cluster would have busy at fractions ``at`` of the arrival window,
    as a share of ``cluster_gpus``: shows how bursty the stream is around its mean load."""
    start = min(j.arrival for j in jobs)
    window = max(j.arrival for j in jobs) - start
    out = []
    for share in at:
        now = start + share * window
        busy = sum(j.demand.total_gpus for j in jobs if j.arrival <= now < j.arrival + j.duration)
        out.append(busy / cluster_gpus)
    return out


SWEEP_GPUS = (64, 128, 256, 512, 1024)
SWEEP_PAYLOAD = {
    Pattern.DATA_PARALLEL: 14 * 10**9,  # 7B parameters, bf16 gradients
    Pattern.PIPELINE_PARALLEL: 256 * 2**20,  # activations at a stage boundary
    Pattern.MODEL_PARALLEL: 256 * 2**20,
    Pattern.EXPERT_PARALLEL: 2 * 2**30,  # tokens dispatched per step
    Pattern.HYBRID: 140 * 10**9 // 32,  # 70B bf16 gradients, one (tensor 8 x pipeline 4) shard
}


def large_gang(name: str, gpus: int, pattern: Pattern) -> Demand:
    """A gang of 8-GPU pods with the sweep's payload for ``pattern``."""
    replicas = gpus // GPUS_PER_HOST
    degrees = None
    if pattern is Pattern.HYBRID:
        degrees = ParallelDegrees(tensor=8, pipeline=4, data=replicas // 4)
    return Demand(
        name=name,
        replicas=replicas,
        gpus_per_pod=GPUS_PER_HOST,
        pattern=pattern,
        bytes_per_step=SWEEP_PAYLOAD[pattern],
        degrees=degrees,
    )


def sweep() -> list[Demand]:
    """Large synthetic gangs of 8-GPU pods, each pattern at each size."""
    return [
        large_gang(f"sweep/{pattern.value.lower()}-{gpus}", gpus, pattern)
        for gpus in SWEEP_GPUS
        for pattern in SWEEP_PAYLOAD
    ]


LARGE_JOBS = 400
LARGE_SEED = 20250101
LARGE_GPUS_WEIGHTS = {64: 8, 128: 6, 256: 3, 512: 2, 1024: 1}
"""Sizes of the large-gang stream and their relative frequency: smaller gangs are more common."""
LARGE_MEAN_HOURS = 6.0
LARGE_MEAN_GAP_SECONDS = 3600.0
"""Mean time between arrivals before :func:`compress`: sparse enough (about a fifth of
Lingjun's GPUs asked) that compressing the arrivals can reach the benchmark's load."""


def large_stream(count: int = LARGE_JOBS, seed: int = LARGE_SEED) -> list[TraceJob]:
    """A synthetic stream of today's training gangs, 64-1024 GPUs of 8-GPU pods.

    Not a trace: Poisson arrivals (one an hour before :func:`compress` rescales them),
    sizes drawn from :data:`LARGE_GPUS_WEIGHTS`, the pattern uniform over the sweep's
    five with the sweep's payloads, durations exponential with a mean of
    :data:`LARGE_MEAN_HOURS`. Seeded, so every run replays the same jobs.
    """
    rng = random.Random(seed)
    sizes, weights = zip(*LARGE_GPUS_WEIGHTS.items(), strict=True)
    patterns = list(SWEEP_PAYLOAD)
    jobs, arrival = [], 0.0
    for index in range(count):
        arrival += rng.expovariate(1 / LARGE_MEAN_GAP_SECONDS)
        gpus = rng.choices(sizes, weights)[0]
        demand = large_gang(f"large/{index:03d}", gpus, rng.choice(patterns))
        duration = rng.expovariate(1 / (LARGE_MEAN_HOURS * 3600))
        jobs.append(TraceJob(demand.name, demand, arrival, duration))
    return jobs


def simulated_job(job: TraceJob) -> SimulatedJob:
    """The job as the JCT simulation runs it: its steps, each its type's compute time alone
    (the inverse of the steps per second measured without a network)."""
    steps = max(1, round(job.duration * job.steps_per_second))
    return SimulatedJob(job.name, job.arrival, job.demand, steps, 1 / job.steps_per_second)
