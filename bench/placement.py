"""Placement benchmark: every strategy side by side, one run; its section of docs/benchmarks.md.

    .venv/bin/python bench/placement.py                         # full run (~5 min on 2 cores)
    .venv/bin/python bench/placement.py --quick                 # smoke run (~1 min)
    .venv/bin/python bench/placement.py --queueing StrictFIFO   # head-of-line blocking

Four parts, all on the pure engine (``netsched.domain.placement.place``):

1. **Replays** of the Philly-derived job streams on Lingjun, the SuperPOD-like
   cluster, a 1024-node fat tree and degraded Lingjun, and of the same streams with
   every job 8x larger, and of a synthetic stream of large gangs, on Lingjun and
   degraded Lingjun (see bench/clusters.py, bench/workloads.py, bench/replay.py for
   every assumption);
2. **Sweep** of synthetic large gangs (64-1024 GPUs, every pattern) on empty clusters;
3. **Optimality**: netsched against the exact ``optimal`` on random small instances;
4. **Latency** of one 1024-GPU placement on an 8192-node fat tree.

Benchmarks are not tests: the issue's bars are printed as PASS/FAIL lines, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

import docs_sections
from bars import beside_the_bars, check_bars, contention_bars, degraded_under_load
from plot import plot
from replay import QUEUEING
from report import report
from runs import ROOT, run_big_latency, run_optimal, run_replays, run_sweep

DOCS = ROOT / "docs"
PLACEMENT_HEADING = "# Placement benchmark"
"""This benchmark's section of docs/benchmarks.md (bench/e2e.py writes another)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller smoke run")
    parser.add_argument(
        "--queueing",
        choices=QUEUEING,
        default=QUEUEING[0],
        help="the replays' queueing policy, as Kueue's ClusterQueue queueingStrategy",
    )
    args = parser.parse_args()
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {text}", flush=True)

    replays = run_replays(args.quick, args.queueing, log)
    sweep = run_sweep(args.quick, log)
    optimal = run_optimal(args.quick, log)
    big = run_big_latency(args.quick, log)
    bars = check_bars(replays, sweep, optimal, big)
    degraded_lines = degraded_under_load(replays)
    large_lines = beside_the_bars(replays, shared=False)
    shared_lines = beside_the_bars(replays, shared=True)
    shared_bars = contention_bars(replays)
    print(
        "\n".join(
            [
                *bars,
                "",
                "the degraded cluster under load (not a bar):",
                *degraded_lines,
                "",
                "the large stream (not the issue's bars):",
                *large_lines,
                "",
                "links shared by running gangs (issue 4's bars do not read them):",
                *shared_lines,
                "",
                "issue 12's bars, links shared by running gangs:",
                *shared_bars,
            ]
        )
    )
    DOCS.mkdir(exist_ok=True)
    plot_name = "placement-benchmark.png"
    plot(replays, sweep, DOCS / plot_name)
    command = "python bench/placement.py" + (" --quick" if args.quick else "")
    if args.queueing != QUEUEING[0]:
        command += f" --queueing {args.queueing}"
    text = report(
        command=command,
        quick=args.quick,
        seconds=time.perf_counter() - started,
        replays=replays,
        sweep=sweep,
        optimal=optimal,
        bars=bars,
        degraded_lines=degraded_lines,
        large_lines=large_lines,
        shared_lines=shared_lines,
        shared_bars=shared_bars,
        plot_name=plot_name,
    )
    docs_sections.replace(DOCS / "benchmarks.md", PLACEMENT_HEADING, text)
    log(f"wrote {DOCS / 'benchmarks.md'} and {DOCS / plot_name}")


if __name__ == "__main__":
    main()
