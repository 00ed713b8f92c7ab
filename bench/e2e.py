"""Operator end to end: netsched against kube-scheduler alone, on one live cluster, one run.

    .venv/bin/python bench/e2e.py                      # everything (~12 min on 2 cores)
    .venv/bin/python bench/e2e.py --parts throughput   # one part; docs are not rewritten
    make bench-e2e

A real control plane (``netsched.devcluster``: kube-apiserver, controller-manager,
kube-scheduler, etcd, KWOK) with fake 8-GPU nodes in a leaf/spine fat tree, and the
operator as users run it (``netsched run``, a separate process). Three parts:

1. **Quality**: the same seeded gangs (2-16 pods of 8 GPUs, five patterns) placed by
   kube-scheduler alone (plain pods, created in the same order), then by netsched; both
   placements read from the API and priced by ``netsched.domain.cost.predict``;
2. **Throughput and latency**: 100 gangs x 8 pods submitted at once on 1000 nodes, by
   both, in alternating rounds (the machine is shared: ratios of one round are paired);
   then the same gangs as a steady stream (2 gangs a second), the latency a gang sees
   when the cluster keeps up with its arrivals;
3. **Scale**: the operator's memory, CPU and decision time at 1000 and 5000 nodes with
   gangs holding about half the GPUs.

Every batch starts on an empty cluster. The issue's bars are printed as PASS/FAIL lines
(never asserted) and written, with every table, to docs/benchmarks.md. Every cluster and
operator this starts is stopped again, also on failure.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

import e2e_gangs
import e2e_report
from e2e_batches import Batch, clear, cpu_seconds, percentile, run_kube, run_netsched
from e2e_kube import Api, wait_for
from e2e_operator import DECISION, Operator, Scrape, bucket_bound, histogram_quantile
from e2e_report import Quality, Results, ScalePoint, Throughput
from netsched import devcluster

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("quality", "throughput", "scale")
CLIENT = "benchmark client"
OPERATOR = "operator"
Log = Callable[[str], None]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--run-dir", type=Path, default=Path("/tmp/bench-cluster"), help="the cluster's files")
    add("--nodes", type=int, default=1000, help="nodes of the quality and throughput parts")
    add("--scale-nodes", type=int, nargs="+", default=[1000, 5000], help="the scale points")
    add("--quality-gangs", type=int, default=40)
    add("--gangs", type=int, default=100, help="gangs of the throughput part")
    add("--pods", type=int, default=8, help="pods per gang of the throughput part")
    add("--rounds", type=int, default=5, help="alternating throughput rounds")
    add("--fill", type=float, default=0.5, help="share of GPUs the scale part's gangs ask")
    add("--threads", type=int, default=4, help="concurrent creates of a batch sent at once")
    add("--paced-rate", type=float, default=2.0, help="gangs a second of the paced batches")
    add("--paced-rounds", type=int, default=2, help="alternating paced rounds")
    add("--seed", type=int, default=2024)
    add("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    add("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    # SIGTERM (timeout, a CI runner) unwinds like Ctrl-C, so every finally below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    too_many = args.gangs * args.pods > args.nodes or args.fill > 1
    if too_many:
        sys.exit(
            f"--gangs {args.gangs} x --pods {args.pods} (or --fill {args.fill}) asks for more "
            f"8-GPU nodes than the {args.nodes} of --nodes: every batch needs free capacity"
        )
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {text}", flush=True)

    if devcluster.running(args.run_dir) is not None:
        sys.exit(
            f"a dev cluster is already running in {args.run_dir}: the benchmark needs an empty "
            f"one; stop it (netsched dev-cluster down --run-dir {args.run_dir}) or pass another "
            "--run-dir"
        )
    logs = args.run_dir.with_name(args.run_dir.name + "-logs")
    logs.mkdir(parents=True, exist_ok=True)
    results = Results(nodes=args.nodes)
    log(f"starting a {args.nodes}-node cluster in {args.run_dir} (operator logs: {logs})")
    plane = devcluster.up(nodes=devcluster.leaf_spine(args.nodes), run_dir=args.run_dir)
    try:
        install_crds(plane.kubeconfig)
        api = Api(plane.kubeconfig)
        results.kubernetes = str(api.get("/version").get("gitVersion", "?"))
        operator = Operator(plane.kubeconfig, logs / "operator.log")
        try:
            if "quality" in args.parts:
                results.quality = quality(api, operator, args, log)
            if "throughput" in args.parts:
                results.throughput = throughput(plane, api, operator, args, log)
            if "scale" in args.parts:
                results.scale = scale(plane, api, operator, args, log)
        finally:
            operator.stop()
    finally:
        log("stopping the cluster")
        plane.stop()
    results.seconds = time.perf_counter() - started
    bars = e2e_report.bars(results)
    print("\n".join(["", *e2e_report.summary(results), "", *bars]))
    if args.no_write or set(args.parts) != set(PARTS):
        log("partial or --no-write run: docs/benchmarks.md left as it is")
        return
    command = " ".join(["python bench/e2e.py", *sys.argv[1:]])
    e2e_report.write(ROOT / "docs" / "benchmarks.md", results, bars, command=command)
    log("wrote docs/benchmarks.md")


def install_crds(kubeconfig: Path) -> None:
    kubectl = [str(devcluster.kubectl_path()), f"--kubeconfig={kubeconfig}"]
    subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True)
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"],
        check=True,
    )


def start_operator(operator: Operator, log: Log) -> Scrape:
    """Start the operator and wait until it is ready (its cache filled: ``netsched_ready``),
    as kube-scheduler is when its batches start."""
    operator.start()
    wait_for(
        lambda: operator.scrape().samples.get("netsched_ready") == 1.0,
        what=f"the operator to fill its cache (log: {operator.log})",
        timeout=1800,
    )
    time.sleep(2.0)  # let the initial listing's events drain
    idle = operator.scrape()
    log(
        f"operator up (pid {operator.pid}, cache filled in {idle.sync_seconds:.1f} s, "
        f"RSS {idle.rss_bytes / 2**20:.0f} MiB)"
    )
    return idle


# --- part 1: quality ---------------------------------------------------------------------------


def quality(api: Api, operator: Operator, args: argparse.Namespace, log: Log) -> Quality:
    gangs = e2e_gangs.mixed(args.quality_gangs, seed=args.seed, prefix="q")
    pods = sum(g.pods for g in gangs)
    if pods > args.nodes:
        raise SystemExit(f"the {len(gangs)} quality gangs ask for {pods} nodes of {args.nodes}")
    log(f"quality: {len(gangs)} gangs, {pods} pods, kube-scheduler alone")
    kube = run_kube(api, gangs, "e2e-quality-kube", threads=1)
    clear(api, "e2e-quality-kube")
    log("quality: the same gangs as TrainingJobs, netsched")
    start_operator(operator, log)
    try:
        ours = run_netsched(api, gangs, "e2e-quality-netsched", threads=1)
    finally:
        operator.stop()
    clear(api, "e2e-quality-netsched")
    snapshot = e2e_gangs.empty_snapshot(api.items("/api/v1/nodes"))
    return Quality.priced(kube=kube, netsched=ours, snapshot=snapshot)


# --- part 2: throughput and latency ------------------------------------------------------------


def throughput(
    plane: devcluster.ControlPlane,
    api: Api,
    operator: Operator,
    args: argparse.Namespace,
    log: Log,
) -> Throughput:
    result = Throughput(gangs=args.gangs, pods=args.pods)
    gangs = e2e_gangs.uniform(args.gangs, pods=args.pods, prefix="t")
    cluster = {p.name: p.pid for p in plane.processes} | {CLIENT: os.getpid()}

    def costed(run: Callable[[], Batch], pids: dict[str, int]) -> Batch:
        before = cpu_seconds(pids)
        batch = run()
        after = cpu_seconds(pids)
        batch.cpu = {name: after[name] - before[name] for name in pids}
        return batch

    for round_ in range(1, args.rounds + 1):
        kube_ns = f"e2e-throughput-kube-{round_}"
        kube = costed(partial(run_kube, api, gangs, kube_ns, threads=args.threads), cluster)
        clear(api, kube_ns)
        log(f"round {round_}: kube-scheduler alone {kube.pods_per_second:.1f} pods/s")
        start_operator(operator, log)
        ns = f"e2e-throughput-ns-{round_}"
        try:
            ours = costed(
                partial(run_netsched, api, gangs, ns, threads=args.threads),
                cluster | {OPERATOR: operator.pid},
            )
        finally:
            operator.stop()
        clear(api, ns)
        log(f"round {round_}: netsched {ours.pods_per_second:.1f} pods/s")
        result.rounds.append((kube, ours))
    result.alone = one_by_one(api, operator, args, log)
    result.paced_every = 1.0 / args.paced_rate
    for round_ in range(1, args.paced_rounds + 1):
        result.paced.append(paced(api, operator, gangs, round_, result.paced_every, log))
    return result


def paced(
    api: Api, operator: Operator, gangs: list[e2e_gangs.Gang], round_: int, every: float, log: Log
) -> tuple[Batch, Batch]:
    """The throughput part's gangs as a steady stream, one every ``every`` seconds, to
    kube-scheduler alone and then to netsched: create-to-all-bound when nothing piles up."""
    kube_ns = f"e2e-paced-kube-{round_}"
    kube = run_kube(api, gangs, kube_ns, threads=1, every=every)
    clear(api, kube_ns)
    start_operator(operator, log)
    ns = f"e2e-paced-ns-{round_}"
    try:
        ours = run_netsched(api, gangs, ns, threads=1, every=every)
    finally:
        operator.stop()
    clear(api, ns)
    p95 = [percentile(b.latencies(), 0.95) for b in (kube, ours)]
    log(f"paced round {round_}: p95 kube-scheduler alone {p95[0]:.2f} s, netsched {p95[1]:.2f} s")
    return kube, ours


def one_by_one(api: Api, operator: Operator, args: argparse.Namespace, log: Log) -> list[Batch]:
    """Gangs sent one at a time, each after the last is bound: the latency floor."""
    gangs = e2e_gangs.uniform(5, pods=args.pods, prefix="solo")
    start_operator(operator, log)
    batches = []
    try:
        for index, gang in enumerate(gangs):
            batches.append(run_netsched(api, [gang], "e2e-solo", threads=1))
            log(f"alone {index + 1}: {batches[-1].latencies()[0]:.2f} s")
    finally:
        operator.stop()
    clear(api, "e2e-solo")
    return batches


# --- part 3: scale -----------------------------------------------------------------------------


def scale(
    plane: devcluster.ControlPlane,
    api: Api,
    operator: Operator,
    args: argparse.Namespace,
    log: Log,
) -> list[ScalePoint]:
    points = []
    for nodes in sorted(args.scale_nodes):
        if nodes > args.nodes:
            log(f"scale: growing the cluster to {nodes} nodes")
            began = time.perf_counter()
            devcluster.add_nodes(plane, devcluster.leaf_spine(nodes))
            log(f"scale: {nodes} nodes Ready in {time.perf_counter() - began:.0f} s")
        listed = len(api.items("/api/v1/nodes"))
        gangs = e2e_gangs.filling(
            round(args.fill * listed * e2e_gangs.GPUS_PER_POD), seed=args.seed, prefix="s"
        )
        namespace = f"e2e-scale-{nodes}"
        idle = start_operator(operator, log)
        try:
            batch = run_netsched(api, gangs, namespace, threads=args.threads)
            time.sleep(2.0)  # the last binds' events reach the operator before it is read
            loaded = operator.scrape()
            peak = operator.peak_rss_bytes()
        finally:
            operator.stop()
        clear(api, namespace)
        buckets = loaded.histogram(DECISION)
        point = ScalePoint(
            nodes=listed,
            gangs=len(gangs),
            pods=batch.pods,
            sync=idle.sync_seconds,
            idle_rss=idle.rss_bytes,
            rss=loaded.rss_bytes,
            peak_rss=peak,
            idle_cpu=idle.cpu_seconds,
            cpu=loaded.cpu_seconds,
            decisions=int(loaded.count(DECISION)),
            decision_mean=loaded.total(DECISION) / max(1.0, loaded.count(DECISION)),
            decision_p95=histogram_quantile(0.95, buckets),
            decision_p95_bound=bucket_bound(0.95, buckets),
            span=batch.span_seconds,
        )
        log(
            f"scale {listed} nodes: {len(gangs)} gangs, RSS {point.rss / 2**20:.0f} MiB "
            f"(peak {point.peak_rss / 2**20:.0f}), decision p95 {point.decision_p95 * 1e3:.1f} ms"
        )
        points.append(point)
    return points


if __name__ == "__main__":
    main()
