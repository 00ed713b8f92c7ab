"""The frozen snapshot a placement reads: the switch tree, free GPUs, running traffic.

A cluster's network is a tree of switches (see :mod:`netsched.domain.fabric`): every
level of a :class:`~netsched.domain.scheme.TopologyScheme` turns each distinct label
value *under its parent* into one **domain**, every node is a domain of its own at
the bottom, and a domain's id is its path (``"core-a/spine-1/leaf-3"``), so a leaf
called ``leaf-3`` under two spines is two domains, as it is two racks.

Every domain but the widest has an **uplink** to its parent. Its bandwidth is the
level's nominal ``uplink_gbps`` (``host_gbps`` for hosts) unless the probes measured
it (a :class:`~netsched.domain.bandwidth.BandwidthEstimate`). The widest
level has no parent. When it has several domains (two zones, two blocks), each has
a link to the others, the interconnect, at the scheme's
:attr:`~netsched.domain.scheme.TopologyScheme.interconnect_gbps`: a gang too large
for any one of them is split over several (:func:`~netsched.domain.outcome.split_over_domains`)
and its bytes between them cross it. With one widest-level domain there is no
such link.

An uplink is shared: every running gang whose traffic crosses it takes a fair
share. The snapshot counts those gangs per uplink, and
:meth:`ClusterSnapshot.effective_gbps` is the one bandwidth the whole engine reads
(the cost model, every bandwidth-aware strategy, the exact MILP); see
:mod:`netsched.domain.cost` for the model and its sources.

:class:`ClusterSnapshot` is immutable. Placement strategies read it; replaying a
stream of jobs takes and releases GPUs, and the uplinks each gang crosses, with
:meth:`ClusterSnapshot.with_allocation` and :meth:`ClusterSnapshot.without_allocation`,
which share the switch tree and copy only the counts.

Node sources for tests, benchmarks and the dev cluster live in
:mod:`netsched.domain.topology_sources`; switches and samples in
:mod:`netsched.domain.fabric`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from netsched.domain.bandwidth import NO_MEASUREMENTS, BandwidthEstimate, apply_bandwidth
from netsched.domain.fabric import Domain, Fabric, build_fabric
from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import TopologyScheme

if TYPE_CHECKING:
    import networkx as nx

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class ClusterSnapshot:
    """A frozen view of the switch tree, free GPUs and running traffic, for placement.

    Hosts are the first ``host_count`` domains, numbered depth-first in path order:
    sorting hosts by index walks the tree so that every domain's hosts are adjacent,
    which is what a ring that leaves each domain once needs.

    Attributes:
        free: free GPUs per domain index (a host's own; a switch's sum over its hosts).
        excluded: node name -> why the node takes no part (not ready, cordoned,
            missing a tier label). Never silently dropped.
        missing_labels: node name -> the scheme's label keys it lacks, for the nodes
            excluded for that reason (so explanations can name the label to set).
        flows: running gangs whose traffic crosses each domain's uplink, per domain
            index; empty when no gang runs (every count zero).
        unmatched_flows: running traffic named on an unknown domain, or on one without
            an uplink (the widest level), ignored.
    """

    _fabric: Fabric
    free: tuple[int, ...]
    excluded: Mapping[str, str]
    missing_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    flows: tuple[int, ...] = ()
    unmatched_flows: int = 0

    @property
    def scheme(self) -> TopologyScheme:
        return self._fabric.scheme

    @property
    def fabric(self) -> Fabric:
        """The switch tree with its measured links, shared by every copy."""
        return self._fabric

    @property
    def domains(self) -> tuple[Domain, ...]:
        return self._fabric.domains

    @property
    def nodes(self) -> tuple[NodeInfo, ...]:
        """The schedulable nodes, in host-index order."""
        return self._fabric.nodes

    @property
    def host_count(self) -> int:
        return len(self._fabric.nodes)

    def host_index(self, node: str) -> int:
        """The host index of a schedulable node.

        Raises:
            KeyError: the node is unknown or excluded (see :attr:`excluded`).
        """
        return self._fabric.host_index[node]

    def ancestors(self, host: int) -> tuple[int, ...]:
        """Domain indices from the host itself up to its widest-level domain."""
        return self._fabric.ancestors[host]

    def tier_domains(self, tier_rank: int) -> tuple[int, ...]:
        """Indices of every domain of one tier (0 = hosts), in path order."""
        return self._fabric.by_tier[tier_rank]

    @property
    def degraded(self) -> tuple[int, ...]:
        """Domains whose uplink is measured degraded (below the NetworkTopology's share of
        nominal), slowest first."""
        return self._fabric.degraded

    @property
    def interconnected(self) -> bool:
        """Whether there are several widest-level domains, joined by an interconnect a gang
        split over them crosses (see :class:`~netsched.domain.fabric.Domain`)."""
        return bool(self.domains) and self.domains[-1].uplink_gbps is not None

    @property
    def utilisation(self) -> float:
        """The share of the hosts' GPUs in use (0 on an empty cluster, 1 when full).

        Read on every placement of a busy cluster, so it sums the few widest-level
        domains' free GPUs, never the hosts'.
        """
        total = self._fabric.gpus
        free = sum(self.free[d] for d in self._fabric.by_tier[-1])
        return 1 - free / total if total else 0.0

    def free_gpus(self, node: str) -> int:
        return self.free[self.host_index(node)]

    def domain_index(self, domain_id: str) -> int:
        """The index of the domain with this id (a host's id is its node name).

        Raises:
            KeyError: no domain has this id.
        """
        return self._fabric.domain_index[domain_id]

    def crossing_gangs(self, domain: int) -> int:
        """How many running gangs' traffic crosses ``domain``'s uplink."""
        return self.flows[domain] if self.flows else 0

    def effective_gbps(self, domain: int) -> float | None:
        """The share of ``domain``'s uplink a new gang gets: bandwidth / (1 + crossing gangs).

        The bandwidth is the measured one when fresh, else nominal; None for the
        widest level, which has no uplink. See :mod:`netsched.domain.cost`.
        """
        gbps = self._fabric.domains[domain].uplink_gbps
        if gbps is None or not self.flows:
            return gbps
        return gbps / (1 + self.flows[domain])

    def with_allocation(
        self, gpus_by_node: Mapping[str, int], *, links: Iterable[str] = ()
    ) -> ClusterSnapshot:
        """A copy with ``gpus_by_node`` GPUs taken and one more gang crossing ``links``.

        ``links`` are the ids of the domains whose uplinks the new gang's traffic
        crosses (:attr:`netsched.domain.cost.Cost.crossed_uplinks`).

        Raises:
            ValueError: a node has fewer free GPUs than asked for, or a link has no
                uplink (the widest level).
            KeyError: a node is unknown or excluded, or a link names no domain.
        """
        return self._shifted(gpus_by_node, links, sign=-1)

    def without_allocation(
        self, gpus_by_node: Mapping[str, int], *, links: Iterable[str] = ()
    ) -> ClusterSnapshot:
        """A copy with ``gpus_by_node`` GPUs given back and one gang fewer on ``links``.

        Raises:
            ValueError: a node would have more free GPUs than it has allocatable, or a
                link would carry fewer than zero gangs.
            KeyError: a node is unknown or excluded, or a link names no domain.
        """
        return self._shifted(gpus_by_node, links, sign=+1)

    def _shifted(
        self, gpus_by_node: Mapping[str, int], links: Iterable[str], *, sign: int
    ) -> ClusterSnapshot:
        free = list(self.free)
        for node, gpus in gpus_by_node.items():
            host = self.host_index(node)
            after = free[host] + sign * gpus
            if not 0 <= after <= self.nodes[host].allocatable_gpus:
                verb = "take" if sign < 0 else "give back"
                raise ValueError(
                    f"node {node} has {free[host]} free GPUs of "
                    f"{self.nodes[host].allocatable_gpus}; cannot {verb} {gpus}"
                )
            for domain in self.ancestors(host):
                free[domain] += sign * gpus
        return ClusterSnapshot(
            _fabric=self._fabric,
            free=tuple(free),
            excluded=self.excluded,
            missing_labels=self.missing_labels,
            flows=self._flows_shifted(links, sign=-sign),
            unmatched_flows=self.unmatched_flows,
        )

    def _flows_shifted(self, links: Iterable[str], *, sign: int) -> tuple[int, ...]:
        named = list(links)
        if not named:
            return self.flows
        flows = list(self.flows) if self.flows else [0] * len(self.domains)
        for link in named:
            index = self.domain_index(link)
            if self.domains[index].uplink_gbps is None:
                raise ValueError(f"{link} has no uplink; no gang's traffic can cross it")
            if flows[index] + sign < 0:
                raise ValueError(f"no running gang crosses the uplink of {link}")
            flows[index] += sign
        return tuple(flows) if any(flows) else ()

    def to_networkx(self) -> nx.Graph:
        """The switch tree as a networkx graph, for drawing and ad-hoc analysis.

        Nodes are domain ids with ``tier`` and ``free_gpus`` attributes; each edge is
        an uplink with ``gbps``, ``measured`` and ``gangs`` (running gangs crossing
        it) attributes. Placement never uses it.
        """
        import networkx as nx

        graph = nx.Graph()
        for domain in self.domains:
            graph.add_node(domain.id, tier=domain.tier, free_gpus=self.free[domain.index])
        for domain in self.domains:
            if domain.parent is not None:
                graph.add_edge(
                    domain.id,
                    self.domains[domain.parent].id,
                    gbps=domain.uplink_gbps,
                    measured=domain.measured,
                    gangs=self.crossing_gangs(domain.index),
                )
        return graph


def build_snapshot(
    *,
    nodes: Iterable[NodeInfo],
    scheme: TopologyScheme,
    used_gpus: Mapping[str, int] = _EMPTY,
    reserved: Mapping[str, int] = _EMPTY,
    bandwidth: BandwidthEstimate = NO_MEASUREMENTS,
    flows: Mapping[str, int] = _EMPTY,
    refused: Mapping[str, str] = MappingProxyType({}),
) -> ClusterSnapshot:
    """Build the frozen view one placement decision (or a replayed job stream) reads.

    ``refused`` names nodes this job's pods may not use and why (its nodeSelector, a
    taint it does not tolerate): they are excluded with that reason.

    Args:
        nodes: every node of the cluster; those not ready, cordoned or missing a tier
            label are excluded with a reason in :attr:`ClusterSnapshot.excluded`.
        scheme: the tier levels and their nominal bandwidths.
        used_gpus: GPUs requested by pods already bound to each node.
        reserved: GPUs promised to placements whose pods have not bound yet.
        bandwidth: the measured links (:func:`~netsched.domain.bandwidth.estimate_bandwidth`
            of the probes' samples, made when they change, not per decision); the others
            keep their nominal rate.
        flows: domain id -> running gangs whose traffic crosses its uplink (a host's
            id is its node name). Ids of unknown or excluded domains, and of the widest
            level, are counted in :attr:`ClusterSnapshot.unmatched_flows` and ignored.

    Free GPUs per node are ``allocatable - used - reserved``, never below zero (a
    node over-committed by someone else simply has nothing free).

    Raises:
        ValueError: two nodes share a name, or a flow count is negative.
    """
    included, excluded, missing_labels = _partition(list(nodes), scheme, refused)
    fabric = _FABRICS.build(included, scheme, bandwidth)
    free = _count_free(fabric, used_gpus=used_gpus, reserved=reserved)
    counts, unmatched_flows = _count_flows(fabric, flows)
    return ClusterSnapshot(
        _fabric=fabric,
        free=free,
        excluded=MappingProxyType(excluded),
        missing_labels=MappingProxyType(missing_labels),
        flows=counts,
        unmatched_flows=unmatched_flows,
    )


class _LastFabric:
    """The last fabric built, reused while the same node rows, scheme and bandwidth come again.

    An operator builds a snapshot on every cycle from node rows that rarely change;
    only the GPU counts do, and they are not part of the fabric. A row is compared by
    identity first (the cache holds the rows, so an identity is never reused meanwhile),
    then by equality: a node's heartbeat makes a new row equal to the last one, and on a
    cluster of a thousand nodes one comes every second or so. The bandwidth estimate is
    compared by identity, the scheme by equality; the fabric is immutable, so sharing it
    is safe.
    """

    def __init__(self) -> None:
        self._nodes: tuple[NodeInfo, ...] = ()
        self._scheme: TopologyScheme | None = None
        self._fabric: Fabric | None = None
        self._bandwidth: BandwidthEstimate | None = None
        self._measured: Fabric | None = None

    def build(
        self, nodes: list[NodeInfo], scheme: TopologyScheme, bandwidth: BandwidthEstimate
    ) -> Fabric:
        same = (
            self._fabric is not None
            and self._scheme == scheme
            and len(nodes) == len(self._nodes)
            and all(a is b or a == b for a, b in zip(nodes, self._nodes, strict=True))
        )
        self._nodes, self._scheme = tuple(nodes), scheme
        if not same or self._fabric is None:
            self._fabric = build_fabric(nodes, scheme)
            self._measured = None
        if self._measured is None or bandwidth is not self._bandwidth:
            self._bandwidth = bandwidth
            self._measured = apply_bandwidth(self._fabric, bandwidth)
        return self._measured


_FABRICS = _LastFabric()


def _partition(
    nodes: list[NodeInfo], scheme: TopologyScheme, refused: Mapping[str, str]
) -> tuple[list[NodeInfo], dict[str, str], dict[str, tuple[str, ...]]]:
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"node names must be unique; repeated: {', '.join(duplicates[:5])}")
    included: list[NodeInfo] = []
    excluded: dict[str, str] = {}
    unlabelled: dict[str, tuple[str, ...]] = {}
    for node in nodes:
        missing = tuple(lv.label_key for lv in scheme.levels if not node.labels.get(lv.label_key))
        if missing:
            excluded[node.name] = f"missing tier label {', '.join(missing)}"
            unlabelled[node.name] = missing
        elif not node.ready:
            excluded[node.name] = "not Ready"
        elif node.unschedulable:
            excluded[node.name] = "cordoned (spec.unschedulable)"
        elif node.name in refused:
            excluded[node.name] = refused[node.name]
        else:
            included.append(node)
    return included, excluded, unlabelled


def _count_free(
    fabric: Fabric, *, used_gpus: Mapping[str, int], reserved: Mapping[str, int]
) -> tuple[int, ...]:
    free = [0] * len(fabric.domains)
    for host, node in enumerate(fabric.nodes):
        taken = used_gpus.get(node.name, 0) + reserved.get(node.name, 0)
        gpus = max(0, node.allocatable_gpus - taken)
        for domain in fabric.ancestors[host]:
            free[domain] += gpus
    return tuple(free)


def _count_flows(fabric: Fabric, flows: Mapping[str, int]) -> tuple[tuple[int, ...], int]:
    counts = [0] * len(fabric.domains)
    unmatched = 0
    for domain_id, gangs in flows.items():
        if gangs < 0:
            raise ValueError(f"flows[{domain_id!r}] must not be negative, got {gangs}")
        index = fabric.domain_index.get(domain_id)
        if index is None or fabric.domains[index].uplink_gbps is None:
            unmatched += 1
            continue
        counts[index] += gangs
    return (tuple(counts) if any(counts) else ()), unmatched
