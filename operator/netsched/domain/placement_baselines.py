"""Baselines netsched is measured against, behind the same interface.

* ``spread``: kube-scheduler's default scoring (``NodeResourcesFit`` with
  ``LeastAllocated``): each pod, in rank order, goes to the node with the largest
  share of its GPUs still free.
* ``binpack``: the same with ``MostAllocated``: fullest node first.
* ``random``: each pod to a uniformly random node with room, seeded by the job's
  name so that runs repeat.
* ``tas``: Kueue's topology-aware scheduling: the requested tier (or, without a
  request, the lowest tier whose single domain fits), the best-fit domain there,
  then down the tree by free capacity; consecutive ranks. It sees labels only,
  never measured bandwidth.

The first three know nothing of topology. A user of plain kube-scheduler would
pin such a gang with a required pod affinity on the ``maxTier`` label (or the
widest level's), so they first choose one domain of
that tier that holds the gang (the emptiest for ``spread``, the fullest for
``binpack``, a random one for ``random``) and score nodes inside it. Rank order
is the order pods were bound, as when kube-scheduler binds pods one by one.
"""

from __future__ import annotations

import hashlib
import heapq
import random as stdlib_random
from collections.abc import Callable

from netsched.domain.capacity import Capacity, count_capacity, fitting, tier_limit
from netsched.domain.demand import Demand
from netsched.domain.outcome import Outcome, checked, no_room, placed
from netsched.domain.placement_fill import KUEUE, fill
from netsched.domain.ring import ring_order
from netsched.domain.topology import ClusterSnapshot

_Chooser = Callable[[list[int]], int]


@checked("spread")
def place_spread(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
    """kube-scheduler's default: least allocated node first (ties by node name)."""
    return _scored(demand, snapshot, name="spread", most_allocated=False)


@checked("binpack")
def place_binpack(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
    """kube-scheduler with ``MostAllocated``: fullest node that fits first."""
    return _scored(demand, snapshot, name="binpack", most_allocated=True)


@checked("random")
def place_random(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
    """Uniformly random nodes with room; the same job name always draws the same nodes."""
    seed = int.from_bytes(hashlib.sha256(demand.name.encode()).digest()[:8], "big")
    rng = stdlib_random.Random(seed)
    capacity = count_capacity(snapshot, demand.gpus_per_pod)
    scope = _scope(demand, snapshot, capacity, choose=rng.choice)
    if scope is None:
        return no_room(
            demand, snapshot, capacity, strategy="random", rank=tier_limit(demand, snapshot.scheme)
        )
    room = {h: capacity.pods[h] for h in snapshot.domains[scope].hosts if capacity.pods[h] > 0}
    hosts = sorted(room)
    order = []
    for _ in range(demand.replicas):
        position = rng.randrange(len(hosts))
        host = hosts[position]
        order.append(snapshot.nodes[host].name)
        room[host] -= 1
        if room[host] == 0:
            hosts[position] = hosts[-1]
            hosts.pop()
    return placed(demand, snapshot, strategy="random", order=order)


@checked("tas")
def place_tas(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
    """Kueue topology-aware scheduling: lowest fitting tier, best-fit domain, greedy descent."""
    capacity = count_capacity(snapshot, demand.gpus_per_pod)
    scheme, pods = snapshot.scheme, demand.replicas
    limit = tier_limit(demand, scheme)
    requested = demand.preferred_tier or demand.max_tier
    start = scheme.tier_rank(requested) if requested else 0
    if start > limit:  # preferredTier wider than maxTier: the hard limit wins
        start = limit
    for rank in range(start, limit + 1):
        domains = fitting(snapshot, capacity, rank=rank, pods=pods)
        if domains:
            top = min(domains, key=lambda d: (capacity.pods[d], d))
            shares = fill(snapshot, capacity, domain=top, pods=pods, policy=KUEUE)
            return placed(demand, snapshot, strategy="tas", order=ring_order(snapshot, shares))
    return no_room(demand, snapshot, capacity, strategy="tas", rank=limit)


def _scored(
    demand: Demand, snapshot: ClusterSnapshot, *, name: str, most_allocated: bool
) -> Outcome:
    capacity = count_capacity(snapshot, demand.gpus_per_pod)

    def emptiest(domains: list[int]) -> int:
        return min(domains, key=lambda d: (-snapshot.free[d], d))

    def fullest(domains: list[int]) -> int:
        return min(domains, key=lambda d: (snapshot.free[d], d))

    scope = _scope(demand, snapshot, capacity, choose=fullest if most_allocated else emptiest)
    if scope is None:
        rank = tier_limit(demand, snapshot.scheme)
        return no_room(demand, snapshot, capacity, strategy=name, rank=rank)
    per_pod = demand.gpus_per_pod
    sign = 1 if most_allocated else -1
    room = {h: capacity.pods[h] for h in snapshot.domains[scope].hosts if capacity.pods[h] > 0}
    free = {h: snapshot.free[h] for h in room}

    def entry(host: int) -> tuple[float, str, int]:
        total = snapshot.nodes[host].allocatable_gpus or 1
        allocated_after = (total - free[host] + per_pod) / total
        return (-sign * allocated_after, snapshot.nodes[host].name, host)

    heap = [entry(h) for h in room]
    heapq.heapify(heap)
    order = []
    for _ in range(demand.replicas):
        host = heapq.heappop(heap)[2]
        order.append(snapshot.nodes[host].name)
        room[host] -= 1
        free[host] -= per_pod
        if room[host] > 0:
            heapq.heappush(heap, entry(host))
    return placed(demand, snapshot, strategy=name, order=order)


def _scope(
    demand: Demand, snapshot: ClusterSnapshot, capacity: Capacity, *, choose: _Chooser
) -> int | None:
    """The one domain of the gang's widest allowed tier that a blind strategy fills."""
    rank = tier_limit(demand, snapshot.scheme)
    domains = fitting(snapshot, capacity, rank=rank, pods=demand.replicas)
    return choose(domains) if domains else None
