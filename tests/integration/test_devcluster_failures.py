"""Bad states of the dev cluster give one clear paragraph, never a hang or a leak.

These start real binaries from the cache (``make binaries`` builds them) and
break them for real: a taken port, an unknown flag, a killed component, no Go.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Cluster
from netsched import devcluster
from netsched.devcluster import binaries, processes
from netsched.devcluster.failures import ComponentError

pytestmark = pytest.mark.integration


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_taken_port_is_named_before_anything_starts(taken_port: int, tmp_path: Path) -> None:
    with pytest.raises(ComponentError) as caught:
        devcluster.up(nodes=[], run_dir=tmp_path / "c", ports={"kube-apiserver": taken_port})

    message = str(caught.value)
    assert message.startswith("kube-apiserver: ")
    assert f"port {taken_port} on 127.0.0.1 is already in use" in message
    assert "What to do:" in message
    assert not (tmp_path / "c").exists()


def test_a_crashing_component_reports_its_log_tail(tmp_path: Path) -> None:
    scheduler = binaries.binary_path(
        next(c for c in binaries.COMPONENTS if c.name == "kube-scheduler")
    )
    running = processes.start(
        "kube-scheduler", [str(scheduler), "--no-such-flag"], log=tmp_path / "s.log"
    )

    with pytest.raises(ComponentError) as caught:
        processes.wait_until(running, lambda: False, timeout=30, what="healthz", remedy="fix it")

    message = str(caught.value)
    assert "kube-scheduler: exited while starting (waiting for healthz)" in message
    assert "unknown flag: --no-such-flag" in message


def test_a_component_never_ready_fails_within_its_bound(tmp_path: Path) -> None:
    sleeper = processes.start("sleeper", ["sleep", "30"], log=tmp_path / "sleep.log")
    try:
        with pytest.raises(ComponentError, match=r"sleeper: not ready after 1 s"):
            processes.wait_until(sleeper, lambda: False, timeout=1, what="x", remedy="y")
    finally:
        processes.stop(sleeper)
    assert not processes.is_alive(sleeper.pid)


def test_what_started_before_a_failure_is_stopped(tmp_path: Path) -> None:
    """realnodes.start_nodes stops the daemons it started when a later node fails: its
    caller never registered them, so `down` would not find them."""
    started: list[processes.Running] = []
    for name in ("relay", "containerd-n1", "kubelet-n1"):
        started.append(processes.start(name, ["sleep", "300"], log=tmp_path / f"{name}.log"))
    pids = [p.pid for p in started]

    processes.stop_all(started)

    assert started == []
    assert not any(processes.is_alive(pid) for pid in pids)


def test_a_killed_component_shows_in_status_and_up_starts_afresh(tmp_path: Path) -> None:
    run_dir = tmp_path / "cluster"
    plane = devcluster.up(nodes=devcluster.leaf_spine(2), run_dir=run_dir)
    try:
        scheduler = next(p for p in plane.processes if p.name == "kube-scheduler")
        os.killpg(scheduler.pid, signal.SIGKILL)
        processes.stop(scheduler)  # reaps it: we are its parent here
        reloaded = devcluster.ControlPlane.load(run_dir)
        assert reloaded is not None
        health = reloaded.health()
        assert health["kube-scheduler"] is False
        assert health["kube-apiserver"] is True
        assert devcluster.running(run_dir) is None

        plane = devcluster.up(nodes=devcluster.leaf_spine(2), run_dir=run_dir)
        assert plane.is_healthy()
    finally:
        pids = [p.pid for p in plane.processes]
        plane.stop()
    assert not run_dir.exists()
    assert not any(processes.is_alive(pid) for pid in pids)


def dev_cluster_build(**env: str) -> subprocess.CompletedProcess[str]:
    """``netsched dev-cluster build`` in a process of its own, with ``env`` on top of ours."""
    return subprocess.run(
        [sys.executable, "-m", "netsched.cli", "dev-cluster", "build"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_building_without_go_says_what_to_do(tmp_path: Path) -> None:
    result = dev_cluster_build(PATH="/nonexistent", NETSCHED_CACHE=str(tmp_path))

    assert result.returncode == 1
    assert "go toolchain: the `go` command is not on PATH" in result.stderr
    assert "install Go 1.26 or newer" in result.stderr


def test_building_outside_a_checkout_names_the_missing_wrapper_module(tmp_path: Path) -> None:
    result = dev_cluster_build(
        NETSCHED_HACK_DIR=str(tmp_path / "hack"), NETSCHED_CACHE=str(tmp_path / "cache")
    )

    assert result.returncode == 1
    assert f"its wrapper Go module {tmp_path / 'hack'}" in result.stderr
    assert "NETSCHED_HACK_DIR" in result.stderr


def test_pods_that_do_not_become_ready_are_explained(api: Cluster, namespace: str) -> None:
    """What a CoreDNS that never becomes ready on the real nodes reports (realnodes.pods_report):
    here a pod no node can take, on the test cluster."""
    from kubernetes import client

    from netsched.devcluster import api_client, realnodes

    stuck = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "stuck", "namespace": namespace, "labels": {"app": "stuck"}},
        "spec": {"nodeSelector": {"netsched.io/no-such-node": "true"},
                 "containers": [{"name": "c", "image": "none"}]},
    }  # fmt: skip
    api.apply(stuck)

    def explained() -> str | None:
        with api_client(api.kubeconfig) as connection:
            report = realnodes.pods_report(client.CoreV1Api(connection), namespace, "app=stuck")
        return report if "FailedScheduling" in report else None

    report = api.wait_for(explained, what="the scheduler's event in the report")
    assert report.startswith("pod stuck on (unscheduled): Pending"), report
    assert "PodScheduled=False Unschedulable" in report, report
    with api_client(api.kubeconfig) as connection:
        nothing = realnodes.pods_report(client.CoreV1Api(connection), namespace, "app=none")
    assert nothing.startswith(f"no pod in {namespace} matches app=none"), nothing
