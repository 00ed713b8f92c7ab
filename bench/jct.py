"""Job completion time benchmark: the replays' streams run as jobs of steps on links shared
over time (netsched.domain.simulation); its section of docs/benchmarks.md and docs/jct.png.

    .venv/bin/python bench/jct.py            # ~4 min on 2 cores
    .venv/bin/python bench/jct.py --no-write # print only

Where the placement replays (bench/placement.py) cost each gang once, when it is placed,
here every running gang is re-costed whenever a gang starts or leaves one of its links, and
its remaining steps finish later or sooner: per job its wait, run time and completion time
(JCT). The streams and clusters are the placement replays' (same compression to 90 % load);
a job's steps and compute seconds per step come from its job type (bench/workloads.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

import clusters
import docs_sections
import workloads
from docs_sections import bar
from netsched.domain.simulation import StreamOutcome, simulate
from runs import LARGE, LOAD, PHILLY_X8, ROOT, Stream

HEADING = "# Job completion time (bench/jct.py)"
STRATEGIES = ("netsched", "tas", "spread")
RUNS = (
    (clusters.lingjun, PHILLY_X8),
    (clusters.degraded, PHILLY_X8),
    (clusters.lingjun, LARGE),
    (clusters.degraded, LARGE),
)
"""Philly x1 is left out: its jobs are a GPU or a few, mostly inside one node, and every
strategy gives the same JCT within 0.1 % (netsched simulate shows it)."""


def run(
    make: Callable[[], clusters.Cluster], stream: Stream
) -> tuple[str, list[StreamOutcome], float]:
    cluster = make()
    jobs, factor = workloads.compress(stream.jobs(), cluster_gpus=cluster.gpus, load=LOAD)
    simulated = [workloads.simulated_job(j) for j in jobs]
    name = f"{cluster.name} {stream.key}".strip()
    outcomes = [simulate(cluster.snapshot, simulated, strategy=s) for s in STRATEGIES]
    return f"{name} ({stream.title}, {len(jobs)} jobs)", outcomes, factor


def table(outcomes: list[StreamOutcome]) -> list[str]:
    tas = next(o for o in outcomes if o.strategy == "tas").jct()
    rows = [
        "| strategy | mean JCT (h) | vs tas | p95 JCT (h) | mean wait (h) | makespan (h) "
        "| GPU utilisation | comm share of step time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        waits = [j.wait or 0.0 for j in o.finished]
        rows.append(
            f"| {o.strategy} | {o.jct() / 3600:.2f} | {o.jct() / tas:.3f} | "
            f"{o.jct(0.95) / 3600:.2f} | {sum(waits) / len(waits) / 3600:.2f} | "
            f"{o.makespan / 3600:.1f} | {o.utilisation:.1%} | {o.comm_share:.2%} |"
        )
    return rows


def jct_bars(results: list[tuple[str, list[StreamOutcome], float]]) -> list[str]:
    """Issue 12's JCT bars: netsched's mean JCT at most tas's on every replay, and at most
    0.90 x tas's for the large stream on degraded Lingjun."""
    lines = []
    for (make, stream), (label, outcomes, _) in zip(RUNS, results, strict=True):
        by = {o.strategy: o for o in outcomes}
        ours, tas = by["netsched"].jct(), by["tas"].jct()
        figures = f"mean JCT netsched {ours / 3600:.2f} h, tas {tas / 3600:.2f} h: netsched/tas"
        lines.append(bar(ours <= tas * (1 + 1e-9), f"{label}: {figures} {ours / tas:.3f} <= 1.00"))
        if make is clusters.degraded and stream is LARGE:
            lines.append(bar(ours <= 0.9 * tas, f"{label}: {figures} {ours / tas:.3f} <= 0.90"))
    return lines


def plot(results: list[tuple[str, list[StreamOutcome], float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.8), squeeze=False)
    for axis, (label, outcomes, _) in zip(axes[0], results, strict=True):
        for o in outcomes:
            values = sorted((j.jct or 0.0) / 3600 for j in o.finished)
            axis.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post",
                      label=f"{o.strategy} ({o.jct() / 3600:.1f} h)")  # fmt: skip
        axis.set_xscale("log")
        axis.set_title(label.split(" (")[0], fontsize=10)
        axis.set_xlabel("JCT (hours, log)", fontsize=8)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, frameon=False, loc="upper left")
    axes[0][0].set_ylabel("share of jobs")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print, leave docs/ alone")
    args = parser.parse_args()
    started = time.perf_counter()
    results = []
    for make, stream in RUNS:
        begun = time.perf_counter()
        label, outcomes, factor = run(make, stream)
        results.append((label, outcomes, factor))
        tas = outcomes[1].jct()
        ratios = "  ".join(f"{o.strategy} {o.jct() / 3600:.2f} h ({o.jct() / tas:.3f})"
                           for o in outcomes)  # fmt: skip
        print(f"{label}: {ratios}  [{time.perf_counter() - begun:.0f} s]", flush=True)
    seconds = time.perf_counter() - started
    lines = [
        HEADING,
        "",
        "Command: `python bench/jct.py`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d}, {seconds:.0f} s on {docs_sections.machine()}",
        "",
        "Each job runs its steps; a step is its job type's compute time alone plus its "
        "communication time *now*, on the links it crosses shared with every gang running on "
        "them, re-costed whenever a gang starts or leaves one of those links "
        "(`netsched.domain.simulation`; docs/simulate.md). Compute per step: the inverse of "
        "the steps per second Gavel measured for the job type on one node (Philly streams; "
        "bench/workloads.py), one second for the large stream's gangs (an assumption). "
        "Queueing: BestEffortFIFO. Every strategy chooses on the cluster as it is, running "
        "gangs' links included. JCT = wait + run; GPU utilisation is over the makespan, "
        "which heavy-tailed durations make long.",
        "",
        "Issue 12's bars: netsched's mean JCT at most tas's on every replay, and at most "
        "0.90 x tas's for the large stream on degraded Lingjun:",
        "",
        "```",
        *jct_bars(results),
        "```",
        "",
        "![JCT CDFs per replay](jct.png)",
        "",
    ]
    for label, outcomes, factor in results:
        lines += [f"## {label}", "", f"Arrivals compressed {factor:.2f}x to {LOAD:.0%} load.", ""]
        lines += [*table(outcomes), ""]
    text = "\n".join(lines)
    print(text)
    if args.no_write:
        return
    plot(results, ROOT / "docs" / "jct.png")
    docs_sections.replace(ROOT / "docs" / "benchmarks.md", HEADING, text)
    print("wrote docs/benchmarks.md and docs/jct.png")


if __name__ == "__main__":
    main()
