"""``optimal``: the exact answer for small instances, as a yardstick for netsched.

An integer program solved by HiGHS (``highspy``). Variables: ``x[h]`` pods on each
host (integer, up to its room); one binary per domain of the gang's widest allowed
tier, exactly one of which holds the gang. With ranks ordered depth-first (the
same :func:`~netsched.domain.ring.ring_order` every strategy uses), the load on a
domain's uplink depends only on ``k[d]``, the gang's pods inside it:

* ring all-reduce: one edge each way when ``0 < k[d] < N``, else nothing.
  Binaries ``used[d] >= k[d]/N`` and ``whole[d] <= k[d]/N`` give
  ``partial[d] >= used[d] - whole[d]`` and load ``edge * partial[d]``. No order
  does better on any link: a ring that has ranks on both sides of an uplink crosses
  it at least once each way.
* chain (duplex, see :mod:`netsched.domain.traffic`): ``S * (2 * partial[d] - e[d])``,
  where binaries ``first[h]`` and ``last[h]`` (one host each, with pods) place the
  chain's ends and ``e[d]`` counts those under ``d``; a domain holding both must
  hold the whole gang (``e[d] <= 1 + whole[d]``), as in any depth-first order. The
  order is then built to start and end on those hosts.
* all-to-all: ``k[d] * (N - k[d]) * S/N`` is not linear, so ``k[d]`` is written
  one-hot over its possible values and the load is a linear sum over them.

The objective is the min-max ``T >= load[d] / share[d]`` over uplinks, ``share[d]``
being the bandwidth left to a new gang by the gangs already crossing it (times
are normalised by the fastest link so HiGHS sees numbers near 1). A second solve
fixes ``T`` and minimises cross-tier bytes, each tier weighted 1000 times the one
below it. Fragmentation is not optimised. Hybrid demands are not supported: their
link loads depend on which pipeline replicas a domain splits, which ``k[d]`` alone
does not capture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import highspy

from netsched.domain.capacity import Capacity, count_capacity, fitting, tier_limit
from netsched.domain.demand import Demand, Pattern
from netsched.domain.outcome import Outcome, checked, no_room, placed
from netsched.domain.ring import ring_order
from netsched.domain.topology import ClusterSnapshot
from netsched.domain.traffic import CHAIN_PATTERNS, COUNTED_PATTERNS, uplink_bytes

NAME = "optimal"
MAX_OPTIMAL_NODES = 32
TIER_WEIGHT = 1000.0
_TOLERANCE = 1e-7
_HIGHS: Any = highspy  # untyped extension module


class OptimalUnsupported(ValueError):
    """The exact strategy cannot take this instance (too many nodes, or Hybrid)."""


@checked(NAME)
def place_optimal(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
    """The placement with the lowest predicted communication time, found exactly.

    Raises:
        OptimalUnsupported: more than :data:`MAX_OPTIMAL_NODES` nodes have room for
            a pod, or the demand is Hybrid.
    """
    capacity = count_capacity(snapshot, demand.gpus_per_pod)
    hosts = [h for h in range(snapshot.host_count) if capacity.pods[h] > 0]
    if len(hosts) > MAX_OPTIMAL_NODES:
        raise OptimalUnsupported(
            f"the optimal strategy solves at most {MAX_OPTIMAL_NODES} nodes with room; "
            f"this snapshot has {len(hosts)}: use a smaller cluster or another strategy"
        )
    if demand.pattern is Pattern.HYBRID:
        raise OptimalUnsupported("the optimal strategy does not model Hybrid demands")
    limit = tier_limit(demand, snapshot.scheme)
    scopes = fitting(snapshot, capacity, rank=limit, pods=demand.replicas)
    if not scopes:
        return no_room(demand, snapshot, capacity, strategy=NAME, rank=limit)
    pods, ends = _solve(demand, snapshot, capacity, scopes)
    shares = [(h, n) for h, n in pods.items() if n > 0]
    chain = ends is not None and ends[0] != ends[1]
    order = ring_order(snapshot, shares, chain=chain, ends=ends if chain else None)
    return placed(demand, snapshot, strategy=NAME, order=order)


def _solve(
    demand: Demand, snapshot: ClusterSnapshot, capacity: Capacity, scopes: Sequence[int]
) -> tuple[dict[int, int], tuple[int, int] | None]:
    """Pods per host, and for a chain the hosts of its first and last rank."""
    model = _HIGHS.Highs()
    model.silent()
    model.setOptionValue("mip_rel_gap", 0.0)
    model.setOptionValue("mip_abs_gap", 1e-9)
    ranks, room = demand.replicas, capacity.pods
    x: dict[int, Any] = {}
    chosen = [model.addBinary() for _ in scopes]
    model.addConstr(sum(chosen) == 1)
    for scope, pick in zip(scopes, chosen, strict=True):
        for h in snapshot.domains[scope].hosts:
            if room[h] > 0:
                x[h] = model.addIntegral(lb=0, ub=min(room[h], ranks))
                model.addConstr(x[h] <= min(room[h], ranks) * pick)
    model.addConstr(sum(x.values()) == ranks)
    links = _links(snapshot, x)
    fastest = max((snapshot.effective_gbps(d) or 0.0) for d in links) if links else 1.0
    time = model.addVariable(lb=0.0)
    ends = _chain_ends(model, x) if demand.pattern in CHAIN_PATTERNS else None
    loads = {d: _load(model, demand, room, d, hosts, x, ends) for d, hosts in links.items()}
    for d, load in loads.items():
        gbps = snapshot.effective_gbps(d) or 0.0
        if gbps <= 0:
            model.addConstr(load <= 0)
        else:
            model.addConstr(time >= load * (fastest / gbps))
    model.minimize(time)
    best = model.val(time)
    model.addConstr(time <= best * (1 + _TOLERANCE) + _TOLERANCE)
    crossing = [TIER_WEIGHT ** snapshot.domains[d].tier_rank * load for d, load in loads.items()]
    if crossing:
        model.minimize(sum(crossing))
    pods = {h: round(model.val(var)) for h, var in x.items()}
    if ends is None:
        return pods, None
    first, last = ({h: model.val(v) for h, v in end.items()} for end in ends)
    return pods, (max(first, key=first.__getitem__), max(last, key=last.__getitem__))


def _chain_ends(model: Any, x: dict[int, Any]) -> tuple[dict[int, Any], dict[int, Any]]:
    """Binaries placing a chain's first and last rank, one host each, on hosts with pods."""
    first = {h: model.addBinary() for h in x}
    last = {h: model.addBinary() for h in x}
    for end in (first, last):
        model.addConstr(sum(end.values()) == 1)
        for h, var in end.items():
            model.addConstr(var <= x[h])
    return first, last


def _links(snapshot: ClusterSnapshot, x: dict[int, Any]) -> dict[int, list[int]]:
    """Every domain with an uplink above a candidate host -> its candidate hosts."""
    links: dict[int, list[int]] = {}
    for h in sorted(x):
        for d in snapshot.ancestors(h):
            if snapshot.domains[d].parent is not None:
                links.setdefault(d, []).append(h)
    return links


def _load(
    model: Any,
    demand: Demand,
    room: Sequence[int],
    domain: int,
    hosts: list[int],
    x: dict[int, Any],
    ends: tuple[dict[int, Any], dict[int, Any]] | None,
) -> Any:
    """Bytes on the uplink of ``domain``, in units of the payload S, as a linear expression.

    The bytes per pod count are :func:`~netsched.domain.traffic.uplink_bytes`; only
    how they are made linear is this module's (see the module docstring).
    """
    ranks, pattern = demand.replicas, demand.pattern
    inside = sum(x[h] for h in hosts)
    most = min(ranks, room[domain])
    if pattern is Pattern.EXPERT_PARALLEL:
        onehot = [model.addBinary() for _ in range(most + 1)]
        model.addConstr(sum(onehot) == 1)
        model.addConstr(sum(j * z for j, z in enumerate(onehot)) == inside)
        return sum(
            uplink_bytes(pattern, ranks=ranks, inside=j, payload=1.0) * z
            for j, z in enumerate(onehot)
        )
    if pattern not in COUNTED_PATTERNS:
        return 0.0 * inside
    used, whole = model.addBinary(), model.addBinary()
    partial = model.addVariable(lb=0.0, ub=1.0)
    model.addConstr(inside <= most * used)
    model.addConstr(ranks * whole <= inside)
    model.addConstr(partial >= used - whole)
    if ends is None:  # a ring puts the same edge on the uplink for every 0 < k < N
        return uplink_bytes(pattern, ranks=ranks, inside=1, payload=1.0) * partial
    held = sum(end[h] for end in ends for h in hosts)
    model.addConstr(held <= 1 + whole)
    # A chain: twice through a split domain, once where it holds an end.
    through = uplink_bytes(pattern, ranks=ranks, inside=1, payload=1.0, ends=0)
    at_end = uplink_bytes(pattern, ranks=ranks, inside=1, payload=1.0, ends=1)
    load = model.addVariable(lb=0.0)
    model.addConstr(load >= through * partial - (through - at_end) * held)
    return load
