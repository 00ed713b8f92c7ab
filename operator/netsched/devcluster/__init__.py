"""A real, local Kubernetes control plane with fake GPU nodes, for tests and the demo.

Typical use::

    from netsched import devcluster
    cluster = devcluster.up(nodes=devcluster.leaf_spine(64))
    print(cluster.kubeconfig)          # a token-authenticated admin kubeconfig
    devcluster.down()

``netsched dev-cluster up|down|status|nodes`` is the same from a shell. The
cluster's files (kubeconfig, logs, etcd data, state) live in
:func:`default_run_dir` (``~/.cache/netsched/dev-cluster``); ``down`` removes
them and stops every process that ``up`` started.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from kubernetes import client, config

from netsched.api import GPU_RESOURCE
from netsched.devcluster import realnodes
from netsched.devcluster.binaries import (
    COMPONENTS,
    REAL_NODE_COMPONENTS,
    binary_path,
    cache_root,
    ensure_all,
)
from netsched.devcluster.controlplane import ControlPlane, describe, start_control_plane
from netsched.devcluster.fabric import Fabric, prefix_for
from netsched.devcluster.failures import ComponentError
from netsched.devcluster.nodes import (
    create_nodes,
    is_ready,
    leaf_spine,
    lingjun,
    list_fake_nodes,
    wait_ready,
)
from netsched.devcluster.processes import is_alive
from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import DEFAULT_SCHEME

__all__ = [
    "ComponentError",
    "ControlPlane",
    "api_client",
    "default_run_dir",
    "describe",
    "down",
    "kubectl_path",
    "leaf_spine",
    "lingjun",
    "node_table",
    "running",
    "up",
]


def default_run_dir() -> Path:
    return cache_root() / "dev-cluster"


def api_client(kubeconfig: Path) -> client.ApiClient:
    """A Kubernetes API client for ``kubeconfig`` (never the process-wide default)."""
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig), client_configuration=configuration
    )
    configuration.connection_pool_maxsize = 32
    return client.ApiClient(configuration)


def running(run_dir: Path | None = None) -> ControlPlane | None:
    """The healthy dev cluster recorded in ``run_dir``, or None."""
    plane = ControlPlane.load(run_dir or default_run_dir())
    return plane if plane is not None and plane.is_healthy() else None


def add_nodes(plane: ControlPlane, nodes: Sequence[NodeInfo]) -> None:
    """Create fake GPU nodes and wait until KWOK reports them Ready."""
    with api_client(plane.kubeconfig) as api:
        core = client.CoreV1Api(api)
        create_nodes(core, nodes)
        wait_ready(core, [node.name for node in nodes])


def up(
    *,
    nodes: Sequence[NodeInfo],
    run_dir: Path | None = None,
    ports: dict[str, int] | None = None,
    real_nodes: int = 0,
    degrade: dict[int, str] | None = None,
    announce: bool = False,
) -> ControlPlane:
    """Start the control plane (or reuse a healthy one in ``run_dir``) and add ``nodes``,
    and ``real_nodes`` real kubelet nodes (see :mod:`netsched.devcluster.realnodes`).

    A leftover run directory of a dead cluster is stopped and cleared first.

    Raises:
        ComponentError: a component could not be built, started or made ready.
    """
    run_dir = run_dir or default_run_dir()
    plane = running(run_dir)
    started = plane is None
    if plane is None:
        stale = ControlPlane.load(run_dir)
        if stale is not None:
            stale.stop()
        elif run_dir.exists() and any(run_dir.iterdir()):
            raise ComponentError(
                component="dev-cluster",
                what=f"{run_dir} exists but holds no dev-cluster state",
                remedy="remove it or choose another directory",
            )
        elif run_dir.exists():
            run_dir.rmdir()
        plane = start_control_plane(run_dir, ports=ports, announce=announce)
    try:
        add_nodes(plane, nodes)
        if real_nodes and plane.real_prefix is None:
            add_real_nodes(plane, real_nodes, degrade=degrade or {}, announce=announce)
    except BaseException:
        if started:
            plane.stop()
        raise
    return plane


def real_node_labels(plan: Fabric) -> dict[str, dict[str, str]]:
    """Tier labels of the real nodes: one spine of their own, a leaf per fabric leaf."""
    core, spine, leaf = (level.label_key for level in DEFAULT_SCHEME.levels)
    return {
        node.name: {core: "core-0", spine: "spine-real", leaf: f"leaf-real-{node.leaf}"}
        for node in plan.nodes
    }


def add_real_nodes(
    plane: ControlPlane, count: int, *, degrade: dict[int, str], announce: bool = False
) -> None:
    """Start ``count`` real nodes in their fabric, wait until they are Ready with their GPUs,
    and run the cluster DNS on them."""
    bins = ensure_all(REAL_NODE_COMPONENTS, announce=announce)
    plan = Fabric.plan(count, prefix=prefix_for(plane.run_dir), degraded=degrade)
    plane.real_prefix = plan.prefix
    plane.save()  # from now on `down` clears the fabric, whatever happens next
    started = realnodes.start_nodes(
        plan,
        run_dir=plane.run_dir,
        bins=bins,
        kubeconfig=plane.kubeconfig,
        apiserver_port=plane.ports["kube-apiserver"],
        node_labels=real_node_labels(plan),
        announce=announce,
    )
    plane.processes += started.processes
    plane.save()
    with api_client(plane.kubeconfig) as api:
        realnodes.wait_ready_and_advertise(
            client.CoreV1Api(api),
            [node.name for node in plan.nodes],
            timeout=realnodes.READY_TIMEOUT_SECONDS,
        )
    plane.processes += realnodes.start_policy_controllers(
        started, bins=bins, kubeconfig=plane.kubeconfig
    )
    plane.save()
    kubectl = str(kubectl_path())
    manifests = "\n---\n".join(json.dumps(m) for m in realnodes.dns_manifests())
    apply = [kubectl, "--kubeconfig", str(plane.kubeconfig), "apply", "-f", "-"]
    subprocess.run(apply, input=manifests, text=True, check=True, capture_output=True)
    wait = [
        kubectl,
        "--kubeconfig",
        str(plane.kubeconfig),
        "-n",
        "kube-system",
        "rollout",
        "status",
        "deployment/coredns",
        f"--timeout={realnodes.READY_TIMEOUT_SECONDS:.0f}s",
    ]
    result = subprocess.run(wait, text=True, capture_output=True, check=False)
    dead = [p.name for p in plane.processes if not is_alive(p.pid)]
    if dead:
        raise ComponentError(
            component="real nodes",
            what=f"{', '.join(dead)} exited while the real nodes came up",
            remedy=f"read their logs in {plane.run_dir / 'logs'}",
        )
    if result.returncode != 0:
        with api_client(plane.kubeconfig) as api:
            report = realnodes.pods_report(client.CoreV1Api(api), "kube-system", "k8s-app=kube-dns")
        raise ComponentError(
            component="cluster DNS",
            what=f"CoreDNS did not become ready on the real nodes: {result.stderr.strip()}",
            remedy=f"read the kubelet-n<i> and containerd-n<i> logs in {plane.run_dir / 'logs'}",
            log_tail=report,
        )


def down(run_dir: Path | None = None) -> bool:
    """Stop the dev cluster in ``run_dir``; False if there was none."""
    plane = ControlPlane.load(run_dir or default_run_dir())
    if plane is None:
        return False
    plane.stop()
    return True


def kubectl_path() -> Path:
    """The kubectl built with the control plane (same version as the API server)."""
    return binary_path(next(c for c in COMPONENTS if c.name == "kubectl"))


def node_table(plane: ControlPlane) -> list[str]:
    """One line per fake GPU node: its tier domains and allocatable GPUs."""
    keys = [level.label_key for level in DEFAULT_SCHEME.levels]
    header = ["NODE", *(level.name.upper() for level in DEFAULT_SCHEME.levels), "GPUS", "READY"]
    rows = [header]
    with api_client(plane.kubeconfig) as api:
        for node in list_fake_nodes(client.CoreV1Api(api)):
            labels = node["metadata"].get("labels", {})
            gpus = node.get("status", {}).get("allocatable", {}).get(GPU_RESOURCE, "0")
            ready = "yes" if is_ready(node) else "no"
            rows.append(
                [node["metadata"]["name"], *(labels.get(k, "-") for k in keys), gpus, ready]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
