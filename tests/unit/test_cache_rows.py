"""The rows the operator's kopf indexes keep: small, and empty (never None) when nothing is held.

kopf keeps an object's previous index entries when the index function returns None,
so a row function must say "nothing" with ``{}``.
"""

from __future__ import annotations

from typing import Any

import pytest

from netsched.controller.cache import Held, gang_row, node_row, pod_row


def pod(phase: str, *, node: str | None = "n1", labels: dict[str, str] | None = None) -> Any:
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 8}}}]
    }
    if node:
        spec["nodeName"] = node
    metadata = {"name": "p", "namespace": "ml", "labels": labels or {}}
    return {"metadata": metadata, "spec": spec, "status": {"phase": phase}}


def test_a_running_pod_holds_its_gpus() -> None:
    assert pod_row(pod("Running")) == {"n1": Held(pod="ml/p", gpus=8, bound=True)}


@pytest.mark.parametrize("manifest", [pod("Succeeded"), pod("Failed"), pod("Pending", node=None)])
def test_a_pod_that_holds_nothing_has_an_empty_row_not_none(manifest: Any) -> None:
    assert pod_row(manifest) == {}


def test_a_malformed_node_is_an_empty_row() -> None:
    assert (
        node_row({"metadata": {"name": "n1"}, "status": {"allocatable": {"nvidia.com/gpu": "x"}}})
        == {}
    )


def test_a_gang_pod_row_is_keyed_by_its_job() -> None:
    manifest = pod("Running", labels={"netsched.io/job": "llm", "netsched.io/rank": "3"})
    manifest["spec"]["schedulingGates"] = [{"name": "netsched.io/placement"}]
    ((key, row),) = gang_row(manifest).items()
    assert key == ("ml", "llm")
    assert (row.rank, row.node, row.gated, row.restart) == (3, "n1", True, 0)


def test_a_pod_without_a_rank_is_no_gang_pod() -> None:
    assert gang_row(pod("Running", labels={"netsched.io/job": "llm"})) == {}


def test_the_bandwidth_estimate_is_made_again_only_when_its_inputs_change() -> None:
    import dataclasses
    from datetime import UTC, datetime

    from netsched.api import LinkMeasurement
    from netsched.clusterfile import ClusterState
    from netsched.controller.cache import BandwidthMemo
    from netsched.devcluster.nodes import leaf_spine

    nodes = tuple(leaf_spine(16))
    sample = LinkMeasurement.model_validate(
        {"metadata": {"name": "m"},
         "spec": {"sourceNode": nodes[0].name, "targetNode": nodes[9].name, "level": "spine",
                  "gbps": 40.0, "measuredAt": "2026-12-01T12:00:00Z"}}
    ).measured()  # fmt: skip
    now = datetime(2026, 12, 1, 12, 1, tzinfo=UTC)
    memo = BandwidthMemo()
    state = ClusterState(nodes=nodes, measurements=(sample,))
    first = memo.estimates(state, now=now)["default"]
    assert first.uplinks  # the sample blames both leaves it crosses
    same_rows = ClusterState(nodes=tuple(nodes), measurements=(sample,), used_gpus={"x": 1})
    assert memo.estimates(same_rows, now=now)["default"] is first
    other = dataclasses.replace(sample)
    assert (
        memo.estimates(ClusterState(nodes=nodes, measurements=(other,)), now=now)["default"]
        is not first
    )
