"""What the operator writes into a NetworkTopology's status, from a bandwidth estimate."""

from __future__ import annotations

from datetime import timedelta

from builders import LEAF, NOW, TTL, rack, sample

from netsched.api import NetworkTopology
from netsched.controller.topologies import DEGRADED, degraded_domains, topology_status
from netsched.domain.bandwidth import estimate_bandwidth

TOPOLOGY = NetworkTopology.model_validate(
    {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "NetworkTopology",
        "metadata": {"name": "default", "generation": 3},
        "spec": {
            "levels": [
                {"name": "core", "nodeLabel": "netsched.io/core"},
                {"name": "spine", "nodeLabel": "netsched.io/spine", "uplinkGbps": 3200},
                {"name": "leaf", "nodeLabel": "netsched.io/leaf", "uplinkGbps": 1600},
            ],
        },
    }
)
NODES = [
    b.build()
    for b in (
        *rack("spine-a", "leaf-1", "n1", "n2"),
        *rack("spine-a", "leaf-2", "n3"),
        *rack("spine-a", "leaf-3", "n4"),
    )
]


def estimate(*samples):
    scheme = TOPOLOGY.to_scheme()
    return estimate_bandwidth(NODES, scheme, samples, now=NOW, ttl=TTL)


def condition(status):
    [found] = [c for c in status["conditions"] if c["type"] == DEGRADED]
    return found


def test_unmeasured_domains_are_listed_at_nominal_and_nothing_is_degraded():
    status = topology_status(TOPOLOGY, NODES, estimate(), now=NOW)
    by_name = {d["name"]: d for d in status["domains"]}
    assert set(by_name) == {"core-x", "core-x/spine-a", LEAF % 1, LEAF % 2, LEAF % 3}
    assert by_name[LEAF % 1] == {"level": "leaf", "name": LEAF % 1, "nodes": 2,
                                 "nominalGbps": 1600.0}  # fmt: skip
    assert (condition(status)["status"], condition(status)["reason"]) == ("False", "NotMeasured")
    assert status["nodes"] == 4 and status["observedGeneration"] == 3
    assert "lastMeasurement" not in status


def test_a_degraded_leaf_is_marked_named_in_the_condition_and_dated():
    bandwidth = estimate(
        sample("n1", "n4", level="leaf", gbps=380.0),
        sample("n2", "n3", level="leaf", gbps=40.0, age=timedelta(minutes=1)),
        sample("n4", "n3", level="leaf", gbps=40.0),
    )
    status = topology_status(TOPOLOGY, NODES, bandwidth, now=NOW)
    leaf_2 = next(d for d in status["domains"] if d["name"] == LEAF % 2)
    assert (leaf_2["measuredGbps"], leaf_2["samples"], leaf_2["degraded"]) == (40.0, 2, True)
    assert degraded_domains(status) == {LEAF % 2}
    found = condition(status)
    assert (found["status"], found["reason"]) == ("True", "LinkDegraded")
    assert f"leaf uplink {LEAF % 2} measured 40 Gbps, 2% of nominal 1600" in found["message"]
    assert status["lastMeasurement"] == "2024-05-01T12:00:00Z"


def test_the_transition_time_moves_only_when_the_condition_flips():
    bad = estimate(sample("n2", "n3", level="leaf", gbps=40.0))
    first = topology_status(TOPOLOGY, NODES, bad, now=NOW)
    written = TOPOLOGY.model_copy(update={"status": TOPOLOGY.model_validate(
        {**TOPOLOGY.model_dump(by_alias=True), "status": first}).status})  # fmt: skip
    later = topology_status(written, NODES, bad, now=NOW + timedelta(minutes=5))
    assert condition(later)["lastTransitionTime"] == condition(first)["lastTransitionTime"]
    healed = topology_status(
        written, NODES, estimate(sample("n2", "n3", level="leaf", gbps=390.0)),
        now=NOW + timedelta(minutes=9),
    )  # fmt: skip
    assert condition(healed)["status"] == "False"
    assert condition(healed)["lastTransitionTime"] == "2024-05-01T12:09:00Z"
    assert not degraded_domains(healed)
