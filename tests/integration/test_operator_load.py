"""Load: 200 TrainingJobs submitted at once to a cluster of 1000 fake GPU nodes.

Each must end Running, or Unschedulable with a reason, and no node may be over-committed
at any point we look. The 1000 nodes are added to the test cluster for this module and
removed after it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
from gangs import assert_invariants, delete_jobs, training_job

from conftest import Cluster

pytestmark = pytest.mark.integration

NODES = 1000
JOBS = 200
LOAD_LABEL = "netsched.io/test=load"


@pytest.fixture(scope="module")
def big(api: Cluster) -> Iterator[Cluster]:
    """The test cluster grown to NODES nodes; the added ones carry LOAD_LABEL and go after."""
    import dataclasses

    from kubernetes import client

    from netsched.devcluster import api_client, leaf_spine
    from netsched.devcluster.nodes import create_nodes, wait_ready

    before = {n["metadata"]["name"] for n in api.get("nodes")["items"]}
    key, value = LOAD_LABEL.split("=")
    nodes = [
        dataclasses.replace(n, labels={**n.labels, key: value})
        for n in leaf_spine(NODES)
        if n.name not in before
    ]
    with api_client(api.kubeconfig) as connection:
        core = client.CoreV1Api(connection)
        create_nodes(core, nodes)
        wait_ready(core, [n.name for n in nodes])
        try:
            yield api
        finally:  # one deletecollection request, not one per node
            core.delete_collection_node(label_selector=LOAD_LABEL)


@pytest.fixture
def load_ns(big: Cluster, operator: Any) -> Iterator[str]:
    name = "load"
    big.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        delete_jobs(big, name)
        big.kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_200_jobs_at_once_end_running_or_unschedulable_without_overcommit(
    big: Cluster, load_ns: str
) -> None:
    rng = random.Random(8)
    patterns = ["DataParallel", "PipelineParallel", "ExpertParallel", "ModelParallel"]
    manifests = []
    for index in range(JOBS):
        replicas = rng.choice([1, 2, 4, 4, 8, 8, 16, 32])
        topology = {"maxTier": "leaf"} if replicas <= 8 and rng.random() < 0.3 else {}
        manifests.append(
            training_job(f"load-{index}", load_ns, replicas=replicas, pattern=rng.choice(patterns),
                         topology=topology)
        )  # fmt: skip
    big.apply({"apiVersion": "v1", "kind": "List", "items": manifests})

    def settled() -> dict[str, int] | None:
        listed = big.get("tj", "-n", load_ns)["items"]
        phases: dict[str, int] = {}
        for item in listed:
            phase = (item.get("status") or {}).get("phase", "None")
            phases[phase] = phases.get(phase, 0) + 1
        done = phases.get("Running", 0) + phases.get("Unschedulable", 0)
        return phases if len(listed) == JOBS and done == JOBS else None

    phases = Cluster.wait_for(settled, what="every job Running or Unschedulable", timeout=600)
    assert phases.get("Running", 0) > 0
    for item in big.get("tj", "-n", load_ns)["items"]:
        status = item["status"]
        if status["phase"] == "Unschedulable":
            placed = next(c for c in status["conditions"] if c["type"] == "Placed")
            assert placed["reason"] in ("Unschedulable", "HeldBehind")
            assert placed["message"].startswith(("needs ", "held behind"))
    assert_invariants(big)
    # Settled means quiet: the operator writes a job only when something changed, so the
    # jobs' resourceVersions stay put (a status that changed every cycle would loop forever).
    versions = {
        j["metadata"]["name"]: j["metadata"]["resourceVersion"] for j in listed(big, load_ns)
    }
    time.sleep(5)
    again = {j["metadata"]["name"]: j["metadata"]["resourceVersion"] for j in listed(big, load_ns)}
    assert {n for n in versions if versions[n] != again[n]} == set()


def listed(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    return list(cluster.get("tj", "-n", namespace)["items"])
