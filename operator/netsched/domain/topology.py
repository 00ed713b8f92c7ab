"""The switch tree, its measured links, and the frozen snapshot a placement reads.

A cluster's network is a tree of switches. Every level of a
:class:`~netsched.domain.scheme.TopologyScheme` (``core > spine > leaf``) turns
each distinct label value *under its parent* into one **domain**; every node is
a domain of its own at the bottom (the host tier). A domain's id is its path
(``"core-a/spine-1/leaf-3"``), so a leaf called ``leaf-3`` under two spines is two
domains, as it is two racks.

Every domain but the widest has an **uplink** to its parent. Its bandwidth is the
level's nominal ``uplink_gbps`` (``host_gbps`` for hosts) unless fresh
:class:`LinkSample`\\ s say otherwise (see :func:`build_snapshot`). The widest
level has no uplink: two domains of it (two cores) share no link we can cost,
so no gang ever spans them.

:class:`ClusterSnapshot` is immutable. Placement strategies read it; replaying a
stream of jobs takes and releases GPUs with :meth:`ClusterSnapshot.with_allocation`
and :meth:`ClusterSnapshot.without_allocation`, which share the switch tree and
copy only the free-GPU counts.

Node sources for tests, benchmarks and the dev cluster live in
:mod:`netsched.domain.topology_sources` and are re-exported here.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING

from netsched.domain.nodes import NodeInfo, node_labels, sanitize_label_value
from netsched.domain.scheme import HOST_TIER, TopologyScheme

if TYPE_CHECKING:
    import networkx as nx

_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LinkSample:
    """One bandwidth measurement between two nodes, as the probe agent reports it.

    Attributes:
        source: the sending node.
        target: the receiving node.
        level: the tier whose uplinks the path crosses (``"leaf"`` for two nodes in
            different leaves of one spine; ``"host"`` for two nodes of one leaf).
        gbps: the bandwidth the probe achieved on the path, taken as the capacity of
            the crossed uplinks (the probe saturates the path with parallel streams).
        observed_at: when the sample was taken.
    """

    source: str
    target: str
    level: str
    gbps: float
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class Domain:
    """One switch's subtree (or one host) in a snapshot.

    Attributes:
        index: position in :attr:`ClusterSnapshot.domains`.
        id: the path of label values (``"core-a/spine-1/leaf-3"``); a host's id is its
            node name.
        tier: the tier's name (``"leaf"``); ``"host"`` for nodes.
        tier_rank: 0 for hosts, growing towards the widest level.
        parent: index of the parent domain; None for the widest level.
        children: indices of the child domains, in path order.
        hosts: the host indices under this domain (hosts are numbered depth-first in
            path order, so every domain's hosts are one contiguous range).
        uplink_gbps: bandwidth of the uplink to the parent (measured when fresh,
            else nominal); None for the widest level.
        nominal_gbps: the scheme's nominal bandwidth for that uplink.
        samples: how many fresh measurements set ``uplink_gbps`` (0 means nominal).
    """

    index: int
    id: str
    tier: str
    tier_rank: int
    parent: int | None
    children: tuple[int, ...]
    hosts: range
    uplink_gbps: float | None
    nominal_gbps: float | None
    samples: int = 0

    @property
    def measured(self) -> bool:
        return self.samples > 0


@dataclass(frozen=True, slots=True, eq=False)
class _Fabric:
    """The part of a snapshot that GPU allocations never change, shared between copies."""

    scheme: TopologyScheme
    domains: tuple[Domain, ...]
    nodes: tuple[NodeInfo, ...]
    host_index: Mapping[str, int]
    ancestors: tuple[tuple[int, ...], ...]
    by_tier: tuple[tuple[int, ...], ...]
    degraded: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class ClusterSnapshot:
    """A frozen view of the switch tree and free GPUs, built for placement decisions.

    Hosts are the first ``host_count`` domains, numbered depth-first in path order:
    sorting hosts by index walks the tree so that every domain's hosts are adjacent,
    which is what a ring that leaves each domain once needs.

    Attributes:
        free: free GPUs per domain index (a host's own; a switch's sum over its hosts).
        excluded: node name -> why the node takes no part (not ready, cordoned,
            missing a tier label). Never silently dropped.
        stale_samples: measurements ignored because they were older than the TTL.
        unmatched_samples: measurements naming an unknown node or tier, ignored.
    """

    _fabric: _Fabric
    free: tuple[int, ...]
    excluded: Mapping[str, str]
    stale_samples: int = 0
    unmatched_samples: int = 0

    @property
    def scheme(self) -> TopologyScheme:
        return self._fabric.scheme

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
        """Domains whose uplink is measured below nominal, slowest first."""
        return self._fabric.degraded

    def free_gpus(self, node: str) -> int:
        return self.free[self.host_index(node)]

    def with_allocation(self, gpus_by_node: Mapping[str, int]) -> ClusterSnapshot:
        """A copy with ``gpus_by_node`` GPUs taken.

        Raises:
            ValueError: a node has fewer free GPUs than asked for.
            KeyError: a node is unknown or excluded.
        """
        return self._shifted(gpus_by_node, sign=-1)

    def without_allocation(self, gpus_by_node: Mapping[str, int]) -> ClusterSnapshot:
        """A copy with ``gpus_by_node`` GPUs given back (a job finished).

        Raises:
            ValueError: a node would have more free GPUs than it has allocatable.
            KeyError: a node is unknown or excluded.
        """
        return self._shifted(gpus_by_node, sign=+1)

    def _shifted(self, gpus_by_node: Mapping[str, int], *, sign: int) -> ClusterSnapshot:
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
            stale_samples=self.stale_samples,
            unmatched_samples=self.unmatched_samples,
        )

    def to_networkx(self) -> nx.Graph:
        """The switch tree as a networkx graph, for drawing and ad-hoc analysis.

        Nodes are domain ids with ``tier`` and ``free_gpus`` attributes; each edge is
        an uplink with ``gbps`` and ``measured`` attributes. Placement never uses it.
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
                )
        return graph


def build_snapshot(
    *,
    nodes: Iterable[NodeInfo],
    scheme: TopologyScheme,
    used_gpus: Mapping[str, int] = _EMPTY,
    reserved: Mapping[str, int] = _EMPTY,
    measurements: Iterable[LinkSample] = (),
    now: datetime,
    measurement_ttl: timedelta,
) -> ClusterSnapshot:
    """Build the frozen view one placement decision (or a replayed job stream) reads.

    Args:
        nodes: every node of the cluster; those not ready, cordoned or missing a tier
            label are excluded with a reason in :attr:`ClusterSnapshot.excluded`.
        scheme: the tier levels and their nominal bandwidths.
        used_gpus: GPUs requested by pods already bound to each node.
        reserved: GPUs promised to placements whose pods have not bound yet.
        measurements: link samples; a sample counts if ``now - observed_at`` is at
            most ``measurement_ttl`` (samples from the future, i.e. clock skew, count).
        now: the decision time, passed in so that the function stays pure.
        measurement_ttl: how long a sample stays fresh.

    Free GPUs per node are ``allocatable - used - reserved``, never below zero (a
    node over-committed by someone else simply has nothing free).

    A domain's uplink bandwidth is the **median** of the fresh samples whose path
    crosses that level inside it (a sample at level ``leaf`` between nodes of
    leaves A and B counts for both A's and B's uplinks). The median, not the mean or
    the minimum: one probe starved of CPU should not condemn a healthy uplink, yet a
    truly degraded uplink drags down every path through it, so the median follows it.

    Raises:
        ValueError: two nodes share a name.
    """
    included, excluded = _partition(list(nodes), scheme)
    fabric = _build_fabric(included, scheme)
    free = _count_free(fabric, used_gpus=used_gpus, reserved=reserved)
    samples = list(measurements)
    fresh = [s for s in samples if now - s.observed_at <= measurement_ttl]
    fabric, unmatched = _apply_measurements(fabric, fresh)
    return ClusterSnapshot(
        _fabric=fabric,
        free=free,
        excluded=MappingProxyType(excluded),
        stale_samples=len(samples) - len(fresh),
        unmatched_samples=unmatched,
    )


def _partition(
    nodes: list[NodeInfo], scheme: TopologyScheme
) -> tuple[list[NodeInfo], dict[str, str]]:
    names = [node.name for node in nodes]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"node names must be unique; repeated: {', '.join(duplicates[:5])}")
    included: list[NodeInfo] = []
    excluded: dict[str, str] = {}
    for node in nodes:
        missing = [lv.label_key for lv in scheme.levels if not node.labels.get(lv.label_key)]
        if missing:
            excluded[node.name] = f"missing tier label {', '.join(missing)}"
        elif not node.ready:
            excluded[node.name] = "not Ready"
        elif node.unschedulable:
            excluded[node.name] = "cordoned (spec.unschedulable)"
        else:
            included.append(node)
    return included, excluded


def _path(node: NodeInfo, scheme: TopologyScheme) -> tuple[str, ...]:
    return tuple(node.labels[level.label_key] for level in scheme.levels)


def _build_fabric(nodes: list[NodeInfo], scheme: TopologyScheme) -> _Fabric:
    """Number hosts depth-first in path order, then add switches tier by tier upward."""
    depth = len(scheme.levels)
    ordered = sorted(nodes, key=lambda n: (_path(n, scheme), n.name))
    tiers = scheme.tier_names
    domains: list[Domain] = []
    # Switch paths per tier, narrowest first: a leaf's path has `depth` parts.
    paths_by_tier = [
        sorted({_path(n, scheme)[: depth - rank + 1] for n in ordered})
        for rank in range(1, depth + 1)
    ]
    first_index = [0, len(ordered)]
    for paths in paths_by_tier:
        first_index.append(first_index[-1] + len(paths))
    index_of = [
        {path: first_index[rank] + i for i, path in enumerate(paths)}
        for rank, paths in enumerate(paths_by_tier, start=1)
    ]

    def parent_of(path: tuple[str, ...], rank: int) -> int | None:
        return None if rank == depth else index_of[rank][path[:-1]]

    def nominal(rank: int) -> float | None:
        if rank == 0:
            return scheme.host_gbps
        return None if rank == depth else scheme.levels[depth - rank].uplink_gbps

    children: dict[int, list[int]] = defaultdict(list)
    for host, node in enumerate(ordered):
        children[index_of[0][_path(node, scheme)]].append(host)
    for rank in range(1, depth):
        for path, index in index_of[rank - 1].items():
            children[index_of[rank][path[:-1]]].append(index)

    hosts_of: dict[int, range] = {h: range(h, h + 1) for h in range(len(ordered))}
    for host, node in enumerate(ordered):
        domains.append(
            Domain(
                index=host,
                id=node.name,
                tier=HOST_TIER,
                tier_rank=0,
                parent=index_of[0][_path(node, scheme)],
                children=(),
                hosts=hosts_of[host],
                uplink_gbps=nominal(0),
                nominal_gbps=nominal(0),
            )
        )
    for rank, paths in enumerate(paths_by_tier, start=1):
        for path in paths:
            index = index_of[rank - 1][path]
            kids = tuple(children[index])
            hosts_of[index] = range(hosts_of[kids[0]].start, hosts_of[kids[-1]].stop)
            domains.append(
                Domain(
                    index=index,
                    id="/".join(path),
                    tier=tiers[rank],
                    tier_rank=rank,
                    parent=parent_of(path, rank),
                    children=kids,
                    hosts=hosts_of[index],
                    uplink_gbps=nominal(rank),
                    nominal_gbps=nominal(rank),
                )
            )
    return _Fabric(
        scheme=scheme,
        domains=tuple(domains),
        nodes=tuple(ordered),
        host_index=MappingProxyType({n.name: i for i, n in enumerate(ordered)}),
        ancestors=tuple(_chain(domains, host) for host in range(len(ordered))),
        by_tier=tuple(tuple(range(first_index[r], first_index[r + 1])) for r in range(depth + 1)),
    )


def _chain(domains: Sequence[Domain], host: int) -> tuple[int, ...]:
    chain = [host]
    while (parent := domains[chain[-1]].parent) is not None:
        chain.append(parent)
    return tuple(chain)


def _count_free(
    fabric: _Fabric, *, used_gpus: Mapping[str, int], reserved: Mapping[str, int]
) -> tuple[int, ...]:
    free = [0] * len(fabric.domains)
    for host, node in enumerate(fabric.nodes):
        taken = used_gpus.get(node.name, 0) + reserved.get(node.name, 0)
        gpus = max(0, node.allocatable_gpus - taken)
        for domain in fabric.ancestors[host]:
            free[domain] += gpus
    return tuple(free)


def _apply_measurements(fabric: _Fabric, fresh: list[LinkSample]) -> tuple[_Fabric, int]:
    """Replace nominal uplink bandwidth by the median of fresh samples crossing it."""
    tier_names = fabric.scheme.tier_names
    samples: dict[int, list[float]] = defaultdict(list)
    unmatched = 0
    for sample in fresh:
        hosts = [fabric.host_index.get(sample.source), fabric.host_index.get(sample.target)]
        if sample.level not in tier_names or None in hosts:
            unmatched += 1
            continue
        rank = tier_names.index(sample.level)
        crossed = {fabric.ancestors[h][rank] for h in hosts if h is not None}
        for domain in crossed:
            if fabric.domains[domain].parent is not None:
                samples[domain].append(sample.gbps)
    if not samples:
        return fabric, unmatched
    domains = list(fabric.domains)
    for index, values in samples.items():
        domains[index] = replace(
            domains[index], uplink_gbps=statistics.median(values), samples=len(values)
        )
    slow = sorted(
        (d.uplink_gbps or 0.0, d.index)
        for d in domains
        if d.measured and (d.uplink_gbps or 0.0) < (d.nominal_gbps or 0.0)
    )
    degraded = tuple(index for _, index in slow)
    return replace(fabric, domains=tuple(domains), degraded=degraded), unmatched


from netsched.domain.topology_sources import fat_tree, load_lingjun  # noqa: E402

__all__ = [
    "ClusterSnapshot",
    "Domain",
    "LinkSample",
    "NodeInfo",
    "build_snapshot",
    "fat_tree",
    "load_lingjun",
    "node_labels",
    "sanitize_label_value",
]
