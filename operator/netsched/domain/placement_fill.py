"""Share a number of pods out over a domain's subtree: the descent of phase 2.

netsched and the Kueue-style ``tas`` baseline both descend from a chosen domain to
hosts the same way; they differ only in the :class:`FillPolicy`: whether measured
uplink bandwidth steers the choice of children.
"""

from __future__ import annotations

from dataclasses import dataclass

from netsched.domain.capacity import Capacity
from netsched.domain.topology import ClusterSnapshot

Share = tuple[int, int]
"""``(host index, pods)``."""


@dataclass(frozen=True, slots=True)
class FillPolicy:
    """How to pick children on the way down.

    Attributes:
        fastest_first: when the pods must be split over several children, take
            children by uplink bandwidth (fastest first), then by room; otherwise by
            room (fewest children), then bandwidth.
        use_bandwidth: let measured bandwidth steer choices at all; False reproduces
            Kueue's topology-aware scheduling, which sees only labels.
        lowest_tier_first: when one child can hold every pod, prefer the child in
            which they fit under the lowest tier (one host beats several).
        evenly: spread the pods over every child with room, in proportion to its
            hosts with room, at every level, even when one child could hold them all:
            one pod per host where possible. All-to-all traffic on an uplink grows
            with (pods inside) x (pods outside), so a gang spread thin over many
            uplinks can beat one packed behind a few.
    """

    fastest_first: bool
    use_bandwidth: bool = True
    lowest_tier_first: bool = True
    evenly: bool = False


FASTEST = FillPolicy(fastest_first=True)
FEWEST = FillPolicy(fastest_first=False)
EVENLY = FillPolicy(fastest_first=False, evenly=True)
KUEUE = FillPolicy(fastest_first=False, use_bandwidth=False, lowest_tier_first=False)


def fill(
    snapshot: ClusterSnapshot, capacity: Capacity, *, domain: int, pods: int, policy: FillPolicy
) -> list[Share]:
    """Place ``pods`` pods inside ``domain`` (which must hold them), down to hosts.

    With ``policy.evenly`` the pods are water-filled over every child with room.
    Otherwise, if one child holds them all, they all go there (the best fit among such
    children: the one with least room, so larger islands stay free). Otherwise they
    are split over children in policy order, and the last part goes to the
    smallest remaining child that holds it (Kueue's best fit for the remainder).
    """
    node = snapshot.domains[domain]
    if node.tier_rank == 0:
        return [(domain, pods)]
    room = capacity.pods
    if pods == room[domain]:
        return [(h, room[h]) for h in node.hosts if room[h] > 0]
    kids = [c for c in node.children if room[c] > 0]
    whole = [c for c in kids if room[c] >= pods and not policy.evenly]
    if whole:
        child = min(whole, key=lambda c: _whole_key(snapshot, capacity, c, pods, policy))
        return fill(snapshot, capacity, domain=child, pods=pods, policy=policy)
    shares: list[Share] = []
    split = _even if policy.evenly else _split
    for child, count in split(snapshot, capacity, kids, pods, policy):
        shares += fill(snapshot, capacity, domain=child, pods=count, policy=policy)
    return shares


def _whole_key(
    snapshot: ClusterSnapshot, capacity: Capacity, child: int, pods: int, policy: FillPolicy
) -> tuple[float, ...]:
    tier = capacity.fit_tier(child, pods) if policy.lowest_tier_first else 0
    speed = -capacity.speed(snapshot, child) if policy.use_bandwidth else 0.0
    return (tier, speed, capacity.pods[child], child)


def _even(
    snapshot: ClusterSnapshot, capacity: Capacity, kids: list[int], pods: int, policy: FillPolicy
) -> list[tuple[int, int]]:
    """Water-fill in proportion to hosts with room, most constrained children first.

    Each child takes its share of what is left (rounded up) or all its room if
    that is less; the larger children after it absorb the difference. Children left
    with nothing to take are skipped.
    """
    room, weight = capacity.pods, capacity.hosts
    order = sorted(kids, key=lambda c: (room[c] / weight[c], -capacity.speed(snapshot, c), c))
    shares: list[tuple[int, int]] = []
    remaining, weights = pods, sum(weight[c] for c in kids)
    for child in order:
        take = min(room[child], -(-remaining * weight[child] // weights))
        weights -= weight[child]
        if take > 0:
            shares.append((child, take))
            remaining -= take
    return shares


def _split(
    snapshot: ClusterSnapshot, capacity: Capacity, kids: list[int], pods: int, policy: FillPolicy
) -> list[tuple[int, int]]:
    room = capacity.pods

    def speed(c: int) -> float:
        return capacity.speed(snapshot, c) if policy.use_bandwidth else 0.0

    if policy.fastest_first:
        order = sorted(kids, key=lambda c: (-speed(c), -room[c], c))
    else:
        order = sorted(kids, key=lambda c: (-room[c], -speed(c), c))
    shares: list[tuple[int, int]] = []
    remaining = pods
    for position, child in enumerate(order):
        rest = order[position:]
        last = [
            (room[c], i, c)
            for i, c in enumerate(rest)
            if room[c] >= remaining and (not policy.fastest_first or speed(c) >= speed(child))
        ]
        if last:
            shares.append((min(last)[2], remaining))
            return shares
        shares.append((child, room[child]))
        remaining -= room[child]
    raise AssertionError(f"domain children hold fewer than {pods} pods")  # caller checked room
