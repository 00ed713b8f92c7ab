"""`netsched place` reads a cluster file exactly as the real kubectl prints it.

The cluster file is not written by hand here: a GPU pod runs on one node (the real
scheduler binds it, KWOK runs it), a LinkMeasurement reports two nodes' links slow,
and ``kubectl get nodes,pods,networktopologies,linkmeasurements -A -o yaml`` of the
real API server is what ``netsched place`` reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster

pytestmark = pytest.mark.integration

LEAF_LABEL = "netsched.io/leaf"
SLOW_GBPS = 50.0


def quiet_leaf(cluster: Cluster) -> list[str]:
    """The nodes of a leaf with at least seven fake GPU nodes and no pod on any of them."""
    nodes = cluster.get("nodes", "-l", f"type=kwok,{LEAF_LABEL}")["items"]
    pods = cluster.get("pods", "-A")["items"]
    busy = {p["spec"].get("nodeName") for p in pods if p["status"].get("phase") != "Succeeded"}
    leaves: dict[str, list[str]] = defaultdict(list)
    for item in nodes:
        leaves[item["metadata"]["labels"][LEAF_LABEL]].append(item["metadata"]["name"])
    for _, names in sorted(leaves.items()):
        if len(names) >= 7 and not busy & set(names):
            return sorted(names)
    raise AssertionError(f"no leaf with 7 idle fake GPU nodes among {dict(leaves)}")


def gpu_pod(name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node},
            "containers": [
                {
                    "name": "worker",
                    "image": "registry.example/trainer:1",
                    "resources": {"limits": {"nvidia.com/gpu": "8"}},
                }
            ],
        },
    }


def slow_link(name: str, source: str, target: str) -> dict[str, Any]:
    """What the probe agent would write after measuring two hosts of one leaf."""
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "LinkMeasurement",
        "metadata": {"name": name},
        "spec": {
            "sourceNode": source,
            "targetNode": target,
            "level": "leaf",
            "gbps": SLOW_GBPS,
            "measuredAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tool": "iperf3",
        },
    }


def ring_job(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 4,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "trainer",
                            "image": "registry.example/trainer:1",
                            "resources": {"limits": {"nvidia.com/gpu": 8}},
                        }
                    ]
                }
            },
            "communication": {"pattern": "DataParallel", "bytesPerStep": "1Gi"},
            "topology": {"maxTier": "leaf"},
        },
    }


def place(cluster_file: Path, job_file: Path) -> subprocess.CompletedProcess[str]:
    command = ["place", "--cluster", str(cluster_file), "--job", str(job_file), "-o", "json"]
    return subprocess.run(
        [sys.executable, "-m", "netsched.cli", *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_place_reads_a_real_kubectl_dump_and_avoids_busy_and_measured_slow_nodes(
    api: Cluster, namespace: str, tmp_path: Path
) -> None:
    cluster = api
    leaf = quiet_leaf(cluster)
    slow, busy = leaf[:2], leaf[2]
    cluster.apply(gpu_pod("occupant", busy), "-n", namespace)
    cluster.wait_for(
        lambda: cluster.get("pod", "occupant", "-n", namespace)["status"].get("phase") == "Running",
        what=f"the 8-GPU pod on {busy} to run",
    )
    measurement = f"t-{uuid.uuid4().hex[:8]}.{slow[0]}.{slow[1]}"
    cluster.apply(slow_link(measurement, *slow))
    try:
        dump = cluster.kubectl(
            "get", "nodes,pods,networktopologies,linkmeasurements", "-A", "-o", "yaml"
        ).stdout
        cluster_file = tmp_path / "cluster.yaml"
        cluster_file.write_text(dump)
        job_file = tmp_path / "job.yaml"
        job_file.write_text(json.dumps(ring_job("ring", namespace)))

        done = place(cluster_file, job_file)
    finally:
        cluster.kubectl("delete", "linkmeasurement", measurement, "--wait=false", check=False)

    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    nodes = [rank["node"] for rank in answer["placement"]]
    assert [rank["rank"] for rank in answer["placement"]] == [0, 1, 2, 3]
    assert all(rank["gpus"] == 8 for rank in answer["placement"])
    assert len(set(nodes)) == 4
    assert busy not in nodes, f"{busy} runs an 8-GPU pod, yet the gang was put on it"
    assert not set(slow) & set(nodes), f"{slow} were measured at {SLOW_GBPS} Gbps: {nodes}"
    assert answer["predicted"]["bottleneckGbps"] > SLOW_GBPS
    assert answer["predicted"]["tiersSpanned"] == "leaf"
