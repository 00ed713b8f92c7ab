"""The dev cluster behaves like Kubernetes: the facts the operator will rely on.

Every test talks to the real API server; the real kube-scheduler binds, the real
controller-manager garbage-collects, KWOK plays the kubelet.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import Cluster

pytestmark = pytest.mark.integration

GATE = "netsched.io/placement"


@pytest.fixture(scope="module")
def some_node(cluster: Cluster) -> str:
    """One of the fake GPU nodes (the sixth by name, to avoid always using the first)."""
    names = sorted(n["metadata"]["name"] for n in cluster.get("nodes", "-l", "type=kwok")["items"])
    return names[5]


def gpu_pod(name: str, *, gpus: int, gated: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "worker",
                "image": "registry.example/trainer:1",
                "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
            }
        ],
    }
    if gated:
        spec["schedulingGates"] = [{"name": GATE}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for entry in pod.get("status", {}).get("conditions", []):
        if entry["type"] == kind:
            return dict(entry)
    return None


def test_nodes_advertise_gpus_and_tier_labels(cluster: Cluster, some_node: str) -> None:
    node = cluster.get("node", some_node)
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "8"
    assert node["status"]["capacity"]["nvidia.com/gpu"] == "8"
    labels = node["metadata"]["labels"]
    assert {"netsched.io/core", "netsched.io/spine", "netsched.io/leaf"} <= labels.keys()
    assert labels["kubernetes.io/hostname"] == some_node
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    assert ready and ready[0]["status"] == "True"


def test_gated_pod_waits_then_binds_where_the_node_selector_says(
    cluster: Cluster, namespace: str, some_node: str
) -> None:
    cluster.apply(gpu_pod("rank-0", gpus=4, gated=True), "-n", namespace)

    pod = cluster.wait_for(
        lambda: (
            (p := cluster.get("pod", "rank-0", "-n", namespace))
            and condition(p, "PodScheduled")
            and p
        ),
        what="the gated pod's PodScheduled condition",
    )
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]
    gated = condition(pod, "PodScheduled")
    assert gated is not None
    assert (gated["status"], gated["reason"]) == ("False", "SchedulingGated")

    # While gated, a pod's node selector may still be set; then lift the gate.
    pod_ref = ("pod", "rank-0", "-n", namespace)
    selector = {"spec": {"nodeSelector": {"kubernetes.io/hostname": some_node}}}
    ungate = [{"op": "remove", "path": "/spec/schedulingGates"}]
    cluster.kubectl("patch", *pod_ref, "--type=merge", "-p", json.dumps(selector))
    cluster.kubectl("patch", *pod_ref, "--type=json", "-p", json.dumps(ungate))

    running = cluster.wait_for(
        lambda: (
            (p := cluster.get("pod", "rank-0", "-n", namespace))
            and p["status"].get("phase") == "Running"
            and p
        ),
        what="the ungated pod to be bound and Running",
    )
    assert running["spec"]["nodeName"] == some_node


def test_pod_asking_for_more_gpus_than_any_node_has_is_unschedulable(
    cluster: Cluster, namespace: str
) -> None:
    cluster.apply(gpu_pod("too-big", gpus=9), "-n", namespace)

    scheduled = cluster.wait_for(
        lambda: condition(cluster.get("pod", "too-big", "-n", namespace), "PodScheduled"),
        what="the scheduler's verdict on a 9-GPU pod",
    )
    assert scheduled["status"] == "False"
    assert scheduled["reason"] == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in scheduled["message"]


def test_deleting_the_owner_garbage_collects_its_pods(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "owner", "-n", namespace)
    owner_uid = cluster.get("configmap", "owner", "-n", namespace)["metadata"]["uid"]
    for rank in range(3):
        pod = gpu_pod(f"worker-{rank}", gpus=1)
        pod["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner_uid}
        ]
        cluster.apply(pod, "-n", namespace)
    assert len(cluster.get("pods", "-n", namespace)["items"]) == 3

    cluster.kubectl("delete", "configmap", "owner", "-n", namespace, "--cascade=background")

    cluster.wait_for(
        lambda: not cluster.get("pods", "-n", namespace)["items"] or None,
        what="the garbage collector to delete the owner's pods",
    )


def test_a_custom_resource_definition_is_served(cluster: Cluster, namespace: str) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.smoke.netsched.io"},
        "spec": {
            "group": "smoke.netsched.io",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer"}},
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    cluster.apply(crd)
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd/widgets.smoke.netsched.io"
    )

    cluster.apply(
        {
            "apiVersion": "smoke.netsched.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        },
        "-n",
        namespace,
    )

    assert cluster.get("widget", "w1", "-n", namespace)["spec"] == {"size": 3}
    cluster.kubectl("delete", "crd", "widgets.smoke.netsched.io", "--wait=false")
