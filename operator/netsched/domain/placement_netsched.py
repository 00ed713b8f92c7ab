"""netsched's own strategy: the cheapest gang by predicted communication time.

Kueue's topology-aware scheduling finds the lowest tier with a domain that fits
and packs it by free capacity. netsched starts the same way but lets the cost
model (with *measured* uplink bandwidth, shared with the running gangs that cross
each uplink) choose among domains and among ways of splitting the gang over their
children, so a degraded or busy leaf or spine uplink is avoided when a healthy,
quiet one exists. It then counts, per domain, the exact least
bottleneck time (phase 5), which finds the faster placement in a wider tier when
the natural one can only hold the gang over a slow host or uplink.
"""

from __future__ import annotations

from dataclasses import dataclass

from netsched.domain.capacity import Capacity, count_capacity, fitting, tier_limit, without
from netsched.domain.cost import BYTES_PER_GBPS, Cost, predict
from netsched.domain.demand import Demand, Pattern
from netsched.domain.outcome import Outcome, checked, no_room, placed
from netsched.domain.placement_bottleneck import Bottleneck
from netsched.domain.placement_fill import EVENLY, FASTEST, FEWEST, FillPolicy, Share, fill
from netsched.domain.ring import ring_order
from netsched.domain.topology import ClusterSnapshot
from netsched.domain.traffic import CHAIN_PATTERNS, COUNTED_PATTERNS, least_uplink_bytes

NAME = "netsched"
CANDIDATE_BUDGET = 8
"""Candidate domains per tier costed in full, at most, once one placement is in hand."""
WIDER_MARGIN = 0.005
"""How much less time a placement spanning a wider tier must promise to win (a fraction)."""
COUNTING_BUDGET = 8_000
"""Phase 5 runs when (gang pods) x (hosts with room in the domains it counts) is at most this."""
OCCUPANCY_PRICE = 2.0
"""Seconds of score per uplink-second a gang holds, on a crowded cluster."""
CROWDED = 0.6
"""GPU utilisation from which uplinks are priced: later gangs will need them."""
ALWAYS_PRICED = frozenset({Pattern.HYBRID})
"""Patterns whose uplinks are priced whenever running gangs share one, however busy the
cluster: the price costs such a gang little of its own time and spares the stream much
(docs/contention.md, "Hybrid gangs: priced whenever links are shared")."""


@checked(NAME)
def place_netsched(demand: Demand, snapshot: ClusterSnapshot) -> Outcome:
    """Place the gang where its predicted communication time is lowest.

    The algorithm, in five phases:

    1. **Count** bottom-up how many of the gang's pods fit in every domain (a node
       with 7 free GPUs holds no 8-GPU pod).
    2. **Candidates.** Walk the tiers from host upward, at most to ``maxTier``. The
       first tier with a domain that holds the whole gang is the gang's natural
       tier; its fitting domains are candidates, and inside each the pods are shared
       out to children three ways: fastest measured uplinks first, fewest children
       first, and evenly (see :mod:`netsched.domain.placement_fill`). Wider tiers,
       up to ``maxTier``, add their fitting domains with the even share only: an
       all-to-all gang spread thin over many uplinks can beat one packed behind a
       few, and the cost model, not a rule of thumb, decides. Per tier, candidates
       are ordered by a lower bound on their communication time (each child the gang
       spans carries at least one edge of traffic over an uplink no faster than the
       slowest it must use), then fewest children needed, then best fit.
    3. **Order ranks** depth-first along the tree so the ring (or chain) leaves
       each domain once.
    4. **Cost** each option with :func:`netsched.domain.cost.predict` and keep the
       best by: preferredTier honoured, communication time (plus, where running
       gangs share uplinks, on a cluster at least :data:`CROWDED` busy or for a
       Hybrid gang, :data:`OCCUPANCY_PRICE` seconds per uplink-second
       the option holds: the uplinks later gangs will need; docs/contention.md has
       the measurements behind this rule), cross-tier bytes (widest tier first),
       then fragmentation (least room left in the chosen domain and on
       the chosen nodes). An option spanning a wider tier than the best so far wins
       only on at least :data:`WIDER_MARGIN` less time, never on a tie, so locality
       is given up only for a real gain. Per tier, costing stops after
       :data:`CANDIDATE_BUDGET` candidates, or once a candidate's lower bound shows it
       cannot win.

       Then the domains inside the chosen one whose uplinks are measured below
       nominal are counted as full, slowest first, as long as the chosen domain
       still holds the gang, and the pods are shared out again each time: the
       greedy shares above can walk into a degraded leaf; this walks back out when
       there is room elsewhere in the same domain.
    5. **Count** the exact bottleneck (:mod:`netsched.domain.placement_bottleneck`):
       for rings, chains and all-to-all, an uplink's bytes depend only on how many
       pods sit under it, so the least time in which each domain can hold the gang
       is found by counting, bottom-up, which pod counts every domain may take
       without a link exceeding that time. This looks past the natural tier: a
       slow host or leaf uplink the natural domain cannot avoid, or a faster one in
       a wider tier, shows up as a lower time in a wider domain. First the optimum
       over the widest allowed domains; then, tier by tier from the natural one,
       every fitting domain that can beat the best so far is shared out at its own
       least time (packed into few children) and costed as in phase 4, until the
       best is within :data:`WIDER_MARGIN` of the optimum. Skipped when phase 4
       already reaches the host-NIC floor (no placement beats one pod's traffic
       over the fastest NIC), for Hybrid, and when counting would exceed
       :data:`COUNTING_BUDGET`.

    Everything is sorted with explicit tie-breaks (path order last), so the same
    input always gives the same placement.
    """
    # Phase 1: count pods per domain, bottom-up.
    capacity = count_capacity(snapshot, demand.gpus_per_pod)
    limit = tier_limit(demand, snapshot.scheme)
    pods = demand.replicas
    natural = next(
        (r for r in range(limit + 1) if fitting(snapshot, capacity, rank=r, pods=pods)), None
    )
    if natural is None:
        return no_room(demand, snapshot, capacity, strategy=NAME, rank=limit)
    price = occupancy_price(snapshot, demand.pattern)
    best: _Option | None = None
    seen: set[tuple[Share, ...]] = set()
    for tier in range(natural, limit + 1):
        # Phase 2: candidate domains of this tier, best lower bound first.
        policies = (FASTEST, FEWEST, EVENLY) if tier == natural else (EVENLY,)
        candidates = sorted(
            (_candidate_key(demand, snapshot, capacity, d, spread=tier > natural), d)
            for d in fitting(snapshot, capacity, rank=tier, pods=pods)
        )
        for position, (key, domain) in enumerate(candidates):
            if best and (position >= CANDIDATE_BUDGET or _beyond(key[0], best, tier > natural)):
                break
            for policy in policies:
                shares = _share(snapshot, capacity, domain, pods, policy)
                if shares not in seen:
                    seen.add(shares)
                    option = _option(
                        demand, snapshot, domain, shares, rank=(tier, position), price=price
                    )
                    best = option if best is None or _better(option, best) else best
    assert best is not None  # the first candidate of the natural tier is always costed
    # Phase 4b: route around degraded links: count the slowest measured-degraded
    # domains inside the chosen one as full, while it still holds the gang, and share out again.
    masked, inside = capacity, snapshot.domains[best.domain].hosts
    for slow in [d for d in snapshot.degraded if snapshot.domains[d].hosts.start in inside]:
        trial = without(snapshot, masked, slow)
        if masked.pods[slow] == 0 or trial.pods[best.domain] < pods:
            continue
        masked = trial
        for policy in (FASTEST, FEWEST, EVENLY):
            shares = _share(snapshot, masked, best.domain, pods, policy)
            option = _option(
                demand, snapshot, best.domain, shares, rank=best.score[-2:], price=price
            )
            best = option if _better(option, best) else best
    # Phase 5: the exact bottleneck, counted, when it can beat what the shares found.
    best = _counted(
        demand, snapshot, capacity, tiers=range(natural, limit + 1), best=best, price=price
    )
    return placed(demand, snapshot, strategy=NAME, order=best.order, cost=best.cost)


def occupancy_price(snapshot: ClusterSnapshot, pattern: Pattern) -> float:
    """Seconds a placement is charged per uplink-second it holds: :data:`OCCUPANCY_PRICE`
    where running gangs share links and the cluster is at least :data:`CROWDED` busy
    (for the patterns of :data:`ALWAYS_PRICED`, however busy it is), else 0.

    Without running traffic on any uplink (``snapshot.flows`` empty) nothing is
    shared, so holding an uplink costs a later gang nothing.
    """
    if not snapshot.flows:
        return 0.0
    crowded = pattern in ALWAYS_PRICED or snapshot.utilisation >= CROWDED
    return OCCUPANCY_PRICE if crowded else 0.0


@dataclass(frozen=True, slots=True)
class _Option:
    score: tuple[float, ...]
    shares: tuple[Share, ...]
    order: list[str]
    cost: Cost
    domain: int
    tier: int

    @property
    def seconds(self) -> float:
        return self.score[1]


def _better(option: _Option, best: _Option) -> bool:
    """Whether ``option`` beats ``best``: by score in the same tier, by a margin across tiers.

    A placement spanning a wider tier puts bytes on uplinks the narrower one never
    touches and breaks up a larger island, so it wins only on clearly less time
    (:data:`WIDER_MARGIN`), never on a tie or on a rounding error.
    """
    if option.tier == best.tier:
        return option.score < best.score
    if option.tier > best.tier:
        return _clearly_faster(option, best)
    return not _clearly_faster(best, option)


def _clearly_faster(wide: _Option, narrow: _Option) -> bool:
    if wide.score[0] != narrow.score[0]:  # preferredTier honoured or not
        return wide.score[0] < narrow.score[0]
    return wide.seconds < narrow.seconds * (1 - WIDER_MARGIN)


def _counted(
    demand: Demand,
    snapshot: ClusterSnapshot,
    capacity: Capacity,
    *,
    tiers: range,
    best: _Option,
    price: float,
) -> _Option:
    """Phase 5: the least bottleneck time by counting pods per domain; see placement_bottleneck.

    First the optimum over the widest allowed domains; then, tier by tier from the
    natural one, every fitting domain that can beat the best so far is shared out at
    its own least time and costed, until the best is within :data:`WIDER_MARGIN` of
    the optimum and spans a narrower tier than the next one. Skipped when the
    pattern's load is not a function of pod counts (Hybrid), when the shares already
    reach the host-NIC floor, or when counting would cost more than
    :data:`COUNTING_BUDGET`.
    """
    pods = demand.replicas
    if demand.pattern not in COUNTED_PATTERNS or tiers.start == 0 or best.seconds == 0:
        return best
    counting = Bottleneck(demand, snapshot, capacity)
    tops = fitting(snapshot, capacity, rank=tiers[-1], pods=pods)
    scopes = [fitting(snapshot, capacity, rank=t, pods=pods) for t in tiers]
    work = pods * sum(capacity.hosts[d] for tier in scopes for d in tier)
    if best.seconds <= counting.floor(tops) * (1 + 1e-9) or work > COUNTING_BUDGET:
        return best
    times = counting.times(tops)
    optimum = best.seconds
    for top in tops:
        least = counting.least_time(top, times, at_most=optimum)
        optimum = optimum if least is None else least
    if optimum >= best.seconds:
        return best
    for tier, domains in zip(tiers, scopes, strict=True):
        if best.tier < tier and best.seconds <= optimum * (1 + WIDER_MARGIN):
            break  # nothing wider can be clearly faster
        for position, domain in enumerate(domains):
            least = counting.least_time(domain, times, at_most=best.seconds)
            if least is not None:
                shares = tuple(sorted(counting.shares(domain, least)))
                option = _option(
                    demand, snapshot, domain, shares, rank=(tier, position), price=price
                )
                best = option if _better(option, best) else best
    return best


def _share(
    snapshot: ClusterSnapshot, capacity: Capacity, domain: int, pods: int, policy: FillPolicy
) -> tuple[Share, ...]:
    return tuple(sorted(fill(snapshot, capacity, domain=domain, pods=pods, policy=policy)))


def _option(
    demand: Demand,
    snapshot: ClusterSnapshot,
    domain: int,
    shares: tuple[Share, ...],
    *,
    rank: tuple[float, ...],
    price: float,
) -> _Option:
    """Order the ranks of one way to share the gang out, and cost it: phases 3 and 4.

    ``price`` is :func:`occupancy_price`: the seconds charged per uplink-second held.
    """
    # Phase 3: ranks in depth-first order, so the ring leaves each domain once.
    order = ring_order(snapshot, shares, chain=demand.pattern in CHAIN_PATTERNS)
    # Phase 4: cost the option; the caller keeps the best score.
    cost = predict(demand, order, snapshot)
    ranking = cost.ranking()
    priced = ranking[0] + price * _occupancy(snapshot, cost) if price else ranking[0]
    score = (
        _misses_preference(demand, snapshot, cost),
        float(f"{priced:.12g}"),
        *ranking[1:],
        *_fragmentation(demand, snapshot, domain, shares),
        *rank,
    )
    tier = snapshot.scheme.tier_rank(cost.tier_spanned)
    return _Option(score, shares, order, cost, domain, tier)


def _occupancy(snapshot: ClusterSnapshot, cost: Cost) -> float:
    """Uplink-seconds per step the gang holds: each crossed uplink's bytes over its bandwidth.

    The bandwidth is the link's own (measured, else nominal), not the gang's share of
    it: this is what the links give up to the gang, whoever else crosses them.
    """
    held = 0.0
    for link, size in cost.link_bytes.items():
        gbps = snapshot.domains[snapshot.domain_index(link)].uplink_gbps
        held += size / (gbps * BYTES_PER_GBPS) if gbps else 0.0
    return held


def _beyond(bound: float, best: _Option, wider: bool) -> bool:
    """Whether no candidate from here on can beat ``best``.

    Candidates of a tier wider than the natural one also lose ties: they put bytes
    on uplinks of a tier the natural placement does not touch at all.
    """
    time = best.seconds
    return bound >= time * (1 - WIDER_MARGIN) if wider else bound > time


def _candidate_key(
    demand: Demand, snapshot: ClusterSnapshot, capacity: Capacity, domain: int, *, spread: bool
) -> tuple[float, int, int, int]:
    """(time lower bound, children needed, GPUs left free, path order) of a candidate.

    The bound divides the least traffic any crossed uplink carries by the slowest
    uplink the gang must use: for the natural tier, the slowest of the fastest
    children that together hold the gang; for a spread candidate, the slowest of
    all children with room, since the even share uses every one of them. A child's
    speed counts its best host too (:meth:`Capacity.speed`): traffic leaving it
    crosses a host uplink as well.
    """
    node = snapshot.domains[domain]
    if node.tier_rank == 0:
        return (0.0, 0, snapshot.free[domain] - demand.total_gpus, domain)
    kids = [c for c in node.children if capacity.pods[c] > 0]
    by_speed = sorted(kids, key=lambda c: -capacity.speed(snapshot, c))
    rooms_by_speed = [capacity.pods[c] for c in by_speed]
    last = len(kids) - 1 if spread else _reaching(rooms_by_speed, demand.replicas)
    slowest = capacity.speed(snapshot, by_speed[last])
    needed = _reaching(sorted(rooms_by_speed, reverse=True), demand.replicas) + 1
    least = least_uplink_bytes(
        demand.pattern, ranks=demand.replicas, payload=float(demand.bytes_per_step)
    )
    bound = least / (slowest * BYTES_PER_GBPS) if slowest else float("inf")
    return (float(f"{bound:.12g}"), needed, snapshot.free[domain] - demand.total_gpus, domain)


def _reaching(rooms: list[int], pods: int) -> int:
    """Position of the last of ``rooms``, taken in order, needed to hold ``pods``."""
    total = 0
    for position, room in enumerate(rooms):
        total += room
        if total >= pods:
            return position
    return len(rooms) - 1


def _misses_preference(demand: Demand, snapshot: ClusterSnapshot, cost: Cost) -> int:
    if demand.preferred_tier is None:
        return 0
    scheme = snapshot.scheme
    return int(scheme.tier_rank(cost.tier_spanned) > scheme.tier_rank(demand.preferred_tier))


def _fragmentation(
    demand: Demand, snapshot: ClusterSnapshot, domain: int, shares: tuple[Share, ...]
) -> tuple[int, int]:
    """GPUs left free in the chosen domain, then on the chosen nodes (fewer is a better fit)."""
    per_pod = demand.gpus_per_pod
    on_nodes = sum(snapshot.free[host] - pods * per_pod for host, pods in shares)
    return (snapshot.free[domain] - demand.total_gpus, on_nodes)
