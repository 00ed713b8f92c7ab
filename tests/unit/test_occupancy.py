"""What a Node offers and a Pod occupies: one set of rules for files and watch streams."""

from __future__ import annotations

from typing import Any

import pytest

from netsched.api.occupancy import ObjectError, Occupancy, node_info, pod_occupancy


def pod(
    *gpus: int,
    node: str | None = None,
    selector: str | None = None,
    job: str | None = None,
    phase: str = "Pending",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": g}}} for g in gpus]
    }
    if node:
        spec["nodeName"] = node
    if selector:
        spec["nodeSelector"] = {"kubernetes.io/hostname": selector}
    labels = {"netsched.io/job": job} if job else {}
    return {"metadata": {"name": "p", "labels": labels}, "spec": spec, "status": {"phase": phase}}


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (pod(8, node="n1", phase="Running"), Occupancy("n1", 8, bound=True)),
        (pod(4, 4, node="n1"), Occupancy("n1", 8, bound=True)),
        (pod(8, node="n1", phase="Succeeded"), None),
        (pod(8, node="n1", phase="Failed"), None),
        # a gang pod pinned by netsched occupies its node before it binds
        (pod(8, selector="n2", job="llm"), Occupancy("n2", 8, bound=False)),
        # somebody else's pending pod with a hostname selector is not a reservation
        (pod(8, selector="n2"), None),
        # a gated gang pod without a selector occupies nothing yet
        (pod(8, job="llm"), None),
        # once bound, nodeName wins over the selector
        (pod(8, node="n3", selector="n3", job="llm"), Occupancy("n3", 8, bound=True)),
    ],
)
def test_pod_occupancy(manifest: dict[str, Any], expected: Occupancy | None) -> None:
    assert pod_occupancy(manifest) == expected


def test_init_containers_and_sidecars_follow_the_effective_request() -> None:
    manifest = pod(2, node="n1")
    manifest["spec"]["initContainers"] = [
        {"name": "side", "restartPolicy": "Always", "resources": {"limits": {"nvidia.com/gpu": 1}}},
        {"name": "init", "resources": {"limits": {"nvidia.com/gpu": 6}}},
    ]
    assert pod_occupancy(manifest) == Occupancy("n1", 7, bound=True)


def test_a_malformed_pod_names_the_field() -> None:
    manifest = pod(node="n1")
    manifest["spec"]["containers"] = [
        {"name": "c", "resources": {"limits": {"nvidia.com/gpu": "1.5"}}}
    ]
    with pytest.raises(ObjectError, match=r"spec.containers\[0\].resources.limits"):
        pod_occupancy(manifest)


@pytest.mark.parametrize(
    ("conditions", "ready"),
    [
        ([], True),
        ([{"type": "Ready", "status": "True"}], True),
        ([{"type": "Ready", "status": "Unknown"}], False),
        ([{"type": "MemoryPressure", "status": "False"}], False),
    ],
)
def test_node_ready(conditions: list[dict[str, str]], ready: bool) -> None:
    node = {
        "metadata": {"name": "n1", "labels": {"netsched.io/leaf": "l1"}},
        "spec": {"unschedulable": True},
        "status": {"allocatable": {"nvidia.com/gpu": "8"}, "conditions": conditions},
    }
    info = node_info(node)
    assert (info.ready, info.unschedulable, info.allocatable_gpus) == (ready, True, 8)
    assert info.labels == {"netsched.io/leaf": "l1"}


def test_a_node_without_a_name_is_an_error() -> None:
    with pytest.raises(ObjectError, match=r"metadata\.name"):
        node_info({"metadata": {}})


def test_the_cluster_file_counts_reservations_apart_from_bound_pods() -> None:
    from netsched.clusterfile import parse_cluster

    node = {
        "kind": "Node",
        "metadata": {"name": "n1"},
        "status": {"allocatable": {"nvidia.com/gpu": 8}},
    }
    items = [
        node,
        {"kind": "Pod", **pod(2, node="n1", phase="Running")},
        {"kind": "Pod", **pod(4, selector="n1", job="llm")},
    ]
    state = parse_cluster({"kind": "List", "items": items}, source="c.yaml")
    assert (dict(state.used_gpus), dict(state.reserved_gpus)) == ({"n1": 2}, {"n1": 4})
