"""The Philly-derived traces (../shared/data/philly-gavel) as a ``netsched simulate`` trace,
and the 847-host Lingjun topology as a cluster dump, so that a capacity planner's run is::

    python bench/philly_trace.py --trace philly.csv --cluster lingjun.yaml
    netsched simulate --cluster lingjun.yaml --trace philly.csv --strategy netsched,tas,spread

Each trace line (Gavel's format: job type, command, ..., steps, arrival seconds, GPUs)
becomes one CSV row. What the trace does not say is the benchmark's assumption per job type
(``bench/workloads.py``, stated in docs/benchmarks.md): its pattern, its payload per step
(parameters x 4 bytes; a Hybrid job's shard of it), and its compute seconds per step, the
inverse of the steps per second Gavel measured for it on one node (no network). ``--scale``
reads each trace GPU as that many GPUs (8: a trace GPU is an 8-GPU node).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import yaml

from netsched.devcluster.nodes import lingjun, node_manifest
from netsched.trace import OPTIONAL, REQUIRED
from workloads import compress, read_traces, simulated_job

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "philly-gavel"


def convert(paths: list[Path], out: Path, *, scale: int, load: float | None, gpus: int) -> str:
    """Write the CSV; with ``load``, arrivals are compressed (``workloads.compress``) until the
    jobs would keep that share of ``gpus`` busy while they arrive. Returns what was done."""
    jobs = read_traces(paths, gpus_per_trace_gpu=scale)
    factor = 1.0
    if load is not None:
        jobs, factor = compress(jobs, cluster_gpus=gpus, load=load)
    rows = []
    for job in jobs:
        simulated = simulated_job(job)
        rows.append({
            "arrival_seconds": f"{job.arrival:.3f}", "gpus": job.demand.total_gpus,
            "pattern": job.demand.pattern.value, "bytes_per_step": job.demand.bytes_per_step,
            "steps": simulated.steps, "compute_seconds": f"{simulated.compute_seconds:.6g}",
            "priority": 0, "name": job.name,
        })  # fmt: skip
    with out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[*REQUIRED, *OPTIONAL])
        writer.writeheader()
        writer.writerows(rows)
    return f"{len(rows)} jobs, arrivals compressed {factor:.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trace", type=Path, required=True, help="the CSV to write")
    parser.add_argument("--cluster", type=Path, help="also write the Lingjun cluster dump here")
    parser.add_argument("--scale", type=int, default=1, help="GPUs per trace GPU")
    parser.add_argument("--load", type=float, help="compress arrivals to this share of the "
                        "Lingjun cluster's GPUs busy while jobs arrive (e.g. 0.9)")  # fmt: skip
    parser.add_argument("inputs", type=Path, nargs="*", help="Gavel traces (default: all three)")
    args = parser.parse_args()
    inputs = args.inputs or sorted(DATA.glob("*.trace"))
    if not inputs:
        sys.exit(f"no traces given and none in {DATA}")
    hosts = lingjun()
    gpus = sum(h.allocatable_gpus for h in hosts)
    done = convert(inputs, args.trace, scale=args.scale, load=args.load, gpus=gpus)
    print(f"wrote {done} to {args.trace}")
    if args.cluster:
        nodes = [node_manifest(info) for info in hosts]
        args.cluster.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List",
                                                "items": nodes}))  # fmt: skip
        print(f"wrote {len(nodes)} Lingjun nodes to {args.cluster}")


if __name__ == "__main__":
    main()
