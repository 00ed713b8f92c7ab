"""The real nodes' network: a network namespace per node, joined by switches that mirror tiers.

::

                         host (kube-apiserver)           10.10.0.254, routes to every pod subnet
                               │ (unshaped)
          ┌────────────── spine bridge ─────────────────────────┐   in the fabric namespace
     uplink│200 Mbit/s               uplink│200 Mbit/s    uplink│  (``--degrade LEAF=RATE``)
       leaf bridge 0                 leaf bridge 1       leaf bridge 2 ...
      1 Gbit/s│      │1 Gbit/s       1 Gbit/s│            1 Gbit/s│
          node 1   node 2                node 3               node 4     one namespace each
     10.10.0.1    10.10.0.2           10.10.0.3            10.10.0.4     eth0: the node's address
     pods 10.244.1.0/24 10.244.2.0/24 10.244.3.0/24        10.244.4.0/24 (a bridge CNI inside)

Nodes 1 and 2 share leaf 0; every later node has a leaf of its own (:func:`leaf_of`).

Every link is a veth pair shaped with ``tc`` HTB in both directions, so traffic between
two nodes under one leaf runs at the host rate and traffic between leaves at the uplink
rate: the NetworkTopology's nominal rates, scaled down to what one machine can carry.
Nodes route each other's pod subnets through their eth0 (one L2 segment, like a fabric
with a routed underlay).

All names start with a prefix unique to the cluster's run directory, so that ``down``
(and the next ``up`` after a SIGKILL) can find and remove everything this made.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netsched.devcluster.failures import ComponentError

FABRIC_SUBNET = "10.10.0"
"""The nodes' addresses: ``10.10.0.<n>`` for node n (1-based), the host ``.254``."""
HOST_ADDRESS = f"{FABRIC_SUBNET}.254"
POD_SUBNET = "10.244"
"""Node n's pods: ``10.244.<n>.0/24``."""
HOST_RATE = "1gbit"
"""A node's link to its leaf (a 400 Gbit/s host link, scaled down)."""
UPLINK_RATE = "200mbit"
"""A leaf's link to the spine (the leaf uplink, scaled down)."""


def leaf_of(index: int) -> int:
    """Real node ``index``'s leaf (both 1-based and 0-based as in :class:`Node`): the first
    leaf holds nodes 1 and 2 (traffic inside a leaf), every later node has a leaf of its
    own (so a placement across leaves can choose which uplinks it crosses)."""
    return max(0, index - 2)


def prefix_for(run_dir: Path) -> str:
    """A short prefix unique to ``run_dir`` (interface names allow 15 characters)."""
    return "rn" + hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:4]


@dataclass(frozen=True, slots=True)
class Node:
    """One real node's place in the fabric."""

    index: int  # 1-based
    leaf: int  # 0-based
    prefix: str

    @property
    def name(self) -> str:
        return f"real-{self.index}"

    @property
    def netns(self) -> str:
        return f"{self.prefix}-n{self.index}"

    @property
    def address(self) -> str:
        return f"{FABRIC_SUBNET}.{self.index}"

    @property
    def pod_cidr(self) -> str:
        return f"{POD_SUBNET}.{self.index}.0/24"

    @property
    def pod_gateway(self) -> str:
        return f"{POD_SUBNET}.{self.index}.1"

    @property
    def port(self) -> str:
        """The fabric side of the node's link (on its leaf bridge)."""
        return f"{self.prefix}p{self.index}"


@dataclass(frozen=True, slots=True)
class Fabric:
    """The plan: which node sits under which leaf, and every name and rate."""

    prefix: str
    nodes: tuple[Node, ...]
    degraded: dict[int, str] = field(default_factory=dict)

    @classmethod
    def plan(cls, count: int, *, prefix: str, degraded: dict[int, str] | None = None) -> Fabric:
        if not 1 <= count <= 200:
            raise ValueError(f"--real-nodes must be between 1 and 200, got {count}")
        nodes = tuple(Node(i, leaf_of(i), prefix) for i in range(1, count + 1))
        leaves = {n.leaf for n in nodes}
        for leaf in degraded or {}:
            if leaf not in leaves:
                raise ValueError(
                    f"--degrade names leaf {leaf}, but the real nodes have leaves "
                    f"{sorted(leaves)}: use one of them"
                )
        return cls(prefix, nodes, dict(degraded or {}))

    @property
    def netns(self) -> str:
        return f"{self.prefix}-fab"

    @property
    def leaves(self) -> list[int]:
        return sorted({n.leaf for n in self.nodes})

    def uplink_rate(self, leaf: int) -> str:
        return self.degraded.get(leaf, UPLINK_RATE)

    @property
    def host_link(self) -> str:
        return f"{self.prefix}h"


def parse_degrade(values: Sequence[str]) -> dict[int, str]:
    """``["1=50mbit"]`` -> ``{1: "50mbit"}``; the rate in tc's units."""
    degraded = {}
    for value in values:
        leaf, _, rate = value.partition("=")
        if not leaf.isdigit() or not rate or not rate[0].isdigit():
            raise ValueError(
                f"--degrade {value!r}: write LEAF=RATE, a leaf number and a tc rate "
                "(say --degrade 1=50mbit)"
            )
        degraded[int(leaf)] = rate
    return degraded


# --- making and removing it ---------------------------------------------------------------------


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One ``ip``/``tc``/``sysctl`` command; a failure names the command and its output."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise ComponentError(
            component="real-node fabric",
            what=f"`{' '.join(command)}` failed (exit {result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}",
            remedy="real nodes need root, iproute2 and the veth, bridge and HTB kernel "
            "modules; run `netsched dev-cluster down` to clear a half-made fabric",
        )
    return result


def _shape(netns: str | None, device: str, rate: str) -> None:
    """HTB on ``device``'s egress: one class at ``rate``, everything in it."""
    where = ["-n", netns] if netns else []
    run("tc", *where, "qdisc", "replace", "dev", device, "root", "handle", "1:", "htb",
        "default", "10")  # fmt: skip
    _rate(netns, device, rate)


def _rate(netns: str | None, device: str, rate: str) -> None:
    """Set the rate of ``device``'s HTB class (made by :func:`_shape`)."""
    where = ["-n", netns] if netns else []
    run("tc", *where, "class", "replace", "dev", device, "parent", "1:", "classid", "1:10",
        "htb", "rate", rate, "ceil", rate)  # fmt: skip


def _veth(inner: str, inner_ns: str, outer: str, outer_ns: str, *, temporary: str) -> None:
    """A veth pair: ``inner`` in ``inner_ns`` and ``outer`` in ``outer_ns``, both up.

    The pair is made in the host under ``temporary`` (the host has an ``eth0`` of its own)
    and renamed once it is in its namespace.
    """
    run("ip", "link", "add", temporary, "type", "veth", "peer", "name", outer)
    run("ip", "link", "set", temporary, "netns", inner_ns)
    run("ip", "-n", inner_ns, "link", "set", temporary, "name", inner)
    run("ip", "link", "set", outer, "netns", outer_ns)
    run("ip", "-n", inner_ns, "link", "set", inner, "up")
    run("ip", "-n", outer_ns, "link", "set", outer, "up")


def create(fabric: Fabric) -> None:
    """Make the namespaces, bridges, links, shaping, addresses and routes."""
    fab = fabric.netns
    run("ip", "netns", "add", fab)
    run("ip", "-n", fab, "link", "set", "lo", "up")
    run("ip", "-n", fab, "link", "add", "spine", "type", "bridge")
    run("ip", "-n", fab, "link", "set", "spine", "up")
    for leaf in fabric.leaves:
        bridge = f"leaf{leaf}"
        run("ip", "-n", fab, "link", "add", bridge, "type", "bridge")
        run("ip", "-n", fab, "link", "set", bridge, "up")
        up, down = f"up{leaf}", f"dn{leaf}"
        run("ip", "-n", fab, "link", "add", up, "type", "veth", "peer", "name", down)
        run("ip", "-n", fab, "link", "set", up, "master", bridge, "up")
        run("ip", "-n", fab, "link", "set", down, "master", "spine", "up")
        _shape(fab, up, fabric.uplink_rate(leaf))  # leaf -> spine
        _shape(fab, down, fabric.uplink_rate(leaf))  # spine -> leaf
    for node in fabric.nodes:
        run("ip", "netns", "add", node.netns)
        run("ip", "-n", node.netns, "link", "set", "lo", "up")
        _veth("eth0", node.netns, node.port, fab, temporary=f"{fabric.prefix}t{node.index}")
        run("ip", "-n", fab, "link", "set", node.port, "master", f"leaf{node.leaf}")
        run("ip", "-n", node.netns, "addr", "add", f"{node.address}/24", "dev", "eth0")
        _shape(node.netns, "eth0", HOST_RATE)  # node -> leaf
        _shape(fab, node.port, HOST_RATE)  # leaf -> node
        run("ip", "netns", "exec", node.netns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    # The host's way in: for the API server's calls to kubelets, and to reach pods.
    run("ip", "link", "add", fabric.host_link, "type", "veth", "peer", "name", "host")
    run("ip", "link", "set", "host", "netns", fab)
    run("ip", "-n", fab, "link", "set", "host", "master", "spine", "up")
    run("ip", "addr", "add", f"{HOST_ADDRESS}/24", "dev", fabric.host_link)
    run("ip", "link", "set", fabric.host_link, "up")
    for node in fabric.nodes:
        # The host is every node's gateway: host-network pods reach ClusterIPs through it
        # (a local packet needs a route before kube-proxy's DNAT rewrites its destination).
        run("ip", "-n", node.netns, "route", "replace", "default", "via", HOST_ADDRESS)
        run("ip", "route", "replace", node.pod_cidr, "via", node.address)
        for other in fabric.nodes:
            if other != node:
                run(
                    "ip", "-n", node.netns, "route", "replace", other.pod_cidr, "via", other.address
                )


def set_uplink_rate(prefix: str, leaf: int, rate: str = UPLINK_RATE) -> None:
    """Shape one leaf's uplink (both directions) to ``rate`` now, on the running fabric
    (``UPLINK_RATE`` restores it).

    Raises:
        ValueError: the fabric has no such leaf.
    """
    netns = f"{prefix}-fab"
    if run("ip", "-n", netns, "link", "show", f"up{leaf}", check=False).returncode != 0:
        raise ValueError(f"the real nodes' fabric {netns} has no leaf {leaf}")
    _rate(netns, f"up{leaf}", rate)
    _rate(netns, f"dn{leaf}", rate)


def remove(prefix: str) -> list[str]:
    """Delete every namespace, host link and route with ``prefix``; returns what went."""
    gone = []
    listed = run("ip", "netns", "list", check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ")[0]
        if name.startswith(f"{prefix}-"):
            run("ip", "netns", "del", name, check=False)
            gone.append(name)
    host_link = f"{prefix}h"
    if run("ip", "link", "show", host_link, check=False).returncode == 0:
        run("ip", "link", "del", host_link, check=False)  # its routes go with it
        gone.append(host_link)
    return gone
