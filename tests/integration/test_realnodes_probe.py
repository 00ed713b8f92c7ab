"""Measured → aggregated → placed, end to end on the real nodes, all of it in-cluster: the Helm
chart installs the operator and the probe DaemonSet as real pods from the netsched image, the
agents measure the fabric shaped with tc HTB, the operator finds the uplink degraded at runtime,
and a TrainingJob it places goes around that uplink, where before the measurements it crossed
it.

The fabric (devcluster.fabric): real nodes 1 and 2 under leaf 0, nodes 3 and 4 under leaves 1
and 2 of their own, one spine; 1 Gbit/s host links, 200 Mbit/s uplinks. A 3-pod gang of whole
nodes must leave leaf 0 for one of leaves 1 and 2: on nominal rates they tie, and the test
degrades the uplink of the one the operator chose to 50 Mbit/s.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from gangs import (
    delete_jobs,
    events,
    network_topology,
    pods,
    ranks_by_node,
    training_job,
    wait_phase,
)

from conftest import Cluster
from integration.in_cluster import ON_REAL_NODES, installed, scrape
from netsched import devcluster
from netsched.api import LinkMeasurement, LinkMeasurementSpec, as_utc
from netsched.controller.cache import REESTIMATE_SECONDS
from netsched.controller.topologies import REPORT_SECONDS
from netsched.devcluster.fabric import UPLINK_RATE, set_uplink_rate
from netsched.devcluster.images import TOOLS
from netsched.devcluster.realnodes import REAL_NODE_LABEL

pytestmark = [pytest.mark.integration, pytest.mark.realnodes]

TOPOLOGY = "real-fabric"
PROBES = "netsched-probe"
INTERVAL, DURATION = 40, 3
TTL = 100
SHAPED = {"host": 1.0, "uplink": 0.2, "degraded": 0.05}  # Gbit/s, as devcluster.fabric shapes
GOODPUT = 1448 / 1514  # TCP payload per 1514-byte Ethernet frame at a 1500-byte MTU


def topology() -> dict[str, Any]:
    """The real fabric's tiers at the rates it is shaped to (the default labels)."""
    return network_topology(
        TOPOLOGY,
        host_gbps=SHAPED["host"],
        spine_gbps=SHAPED["uplink"],
        leaf_gbps=SHAPED["uplink"],
        measurementTTLSeconds=TTL,
        degradedBelowFraction=0.7,
        probe={"intervalSeconds": 60, "durationSeconds": DURATION, "parallelStreams": 2},
    )


def gang(name: str, namespace: str) -> dict[str, Any]:
    manifest = training_job(name, namespace, replicas=3, gpus=8)
    spec = manifest["spec"]
    spec["topology"] = {"networkTopology": TOPOLOGY}
    spec["template"]["spec"] |= ON_REAL_NODES
    spec["template"]["spec"]["containers"][0] |= {
        "image": TOOLS, "imagePullPolicy": "Never", "command": ["sleep", "3600"],
    }  # fmt: skip
    return manifest


def leaf_of(cluster: Cluster, node: str) -> str:
    labels = cluster.get("node", node)["metadata"]["labels"]
    return "/".join(labels[f"netsched.io/{tier}"] for tier in ("core", "spine", "leaf"))


def place(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    cluster.apply(gang(name, namespace))
    return wait_phase(cluster, namespace, name, "Running", timeout=120)


def real_gpus_free(cluster: Cluster) -> bool:
    """No pod holds GPUs on a real node (an earlier test's pods may still be terminating)."""
    from netsched.api.occupancy import pod_occupancy

    real = {n["metadata"]["name"] for n in cluster.get("nodes", "-l", REAL_NODE_LABEL)["items"]}
    for pod in cluster.get("pods", "-A")["items"]:
        held = pod_occupancy(pod)
        if held is not None and held.gpus and held.node in real:
            return False
    return True


def started(sample: LinkMeasurementSpec) -> datetime:
    """When a sample's probe began, at the earliest: ``measuredAt`` is its end, to the second
    below, and the iperf3 run takes its duration plus a connection's setup."""
    assert sample.duration_seconds is not None, f"the agent records its duration: {sample}"
    return as_utc(sample.measured_at) - timedelta(seconds=sample.duration_seconds + 1)


def domains(cluster: Cluster) -> dict[str, dict[str, Any]]:
    status = cluster.get("networktopology", TOPOLOGY).get("status") or {}
    return {d["name"]: d for d in status.get("domains") or []}


def event_names(cluster: Cluster, reason: str, link: str) -> bool:
    """Whether an Event of ``reason`` about the topology names ``link``."""
    return any(link in e["message"] for e in events(cluster, "default", TOPOLOGY, reason))


@pytest.fixture
def in_cluster(real_nodes: Cluster, api: Cluster, tmp_path: Path) -> Iterator[Cluster]:
    """netsched by its chart: the operator and the probe DaemonSet as real pods, measuring
    the real fabric's NetworkTopology; gone afterwards with everything the agents wrote."""
    cluster = real_nodes
    cluster.kubectl("delete", "linkmeasurements", "--all")
    cluster.apply(topology())
    probe = {"namespace": PROBES, "topology": TOPOLOGY, "extraArgs": ["--interval", str(INTERVAL)]}
    try:
        with installed(cluster, tmp_path, probe=probe):
            yield cluster
    finally:
        cluster.kubectl("delete", "linkmeasurements", "--all", check=False)
        cluster.kubectl("delete", "networktopology", TOPOLOGY, "--ignore-not-found", check=False)


def test_probes_find_the_degraded_uplink_and_the_next_gang_goes_around_it(
    in_cluster: Cluster, namespaces: Callable[[], str]
) -> None:
    cluster = in_cluster
    plane = devcluster.ControlPlane.load(cluster.kubeconfig.parent)
    assert plane is not None and plane.real_prefix, "needs the dev cluster's real nodes"
    namespace = namespaces()
    # The agents start measuring at the next round's boundary, which can come before the
    # degradation: the samples checked below are those measured wholly after it.
    cluster.kubectl("-n", PROBES, "rollout", "status", "daemonset/netsched-probe", "--timeout=120s")

    # Before the degradation: the gang takes leaf 0's two nodes and one single-node leaf.
    cluster.wait_for(
        lambda: real_gpus_free(cluster), what="every real node's GPUs free", timeout=120
    )
    before = place(cluster, namespace, "before")
    leaves = [leaf_of(cluster, node) for _, node in ranks_by_node(before)]
    assert sum(leaf.endswith("leaf-real-0") for leaf in leaves) == 2, leaves
    [crossed] = [leaf for leaf in set(leaves) if not leaf.endswith("leaf-real-0")]
    delete_jobs(cluster, namespace)
    slow = int(crossed.rsplit("-", 1)[1])
    set_uplink_rate(plane.real_prefix, slow, "50mbit")
    degraded_since = datetime.now(UTC)
    # A link's estimate is the median of its samples within the TTL: until the last sample
    # taken at the old rate has aged out, a status can hold a median of old and new rates
    # (degraded, but measured at neither). It has aged out of every status written after
    # this: the TTL after its end, plus a reused estimate and two report periods.
    settled = degraded_since + timedelta(
        seconds=TTL + DURATION + 1 + REESTIMATE_SECONDS + 2 * REPORT_SECONDS
    )
    try:

        def found_degraded() -> dict[str, dict[str, Any]] | None:
            if datetime.now(UTC) < settled:
                return None
            measured = domains(cluster)
            leaves = {k: v for k, v in measured.items() if "/leaf-real-" in k}
            measured_all = len(leaves) == 3 and all("measuredGbps" in v for v in leaves.values())
            flagged = {k for k, v in leaves.items() if v.get("degraded")}
            return leaves if measured_all and flagged == {crossed} else None

        leaves_status = cluster.wait_for(
            found_degraded, what=f"the operator to find only {crossed} degraded", timeout=420
        )
        # The estimate of each leaf uplink, within 15 % of its shaped rate's goodput.
        for name, entry in leaves_status.items():
            rate = SHAPED["degraded"] if name == crossed else SHAPED["uplink"]
            assert entry["measuredGbps"] == pytest.approx(rate * GOODPUT, rel=0.15), entry

        def by_kind() -> dict[str, list[float]] | None:
            """Each sample's error against its path's goodput, by what the path crosses;
            None until every kind has one (a round probes inside the leaf last). A sample
            that started before the degradation measured the old rate: it is left out."""
            errors: dict[str, list[float]] = {"host": [], "uplink": [], "degraded": []}
            for item in cluster.get("linkmeasurements")["items"]:
                spec = LinkMeasurement.model_validate(item).spec
                if started(spec) < degraded_since:
                    continue
                ends = {leaf_of(cluster, spec.source_node), leaf_of(cluster, spec.target_node)}
                kind = (
                    "host" if spec.level == "leaf" else "degraded" if crossed in ends else "uplink"
                )
                errors[kind].append(spec.gbps / (SHAPED[kind] * GOODPUT) - 1)
            return errors if all(errors.values()) else None

        errors = cluster.wait_for(by_kind, what="samples across every kind of link", timeout=120)
        for kind, values in errors.items():
            assert max(abs(v) for v in values) < 0.15, (kind, values)
        print(
            "probe error vs goodput:",
            {k: round(statistics.median(v), 4) for k, v in errors.items()},
        )

        condition = next(
            c for c in cluster.get("networktopology", TOPOLOGY)["status"]["conditions"]
            if c["type"] == "Degraded"
        )  # fmt: skip
        assert condition["status"] == "True" and crossed in condition["message"]
        cluster.wait_for(  # posted just after the status is written
            lambda: event_names(cluster, "LinkDegraded", crossed),
            what=f"a LinkDegraded Event naming {crossed}", timeout=30,
        )  # fmt: skip
        series = scrape(cluster)
        assert any(k.startswith("netsched_link_degraded{") and crossed in k and v == 1
                   for k, v in series.items()), series  # fmt: skip

        # Placed again, the gang goes around the degraded uplink and says so.
        after = place(cluster, namespace, "after")
        leaves = {leaf_of(cluster, node) for _, node in ranks_by_node(after)}
        assert crossed not in leaves and len(leaves) == 2, leaves
        assert (
            f"around degraded leaf uplink {crossed}" in after["status"]["placement"]["explanation"]
        )
        assert all(p["status"]["phase"] == "Running" for p in pods(cluster, namespace, "after"))
        delete_jobs(cluster, namespace)

        # Recovery clears it.
        set_uplink_rate(plane.real_prefix, slow, UPLINK_RATE)

        def recovered() -> bool:
            measured = domains(cluster)
            return crossed in measured and not any(v.get("degraded") for v in measured.values())

        cluster.wait_for(recovered, what=f"{crossed} to recover", timeout=420)
        cluster.wait_for(
            lambda: event_names(cluster, "LinkRecovered", crossed),
            what=f"a LinkRecovered Event naming {crossed}", timeout=30,
        )  # fmt: skip
    finally:
        set_uplink_rate(plane.real_prefix, slow, UPLINK_RATE)
