"""The fastest split of a gang under one domain, found by counting: netsched's phase 5.

For a ring, a chain or an all-to-all whose ranks are in ring order (depth-first,
see :func:`~netsched.domain.ring.ring_order`), the bytes on a domain's uplink
depend only on ``k``, the gang's pods inside that domain (see
:func:`netsched.domain.traffic.uplink_bytes`): a ring edge or a chain link when
``0 < k < N``, and ``k * (N - k) * S/N`` for all-to-all. A chain carries its
payload once each way over a domain holding one of its ends and twice over one it
passes through (counted with the ends: see below). So "can the gang finish its
traffic in ``T`` seconds under domain D?" is a counting question, answered bottom-up:

* each host may hold any count up to its room whose uplink time is at most ``T``
  (0 and N are always allowed: they put nothing on the uplink);
* a switch may hold any sum of counts its children may hold, again only if its own
  uplink carries that count in ``T`` (D's own uplink is never crossed).

The sets are bit masks (bit ``k`` set: ``k`` pods possible), so a switch's set is
a few shifts and ORs per child. The least feasible ``T`` is one of the finitely
many ``(bytes for k pods) / (uplink bandwidth)`` values, found by bisection;
:meth:`Bottleneck.shares` then walks back down, giving each child as many pods as it
may take while the remaining children can still take the rest, so the gang stays
packed into few domains. The answer is exact under the cost model for rings and
all-to-all (the same one the ``optimal`` strategy solves as an integer program), at a cost of about
(domains with room) x N bit operations per bisection step, so callers bound it.

Chains are counted with their ends (:meth:`Bottleneck.chain_masks`): a set per number
of ends a domain holds (none, one, or both, which only the whole gang does), a split
domain holding none allowed only where its uplink carries the payload twice within
``T``, one holding an end where it carries it once. That makes the count exact for
chains too: it finds, say, the fast host a chain should pass through. The counted
time above (:meth:`Bottleneck.uplink_seconds`) takes every split domain as an end,
the lower bound the candidate times and :meth:`Bottleneck.floor` need.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from netsched.domain.capacity import Capacity
from netsched.domain.cost import BYTES_PER_GBPS
from netsched.domain.demand import Demand
from netsched.domain.placement_fill import Share
from netsched.domain.topology import ClusterSnapshot
from netsched.domain.traffic import CHAIN_PATTERNS, uplink_bytes


@dataclass(frozen=True, slots=True)
class Bottleneck:
    """Counting sets for one demand on one snapshot; see the module docstring.

    Attributes:
        demand: the gang.
        snapshot: the cluster.
        capacity: pods of the gang each domain has room for (phase 1).
    """

    demand: Demand
    snapshot: ClusterSnapshot
    capacity: Capacity

    def uplink_seconds(self, domain: int, pods: int) -> float:
        """Seconds on ``domain``'s uplink with ``pods`` of the gang inside it (a chain's
        taken at an end: see the module docstring)."""
        return self._seconds(pods, self.snapshot.effective_gbps(domain))

    def floor(self, scopes: list[int]) -> float:
        """Seconds no placement under ``scopes`` beats once the gang spans two hosts.

        Every host the gang uses then holds some but not all of its pods, so its
        uplink carries at least the traffic of one pod (or of all but one), and no
        host uplink is faster than the fastest with room. A chain that needs three
        hosts or more (no two hosts hold it) also passes through one of them, whose
        uplink carries the payload twice each way.
        """
        fastest = max((self.capacity.fastest_host[s] for s in scopes), default=0.0)
        ranks = self.demand.replicas
        least = min(self._seconds(1, fastest), self._seconds(ranks - 1, fastest))
        roomiest = max((self.capacity.best[s][0] for s in scopes), default=0)
        if self.demand.pattern in CHAIN_PATTERNS and 2 * roomiest < ranks:
            least = max(least, self._through_seconds(fastest))
        return least

    def _seconds(self, pods: int, gbps: float | None) -> float:
        ranks, size = self.demand.replicas, float(self.demand.bytes_per_step)
        if not 0 < pods < ranks:
            return 0.0  # nothing crosses the uplink, however slow
        load = uplink_bytes(self.demand.pattern, ranks=ranks, inside=pods, payload=size, ends=1)
        return load / (gbps * BYTES_PER_GBPS) if gbps else float("inf")

    def times(self, scopes: list[int]) -> list[float]:
        """Every time some uplink under ``scopes`` can take, ascending: where T* lies."""
        values = {0.0}
        room, ranks = self.capacity.pods, self.demand.replicas
        chain = self.demand.pattern in CHAIN_PATTERNS
        for scope in scopes:
            for domain in self._below(scope):
                values.update(
                    self.uplink_seconds(domain, k)
                    for k in range(1, min(room[domain], ranks - 1) + 1)
                )
                if chain and room[domain] > 0:
                    through = self._through_seconds(self.snapshot.effective_gbps(domain))
                    if math.isfinite(through):
                        values.add(through)
        return sorted(values)

    def _through_seconds(self, gbps: float | None) -> float:
        """Seconds on an uplink of ``gbps`` that a chain passes through (no end inside)."""
        ranks, size = self.demand.replicas, float(self.demand.bytes_per_step)
        if ranks < 3 or not gbps:
            return math.inf  # a chain of two has both its pods at ends: none passes through
        load = uplink_bytes(self.demand.pattern, ranks=ranks, inside=1, payload=size, ends=0)
        return load / (gbps * BYTES_PER_GBPS)

    def least_time(self, scope: int, times: list[float], *, at_most: float) -> float | None:
        """The least of ``times``, at most ``at_most``, in which ``scope`` holds the gang."""
        high = bisect.bisect_right(times, at_most)
        if high == 0 or not self.feasible(scope, times[high - 1]):
            return None
        low = 0
        while low < high - 1:
            middle = (low + high - 1) // 2
            if self.feasible(scope, times[middle]):
                high = middle + 1
            else:
                low = middle + 1
        return times[high - 1]

    def feasible(self, scope: int, seconds: float) -> bool:
        ranks = self.demand.replicas
        if self.demand.pattern in CHAIN_PATTERNS:
            chains: dict[int, _Ends] = {}
            return bool(self.chain_masks(scope, scope, seconds, chains)[2] >> ranks & 1)
        masks: dict[int, int] = {}
        return bool(self._mask(scope, scope, seconds, masks) >> ranks & 1)

    def shares(self, scope: int, seconds: float) -> list[Share]:
        """Hosts and pods for the gang under ``scope`` in ``seconds`` (which must be feasible)."""
        shares: list[Share] = []
        if self.demand.pattern in CHAIN_PATTERNS:
            chains: dict[int, _Ends] = {}
            self.chain_masks(scope, scope, seconds, chains)
            self._descend_chain(scope, self.demand.replicas, 2, chains, shares)
            return shares
        masks: dict[int, int] = {}
        self._mask(scope, scope, seconds, masks)
        self._descend(scope, self.demand.replicas, masks, shares)
        return shares

    def chain_masks(self, domain: int, scope: int, seconds: float, out: dict[int, _Ends]) -> _Ends:
        """For a chain: per number of its ends held (0, 1, 2), the bit mask of the pod
        counts ``domain`` may hold within ``seconds`` (see the module docstring)."""
        ranks = self.demand.replicas
        full, whole = (1 << (ranks + 1)) - 1, 1 << ranks
        node = self.snapshot.domains[domain]
        if node.tier_rank == 0:
            upto = (1 << (min(self.capacity.pods[domain], ranks) + 1)) - 1
            masks: _Ends = (upto & ~whole, upto & ~whole & ~1, upto & whole)
        else:
            masks = (1, 0, 0)
            for child in node.children:
                if self.capacity.pods[child] > 0:
                    masks = _merge(masks, self.chain_masks(child, scope, seconds, out), full)
        if domain != scope:
            through = self._through_seconds(self.snapshot.effective_gbps(domain)) <= seconds
            end = self.uplink_seconds(domain, 1) <= seconds
            split = full & ~1 & ~whole  # 0 < k < N
            masks = (
                masks[0] & (1 | (split if through else 0)),
                masks[1] & (split if end else 0),
                masks[2] & whole,
            )
        out[domain] = masks
        return masks

    def _descend_chain(
        self, domain: int, pods: int, ends: int, chains: dict[int, _Ends], out: list[Share]
    ) -> None:
        """:meth:`_descend` for a chain: each child takes the most pods it may, with the
        fewest ends that still leave the rest possible for the children after it."""
        node = self.snapshot.domains[domain]
        if node.tier_rank == 0:
            out.append((domain, pods))
            return
        kids = [c for c in node.children if any(m > 1 for m in chains.get(c, (0, 0, 0)))]

        def order(child: int) -> tuple[int, int, int]:
            most = _highest(chains[child][0] | chains[child][1] | chains[child][2], pods)
            return -most, self.capacity.pods[child], child

        kids.sort(key=order)
        full = (1 << (pods + 1)) - 1
        suffix: list[_Ends] = [(1, 0, 0)] * (len(kids) + 1)
        for i in range(len(kids) - 1, -1, -1):
            suffix[i] = _merge(suffix[i + 1], chains[kids[i]], full)
        remaining = pods
        for i, child in enumerate(kids):
            take, held = next(
                (k, e)
                for k in range(remaining, -1, -1)
                for e in range(ends + 1)
                if chains[child][e] >> k & 1 and suffix[i + 1][ends - e] >> (remaining - k) & 1
            )
            if take:
                self._descend_chain(child, take, held, chains, out)
                remaining, ends = remaining - take, ends - held

    def _below(self, scope: int) -> list[int]:
        """Domains with room strictly under ``scope``."""
        found, stack = [], list(self.snapshot.domains[scope].children)
        while stack:
            domain = stack.pop()
            if self.capacity.pods[domain] > 0:
                found.append(domain)
                stack.extend(self.snapshot.domains[domain].children)
        return found

    def _mask(self, domain: int, scope: int, seconds: float, masks: dict[int, int]) -> int:
        ranks = self.demand.replicas
        full = (1 << (ranks + 1)) - 1
        node = self.snapshot.domains[domain]
        if node.tier_rank == 0:
            mask = (1 << (min(self.capacity.pods[domain], ranks) + 1)) - 1
        else:
            mask = 1
            for child in node.children:
                if self.capacity.pods[child] > 0:
                    mask = _sums(mask, self._mask(child, scope, seconds, masks), full)
        if domain != scope:
            mask &= self._allowed(domain, seconds)
        masks[domain] = mask
        return mask

    def _allowed(self, domain: int, seconds: float) -> int:
        """Bit mask of the pod counts whose uplink time is within ``seconds``."""
        ranks = self.demand.replicas
        allowed = 1 | 1 << ranks
        for k in range(1, min(self.capacity.pods[domain], ranks - 1) + 1):
            if self.uplink_seconds(domain, k) <= seconds:
                allowed |= 1 << k
        return allowed

    def _descend(self, domain: int, pods: int, masks: dict[int, int], out: list[Share]) -> None:
        """Give each child the most pods it may take while the rest can still take the rest.

        Children that may take more go first (fewer children crossed), then the
        ones with less room (best fit), then path order.
        """
        node = self.snapshot.domains[domain]
        if node.tier_rank == 0:
            out.append((domain, pods))
            return
        kids = [c for c in node.children if masks.get(c, 0) > 1]
        kids.sort(key=lambda c: (-_highest(masks[c], pods), self.capacity.pods[c], c))
        full = (1 << (pods + 1)) - 1
        suffix = [1] * (len(kids) + 1)
        for i in range(len(kids) - 1, -1, -1):
            suffix[i] = _sums(suffix[i + 1], masks[kids[i]], full)
        remaining = pods
        for i, child in enumerate(kids):
            take = next(
                k
                for k in range(min(remaining, masks[child].bit_length() - 1), -1, -1)
                if masks[child] >> k & 1 and suffix[i + 1] >> (remaining - k) & 1
            )
            if take:
                self._descend(child, take, masks, out)
                remaining -= take


_Ends = tuple[int, int, int]
"""A chain's count sets of one domain: holding none, one or both of its ends."""


def _merge(first: _Ends, second: _Ends, full: int) -> _Ends:
    """Two disjoint parts together: counts add, and so do the ends they hold (at most 2)."""
    merged = [0, 0, 0]
    for a in range(3):
        if first[a]:
            for b in range(3 - a):
                if second[b]:
                    merged[a + b] |= _sums(first[a], second[b], full)
    return merged[0], merged[1], merged[2]


def _sums(first: int, second: int, full: int) -> int:
    """Every ``a + b`` with bit ``a`` of ``first`` and bit ``b`` of ``second``, up to ``full``."""
    total, shift = 0, 0
    while second:
        if second & 1:
            total |= first << shift
        second >>= 1
        shift += 1
    return total & full


def _highest(mask: int, most: int) -> int:
    """The largest count in ``mask`` that is at most ``most``."""
    return (mask & ((1 << (most + 1)) - 1)).bit_length() - 1
