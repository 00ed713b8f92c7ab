"""The job trace ``netsched simulate`` reads: CSV, one job a line, a header naming the columns
(in any order):

=================  ========  ==========================================================
column             required  what
=================  ========  ==========================================================
arrival_seconds    yes       when the job is submitted, seconds since the trace's start
gpus               yes       GPUs it asks for: one pod on a host up to a host's GPUs,
                             else pods of a host's GPUs (or of their gcd with it)
pattern            yes       DataParallel, ModelParallel, PipelineParallel, ExpertParallel,
                             Hybrid or None (as a TrainingJob's communication.pattern)
bytes_per_step     yes       bytes a rank exchanges per step, as communication.bytesPerStep
                             is written (``14Gi``, ``500M`` or a whole number)
steps              yes       training steps it runs
compute_seconds    yes       one step's compute time, without communication
priority           no        higher goes first in the queue (default 0)
name               no        default ``line-<n>``
=================  ========  ==========================================================

A Hybrid job's degrees: tensor parallel within a pod (its GPUs), 2 pipeline stages when
its pod count is even (else 1), data parallel over the rest. ``bench/philly_trace.py``
turns the Philly-derived traces into this format.

A bad value is a :class:`TraceError` naming the line, the column and what to do.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from netsched.api.quantity import byte_count
from netsched.domain.demand import Demand, ParallelDegrees, Pattern, demand_problems
from netsched.domain.scheme import TopologyScheme
from netsched.domain.simulation import SimulatedJob

REQUIRED = ("arrival_seconds", "gpus", "pattern", "bytes_per_step", "steps", "compute_seconds")
OPTIONAL = ("priority", "name")


class TraceError(ValueError):
    """A trace that cannot be read: the file, or a line and column of it."""


def gang_shape(gpus: int, gpus_per_host: int) -> tuple[int, int]:
    """(pods, GPUs per pod) for a job of ``gpus``, as DDP launchers run one pod per host:
    up to a host's GPUs is one pod; beyond, pods of a host's GPUs, or of their gcd when
    that does not divide the count (20 GPUs on 8-GPU hosts: 5 pods of 4).

    >>> gang_shape(4, 8), gang_shape(32, 8), gang_shape(20, 8)
    ((1, 4), (4, 8), (5, 4))
    """
    if gpus <= gpus_per_host:
        return 1, gpus
    per_pod = math.gcd(gpus, gpus_per_host)
    return gpus // per_pod, per_pod


def hybrid_degrees(pods: int, gpus_per_pod: int) -> ParallelDegrees:
    pipeline = 2 if pods % 2 == 0 else 1
    return ParallelDegrees(tensor=gpus_per_pod, pipeline=pipeline, data=pods // pipeline)


def read_trace(path: Path, *, gpus_per_host: int, scheme: TopologyScheme) -> list[SimulatedJob]:
    """Every job of the trace at ``path``, in file order.

    Raises:
        TraceError: the file is missing, has no header or lacks a required column, or a
            value is bad (the message names its line and column).
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise TraceError(f"--trace {path}: {error.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    columns = set(reader.fieldnames or ())
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise TraceError(
            f"{path}:1: the header lacks {', '.join(missing)}: the first line names the "
            f"columns, of {', '.join(REQUIRED + OPTIONAL)}"
        )
    unknown = sorted(columns - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise TraceError(f"{path}:1: unknown column {', '.join(unknown)}")
    jobs, names = [], set()
    line = 1
    for line, row in enumerate(reader, start=2):
        job = _job(row, line=line, where=f"{path}:{line}", gpus_per_host=gpus_per_host)
        if job.name in names:
            raise TraceError(f"{path}:{line}: column name: {job.name!r} is used twice")
        names.add(job.name)
        problems = demand_problems(job.demand, scheme)
        if problems:
            raise TraceError(f"{path}:{line}: {problems[0].message}")
        jobs.append(job)
    if not jobs:
        raise TraceError(f"{path}:{line}: no jobs: after the header, one line a job")
    return jobs


def _job(row: dict[str, str], *, line: int, where: str, gpus_per_host: int) -> SimulatedJob:
    def number(column: str, kind: type[int] | type[float], *, least: float) -> float:
        raw = (row.get(column) or "").strip()
        try:
            value = kind(raw)
        except ValueError:
            wanted = "an integer" if kind is int else "a number"
            raise TraceError(f"{where}: column {column}: {raw!r} is not {wanted}") from None
        if not math.isfinite(value):
            raise TraceError(f"{where}: column {column}: {raw} is not a finite number")
        if value < least:
            raise TraceError(f"{where}: column {column}: {raw} must be at least {least:g}")
        return value

    def byte_column(column: str) -> int:
        raw = (row.get(column) or "").strip()
        try:
            return byte_count(int(raw) if raw.isdigit() else raw)
        except ValueError as error:
            raise TraceError(f"{where}: column {column}: {error}") from None

    gpus = int(number("gpus", int, least=1))
    pattern_name = (row.get("pattern") or "").strip()
    try:
        pattern = Pattern(pattern_name)
    except ValueError:
        raise TraceError(
            f"{where}: column pattern: {pattern_name!r} is not one of "
            f"{', '.join(p.value for p in Pattern)}"
        ) from None
    pods, per_pod = gang_shape(gpus, gpus_per_host)
    name = (row.get("name") or "").strip() or f"line-{line}"
    demand = Demand(
        name=name,
        replicas=pods,
        gpus_per_pod=per_pod,
        pattern=pattern,
        bytes_per_step=byte_column("bytes_per_step"),
        degrees=hybrid_degrees(pods, per_pod) if pattern is Pattern.HYBRID else None,
    )
    priority = (row.get("priority") or "").strip()
    return SimulatedJob(
        name=name,
        arrival=number("arrival_seconds", float, least=0),
        demand=demand,
        steps=int(number("steps", int, least=0)),
        compute_seconds=number("compute_seconds", float, least=0),
        priority=int(number("priority", int, least=-(2**31))) if priority else 0,
    )
