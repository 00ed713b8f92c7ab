"""LinkMeasurements applied by hand, read by the running operator: what it reports, what it
refuses, and that bad ones change nothing while the operator goes on placing.

The probe agent writes measurements in the real-node tests; here they are written as a person
or a buggy tool would, against the KWOK nodes (16 of them: two leaves of 8 hosts under one
spine, ``node-c0-s0-l{0,1}-h{0..7}``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from gangs import OperatorProcess, events, network_topology, training_job, wait_phase

from conftest import Cluster

pytestmark = pytest.mark.integration

TOPOLOGY = "hand-measured"
LEAF_0, LEAF_1 = "core-0/spine-0/leaf-0", "core-0/spine-0/leaf-1"


def topology() -> dict[str, Any]:
    return network_topology(TOPOLOGY, host_gbps=400, spine_gbps=3200, leaf_gbps=1600)


def measurement(name: str, source: str, target: str, level: str, gbps: float,
                at: datetime) -> dict[str, Any]:  # fmt: skip
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "LinkMeasurement",
        "metadata": {"name": name, "labels": {"netsched.io/probe-test": "by-hand"}},
        "spec": {"sourceNode": source, "targetNode": target, "level": level, "gbps": gbps,
                 "measuredAt": at.strftime("%Y-%m-%dT%H:%M:%SZ")},
    }  # fmt: skip


def status(cluster: Cluster) -> dict[str, Any]:
    return dict(cluster.get("networktopology", TOPOLOGY).get("status") or {})


def samples(operator: OperatorProcess, state: str) -> float | None:
    key = f'netsched_link_samples{{state="{state}",topology="{TOPOLOGY}"}}'
    return operator.scrape().get(key)


def test_impossible_measurements_are_refused_a_real_one_degrades_its_leaf_and_jobs_go_on(
    api: Cluster, operator: OperatorProcess, jobs: str
) -> None:
    cluster = api
    now = datetime.now(UTC)
    cluster.apply(topology())
    try:
        source, target = "node-c0-s0-l0-h0", "node-c0-s0-l1-h0"  # across the two leaves
        bad = [
            measurement("future", source, target, "spine", 10.0, now + timedelta(hours=2)),
            measurement("faster-than-nic", source, target, "spine", 5000.0, now),
            measurement("wrong-level", source, "node-c0-s0-l0-h1", "spine", 10.0, now),
            measurement("unknown-node", source, "no-such-node", "spine", 10.0, now),
        ]
        for manifest in bad:
            cluster.apply(manifest)
        # The gauges are set just before the status is written: wait for both.
        cluster.wait_for(
            lambda: (
                samples(operator, "refused") == 3
                and samples(operator, "unmatched") == 1
                and "conditions" in status(cluster)
            ),
            what="the operator to refuse three measurements and leave one unmatched",
        )
        degraded = status(cluster)
        assert not any(d.get("degraded") for d in degraded.get("domains", [])), degraded
        [condition] = [c for c in degraded["conditions"] if c["type"] == "Degraded"]
        assert (condition["status"], condition["reason"]) == ("False", "NotMeasured")

        # Meanwhile the operator goes on placing.
        cluster.apply(
            training_job("goes-on", jobs, replicas=2, topology={"networkTopology": TOPOLOGY})
        )
        wait_phase(cluster, jobs, "goes-on", "Running")

        # Measurements that are: two paths between the leaves carried 40 of the 400 Gbps
        # their hosts allow. With only two leaves both paths cross both uplinks, so both are
        # blamed (a third leaf would tell them apart; test_bandwidth.py shows that).
        cluster.apply(measurement("short-1", source, target, "spine", 40.0, now))
        cluster.apply(
            measurement("short-2", "node-c0-s0-l1-h1", "node-c0-s0-l0-h1", "spine", 40.0, now)
        )
        cluster.apply(
            measurement("in-leaf", "node-c0-s0-l0-h2", "node-c0-s0-l0-h3", "leaf", 390.0, now)
        )

        def flagged() -> set[str]:
            return {d["name"] for d in status(cluster).get("domains", []) if d.get("degraded")}

        def both_read() -> dict[str, Any] | None:
            """LEAF_1 once both short paths are read: short-1 alone already degrades both
            leaves, and a report can come between the two applies."""
            by_name = {d["name"]: d for d in status(cluster).get("domains", [])}
            leaf = by_name.get(LEAF_1) or {}
            return leaf if flagged() == {LEAF_0, LEAF_1} and leaf.get("samples") == 2 else None

        leaf_1 = cluster.wait_for(both_read, what="both leaves degraded, by both short paths")
        assert leaf_1["measuredGbps"] == 40.0, leaf_1
        assert cluster.wait_for(lambda: samples(operator, "fresh") == 3, what="3 fresh samples")
        [condition] = [c for c in status(cluster)["conditions"] if c["type"] == "Degraded"]
        assert condition["status"] == "True" and LEAF_1 in condition["message"]
        degraded = {
            k: v for k, v in operator.scrape().items() if k.startswith("netsched_link_degraded{")
        }
        assert {k for k, v in degraded.items() if v == 1} == {
            f'netsched_link_degraded{{domain="{leaf}",level="leaf",topology="{TOPOLOGY}"}}'
            for leaf in (LEAF_0, LEAF_1)
        }

        # Recovery: the short paths go (as after three better rounds), and so does the flag.
        cluster.kubectl("delete", "linkmeasurements", "short-1", "short-2")
        cluster.wait_for(lambda: not flagged(), what="the leaves to recover")

        def reasons() -> set[tuple[str, str]] | None:
            """The topology's Events by link, once both of LEAF_1's are posted (they follow the
            status write)."""
            posted = events(cluster, "default", TOPOLOGY)
            found = {(e["reason"], leaf) for e in posted for leaf in (LEAF_0, LEAF_1)
                     if leaf in e["message"]}  # fmt: skip
            return found if found >= {("LinkDegraded", LEAF_1), ("LinkRecovered", LEAF_1)} else None

        cluster.wait_for(reasons, what=f"LinkDegraded and LinkRecovered Events for {LEAF_1}")
        assert not any(k.startswith("netsched_link_degraded{") for k in operator.scrape())
    finally:
        cluster.kubectl("delete", "linkmeasurements", "-l", "netsched.io/probe-test=by-hand",
                        check=False)  # fmt: skip
        cluster.kubectl("delete", "networktopology", TOPOLOGY, "--ignore-not-found", check=False)
