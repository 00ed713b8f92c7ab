"""The operator in-cluster: the Helm chart installs it, into a namespace that enforces the
restricted pod security profile, and the netsched image runs ``netsched run`` as a real pod on a
real node, with the chart's ServiceAccount and ClusterRole, reaches the API server through the
``kubernetes`` Service under its own NetworkPolicy, and places a TrainingJob.

This module runs no operator process of its own (two operators would both hand out GPUs):
the pod is the only one while its test runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Cluster
from integration.in_cluster import NAMESPACE, installed, operator_pod, scrape

pytestmark = [pytest.mark.integration, pytest.mark.realnodes]


@pytest.fixture
def in_cluster_operator(real_nodes: Cluster, api: Cluster, tmp_path: Path) -> Iterator[Cluster]:
    with installed(real_nodes, tmp_path, probe=None):
        yield real_nodes


def test_the_netsched_image_runs_the_operator_in_cluster_and_places_a_job(
    in_cluster_operator: Cluster, namespace: str
) -> None:
    cluster = in_cluster_operator
    job = {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": "in-cluster", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "t", "image": "trainer:test",
                         "resources": {"limits": {"nvidia.com/gpu": 8}}}
                    ]
                }
            },
            "communication": {"pattern": "DataParallel", "bytesPerStep": "1Gi"},
        },
    }  # fmt: skip
    cluster.apply(job)

    def running() -> dict[str, Any] | None:
        found = cluster.get("trainingjob", "in-cluster", "-n", namespace)
        return found if (found.get("status") or {}).get("phase") == "Running" else None

    found = cluster.wait_for(running, what="the in-cluster operator to run the job", timeout=180)
    assert len(found["status"]["placement"]["ranks"]) == 2
    operator = operator_pod(cluster)
    assert operator["spec"]["nodeName"].startswith("real-")  # a real pod on a real node
    [status] = operator["status"]["containerStatuses"]
    assert status["ready"] and status["restartCount"] == 0  # kopf's /healthz answers
    name = operator["metadata"]["name"]
    log = cluster.kubectl("logs", "-n", NAMESPACE, name).stdout
    assert "cache filled in" in log
    # Its own NetworkPolicy, enforced by kube-router, lets the host scrape it.
    assert scrape(cluster)["netsched_ready"] == 1
