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


# --- which nodes a job's pods may use ------------------------------------------------------


def tainted(*taints: tuple[str, str, str], labels: dict[str, str] | None = None) -> Any:
    return node_info(
        {
            "metadata": {"name": "n1", "labels": labels or {}},
            "spec": {"taints": [{"key": k, "value": v, "effect": e} for k, v, e in taints]},
            "status": {"allocatable": {"nvidia.com/gpu": "8"}},
        }
    )


@pytest.mark.parametrize(
    ("taint", "tolerations", "refused"),
    [
        (("gpu", "", "NoSchedule"), [], True),
        (("gpu", "", "NoSchedule"), [{"key": "gpu", "operator": "Exists"}], False),
        (("gpu", "a100", "NoSchedule"), [{"key": "gpu", "value": "a100"}], False),
        (("gpu", "a100", "NoSchedule"), [{"key": "gpu", "value": "h100"}], True),
        (
            ("gpu", "", "NoExecute"),
            [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
            True,
        ),
        (("gpu", "", "NoSchedule"), [{"operator": "Exists"}], False),
        # PreferNoSchedule only discourages: the node is not refused
        (("gpu", "", "PreferNoSchedule"), [], False),
    ],
)
def test_taints_and_tolerations(
    taint: tuple[str, str, str], tolerations: list[dict[str, str]], refused: bool
) -> None:
    from netsched.api.occupancy import refusal

    why = refusal(tainted(taint), node_selector={}, tolerations=tolerations)
    assert (why is not None) is refused
    if refused:
        assert why is not None and why.startswith(f"taint {taint[0]}")


def test_a_node_selector_the_node_does_not_match_refuses_it() -> None:
    from netsched.api.occupancy import refusal

    node = tainted(labels={"pool": "a100"})
    assert refusal(node, node_selector={"pool": "a100"}, tolerations=[]) is None
    assert "nodeSelector pool=h100" in str(
        refusal(node, node_selector={"pool": "h100"}, tolerations=[])
    )


def test_the_snapshot_excludes_refused_nodes_with_the_reason() -> None:
    from datetime import UTC, datetime

    from netsched.api import TrainingJob
    from netsched.clusterfile import parse_cluster

    labels = {"netsched.io/core": "c", "netsched.io/spine": "s", "netsched.io/leaf": "l"}
    items = [
        {"kind": "Node", "metadata": {"name": n, "labels": labels},
         "spec": {"taints": [{"key": "maint", "effect": "NoSchedule"}]} if n == "n2" else {},
         "status": {"allocatable": {"nvidia.com/gpu": "8"}}}
        for n in ("n1", "n2")
    ]  # fmt: skip
    state = parse_cluster({"kind": "List", "items": items}, source="c.yaml")
    job = TrainingJob.model_validate(
        {"metadata": {"name": "j", "namespace": "ml"},
         "spec": {"replicas": 1, "communication": {"pattern": "DataParallel", "bytesPerStep": 1},
                  "template": {"spec": {"containers": [{"name": "c", "resources":
                               {"limits": {"nvidia.com/gpu": 8}}}]}}}}
    )  # fmt: skip
    snapshot = state.snapshot_for(job, now=datetime(2025, 1, 1, tzinfo=UTC))
    assert dict(snapshot.excluded) == {
        "n2": "taint maint:NoSchedule not tolerated by the pod template"
    }
