"""``netsched simulate``: what each scheduler would make of a stream of jobs on this cluster.

A capacity planner's question, answered offline: a cluster dump (as ``netsched place``
reads) and a job trace (:mod:`netsched.trace`) go through
:func:`netsched.domain.simulation.simulate` once per strategy; the answer is each job's
wait, run time and completion time (JCT), and per strategy the mean and p95 JCT, makespan,
GPU utilisation and the share of step time spent communicating.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netsched.clusterfile import ClusterFileError, load_yaml, parse_cluster
from netsched.domain.placement import STRATEGIES
from netsched.domain.simulation import SimulatedJob, StreamOutcome, simulate
from netsched.domain.topology import ClusterSnapshot
from netsched.trace import TraceError, read_trace

__all__ = ["ClusterFileError", "Plan", "TraceError", "as_csv", "as_json", "load", "plot", "run",
           "strategies", "summary", "table"]  # fmt: skip
JOB_COLUMNS = ("strategy", "name", "gpus", "pattern", "arrival", "start", "end", "wait", "run",
               "jct", "tier", "comm_seconds_per_step")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Plan:
    snapshot: ClusterSnapshot
    jobs: list[SimulatedJob]


def load(cluster: Path, trace: Path, *, topology: str = "default") -> Plan:
    """The cluster's snapshot and the trace's jobs.

    Raises:
        ClusterFileError: the cluster file is bad, or it has no such NetworkTopology.
        TraceError: the trace is bad (the message names the line and column).
    """
    state = parse_cluster(load_yaml(cluster), source=str(cluster))
    try:
        snapshot = state.snapshot(topology, now=datetime.now(UTC))
    except ValueError as error:
        raise ClusterFileError(f"{cluster}: {error}") from None
    if not snapshot.nodes:
        raise ClusterFileError(f"{cluster}: no node carries the tier labels of {topology!r}")
    per_host = max(n.allocatable_gpus for n in snapshot.nodes)
    return Plan(snapshot, read_trace(trace, gpus_per_host=per_host, scheme=snapshot.scheme))


def strategies(names: str) -> list[str]:
    """``--strategy a,b,c`` checked against the known strategies."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in STRATEGIES]
    if unknown or not chosen:
        raise TraceError(
            f"--strategy: unknown {', '.join(unknown) or '(none given)'}; choose from "
            f"{', '.join(STRATEGIES)}, comma-separated"
        )
    return chosen


def run(
    plan: Plan, names: Sequence[str], *, progress: Callable[[str, int], None] | None = None
) -> list[StreamOutcome]:
    """One stream outcome per strategy, in the order given."""
    outcomes = []
    for name in names:

        def step(done: int, name: str = name) -> None:
            if progress is not None:
                progress(name, done)

        outcomes.append(simulate(plan.snapshot, plan.jobs, strategy=name, progress=step))
    return outcomes


def summary(outcome: StreamOutcome) -> dict[str, Any]:
    return {
        "strategy": outcome.strategy,
        "jobs": len(outcome.jobs),
        "finished": len(outcome.finished),
        "never_started": len(outcome.never_started),
        "mean_jct_seconds": round(outcome.jct(), 3),
        "p95_jct_seconds": round(outcome.jct(0.95), 3),
        "mean_wait_seconds": round(
            sum(j.wait or 0.0 for j in outcome.finished) / max(1, len(outcome.finished)), 3
        ),
        "makespan_seconds": round(outcome.makespan, 3),
        "gpu_utilisation": round(outcome.utilisation, 4),
        "comm_share": round(outcome.comm_share, 4),
    }


def table(outcomes: Sequence[StreamOutcome]) -> str:
    """The summary for people, with each strategy's mean JCT against the first's."""
    header = ("strategy", "jobs", "never started", "mean JCT", "p95 JCT", "vs first",
              "mean wait", "makespan", "GPU util", "comm share")  # fmt: skip
    base = outcomes[0].jct() if outcomes else 0.0
    rows = [header]
    for outcome in outcomes:
        s = summary(outcome)
        rows.append((
            outcome.strategy, str(s["jobs"]), str(s["never_started"]),
            _duration(s["mean_jct_seconds"]), _duration(s["p95_jct_seconds"]),
            f"{outcome.jct() / base:.2f}x" if base else "-",
            _duration(s["mean_wait_seconds"]), _duration(s["makespan_seconds"]),
            f"{s['gpu_utilisation']:.1%}", f"{s['comm_share']:.1%}",
        ))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
                   for r in rows)  # fmt: skip


def as_json(outcomes: Sequence[StreamOutcome]) -> str:
    document = {
        "strategies": [summary(o) for o in outcomes],
        "jobs": [dict(zip(JOB_COLUMNS, row, strict=True)) for row in _job_rows(outcomes)],
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


def as_csv(outcomes: Sequence[StreamOutcome]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(JOB_COLUMNS)
    writer.writerows(_job_rows(outcomes))
    return out.getvalue()


def _job_rows(outcomes: Sequence[StreamOutcome]) -> list[tuple[Any, ...]]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    rows = []
    for outcome in outcomes:
        for j in outcome.jobs:
            times = (j.arrival, j.start, j.end, j.wait, j.run, j.jct)
            rows.append((outcome.strategy, j.name, j.gpus, j.pattern, *map(rounded, times),
                         j.tier, round(j.comm_seconds, 6)))  # fmt: skip
    return rows


def plot(outcomes: Sequence[StreamOutcome], path: Path) -> None:
    """JCT CDFs, one line per strategy (matplotlib: ``pip install matplotlib``)."""
    try:
        import matplotlib
    except ImportError:
        raise TraceError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 4.2))
    for outcome in outcomes:
        values = sorted((j.jct or 0.0) / 3600 for j in outcome.finished)
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            axis.step(values, ys, where="post", label=f"{outcome.strategy} "
                      f"(mean {outcome.jct() / 3600:.2f} h)")  # fmt: skip
    axis.set_xscale("log")
    axis.set_xlabel("job completion time (hours, log scale)")
    axis.set_ylabel("share of jobs")
    axis.grid(alpha=0.3)
    axis.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"
