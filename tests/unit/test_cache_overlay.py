"""Read your own writes: the operator's cache shows the gang pods it created or is pinning
until the watch catches up, and counts a pin's GPUs from the moment of the decision."""

from __future__ import annotations

from typing import Any

from netsched.controller.cache import Cache, gang_row, node_row, pod_row
from netsched.controller.handlers import INDEXES

NS, JOB = "ml", "llm"


def gang_pod(rank: int, *, pinned: str | None = None) -> dict[str, Any]:
    """A gang pod as the API server would list it: gated, or pinned by netsched."""
    spec: dict[str, Any] = {
        "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": 8}}}]
    }
    if pinned is None:
        spec["schedulingGates"] = [{"name": "netsched.io/placement"}]
    else:
        spec["nodeSelector"] = {"kubernetes.io/hostname": pinned}
    labels = {"netsched.io/job": JOB, "netsched.io/rank": str(rank)}
    metadata = {"name": f"{JOB}-{rank}", "namespace": NS, "labels": labels}
    return {"metadata": metadata, "spec": spec, "status": {"phase": "Pending"}}


def node(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {}},
        "status": {
            "allocatable": {"nvidia.com/gpu": "8"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


class Indexes(dict[str, dict[Any, list[Any]]]):
    """kopf's indexes as plain dicts: index name -> key -> the rows of that key."""

    def __init__(self) -> None:
        super().__init__((name, {}) for name in INDEXES)
        for name in ("n1", "n2"):
            self.add("node_index", node_row(node(name)))

    def add(self, index: str, row: dict[Any, Any]) -> None:
        for key, value in row.items():
            self[index].setdefault(key, []).append(value)

    def watch(self, pod: dict[str, Any]) -> None:
        """The watch event of ``pod`` arrives: its rows replace the old ones."""
        name = f"{NS}/{pod['metadata']['name']}"
        for store in self["pod_index"].values():
            store[:] = [held for held in store if held.pod != name]
        for store in self["gang_index"].values():
            store[:] = [p for p in store if p.name != pod["metadata"]["name"]]
        self.add("pod_index", pod_row(pod))
        self.add("gang_index", gang_row(pod))


def reserved(cache: Cache) -> dict[str, int]:
    return dict(cache.cluster_state().reserved_gpus)


def test_a_created_pod_is_shown_before_its_watch_event_and_then_as_listed() -> None:
    indexes = Indexes()
    cache = Cache(indexes)
    cache.created(gang_pod(0), 8)
    (shown,) = cache.gang(NS, JOB)
    assert (shown.name, shown.gated, shown.pinned) == ("llm-0", True, None)
    indexes.watch(gang_pod(0))
    assert [p.name for p in cache.gang(NS, JOB)] == ["llm-0"]
    assert cache._pods == {}  # the index caught up: the overlay let go


def test_a_pin_counts_from_the_decision_and_is_never_counted_twice() -> None:
    indexes = Indexes()
    indexes.watch(gang_pod(0))
    cache = Cache(indexes)
    cache.pinned(NS, JOB, [("llm-0", "n1")], 8)
    assert reserved(cache) == {"n1": 8}
    (shown,) = cache.gang(NS, JOB)
    assert (shown.pinned, shown.gated) == ("n1", False)  # the worker will not pin it again
    indexes.watch(gang_pod(0, pinned="n1"))
    assert reserved(cache) == {"n1": 8}
    assert cache.gang(NS, JOB)[0].pinned == "n1"
    assert cache._pods == {}


def test_a_gated_row_does_not_hide_a_pin_on_the_way() -> None:
    indexes = Indexes()
    indexes.watch(gang_pod(0))
    cache = Cache(indexes)
    cache.pinned(NS, JOB, [("llm-0", "n2")], 8)
    indexes.watch(gang_pod(0))  # an older event (say the pod's status) arrives meanwhile
    assert cache.gang(NS, JOB)[0].pinned == "n2"
    assert reserved(cache) == {"n2": 8}


def test_a_pin_whose_write_failed_is_taken_back() -> None:
    indexes = Indexes()
    indexes.watch(gang_pod(0))
    indexes.watch(gang_pod(1))
    cache = Cache(indexes)
    cache.pinned(NS, JOB, [("llm-0", "n1"), ("llm-1", "n2")], 8)
    cache.unwritten(NS, JOB, ["llm-1"])
    assert reserved(cache) == {"n1": 8}
    assert {p.name: p.pinned for p in cache.gang(NS, JOB)} == {"llm-0": "n1", "llm-1": None}
