"""Rank order: which node each rank of a gang runs on, so its ring or chain leaves each domain once.

NCCL builds its ring (and a pipeline its chain) in rank order. If the ranks of one
leaf are not adjacent, the ring leaves and re-enters the leaf, and its uplink
carries the ring twice. Every strategy therefore turns the pods it chose per host
into ranks with :func:`ring_order`, and the cost model costs exactly that order.

A ring has no ends. A chain has two, and under the duplex model of
:mod:`netsched.domain.traffic` a domain holding one of them carries the chain once
each way, while a domain the chain passes through carries it twice. So a chain's
order starts and ends where that relief matters most: under the slowest uplinks
(:func:`chain_ends`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from netsched.domain.topology import ClusterSnapshot


def ring_order(
    snapshot: ClusterSnapshot,
    shares: Iterable[tuple[int, int]],
    *,
    chain: bool = False,
    ends: tuple[int, int] | None = None,
) -> list[str]:
    """Node per rank for ``(host, pods)`` shares: every domain's ranks contiguous.

    Hosts are numbered depth-first in path order, so sorting by host index keeps the
    ranks of every domain contiguous: a ring (or a chain) over them leaves each
    domain once. Shares of the same host are merged.

    A ``chain`` starts on host ``ends[0]`` and ends on host ``ends[1]``; without
    ``ends``, :func:`chain_ends` chooses them. The order stays depth-first: at each
    domain the child holding the first rank comes first, the one holding the last
    rank comes last, the others in path order between.

    Raises:
        ValueError: ``ends`` name a host without pods, or two hosts in one child of the
            gang's domain (no depth-first order can start and end there).
    """
    pods: dict[int, int] = {}
    for host, count in shares:
        pods[host] = pods.get(host, 0) + count
    nodes = snapshot.nodes
    hosts = sorted(pods)
    if chain and len(hosts) > 1:
        first, last = ends if ends is not None else chain_ends(snapshot, hosts)
        hosts = sorted(hosts, key=_depth_first_from(snapshot, hosts, first, last))
    return [nodes[host].name for host in hosts for _ in range(pods[host])]


def chain_ends(snapshot: ClusterSnapshot, hosts: list[int]) -> tuple[int, int]:
    """The hosts to start and end a chain over ``hosts`` (at least two, ascending) on.

    Every domain the chain splits carries it twice each way, except along the paths
    from its two ends up to the gang's domain, where it carries it once. So the ends
    go where the slowest uplinks are: greedy from the gang's domain down, the first
    rank goes under the child whose subtree holds the slowest uplink share on the
    gang's paths, the last rank under the next such child, and inside each, under
    the grandchild holding the slowest, down to a host. On equal shares the first
    rank stays on the first host in path order and the last on the last, as in a
    plain ring order.
    """
    top = _common_domain(snapshot, hosts[0], hosts[-1])
    slowest: dict[int, float] = {}  # domain -> slowest share on a path from a gang host
    for host in hosts:
        running = float("inf")
        for domain in snapshot.ancestors(host):
            if domain == top:
                break
            running = min(running, snapshot.effective_gbps(domain) or float("inf"))
            slowest[domain] = min(slowest.get(domain, running), running)
    children = [c for c in snapshot.domains[top].children if c in slowest]
    head = min(children, key=lambda c: (slowest[c], c))
    tail = min((c for c in children if c != head), key=lambda c: (slowest[c], -c))
    return _descend(snapshot, head, slowest, last=False), _descend(
        snapshot, tail, slowest, last=True
    )


def _descend(
    snapshot: ClusterSnapshot, domain: int, slowest: dict[int, float], *, last: bool
) -> int:
    sign = -1 if last else 1
    while snapshot.domains[domain].tier_rank > 0:
        inside = [c for c in snapshot.domains[domain].children if c in slowest]
        domain = min(inside, key=lambda c: (slowest[c], sign * c))
    return domain


def _common_domain(snapshot: ClusterSnapshot, first: int, last: int) -> int:
    """The narrowest domain holding hosts ``first`` and ``last`` (and all between them)."""
    return next(d for d in snapshot.ancestors(first) if last in snapshot.domains[d].hosts)


def _depth_first_from(
    snapshot: ClusterSnapshot, hosts: list[int], first: int, last: int
) -> Callable[[int], tuple[tuple[int, int], ...]]:
    """A sort key putting ``first``'s branch first and ``last``'s last at every domain."""
    if first not in hosts or last not in hosts:
        raise ValueError(f"chain ends {first}, {last} must be hosts with pods")
    top = _common_domain(snapshot, hosts[0], hosts[-1])
    head, tail = set(snapshot.ancestors(first)), set(snapshot.ancestors(last))
    if first == last or _common_domain(snapshot, first, last) != top:
        raise ValueError(
            f"chain ends {snapshot.nodes[first].name} and {snapshot.nodes[last].name} sit in "
            "one child of the gang's domain: no depth-first order starts and ends there"
        )

    def key(host: int) -> tuple[tuple[int, int], ...]:
        path = reversed(snapshot.ancestors(host))
        return tuple((0 if d in head else 2 if d in tail else 1, d) for d in path)

    return key
