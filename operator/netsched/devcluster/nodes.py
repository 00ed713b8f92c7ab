"""Fake GPU nodes for the dev cluster, made real Node objects that KWOK keeps Ready.

The topology comes from :mod:`netsched.domain.topology` (a parametric fat tree
or the Lingjun production cluster), so the nodes carry exactly the tier labels
that placement reads. Each node advertises ``nvidia.com/gpu`` in capacity and
allocatable, so the real kube-scheduler checks GPU fit as it would on a
cluster with NVIDIA's device plugin.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from netsched.api import GPU_RESOURCE
from netsched.devcluster.failures import ComponentError
from netsched.devcluster.kwok import FAKE_NODE_ANNOTATION
from netsched.domain.nodes import NodeInfo
from netsched.domain.topology_sources import fat_tree, load_lingjun

HOSTS_PER_LEAF = 8
LEAVES_PER_SPINE = 4
CREATE_WORKERS = 16
READY_TIMEOUT_SECONDS = 180.0
LINGJUN_TOPOLOGY = Path(__file__).resolve().parents[3].parent / "shared/data/lingjun-2023/topo.csv"


def leaf_spine(count: int, *, gpus_per_node: int = 8) -> list[NodeInfo]:
    """``count`` nodes in a one-core fat tree: 8 hosts a leaf, 4 leaves a spine."""
    if count < 1:
        raise ValueError(f"--nodes must be at least 1, got {count}")
    spines = math.ceil(count / (HOSTS_PER_LEAF * LEAVES_PER_SPINE))
    nodes = fat_tree(
        cores=1,
        spines_per_core=spines,
        leaves_per_spine=LEAVES_PER_SPINE,
        hosts_per_leaf=HOSTS_PER_LEAF,
        gpus_per_host=gpus_per_node,
    )
    return nodes[:count]


def lingjun(path: Path = LINGJUN_TOPOLOGY) -> list[NodeInfo]:
    """The 847 hosts of the Lingjun production cluster (8 GPUs each)."""
    if not path.is_file():
        raise ComponentError(
            component="topology",
            what=f"the Lingjun topology file {path} does not exist",
            remedy="run from a checkout with ../shared/data beside it, or pass --topology-file",
        )
    return load_lingjun(path)


def node_manifest(info: NodeInfo) -> dict[str, Any]:
    """The Node object for one fake GPU host."""
    key, value = FAKE_NODE_ANNOTATION
    resources = {
        "cpu": "128",
        "memory": "2Ti",
        "pods": "110",
        GPU_RESOURCE: str(info.allocatable_gpus),
    }
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": info.name,
            "labels": {
                **info.labels,
                "kubernetes.io/hostname": info.name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
            "annotations": {key: value},
        },
        "status": {"capacity": resources, "allocatable": resources},
    }


def _create(api: client.CoreV1Api, manifest: dict[str, Any]) -> None:
    try:
        api.create_node(cast(Any, manifest))  # the client sends plain dicts as they are
    except ApiException as error:
        if error.status != 409:  # already there from an earlier `up`: keep it
            raise


def create_nodes(api: client.CoreV1Api, nodes: Sequence[NodeInfo]) -> None:
    """Create the nodes concurrently; existing ones are left as they are."""
    with ThreadPoolExecutor(max_workers=CREATE_WORKERS) as pool:
        list(pool.map(lambda info: _create(api, node_manifest(info)), nodes))


def list_fake_nodes(api: client.CoreV1Api) -> list[dict[str, Any]]:
    """Every KWOK-managed node, as the API server's JSON."""
    response: Any = api.list_node(label_selector="type=kwok", _preload_content=False)
    return list(json.loads(response.data)["items"])


def is_ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _ready_names(api: client.CoreV1Api) -> set[str]:
    return {node["metadata"]["name"] for node in list_fake_nodes(api) if is_ready(node)}


def wait_ready(
    api: client.CoreV1Api, names: Iterable[str], timeout: float = READY_TIMEOUT_SECONDS
) -> None:
    """Wait until KWOK has made every named node Ready.

    Raises:
        ComponentError: some nodes are still not Ready after ``timeout`` seconds.
    """
    wanted = set(names)
    deadline = time.monotonic() + timeout
    missing = wanted
    while time.monotonic() < deadline:
        missing = wanted - _ready_names(api)
        if not missing:
            return
        time.sleep(1.0)
    raise ComponentError(
        component="kwok",
        what=f"{len(missing)} of {len(wanted)} fake nodes are not Ready after {timeout:.0f} s "
        f"(e.g. {sorted(missing)[:3]})",
        remedy="check the kwok log (netsched dev-cluster status shows where it is)",
    )
