"""Ring order: which node each rank of a gang runs on, so the ring leaves each domain once.

NCCL builds its ring (and a pipeline its chain) in rank order. If the ranks of one
leaf are not adjacent, the ring leaves and re-enters the leaf, and its uplink
carries the ring twice. Every strategy therefore turns the pods it chose per host
into ranks with :func:`ring_order`, and the cost model costs exactly that order.
"""

from __future__ import annotations

from collections.abc import Iterable

from netsched.domain.topology import ClusterSnapshot


def ring_order(snapshot: ClusterSnapshot, shares: Iterable[tuple[int, int]]) -> list[str]:
    """Node per rank for ``(host, pods)`` shares: hosts in path order, a host's pods adjacent.

    Hosts are numbered depth-first in path order, so sorting by host index keeps the
    ranks of every domain contiguous: a ring (or a chain) over them leaves each
    domain once. Shares of the same host are merged.
    """
    pods: dict[int, int] = {}
    for host, count in shares:
        pods[host] = pods.get(host, 0) + count
    nodes = snapshot.nodes
    return [nodes[host].name for host in sorted(pods) for _ in range(pods[host])]
