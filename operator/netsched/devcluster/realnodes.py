"""Real kubelet nodes beside the KWOK ones: real pods, real traffic, real NetworkPolicy.

Each real node is a network namespace of the fabric (:mod:`netsched.devcluster.fabric`)
running its own containerd (Debian's, with runc and the CNI plugins), kubelet,
kube-proxy (iptables mode: ClusterIP Services) and kube-router (its NetworkPolicy
controller only). Processes start with ``nsenter --net``, never ``ip netns exec``, so they
share the host's mount namespace: the kubelet's volume mounts must be visible to runc.

Two facts of this machine shape the configuration (see docs/development.md):

- cgroups are v1 only, so the kubelet runs with ``failCgroupV1: false``; each kubelet has
  its own cgroup root (``/<prefix>-n<i>``) so that their QoS managers do not fight;
- root lacks ``CAP_SYS_RESOURCE``, so runc cannot lower ``oom_score_adj`` for a sandbox:
  containerd clamps it (``restrict_oom_score_adj``).

The API server listens on 127.0.0.1 only. Node components reach it at the same URL
through a relay per node (a TCP listener on the node's 127.0.0.1, carried over a unix
socket to the host's), so the serving certificate and kubeconfigs stay as they are.
Pods reach it through the ``kubernetes`` Service: the API server advertises the host's
fabric address, where a relay listens. Cluster DNS is CoreDNS as a real pod
(``k8s-app: kube-dns``, behind the ``kube-dns`` Service), so a NetworkPolicy's DNS rule
meets it as it would in any cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netsched.devcluster import fabric, images
from netsched.devcluster.fabric import Fabric, Node
from netsched.devcluster.failures import ComponentError
from netsched.devcluster.processes import Running, start, stop_all, wait_until

CGROUP_ROOT = Path("/sys/fs/cgroup")
SOCKET_ROOT = Path("/run/netsched")
"""Sockets live here: a unix socket path may not exceed 107 bytes."""
CLUSTER_DNS = "10.96.0.10"
REAL_NODE_LABEL = "netsched.io/real-node"
"""Label and taint key of real nodes: only pods that tolerate the taint land there."""
GPUS_PER_NODE = 8
READY_TIMEOUT_SECONDS = 180.0
CNI_BIN = Path("/usr/lib/cni")
IMPORTS = threading.BoundedSemaphore(os.cpu_count() or 1)
"""Image imports running at once, across the nodes starting side by side. An import keeps
about one core busy (digests, then unpacking many small files): the trainer's 1.3 GB took
41 s alone here, and four side by side on 2 cores took over 120 s each."""
IMPORT_SECONDS = 120.0
IMPORT_SECONDS_PER_GB = 60.0
"""An import's bound: a fixed part and a part per GB of archive."""
NEEDED = {
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "socat": "socat",
    "nsenter": "util-linux",
    "iptables": "iptables",
    "ipset": "ipset",
    "conntrack": "conntrack",
    "gcc": "gcc",
    "mmdebstrap": "mmdebstrap",
    "tc": "iproute2",
}


@dataclass(frozen=True, slots=True)
class Paths:
    """Where one node's files go."""

    node: Node
    run_dir: Path

    @property
    def dir(self) -> Path:
        return self.run_dir / "real" / f"n{self.node.index}"

    @property
    def sockets(self) -> Path:
        return SOCKET_ROOT / self.node.prefix / f"n{self.node.index}"

    @property
    def containerd_socket(self) -> Path:
        return self.sockets / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.dir / "kubelet"

    @property
    def cgroup(self) -> str:
        return f"{self.node.prefix}-n{self.node.index}"


def require_tools() -> None:
    """Fail with the packages to install when a command real nodes need is missing."""
    missing = sorted({package for tool, package in NEEDED.items() if shutil.which(tool) is None})
    if not (CNI_BIN / "bridge").is_file():
        missing.append("containernetworking-plugins")
    if os.geteuid() != 0:
        raise ComponentError(
            component="real nodes",
            what="real nodes need root (network namespaces, cgroups, iptables)",
            remedy="run as root, or leave out --real-nodes",
        )
    if missing:
        raise ComponentError(
            component="real nodes",
            what=f"missing Debian packages: {' '.join(missing)}",
            remedy=f"apt-get install --no-install-recommends {' '.join(missing)} "
            "(make real-node-deps installs them all)",
        )


# --- configuration files --------------------------------------------------------------------


def containerd_config(paths: Paths) -> str:
    state = paths.sockets / "state"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return "\n".join(
        [
            "version = 2",
            f'root = "{paths.dir / "containerd"}"',
            f'state = "{state}"',
            "[grpc]",
            f'  address = "{paths.containerd_socket}"',
            "[ttrpc]",
            f'  address = "{paths.sockets / "containerd.sock.ttrpc"}"',
            f"[{cri}]",
            f'  sandbox_image = "{images.PAUSE}"',
            # Pod network namespaces under the state directory, not /var/run/netns, so that
            # teardown finds them under this node's prefix.
            "  netns_mounts_under_state_dir = true",
            "  restrict_oom_score_adj = true",
            "  disable_apparmor = true",
            f"[{cri}.cni]",
            f'  bin_dir = "{CNI_BIN}"',
            f'  conf_dir = "{paths.dir / "cni"}"',
            f"[{cri}.containerd]",
            '  snapshotter = "overlayfs"',
            f"[{cri}.containerd.runtimes.runc]",
            '  runtime_type = "io.containerd.runc.v2"',
            '[plugins."io.containerd.internal.v1.opt"]',
            f'  path = "{paths.dir / "opt"}"',
            "",
        ]
    )


def cni_config(paths: Paths) -> dict[str, Any]:
    node = paths.node
    return {
        "cniVersion": "0.4.0",
        "name": "netsched",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node.pod_cidr, "gateway": node.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.dir / "ipam"),
                },
            }
        ],
    }


def kubelet_config(paths: Paths) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{paths.cgroup}",
        "podLogsDir": str(paths.dir / "pod-logs"),
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "clusterDNS": [CLUSTER_DNS],
        "clusterDomain": "cluster.local",
        "failSwapOn": False,
        # Images exist only locally: never collect them, never evict for a full disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
        "authorization": {"mode": "AlwaysAllow"},  # reachable only from the host's fabric link
        "readOnlyPort": 0,
        "registerWithTaints": [{"key": REAL_NODE_LABEL, "value": "true", "effect": "NoSchedule"}],
        "maxPods": 30,
        "resolvConf": str(paths.dir / "resolv.conf"),
    }


def kube_proxy_config(paths: Paths, kubeconfig: Path) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": paths.node.name,
        "bindAddress": paths.node.address,
        "clusterCIDR": f"{fabric.POD_SUBNET}.0.0/16",
        "mode": "iptables",
        "conntrack": {"maxPerCore": 0},  # conntrack's maximum is global: leave it alone
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
    }


# --- cgroups ---------------------------------------------------------------------------------


def _hierarchies() -> list[Path]:
    return [p for p in CGROUP_ROOT.iterdir() if p.is_dir() and not p.is_symlink()]


def make_cgroups(name: str) -> None:
    """The node's cgroup root in every v1 hierarchy (cpuset needs its cpus and mems)."""
    for hierarchy in _hierarchies():
        group = hierarchy / name
        group.mkdir(exist_ok=True)
        for knob in ("cpuset.cpus", "cpuset.mems"):
            if (hierarchy / knob).is_file():
                (group / knob).write_text((hierarchy / knob).read_text())


def _groups(name: str) -> Iterator[Path]:
    for hierarchy in _hierarchies():
        group = hierarchy / name
        if group.is_dir():
            yield from sorted(group.rglob("*/"), key=lambda p: len(p.parts), reverse=True)
            yield group


def kill_cgroups(name: str) -> None:
    """SIGKILL every process left in the node's cgroups (containers, shims), then remove them."""
    for _ in range(20):
        pids = set()
        for group in _groups(name):
            procs = group / "cgroup.procs"
            with contextlib.suppress(OSError):
                pids |= {int(p) for p in procs.read_text().split()}
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)  # SIGKILLed processes leave their cgroup a moment later
    for group in _groups(name):
        with contextlib.suppress(OSError):
            group.rmdir()


# --- processes -------------------------------------------------------------------------------


def _in(node: Node, *argv: str) -> list[str]:
    return ["nsenter", f"--net=/run/netns/{node.netns}", *argv]


@dataclass
class RealNodes:
    """What ``up --real-nodes N`` started, for ``down`` to stop."""

    fabric: Fabric
    run_dir: Path
    processes: list[Running]


DISK_MARGIN_BYTES = 2 * 1024**3
"""Room beyond the images for pod logs, containers' writable layers and the kubelet's 1 %."""


def disk_needed(archives: Iterable[Path], *, nodes: int) -> int:
    """Bytes the nodes' containerds take for the images: each node holds every image twice
    (its content store, and the unpacked snapshot)."""
    return nodes * 2 * sum(a.stat().st_size for a in archives) + DISK_MARGIN_BYTES


def require_disk(run_dir: Path, needed: int, *, nodes: int) -> None:
    """Refuse to start real nodes on a filesystem without ``needed`` bytes free: a full disk
    would only show later, as a kubelet's DiskPressure and pods that never start."""
    run_dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise ComponentError(
            component="real nodes",
            what=f"{nodes} real nodes need about {needed / 1024**3:.1f} GiB free for their "
            f"images in {run_dir}, and {free / 1024**3:.1f} GiB is free",
            remedy="free disk space (old runs: ls -d /tmp/netsched-*), or start fewer real nodes",
        )


def start_nodes(
    fabric_plan: Fabric,
    *,
    run_dir: Path,
    bins: dict[str, Path],
    kubeconfig: Path,
    apiserver_port: int,
    node_labels: dict[str, dict[str, str]],
    announce: bool = False,
) -> RealNodes:
    """Create the fabric and start every node's daemons; the caller registers the processes.

    ``node_labels`` maps a real node's name to its tier labels. If any node fails to
    start, the processes already started are stopped before the error is raised: the
    caller never registered them, so nothing else would.
    """
    require_tools()
    archives = images.build_all(bins["coredns"])
    nodes_count = len(fabric_plan.nodes)
    require_disk(run_dir, disk_needed(archives.values(), nodes=nodes_count), nodes=nodes_count)
    remove_leftovers(fabric_plan.prefix)
    fabric.create(fabric_plan)
    nodes = RealNodes(fabric_plan, run_dir, [])
    api_socket = SOCKET_ROOT / fabric_plan.prefix / "api.sock"
    api_socket.parent.mkdir(parents=True, exist_ok=True)
    logs = run_dir / "logs"

    def launch(name: str, argv: list[str]) -> Running:
        running = start(name, argv, log=logs / f"{name}.log")
        nodes.processes.append(running)
        return running

    try:
        _start_all(
            nodes,
            launch,
            api_socket,
            bins=bins,
            kubeconfig=kubeconfig,
            apiserver_port=apiserver_port,
            node_labels=node_labels,
            archives=archives,
            announce=announce,
        )
    except BaseException:
        stop_all(nodes.processes)
        raise
    return nodes


def _start_all(
    nodes: RealNodes,
    launch: Callable[[str, list[str]], Running],
    api_socket: Path,
    *,
    bins: dict[str, Path],
    kubeconfig: Path,
    apiserver_port: int,
    node_labels: dict[str, dict[str, str]],
    archives: dict[str, Path],
    announce: bool,
) -> None:
    """The relays into the API server, then every node's daemons, side by side."""
    fabric_plan, run_dir = nodes.fabric, nodes.run_dir
    # Host side: the unix socket into the API server, and the fabric address pods use.
    relay = launch(
        "api-relay",
        [
            "socat",
            f"UNIX-LISTEN:{api_socket},fork,unlink-early",
            f"TCP:127.0.0.1:{apiserver_port}",
        ],
    )
    wait_until(
        relay,
        api_socket.is_socket,
        timeout=10,
        what="its socket",
        remedy="read the api-relay log",
    )
    launch(
        "api-fabric-relay",
        [
            "socat",
            f"TCP-LISTEN:{apiserver_port},bind={fabric.HOST_ADDRESS},fork,reuseaddr",
            f"TCP:127.0.0.1:{apiserver_port}",
        ],
    )

    def one(node: Node) -> None:
        if announce:
            print(f"starting real node {node.name} ({node.address}, pods {node.pod_cidr})")
        _start_node(
            Paths(node, run_dir),
            launch,
            bins=bins,
            kubeconfig=kubeconfig,
            api_socket=api_socket,
            apiserver_port=apiserver_port,
            labels=node_labels[node.name],
            archives=archives,
        )

    # Nodes start side by side: most of a node's start is importing the images (the
    # trainer's is 1.3 GB) into its containerd.
    with ThreadPoolExecutor(max_workers=len(fabric_plan.nodes)) as pool:
        list(pool.map(one, fabric_plan.nodes))


def _start_node(
    paths: Paths,
    launch: Callable[[str, list[str]], Running],
    *,
    bins: dict[str, Path],
    kubeconfig: Path,
    api_socket: Path,
    apiserver_port: int,
    labels: dict[str, str],
    archives: dict[str, Path],
) -> None:
    node = paths.node
    for directory in (paths.dir / "cni", paths.dir / "pod-logs", paths.kubelet_root, paths.sockets):
        directory.mkdir(parents=True, exist_ok=True)
    (paths.dir / "containerd.toml").write_text(containerd_config(paths))
    (paths.dir / "cni" / "10-netsched.conflist").write_text(json.dumps(cni_config(paths)))
    (paths.dir / "resolv.conf").write_text(f"nameserver {CLUSTER_DNS}\n")
    make_cgroups(paths.cgroup)
    tag = f"n{node.index}"
    launch(
        f"api-relay-{tag}",
        _in(
            node,
            "socat",
            f"TCP-LISTEN:{apiserver_port},bind=127.0.0.1,fork,reuseaddr",
            f"UNIX-CONNECT:{api_socket}",
        ),
    )
    containerd = launch(
        f"containerd-{tag}",
        _in(node, "containerd", "--config", str(paths.dir / "containerd.toml")),
    )
    wait_until(
        containerd,
        paths.containerd_socket.is_socket,
        timeout=60,
        what=f"its socket {paths.containerd_socket}",
        remedy="read the containerd log",
    )
    for archive in archives.values():
        bound = IMPORT_SECONDS + IMPORT_SECONDS_PER_GB * archive.stat().st_size / 1024**3
        with IMPORTS:
            _ctr(paths, "images", "import", str(archive), timeout=bound)
    (paths.dir / "kubelet.yaml").write_text(yaml.safe_dump(kubelet_config(paths)))
    node_labels = {**labels, REAL_NODE_LABEL: "true"}
    launch(
        f"kubelet-{tag}",
        _in(
            node,
            str(bins["kubelet"]),
            f"--config={paths.dir / 'kubelet.yaml'}",
            f"--kubeconfig={kubeconfig}",
            f"--root-dir={paths.kubelet_root}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.address}",
            "--node-labels="
            + ",".join(
                f"{k}={v}" for k, v in sorted(node_labels.items()) if k != "kubernetes.io/hostname"
            ),
            "--v=1",
        ),
    )
    (paths.dir / "kube-proxy.yaml").write_text(yaml.safe_dump(kube_proxy_config(paths, kubeconfig)))
    launch(
        f"kube-proxy-{tag}",
        _in(node, str(bins["kube-proxy"]), f"--config={paths.dir / 'kube-proxy.yaml'}"),
    )


def start_policy_controllers(
    nodes: RealNodes, *, bins: dict[str, Path], kubeconfig: Path
) -> list[Running]:
    """kube-router's NetworkPolicy controller on every node, once the nodes are registered
    (it exits when it cannot find its Node)."""
    started = []
    for node in nodes.fabric.nodes:
        tag = f"n{node.index}"
        argv = _in(
            node,
            str(bins["kube-router"]),
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            f"--kubeconfig={kubeconfig}",
            f"--hostname-override={node.name}",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--iptables-sync-period=30s",
            "--metrics-port=0",
            "--health-port=0",
        )
        running = start(
            f"kube-router-{tag}", argv, log=nodes.run_dir / "logs" / f"kube-router-{tag}.log"
        )
        started.append(running)
    return started


def _ctr(paths: Paths, *argv: str, timeout: float = 120.0) -> str:
    command = ["ctr", "-a", str(paths.containerd_socket), "-n", "k8s.io", *argv]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise ComponentError(
            component=f"containerd of {paths.node.name}",
            what=f"`ctr {' '.join(argv)}` did not finish within {timeout:.0f} s",
            remedy=f"is the machine overloaded? read {paths.run_dir / 'logs'}/"
            f"containerd-n{paths.node.index}.log",
        ) from None
    if result.returncode != 0:
        raise ComponentError(
            component=f"containerd of {paths.node.name}",
            what=f"`ctr {' '.join(argv)}` failed: {result.stderr.strip()}",
            remedy=f"read {paths.run_dir / 'logs'}/containerd-n{paths.node.index}.log",
        )
    return result.stdout


# --- teardown --------------------------------------------------------------------------------


def _mounts_under(root: Path) -> list[str]:
    mounts = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split(" ")[1].replace("\\040", " ")
            if target == str(root) or target.startswith(f"{root}/"):
                mounts.append(target)
    return sorted(mounts, key=len, reverse=True)


def _shims(prefix: str) -> list[int]:
    """containerd shims of this cluster's nodes (they outlive containerd)."""
    pids = []
    marker = str(SOCKET_ROOT / prefix).encode()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (proc / "cmdline").read_bytes():
                    pids.append(int(proc.name))
    return pids


def remove_leftovers(prefix: str, *, run_dir: Path | None = None) -> None:
    """Remove what the real nodes of a cluster with ``prefix`` leave once their processes are
    stopped (by ``down``), or after a SIGKILL: containers and shims, their cgroups, mounts,
    network namespaces, the host's fabric link, sockets."""
    for pid in _shims(prefix):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for hierarchy in _hierarchies():
        for group in hierarchy.glob(f"{prefix}-n*"):
            kill_cgroups(group.name)
    roots = [SOCKET_ROOT / prefix, *([run_dir / "real"] if run_dir is not None else [])]
    for root in roots:  # container root filesystems, pod network namespaces, kubelet volumes
        for target in _mounts_under(root):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
    fabric.remove(prefix)
    shutil.rmtree(SOCKET_ROOT / prefix, ignore_errors=True)


# --- the cluster side: GPUs, readiness, DNS -------------------------------------------------


def wait_ready_and_advertise(core: Any, names: list[str], *, timeout: float) -> None:
    """Wait until each real node is Ready, and give it fake ``nvidia.com/gpu`` capacity."""
    from netsched.api import GPU_RESOURCE
    from netsched.devcluster.nodes import is_ready

    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            with contextlib.suppress(Exception):
                node = core.read_node(name, _preload_content=False)
                if is_ready(json.loads(node.data)):
                    gpus = {GPU_RESOURCE: str(GPUS_PER_NODE)}
                    core.patch_node_status(
                        name, {"status": {"capacity": gpus, "allocatable": gpus}}
                    )
                    pending.discard(name)
        time.sleep(1.0)  # a kubelet registers and turns Ready within seconds: poll gently
    if pending:
        raise ComponentError(
            component="real nodes",
            what=f"{sorted(pending)} did not become Ready within {timeout:.0f} s",
            remedy="read the kubelet-n<i> and containerd-n<i> logs in the run directory's logs/",
        )


def pods_report(core: Any, namespace: str, selector: str, *, log_lines: int = 15) -> str:
    """Why the pods ``selector`` picks are not Ready, as ``kubectl describe`` would tell it:
    each pod's node, phase, failing conditions and container states, its containers' last
    log lines (the previous run's too, after a restart), and the namespace's Warning events."""
    lines: list[str] = []
    try:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        events = core.list_namespaced_event(namespace, field_selector="type=Warning").items
    except Exception as error:  # the report must never hide the failure it explains
        return f"(no report: {error})"
    for pod in pods:
        status = pod.status
        lines.append(f"pod {pod.metadata.name} on {pod.spec.node_name or '(unscheduled)'}: "
                     f"{status.phase}")  # fmt: skip
        for condition in status.conditions or []:
            if condition.status != "True":
                lines.append(f"  {condition.type}={condition.status} {condition.reason or ''} "
                             f"{condition.message or ''}".rstrip())  # fmt: skip
        for container in status.container_statuses or []:
            state = container.state
            detail = state.waiting or state.terminated
            what = f"{type(detail).__name__} {detail.reason or ''} {detail.message or ''}" if (
                detail) else "running"  # fmt: skip
            lines.append(f"  container {container.name}: {what.strip()}, "
                         f"{container.restart_count} restarts")  # fmt: skip
            for previous in (False, True) if container.restart_count else (False,):
                with contextlib.suppress(Exception):
                    log = core.read_namespaced_pod_log(
                        pod.metadata.name, namespace, container=container.name,
                        tail_lines=log_lines, previous=previous,
                    )  # fmt: skip
                    heading = "previous run's log" if previous else "log"
                    lines += [f"  {heading}:", *(f"    {line}" for line in log.splitlines())]
    if not pods:
        lines.append(f"no pod in {namespace} matches {selector}")
    for event in events[-10:]:
        involved = f"{event.involved_object.kind}/{event.involved_object.name}"
        lines.append(f"event {involved}: {event.reason}: {event.message}")
    return "\n".join(lines)


def dns_manifests() -> list[dict[str, Any]]:
    """CoreDNS as the cluster DNS: a real pod on a real node, behind the kube-dns Service."""
    labels = {"k8s-app": "kube-dns"}
    meta = {"namespace": "kube-system", "labels": labels}
    rules = [
        {
            "apiGroups": [""],
            "resources": ["endpoints", "services", "pods", "namespaces"],
            "verbs": ["list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        },
    ]
    pod_spec = {
        "serviceAccountName": "coredns",
        "nodeSelector": {REAL_NODE_LABEL: "true"},
        "tolerations": [{"key": REAL_NODE_LABEL, "operator": "Exists", "effect": "NoSchedule"}],
        "dnsPolicy": "Default",
        "containers": [
            {
                "name": "coredns",
                "image": images.COREDNS,
                "imagePullPolicy": "Never",
                "ports": [
                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                ],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": 8181}},
            }
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "coredns", "namespace": "kube-system"},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "netsched:coredns"},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "netsched:coredns"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "netsched:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "coredns", **meta},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", **meta},
            "spec": {
                "clusterIP": CLUSTER_DNS,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                ],
            },
        },
    ]
