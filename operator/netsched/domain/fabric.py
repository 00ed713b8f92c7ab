"""The switch tree and its measured uplinks: what GPU allocations never change.

Every level of a :class:`~netsched.domain.scheme.TopologyScheme` (``core > spine >
leaf``) turns each distinct label value *under its parent* into one
:class:`Domain`; every node is a domain of its own at the bottom (the host tier).
:func:`build_fabric` numbers them; :func:`netsched.domain.bandwidth.apply_bandwidth`
replaces nominal uplink bandwidth by what the probes measured. A
:class:`~netsched.domain.topology.ClusterSnapshot` shares one :class:`Fabric`
between all its copies and adds what placements do change: free GPUs and the
other gangs' traffic on each uplink.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import HOST_TIER, TopologyScheme


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

    def __post_init__(self) -> None:
        """Refuse a sample without bandwidth: a probe that moved nothing measured no link.

        Raises:
            ValueError: ``gbps`` is not positive.
        """
        if not self.gbps > 0:
            raise ValueError(
                f"{self.source} -> {self.target}: gbps must be positive, got {self.gbps}"
            )


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
            else nominal). For the widest level: the interconnect to the other
            widest-level domains when there are several
            (:attr:`~netsched.domain.scheme.TopologyScheme.interconnect_gbps`), else
            None. What a new gang gets of it depends on the running gangs: see
            ``ClusterSnapshot.effective_gbps``.
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
class Fabric:
    """The part of a snapshot that GPU allocations never change, shared between copies."""

    scheme: TopologyScheme
    domains: tuple[Domain, ...]
    nodes: tuple[NodeInfo, ...]
    host_index: Mapping[str, int]
    domain_index: Mapping[str, int]
    ancestors: tuple[tuple[int, ...], ...]
    by_tier: tuple[tuple[int, ...], ...]
    degraded: tuple[int, ...] = ()
    gpus: int = 0
    """Allocatable GPUs of every host, summed."""


def _path(node: NodeInfo, scheme: TopologyScheme) -> tuple[str, ...]:
    return tuple(node.labels[level.label_key] for level in scheme.levels)


def build_fabric(nodes: list[NodeInfo], scheme: TopologyScheme) -> Fabric:
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

    joined = len(paths_by_tier[-1]) > 1 if paths_by_tier else False

    def nominal(rank: int) -> float | None:
        """A domain's uplink Gbps; a widest-level one's reaches the other widest-level
        domains (the interconnect), when there are several."""
        if rank == 0:
            return scheme.host_gbps
        if rank == depth:
            return scheme.interconnect_gbps if joined else None
        return scheme.levels[depth - rank].uplink_gbps

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
    return Fabric(
        scheme=scheme,
        domains=tuple(domains),
        nodes=tuple(ordered),
        host_index=MappingProxyType({n.name: i for i, n in enumerate(ordered)}),
        # Hosts win a clash of ids (a node named like a core): only they have uplinks then.
        domain_index=MappingProxyType({d.id: d.index for d in reversed(domains)}),
        ancestors=tuple(_chain(domains, host) for host in range(len(ordered))),
        by_tier=tuple(tuple(range(first_index[r], first_index[r + 1])) for r in range(depth + 1)),
        gpus=sum(node.allocatable_gpus for node in ordered),
    )


def _chain(domains: Sequence[Domain], host: int) -> tuple[int, ...]:
    chain = [host]
    while (parent := domains[chain[-1]].parent) is not None:
        chain.append(parent)
    return tuple(chain)
