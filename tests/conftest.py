"""Fixtures shared by every test layer.

``cluster`` is a REAL control plane: the API server, controller-manager and
scheduler built from the Kubernetes modules, etcd, and KWOK faking the kubelets
of GPU nodes. Which one, in this order:

1. ``NETSCHED_KUBECONFIG`` names an existing cluster (kind, a lab cluster): use it;
2. a healthy ``netsched dev-cluster up`` is running: reuse it (its nodes are kept);
3. otherwise start a fresh dev cluster for this session and stop it at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

T = TypeVar("T")

TEST_NODES = 16
REAL_NODES = 4
"""Leaves {1, 2}, {3}, {4} (devcluster.fabric.leaf_of): traffic inside a leaf, and a choice
of uplinks for a gang that must leave one."""
CRDS = Path(__file__).resolve().parents[1] / "crds"
WAIT_SECONDS = 60.0
TROUBLE = re.compile(r'^E\d{4} |"level":"(warn|error)"|took too long|[Tt]imeout')
"""Log lines worth showing after a failed session: klog errors, etcd warnings, timeouts."""
kept_logs: list[tuple[Path, dict[str, int]]] = []
"""Where a failed session's control-plane logs were kept (the run directory goes), and how
much of each was written before the first test (start-up noise, not shown)."""


@dataclass
class Cluster:
    """A handle on the cluster under test."""

    kubeconfig: Path
    kubectl_binary: Path

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster; with ``check``, fail on a non-zero exit."""
        result = subprocess.run(
            [str(self.kubectl_binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def get(self, *args: str) -> Any:
        """``kubectl get ... -o yaml`` parsed."""
        return yaml.safe_load(self.kubectl("get", *args, "-o", "yaml").stdout)

    def apply(self, manifest: dict[str, Any] | str, *extra: str) -> None:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        self.kubectl("apply", "--server-side", "-f", "-", *extra, input=text)

    @staticmethod
    def wait_for(probe: Callable[[], T | None], *, what: str, timeout: float = WAIT_SECONDS) -> T:
        """Poll ``probe`` until it returns something truthy; fail naming ``what`` in time."""
        deadline = time.monotonic() + timeout
        last: T | None = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            time.sleep(0.25)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    from netsched import devcluster

    external = os.environ.get("NETSCHED_KUBECONFIG")
    if external:
        yield Cluster(kubeconfig=Path(external), kubectl_binary=devcluster.kubectl_path())
        return
    test_nodes = devcluster.leaf_spine(TEST_NODES)
    reused = devcluster.running()
    if reused is not None:
        from netsched.devcluster.operator_process import stop_operator

        stop_operator(reused)  # the tests run their own; two would both hand out GPUs
        devcluster.add_nodes(reused, test_nodes)
        yield Cluster(kubeconfig=reused.kubeconfig, kubectl_binary=devcluster.kubectl_path())
        return
    run_dir = Path(tempfile.mkdtemp(prefix="netsched-test-cluster-")) / "cluster"
    plane = devcluster.up(nodes=test_nodes, run_dir=run_dir)
    logs = run_dir / "logs"
    started = {log.name: log.stat().st_size for log in logs.glob("*.log")}
    try:
        yield Cluster(kubeconfig=plane.kubeconfig, kubectl_binary=devcluster.kubectl_path())
    finally:
        if request.session.testsfailed and logs.is_dir():
            kept = Path(tempfile.mkdtemp(prefix="netsched-test-logs-"))
            audit = shutil.ignore_patterns("audit*")  # large, and every watch names a timeout
            shutil.copytree(logs, kept, dirs_exist_ok=True, ignore=audit)
            kept_logs.append((kept, started))
        # As saved: `real_nodes` may have added real nodes to it meanwhile.
        (devcluster.ControlPlane.load(run_dir) or plane).stop()
        run_dir.parent.rmdir()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """After a failed session, the trouble in the control plane's logs: CI keeps only what
    it prints, and a stalled component is otherwise invisible behind a test's timeout."""
    for kept, started in kept_logs:
        terminalreporter.section(f"control-plane logs, kept in {kept}")
        shown = 0
        for log in sorted(kept.glob("*.log")):
            with log.open("rb") as text:
                text.seek(started.get(log.name, 0))
                lines = text.read().decode(errors="replace").splitlines()
            trouble = [line[:300] for line in lines if TROUBLE.search(line)]
            if trouble:
                terminalreporter.write_line(f"{log.name}: last of {len(trouble)} such lines")
                for line in trouble[-8:]:
                    terminalreporter.write_line(f"  {line}")
                shown += 1
        if not shown:
            terminalreporter.write_line("no klog error, etcd warning or timeout since start-up")


@pytest.fixture(scope="session")
def real_nodes(cluster: Cluster) -> Cluster:
    """The cluster with real kubelet nodes: its own (label ``netsched.io/real-node``), else
    :data:`REAL_NODES` added to the dev cluster under test, once per session."""
    from netsched import devcluster

    if not cluster.get("nodes", "-l", "netsched.io/real-node")["items"]:
        plane = devcluster.ControlPlane.load(cluster.kubeconfig.parent)
        if plane is None:
            raise AssertionError(
                f"{cluster.kubeconfig} has no real nodes (label netsched.io/real-node) and is "
                "not a dev cluster real nodes can be added to: unset NETSCHED_KUBECONFIG, or "
                "label the cluster's real nodes"
            )
        devcluster.add_real_nodes(plane, REAL_NODES, degrade={})
    return cluster


@pytest.fixture(scope="session")
def api(cluster: Cluster) -> Cluster:
    """The cluster with netsched's CRDs (from ``crds/``) installed and Established."""
    from netsched.api.crd import RESOURCES

    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRDS))
    for resource in RESOURCES:
        cluster.kubectl(
            "wait", "--for=condition=Established", "--timeout=60s",
            f"crd/{resource.INFO.crd_name}",
        )  # fmt: skip
    return cluster


@pytest.fixture
def namespaces(cluster: Cluster) -> Iterator[Callable[[], str]]:
    """Makes fresh namespaces on demand (a test of several jobs wants one each); every one is
    deleted (without waiting) after the test."""
    made: list[str] = []

    def fresh() -> str:
        name = f"t-{uuid.uuid4().hex[:8]}"
        cluster.kubectl("create", "namespace", name)
        made.append(name)
        return name

    yield fresh
    for name in made:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def namespace(namespaces: Callable[[], str]) -> str:
    """A fresh namespace, deleted (without waiting) after the test."""
    return namespaces()


@pytest.fixture(scope="module")
def operator(api: Cluster) -> Iterator[Any]:
    """A real ``netsched run`` process against the test cluster, for one test module
    (see ``tests/integration/gangs.py``); its logs stay in a temporary directory."""
    from gangs import OperatorProcess

    process = OperatorProcess(cluster=api, log_dir=Path(tempfile.mkdtemp(prefix="netsched-op-")))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def jobs(api: Cluster, operator: Any) -> Iterator[str]:
    """A fresh namespace for a test's TrainingJobs, with the operator running. Afterwards
    the invariants must hold; then its jobs are deleted and their pods waited out."""
    from gangs import assert_invariants, delete_jobs

    name = f"op-{uuid.uuid4().hex[:8]}"
    api.kubectl("create", "namespace", name)
    try:
        yield name
        assert_invariants(api)
    finally:
        delete_jobs(api, name)
        api.kubectl("delete", "namespace", name, "--wait=false", check=False)
