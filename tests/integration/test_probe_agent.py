"""The probe agent without a DaemonSet: ``netsched probe-agent`` processes in a bare pair of
network namespaces, joined by one veth shaped with tc HTB, against the real API server.

What this isolates: the schedule, iperf3 and its report, the LinkMeasurements written and
pruned, and the failures that must write nothing (a peer nobody answers for, a busy node,
a clock out of step). The DaemonSet on real nodes is tested in test_realnodes_probe.py.

::

    namespace ps<hash>-a  10.77.0.1 ──veth, HTB 300 Mbit/s both ways── 10.77.0.2  ps<hash>-b
            │ 127.0.0.1:<port>  (socat -> unix socket -> socat -> the API server)  │

Each namespace reaches the API server as the host does, at 127.0.0.1: a socat inside it
forwards to a unix socket, which a socat in the host forwards to the API server. Every name
starts with a prefix made from the test's pid; the next run removes what a killed one left.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from conftest import Cluster
from netsched.domain.scheme import DEFAULT_SCHEME

pytestmark = pytest.mark.integration

RATE_MBIT = 300
SELECTOR = "netsched.io/probe-test"
NODES = {"probe-a": "10.77.0.1", "probe-b": "10.77.0.2"}
UNANSWERED = ("probe-c", "10.77.0.3")  # a node whose address nobody holds
INTERVAL, DURATION = 20, 3
"""Three probes a round (a, b and c each have one peer under another leaf), in three waves."""
HEARTBEAT_SECONDS = 20
"""A kubelet reports every 10 s; the node lifecycle controller waits 180 s here."""
AGENT = [sys.executable, "-m", "netsched.cli"]
IP = shutil.which("ip") or "ip"
PREFIX_PATTERN = re.compile(r"^ps[0-9a-f]{4}-[ab]$")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {result.stderr}")
    return result


def remove_leftovers() -> None:
    for line in sh("ip", "netns", "list").stdout.splitlines():
        name = line.split(" ")[0]
        if PREFIX_PATTERN.match(name):
            sh("ip", "netns", "pids", name, check=False)
            for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "del", name, check=False)


@dataclass
class Pair:
    prefix: str
    sockets: Path
    relays: list[subprocess.Popen[bytes]]

    def netns(self, node: str) -> str:
        return f"{self.prefix}-{node[-1]}"


def shape(netns: str, device: str) -> None:
    sh("tc", "-n", netns, "qdisc", "replace", "dev", device, "root", "handle", "1:", "htb",
       "default", "10")  # fmt: skip
    sh("tc", "-n", netns, "class", "replace", "dev", device, "parent", "1:", "classid", "1:10",
       "htb", "rate", f"{RATE_MBIT}mbit", "ceil", f"{RATE_MBIT}mbit")  # fmt: skip


@pytest.fixture(scope="module")
def pair(api: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    remove_leftovers()
    prefix = f"ps{os.getpid() % 0x10000:04x}"
    sockets = tmp_path_factory.mktemp("probe-sockets")
    port = urlparse(
        yaml.safe_load(api.kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    ).port
    a, b = f"{prefix}-a", f"{prefix}-b"
    relays: list[subprocess.Popen[bytes]] = []
    try:
        for netns in (a, b):
            sh("ip", "netns", "add", netns)
            sh("ip", "-n", netns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"{prefix}x", "type", "veth", "peer", "name", f"{prefix}y")
        for device, netns, address in ((f"{prefix}x", a, NODES["probe-a"]),
                                       (f"{prefix}y", b, NODES["probe-b"])):  # fmt: skip
            sh("ip", "link", "set", device, "netns", netns)
            sh("ip", "-n", netns, "link", "set", device, "name", "eth0")
            sh("ip", "-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", netns, "link", "set", "eth0", "up")
            shape(netns, "eth0")
        socket = sockets / "api.sock"
        relays.append(subprocess.Popen(
            ["socat", f"UNIX-LISTEN:{socket},fork,unlink-early", f"TCP:127.0.0.1:{port}"]
        ))  # fmt: skip
        deadline = time.monotonic() + 10
        while not socket.is_socket() and time.monotonic() < deadline:
            time.sleep(0.1)
        for netns in (a, b):
            relays.append(subprocess.Popen(
                ["ip", "netns", "exec", netns, "socat",
                 f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"UNIX-CONNECT:{socket}"]
            ))  # fmt: skip
        yield Pair(prefix, sockets, relays)
    finally:
        for relay in relays:
            relay.kill()
            relay.wait()
        for netns in (a, b):
            sh("ip", "netns", "del", netns, check=False)


def node_manifest(name: str, leaf: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                SELECTOR: "true",
                "kubernetes.io/hostname": name,
                "netsched.io/core": "core-0",
                "netsched.io/spine": "spine-probe-test",
                "netsched.io/leaf": leaf,
            },
        },
        "spec": {"taints": [{"key": SELECTOR, "effect": "NoSchedule"}]},
    }


def heartbeat(api: Cluster, addresses: dict[str, str]) -> None:
    """What a kubelet does: report each node Ready with a fresh heartbeat, so that the node
    lifecycle controller keeps it Ready past its grace period (the module outlasts it)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, address in addresses.items():
        status = {
            "addresses": [{"type": "InternalIP", "address": address}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "ProbeTest",
                            "lastHeartbeatTime": now, "lastTransitionTime": now}],
        }  # fmt: skip
        patch = yaml.safe_dump({"status": status})
        api.kubectl("patch", "node", name, "--subresource=status", "--type=merge", "-p", patch)


@pytest.fixture(scope="module")
def probe_nodes(api: Cluster) -> Iterator[dict[str, dict[str, Any]]]:
    """Three Node objects under three leaves of one spine: a and b (in the namespaces), and
    c, whom nobody answers for; all three kept Ready by a heartbeat every 20 s."""
    api.kubectl("delete", "nodes", "-l", SELECTOR, "--wait=true", check=False)
    api.kubectl("delete", "linkmeasurements", "--all", check=False)
    leaves = {"probe-a": "leaf-pa", "probe-b": "leaf-pb", UNANSWERED[0]: "leaf-pc"}
    addresses = {**NODES, UNANSWERED[0]: UNANSWERED[1]}
    for name in addresses:
        api.apply(node_manifest(name, leaves[name]))
    heartbeat(api, addresses)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            heartbeat(api, addresses)

    beating = threading.Thread(target=beat, name="probe-nodes-heartbeat", daemon=True)
    beating.start()
    try:
        yield {n["metadata"]["name"]: n for n in api.get("nodes", "-l", SELECTOR)["items"]}
    finally:
        stop.set()
        beating.join()
        api.kubectl("delete", "nodes", "-l", SELECTOR, "--wait=false", check=False)


def run_agents(
    api: Cluster, pair: Pair, *extra: str, rounds: int = 1, env: dict[str, str] | None = None
) -> dict[str, str]:
    """``rounds`` rounds of both agents, side by side; their logs."""
    running = {}
    for node in NODES:
        command = [
            IP, "netns", "exec", pair.netns(node), *AGENT, "probe-agent", "--node", node,
            "--kubeconfig", str(api.kubeconfig), "--node-selector", f"{SELECTOR}=true",
            "--interval", str(INTERVAL), "--duration", str(DURATION), "--streams", "2",
            "--rounds", str(rounds), "--metrics-port", "0", *extra,
        ]  # fmt: skip
        running[node] = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
    logs = {}
    try:
        for node, process in running.items():
            try:
                out, _ = process.communicate(timeout=(rounds + 2) * INTERVAL)
            except subprocess.TimeoutExpired:
                process.kill()
                out, _ = process.communicate()
                raise AssertionError(
                    f"{node}'s agent had not ended {rounds} rounds in {(rounds + 2) * INTERVAL} s; "
                    f"its log:\n{out}"
                ) from None
            assert process.returncode == 0, f"{node}'s agent exited {process.returncode}:\n{out}"
            logs[node] = out
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return logs


def measurements(api: Cluster) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in api.get("linkmeasurements")["items"]}


def test_agents_measure_the_shaped_link_write_one_object_per_level_and_prune(
    api: Cluster, pair: Pair, probe_nodes: dict[str, dict[str, Any]]
) -> None:
    stale: dict[str, Any] = {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "LinkMeasurement",
        "metadata": {"name": "probe-a.rack", "labels": {"netsched.io/source-node": "probe-a"}},
        "spec": {"sourceNode": "probe-a", "targetNode": "probe-b", "level": "rack", "gbps": 1.0,
                 "measuredAt": "2026-01-01T00:00:00Z"},
    }  # fmt: skip
    gone = {**stale, "metadata": {**stale["metadata"], "name": "probe-a.gone"},
            "spec": {**stale["spec"], "level": "spine", "targetNode": "probe-gone"}}  # fmt: skip
    api.apply(stale)
    api.apply(gone)
    # Two rounds: a's peer under another leaf is b in one and c in the other (peers rotate).
    logs = run_agents(api, pair, rounds=2)
    found = measurements(api)
    assert "probe-a.rack" not in found and "probe-a.gone" not in found, "not pruned"
    written = {(m["spec"]["sourceNode"], m["spec"]["targetNode"]): m for m in found.values()}
    # a measured b and b measured a; the probes towards c failed and wrote nothing.
    assert set(written) == {("probe-a", "probe-b"), ("probe-b", "probe-a")}, logs
    for (source, target), m in written.items():
        spec = m["spec"]
        goodput = RATE_MBIT / 1000 * 1448 / 1514  # TCP payload of a 1514-byte frame
        assert spec["gbps"] == pytest.approx(goodput, rel=0.15), (source, target, spec)
        assert spec["level"] == "spine" and spec["tool"] == "iperf3"
        assert spec["rttMicroseconds"] > 0 and spec["parallelStreams"] == 2
        assert re.fullmatch(rf"{source}\.spine\.[012]", m["metadata"]["name"])
        [owner] = m["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"]) == ("Node", source)
        assert owner["uid"] == probe_nodes[source]["metadata"]["uid"]
    for node, log in logs.items():
        towards_c = [line for line in log.splitlines() if f"{node} -> probe-c" in line]
        assert towards_c and all("failed" in line for line in towards_c), log


def test_a_busy_node_is_not_probed(
    api: Cluster, pair: Pair, probe_nodes: dict[str, dict[str, Any]], namespace: str
) -> None:
    api.kubectl("delete", "linkmeasurements", "--all")
    pinned = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "gang-0", "namespace": namespace,
                     "labels": {"netsched.io/job": "gang", "netsched.io/rank": "0"}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": "probe-b"},
            "containers": [{"name": "c", "image": "none",
                            "resources": {"limits": {"nvidia.com/gpu": 1}}}],
        },
    }  # fmt: skip
    api.apply(pinned)
    # Two rounds each: a's and b's peers under another leaf alternate between each other and c.
    logs = run_agents(api, pair, rounds=2)
    assert not measurements(api), "a probe touched a node a gang holds"
    assert "skipped probe-a -> probe-b" in logs["probe-a"] or "skipped probe-b" in logs["probe-b"]
    logs = run_agents(api, pair, "--probe-busy", rounds=2)
    assert measurements(api), f"--probe-busy probed nothing:\n{logs}"


def test_without_iperf3_the_agent_keeps_running_and_writes_nothing(
    api: Cluster, pair: Pair, probe_nodes: dict[str, dict[str, Any]]
) -> None:
    api.kubectl("delete", "linkmeasurements", "--all")
    logs = run_agents(api, pair, env={"PATH": "/nonexistent"})
    assert not measurements(api)
    assert all("iperf3 is not on PATH" in log for log in logs.values()), logs


def test_a_clock_out_of_step_with_the_api_server_writes_nothing(api: Cluster) -> None:
    from netsched.kubeclient import connect
    from netsched.probe.agent import Agent, AgentOptions, Settings
    from netsched.probe.iperf3 import Failed, Measured

    settings = Settings(DEFAULT_SCHEME, True, INTERVAL, DURATION, 2)
    result = Measured(gbps=1.0, rtt_microseconds=50.0, seconds=3.0, streams=2)
    with connect(api.kubeconfig) as client:
        in_step = Agent(client, AgentOptions(node="probe-a"))
        assert abs(in_step.clock_skew()) < 5
        assert in_step._judge(result, settings) is result
        ahead = Agent(client, AgentOptions(node="probe-a"), clock=lambda: time.time() + 3600)
        judged = ahead._judge(result, settings)
        assert isinstance(judged, Failed) and judged.kind == "clock-skew", judged
        too_fast = Measured(gbps=500.0, rtt_microseconds=None, seconds=3.0, streams=2)
        judged = in_step._judge(too_fast, settings)  # DEFAULT_SCHEME's NICs are 400 Gbps
        assert isinstance(judged, Failed) and judged.kind == "above-nic-rate", judged
