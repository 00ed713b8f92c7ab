"""docs/dashboard.png: netsched's Grafana dashboard drawn from live Prometheus data.

A dev cluster of KWOK nodes, a real ``netsched run``, a real Prometheus scraping it every
2 s, and a stream of TrainingJobs (sizes from 1 to 16 nodes, every communication pattern,
each deleted after a while as if it finished; one too big to ever fit). Then every panel of
:data:`netsched.observe.PANELS` is read back with ``query_range`` and drawn, one subplot per
panel, as Grafana would lay it out::

    python bench/dashboard_snapshot.py [--minutes 5] [--nodes 64]
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from e2e_kube import Api
from e2e_operator import Operator
from netsched import devcluster, observe
from netsched.devcluster.operator_process import install_crds
from netsched.devcluster.prometheus import start_prometheus

ROOT = Path(__file__).resolve().parents[1]
PATTERNS = ("DataParallel", "ModelParallel", "PipelineParallel", "ExpertParallel")
NAMESPACE = "dashboard"
STEP_SECONDS = 5


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the stream runs")
    parser.add_argument("--nodes", type=int, default=64, help="KWOK nodes (8 a leaf)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    return parser.parse_args()


def job(name: str, replicas: int, pattern: str) -> dict[str, Any]:
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": replicas,
            "communication": {"pattern": pattern, "bytesPerStep": "2Gi"},
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "trainer:snapshot",
                            "resources": {"limits": {"nvidia.com/gpu": 8}},
                        }
                    ]
                }
            },
        },
    }


TOPOLOGY = {
    "apiVersion": "netsched.io/v1alpha1",
    "kind": "NetworkTopology",
    "metadata": {"name": "default"},
    "spec": {
        "levels": [
            {"name": "core", "nodeLabel": "netsched.io/core"},
            {"name": "spine", "nodeLabel": "netsched.io/spine", "uplinkGbps": 3200},
            {"name": "leaf", "nodeLabel": "netsched.io/leaf", "uplinkGbps": 1600},
        ],
        "hostGbps": 400,
    },
}
"""The chart's default NetworkTopology: the operator reports on it (links degraded: none)."""
UNITS = {"short": "", "ops": "per second", "s": "seconds", "bytes": "bytes", "Gbits": "Gbit/s"}


def stream(api: Api, *, seconds: float, rng: random.Random, log: Any) -> None:
    """A job every few seconds; each lives 30 to 90 s, then is deleted."""
    path = f"/apis/netsched.io/v1alpha1/namespaces/{NAMESPACE}/trainingjobs"
    ends: dict[str, float] = {}
    started = time.monotonic()
    number = 0
    while time.monotonic() - started < seconds:
        now = time.monotonic()
        for name in [n for n, end in ends.items() if end <= now]:
            api.request("DELETE", f"{path}/{name}", ok=(404,))
            del ends[name]
        number += 1
        name = f"job-{number:03d}"
        replicas = rng.choice((1, 2, 2, 4, 4, 8, 12, 16))
        body = job(name, replicas, rng.choice(PATTERNS))
        api.request("POST", path, body=body)
        ends[name] = now + rng.uniform(30, 90)
        time.sleep(rng.uniform(2, 6))  # the stream's gap between arrivals, not a wait
    log(f"{number} jobs submitted")


def draw(series: dict[str, list[tuple[str, list[Any]]]], start: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (len(observe.PANELS) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(15, 3.0 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, observe.PANELS, strict=False):
        for legend, values in series[panel.title]:
            xs = [(float(t) - start) / 60 for t, _ in values]
            ys = [float(v) for _, v in values]
            axis.plot(xs, ys, label=legend, linewidth=1.2)
        axis.set_title(panel.title, fontsize=10, loc="left")
        axis.set_ylabel(UNITS.get(panel.unit, panel.unit), fontsize=8)
        axis.tick_params(labelsize=8)
        axis.grid(alpha=0.3)
        if series[panel.title]:
            axis.legend(fontsize=7, loc="upper left", ncol=2, frameon=False)
    for axis in list(axes.flat)[len(observe.PANELS) :]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("minutes", fontsize=8)
    fig.suptitle(f"netsched dashboard ({observe.DASHBOARD_UID}), live data", fontsize=12)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def legend_of(template: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        template = template.replace(f"{{{{{key}}}}}", value)
    return template


def main() -> None:
    args = arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    began = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - began:5.0f} s] {text}", flush=True)

    scratch = Path(tempfile.mkdtemp(prefix="netsched-dashboard-"))
    plane = devcluster.up(nodes=devcluster.leaf_spine(args.nodes), run_dir=scratch / "cluster")
    try:
        install_crds(plane)
        api = Api(plane.kubeconfig)
        api.apply_namespace(NAMESPACE)
        api.request("POST", "/apis/netsched.io/v1alpha1/networktopologies", body=TOPOLOGY)
        with Operator(plane.kubeconfig, scratch / "operator.log").start() as operator:
            prometheus = start_prometheus(
                {observe.JOB: f"127.0.0.1:{operator.port}"},
                scratch / "prometheus",
                interval="2s",
                rule_files=[observe.ALERTS_FILE],
            )
            try:
                start = time.time()
                log(f"streaming jobs for {args.minutes} min onto {args.nodes} nodes")
                api.request(
                    "POST",
                    f"/apis/netsched.io/v1alpha1/namespaces/{NAMESPACE}/trainingjobs",
                    body=job("too-big", args.nodes + 8, "DataParallel"),
                )
                stream(api, seconds=args.minutes * 60, rng=random.Random(args.seed), log=log)
                end = time.time()
                series = {}
                for panel in observe.PANELS:
                    lines = []
                    for query in panel.queries:
                        expr = observe.for_prometheus(query.expr)
                        for result in prometheus.query_range(
                            expr, start=start, end=end, step=STEP_SECONDS
                        ):
                            lines.append(
                                (legend_of(query.legend, result["metric"]), result["values"])
                            )
                    series[panel.title] = lines
                    log(f"{panel.title}: {len(lines)} series")
            finally:
                prometheus.stop()
    finally:
        plane.stop()
    draw(series, start, args.out)
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
