"""Test support for the operator: a real ``netsched run`` process, job builders, invariants.

The operator runs as users run it, a separate process (``python -m netsched.cli run``)
against the test cluster, so fault tests kill a real process with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conftest import Cluster

STARVATION_SECONDS = 8
"""The starvation bound the test operator runs with (the default is 300 s)."""
GPU = "nvidia.com/gpu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OperatorProcess:
    """One ``netsched run`` process; :meth:`kill` and :meth:`start` it at will."""

    cluster: Cluster
    log_dir: Path
    extra: tuple[str, ...] = ()
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log(self) -> Path:
        return self.log_dir / f"operator-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        command = [
            sys.executable, "-m", "netsched.cli", "run",
            f"--kubeconfig={self.cluster.kubeconfig}",
            f"--metrics-port={self.metrics_port}", "--metrics-address=127.0.0.1",
            f"--starvation-seconds={STARVATION_SECONDS}", "--verbose", *self.extra,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        Cluster.wait_for(self._serving, what=f"the operator's metrics (log: {self.log})")

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the operator exited:\n{self.log.read_text()[-3000:]}")
        try:
            self.scrape()
        except OSError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL: no cleanup handler runs, as when a node dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def scrape(self) -> dict[str, float]:
        """``/metrics`` as ``{'name{labels}': value}`` (netsched_ series only)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return netsched_samples(response.read().decode())

    def log_text(self) -> str:
        return self.log.read_text()


def netsched_samples(text: str) -> dict[str, float]:
    """The ``netsched_`` series of a ``/metrics`` page, as ``{'name{labels}': value}``."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("netsched_"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def training_job(
    name: str,
    namespace: str,
    *,
    replicas: int = 2,
    gpus: int = 8,
    pattern: str = "DataParallel",
    priority: int | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A TrainingJob manifest; ``spec`` adds or overrides top-level spec fields."""
    communication: dict[str, Any] = {"pattern": pattern}
    if pattern != "None":
        communication["bytesPerStep"] = "1Gi"
    if pattern == "Hybrid":
        communication |= {"tensorParallel": gpus, "pipelineParallel": replicas, "dataParallel": 1}
    body: dict[str, Any] = {
        "replicas": replicas,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "trainer",
                        "image": "trainer:test",
                        "resources": {"limits": {GPU: gpus}},
                    }
                ]
            }
        },
        "communication": communication,
        **spec,
    }
    if priority is not None:
        body["priority"] = priority
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def network_topology(
    name: str, *, host_gbps: float, spine_gbps: float, leaf_gbps: float, **spec: Any
) -> dict[str, Any]:
    """A NetworkTopology over netsched's default labels (core > spine > leaf); ``spec`` adds
    or overrides top-level spec fields."""
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "NetworkTopology",
        "metadata": {"name": name},
        "spec": {
            "levels": [
                {"name": "core", "nodeLabel": "netsched.io/core"},
                {"name": "spine", "nodeLabel": "netsched.io/spine", "uplinkGbps": spine_gbps},
                {"name": "leaf", "nodeLabel": "netsched.io/leaf", "uplinkGbps": leaf_gbps},
            ],
            "hostGbps": host_gbps,
            **spec,
        },
    }


def job(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.get("tj", name, "-n", namespace)
    return found


def status_of(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    """The job's status, ``{}`` before the operator first writes it."""
    return dict(job(cluster, namespace, name).get("status") or {})


def phase(cluster: Cluster, namespace: str, name: str) -> str | None:
    result = cluster.kubectl(
        "get", "tj", name, "-n", namespace, "-o", "jsonpath={.status.phase}", check=False
    )
    return result.stdout.strip() or None


def wait_phase(
    cluster: Cluster, namespace: str, name: str, *wanted: str, timeout: float = 60
) -> dict[str, Any]:
    """Wait until the job's phase is one of ``wanted``; returns the job."""
    Cluster.wait_for(
        lambda: phase(cluster, namespace, name) in wanted,
        what=f"{namespace}/{name} to be {' or '.join(wanted)}",
        timeout=timeout,
    )
    return job(cluster, namespace, name)


def condition(found: dict[str, Any], kind: str) -> dict[str, Any]:
    for entry in (found.get("status") or {}).get("conditions") or []:
        if entry["type"] == kind:
            return dict(entry)
    raise AssertionError(f"no {kind} condition in {found.get('status')}")


def pods(cluster: Cluster, namespace: str, name: str | None = None) -> list[dict[str, Any]]:
    selector = f"netsched.io/job={name}" if name else "netsched.io/job"
    listed: list[dict[str, Any]] = cluster.get("pods", "-n", namespace, "-l", selector)["items"]
    return sorted(listed, key=lambda p: int(p["metadata"]["labels"]["netsched.io/rank"]))


def events(
    cluster: Cluster, namespace: str, name: str, reason: str | None = None
) -> list[dict[str, Any]]:
    """The Events about object ``name`` (a cluster-scoped object's are in ``default``),
    of one ``reason`` if given."""
    selector = f"involvedObject.name={name}" + (f",reason={reason}" if reason else "")
    listed = cluster.get("events", "-n", namespace, "--field-selector", selector)["items"]
    return list(listed)


def set_pod_phase(cluster: Cluster, namespace: str, pod: str, new_phase: str) -> None:
    """Mark a pod finished through the status subresource, as a kubelet would."""
    cluster.kubectl(
        "patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", yaml.safe_dump({"status": {"phase": new_phase}}),
    )  # fmt: skip


# --- invariants --------------------------------------------------------------------------------


def assert_invariants(cluster: Cluster) -> None:
    """What must hold after every scenario, read from the live API.

    - no node's GPUs are over-committed, counting bound pods and netsched's pinned pods;
    - no orphans: every gang pod, Service and NetworkPolicy belongs to a live TrainingJob;
    - every Placing/Running gang's pods sit where its status.placement says.
    """
    from netsched.api.occupancy import node_info, pod_occupancy
    from netsched.domain.scheme import HOSTNAME_LABEL

    nodes = {n["metadata"]["name"]: node_info(n) for n in cluster.get("nodes")["items"]}
    held: dict[str, int] = {}
    for pod in cluster.get("pods", "-A")["items"]:
        occupancy = pod_occupancy(pod)
        if occupancy is not None:
            held[occupancy.node] = held.get(occupancy.node, 0) + occupancy.gpus
    over = {n: g for n, g in held.items() if n in nodes and g > nodes[n].allocatable_gpus}
    assert not over, f"over-committed nodes (GPUs held): {over}"
    jobs = {
        (j["metadata"]["namespace"], j["metadata"]["name"]): j
        for j in cluster.get("tj", "-A")["items"]
        if not j["metadata"].get("deletionTimestamp")
    }
    for kind in ("pods", "services", "networkpolicies"):
        for item in cluster.get(kind, "-A", "-l", "netsched.io/job")["items"]:
            metadata = item["metadata"]
            if metadata.get("deletionTimestamp"):
                continue
            key = (metadata["namespace"], metadata["labels"]["netsched.io/job"])
            owners = [o["uid"] for o in metadata.get("ownerReferences") or []]
            live = jobs.get(key)
            assert live is not None and live["metadata"]["uid"] in owners, (
                f"orphaned {kind[:-1]} {metadata['namespace']}/{metadata['name']}"
            )
    for (namespace, name), found in jobs.items():
        status = found.get("status") or {}
        if status.get("phase") not in ("Placing", "Running"):
            continue
        chosen = {r["rank"]: r["node"] for r in status["placement"]["ranks"]}
        for pod in pods(cluster, namespace, name):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            rank = int(pod["metadata"]["labels"]["netsched.io/rank"])
            spec = pod["spec"]
            node = spec.get("nodeName") or (spec.get("nodeSelector") or {}).get(HOSTNAME_LABEL)
            if node is None:  # Placing is written before the pins: not pinned yet, holds nothing
                assert spec.get("schedulingGates"), f"{namespace}/{pod['metadata']['name']}"
                continue
            assert node == chosen[rank], f"{namespace}/{pod['metadata']['name']} on {node}"


def delete_jobs(cluster: Cluster, namespace: str) -> None:
    """Delete every TrainingJob in ``namespace`` and wait until all they owned is gone.

    The pods are force-deleted too: the garbage collector would remove them, but one by
    one, and the next test wants the GPUs now. The Services and NetworkPolicies are left
    to the garbage collector (in a new cluster it learns of the TrainingJob kind only at
    its next discovery, up to 30 s after the CRD is installed).
    """
    cluster.kubectl("delete", "tj", "--all", "-n", namespace, "--wait=false")
    cluster.kubectl(
        "delete", "pods", "--all", "-n", namespace, "--grace-period=0", "--force", "--wait=false"
    )
    Cluster.wait_for(
        lambda: not cluster.get("pods,tj,services,networkpolicies", "-n", namespace)["items"],
        what=f"the jobs of {namespace} and their pods, Services and NetworkPolicies to go",
        timeout=120,
    )


def ranks_by_node(found: dict[str, Any]) -> Iterator[tuple[int, str]]:
    for entry in found["status"]["placement"]["ranks"]:
        yield entry["rank"], entry["node"]
