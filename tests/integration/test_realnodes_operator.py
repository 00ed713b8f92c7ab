"""The operator in-cluster: the netsched image runs ``netsched run`` as a real pod on a real node,
with a ServiceAccount of its own, reaches the API server through the ``kubernetes`` Service,
and places a TrainingJob.

This module runs no operator process of its own (two operators would both hand out GPUs):
the pod is the only one while its test runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Cluster
from netsched.devcluster.images import NETSCHED
from netsched.devcluster.realnodes import REAL_NODE_LABEL

pytestmark = [pytest.mark.integration, pytest.mark.realnodes]

NAMESPACE = "netsched-system"
RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["pods"],
     "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["services", "events"], "verbs": ["create", "patch"]},
    {"apiGroups": [""], "resources": ["nodes", "namespaces"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["create"]},
    {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"],
     "verbs": ["list", "watch"]},
    {"apiGroups": ["netsched.io"], "resources": ["trainingjobs"],
     "verbs": ["get", "list", "watch", "patch", "delete"]},
    {"apiGroups": ["netsched.io"], "resources": ["trainingjobs/status", "networktopologies/status"],
     "verbs": ["patch"]},
    {"apiGroups": ["netsched.io"], "resources": ["networktopologies", "linkmeasurements"],
     "verbs": ["list", "watch"]},
    {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
     "verbs": ["list", "watch"]},
]  # fmt: skip


def manifests() -> list[dict[str, Any]]:
    account = {"kind": "ServiceAccount", "name": "netsched", "namespace": NAMESPACE}
    pod_spec = {
        "serviceAccountName": "netsched",
        "nodeSelector": {REAL_NODE_LABEL: "true"},
        "tolerations": [{"key": REAL_NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [
            {
                "name": "operator",
                "image": NETSCHED,
                "imagePullPolicy": "Never",
                "args": ["run", "--metrics-port", "9090", "--verbose"],
            }
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "netsched", "namespace": NAMESPACE}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "netsched-test-operator"}, "rules": RULES},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "netsched-test-operator"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "netsched-test-operator"},
         "subjects": [account]},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "netsched-operator", "namespace": NAMESPACE},
         "spec": pod_spec},
    ]  # fmt: skip


@pytest.fixture
def in_cluster_operator(real_nodes: Cluster, api: Cluster) -> Iterator[Cluster]:
    cluster = real_nodes
    for manifest in manifests():
        cluster.apply(manifest)
    try:
        yield cluster
    finally:
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, "netsched-operator", "--wait=true",
                        check=False)  # fmt: skip
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", "netsched-test-operator",
                        check=False)  # fmt: skip


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
    operator = cluster.get("pod", "netsched-operator", "-n", NAMESPACE)
    assert operator["spec"]["nodeName"].startswith("real-")  # a real pod on a real node
    log = cluster.kubectl("logs", "-n", NAMESPACE, "netsched-operator").stdout
    assert "cache filled in" in log
