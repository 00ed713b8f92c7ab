"""The probe agent's parts that need no cluster: iperf3 runs and reports, and what is written.

iperf3 itself runs here, on 127.0.0.1: its JSON is the real thing, not a fixture.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from netsched.domain.probe_schedule import Probe
from netsched.probe import iperf3
from netsched.probe.agent import (
    SAMPLES_PER_LEVEL,
    busy_nodes,
    measurement_manifest,
    measurement_name,
)

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        ["iperf3", "--server", "--bind", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # Listening, seen from outside: a connection to find out would itself be a test to iperf3.
    listening = ["ss", "-Hltn", f"sport = :{port}"]
    deadline = time.monotonic() + 10
    while not subprocess.run(listening, capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, "iperf3 --server did not start listening"
        time.sleep(0.05)
    try:
        yield port
    finally:
        process.terminate()
        process.wait()


def test_a_real_run_gives_goodput_streams_and_a_round_trip_time(server: int) -> None:
    result = iperf3.measure("127.0.0.1", port=server, duration_seconds=1, streams=2,
                            bind="127.0.0.1")  # fmt: skip
    assert isinstance(result, iperf3.Measured), result
    assert result.gbps > 0.1 and result.streams == 2 and result.seconds == pytest.approx(1, rel=0.2)
    assert result.rtt_microseconds is not None and result.rtt_microseconds > 0


def test_a_server_busy_with_another_test_is_a_failed_probe(server: int) -> None:
    command = iperf3.client_command("iperf3", "127.0.0.1", port=server, duration_seconds=4,
                                    streams=1)  # fmt: skip
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    # The first test's data stream is up (its control connection alone is not a test yet).
    connected = ["ss", "-Htn", "state", "established", f"( dport = :{server} )"]
    deadline = time.monotonic() + 10
    while len(subprocess.run(connected, capture_output=True, text=True).stdout.splitlines()) < 2:
        assert time.monotonic() < deadline, "the first iperf3 client never connected"
        time.sleep(0.05)
    try:
        result = iperf3.measure("127.0.0.1", port=server, duration_seconds=1, streams=1)
    finally:
        first.wait()
    assert isinstance(result, iperf3.Failed) and result.kind == "busy", result


def test_a_peer_nobody_listens_for_is_unreachable() -> None:
    result = iperf3.measure("127.0.0.1", port=free_port(), duration_seconds=1, streams=1)
    assert isinstance(result, iperf3.Failed) and result.kind == "unreachable", result


def test_without_iperf3_a_probe_fails_and_the_server_says_why() -> None:
    result = iperf3.measure("127.0.0.1", duration_seconds=1, streams=1, binary="no-such-iperf3")
    assert result == iperf3.Failed(iperf3.MISSING, "missing")
    assert iperf3.Server(bind=None, binary="no-such-iperf3").ensure() == iperf3.MISSING


@pytest.mark.parametrize(
    ("report", "kind"),
    [
        ({"end": {"sum_received": {"bits_per_second": 0, "seconds": 3}}}, "no-traffic"),
        ({"end": {}}, "bad-report"),
        ([1, 2], "bad-report"),
        ({"error": "unable to connect to server: No route to host"}, "unreachable"),
        ({"error": "something else went wrong"}, "error"),
    ],
)
def test_reports_that_measured_nothing_fail_with_a_kind(report: object, kind: str) -> None:
    result = iperf3.parse_report(json.dumps(report))
    assert isinstance(result, iperf3.Failed) and result.kind == kind


def test_a_measurement_names_its_slot_owner_and_fields() -> None:
    probe = Probe("node-a", "node-b", "spine", wave=2)
    result = iperf3.Measured(gbps=0.1912345678, rtt_microseconds=812.5, seconds=3, streams=2)
    manifest = measurement_manifest(probe, result, round_index=7, source_uid="uid-a",
                                    measured_at=AT, duration_seconds=3)  # fmt: skip
    assert (
        manifest["metadata"]["name"] == "node-a.spine.1" == measurement_name("node-a", "spine", 7)
    )
    assert manifest["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "uid-a"
    }  # fmt: skip
    assert manifest["spec"] | {} == {
        "sourceNode": "node-a", "targetNode": "node-b", "level": "spine", "gbps": 0.191235,
        "rttMicroseconds": 812.5, "measuredAt": "2026-12-01T12:00:00Z", "tool": "iperf3",
        "durationSeconds": 3, "parallelStreams": 2,
    }  # fmt: skip
    names = {measurement_name("node-a", "spine", r) for r in range(10)}
    assert len(names) == SAMPLES_PER_LEVEL


def test_a_measurement_that_is_no_measurement_is_refused_before_it_is_written() -> None:
    probe = Probe("node-a", "node-a", "leaf", wave=0)
    result = iperf3.Measured(gbps=1.0, rtt_microseconds=None, seconds=3, streams=1)
    with pytest.raises(ValidationError, match="must differ"):
        measurement_manifest(probe, result, round_index=0, source_uid="u", measured_at=AT,
                             duration_seconds=3)  # fmt: skip


def test_busy_nodes_are_those_a_gang_pod_holds_gpus_on_bound_or_pinned() -> None:
    def pod(*, node: str | None = None, pinned: str | None = None, gpus: int = 8,
            phase: str = "Running") -> dict[str, object]:  # fmt: skip
        spec: dict[str, object] = {
            "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpus}}}]
        }
        if node:
            spec["nodeName"] = node
        if pinned:
            spec["nodeSelector"] = {"kubernetes.io/hostname": pinned}
        return {"metadata": {"labels": {"netsched.io/job": "j"}}, "spec": spec,
                "status": {"phase": phase}}  # fmt: skip

    pods = [pod(node="n1"), pod(pinned="n2", phase="Pending"), pod(node="n3", phase="Succeeded"),
            pod(node="n4", gpus=0)]  # fmt: skip
    assert busy_nodes(pods) == {"n1", "n2"}
