"""From probe samples to the bandwidth of each uplink: what the fabric measures.

A probe measures a **path**, not a link: two hosts' links, and the uplinks below the
switch where the path turns. This module turns many such samples into one estimate per
link, in three steps.

1. **Refuse** what cannot be a measurement (each counted by reason, never applied):
   a sample dated more than :data:`MAX_SKEW` in the future (the writer's clock is
   ahead, and its sample would stay fresh for too long); one faster than
   :data:`ABOVE_NOMINAL` times its path's nominal bottleneck (a host's NIC cannot
   carry more than its rate; raise the NetworkTopology's nominal Gbps if the links
   really are faster); one whose ``level`` disagrees with where its nodes sit now
   (labels moved since). Samples older than the TTL are *stale*; samples naming an
   unknown node or tier are *unmatched*.
2. **Attribute** each fresh sample to the links it says something about, narrowest tier
   first. A sample whose path turns at tier *k+1* speaks for the two tier-*k* links
   just below the turn (for two hosts of one leaf: their host links). What it says
   depends on what the narrower links of its path allow, ``b`` (their estimates, from
   narrower probes, else nominal), and on the expected rate ``e`` = min(``b``, the two
   links' nominal):

   - the path delivered at least :data:`SATURATION` of ``e``: nothing is slower than
     expected. A link no faster than ``b`` was (one of) the path's bottleneck and gets
     the sample's rate; a faster one gets its nominal rate (a host-to-host probe cannot
     see an uplink faster than its hosts; the nominal stands, confirmed as far as it
     can be);
   - it fell short: one of the two links is slower than nominal. The **culprit** is the
     one the best recent sample through it rates lower (a link that carried more
     elsewhere is not the slow one); it gets the sample's rate, the other nothing.
     Two links rated alike share the blame.
3. **Estimate** each link as the median of its values after dropping outliers (further
   than :data:`OUTLIER_MADS` scaled median absolute deviations from the median, or 5 %
   of it when most values agree exactly). A link whose estimate is below
   ``degraded_fraction`` of its nominal is **degraded**.

The cost is one pass over the samples per tier and one sort per link: it is computed
when samples or nodes change, never per placement decision
(:func:`apply_bandwidth`, one pass over the estimates, is what a decision pays).

>>> from datetime import UTC, datetime, timedelta
>>> from netsched.domain.fabric import LinkSample
>>> from netsched.domain.nodes import NodeInfo
>>> from netsched.domain.scheme import DEFAULT_SCHEME
>>> def node(name, leaf):
...     labels = {"netsched.io/core": "c", "netsched.io/spine": "s", "netsched.io/leaf": leaf}
...     return NodeInfo(name=name, allocatable_gpus=8, labels=labels)
>>> now = datetime(2026, 12, 1, tzinfo=UTC)
>>> nodes = [node("a1", "A"), node("a2", "A"), node("b1", "B"), node("c1", "C")]
>>> samples = [LinkSample("a1", "b1", "leaf", 380.0, now),   # a1's NIC rate: B's uplink is fine
...            LinkSample("a2", "c1", "leaf", 90.0, now),    # short: C is the slow one
...            LinkSample("b1", "c1", "leaf", 100.0, now)]
>>> found = estimate_bandwidth(nodes, DEFAULT_SCHEME, samples, now=now, ttl=timedelta(hours=1))
>>> {d: (u.gbps, u.degraded) for d, u in sorted(found.uplinks.items())}
{'c/s/A': (1600.0, False), 'c/s/B': (1600.0, False), 'c/s/C': (95.0, True)}
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType

from netsched.domain.fabric import Fabric, LinkSample, build_fabric
from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import TopologyScheme

SATURATION = 0.85
"""A path delivering this share of what it should found nothing slower than expected (TCP
goodput is about 95 % of a link's rate; the rest is noise)."""
ABOVE_NOMINAL = 1.10
"""A sample above this multiple of its path's nominal bottleneck is refused."""
MAX_SKEW = timedelta(minutes=5)
"""How far in the future a sample may be dated before it is refused as clock skew."""
OUTLIER_MADS = 3.0
"""Values further than this many scaled MADs from a link's median are outliers."""
DEFAULT_DEGRADED_FRACTION = 0.7
"""A link measured below this share of its nominal rate is degraded (NetworkTopology's
``degradedBelowFraction`` overrides it)."""
_MAD_SCALE = 1.4826  # MAD -> standard deviation for normally distributed values
_AGREEMENT = 0.05


@dataclass(frozen=True, slots=True)
class UplinkEstimate:
    """One link's measured bandwidth.

    Attributes:
        tier: the tier of the domain whose uplink this is (``host`` for a node's link).
        gbps: the estimate (the median of the values kept).
        nominal_gbps: the scheme's nominal rate for the link.
        samples: values kept.
        outliers: values dropped as outliers.
        last_measured: the newest sample behind a kept value.
        degraded: ``gbps`` is below the degraded fraction of ``nominal_gbps``.
    """

    tier: str
    gbps: float
    nominal_gbps: float
    samples: int
    outliers: int
    last_measured: datetime
    degraded: bool

    @property
    def fraction(self) -> float:
        """The estimate as a share of nominal."""
        return self.gbps / self.nominal_gbps


@dataclass(frozen=True, slots=True)
class BandwidthEstimate:
    """Every measured link of one NetworkTopology, and what was not used and why.

    Attributes:
        uplinks: domain id (a host's is its node name) -> estimate; links no fresh
            sample spoke for are absent and keep their nominal rate.
        fresh: samples used.
        stale: samples older than the TTL.
        unmatched: samples naming a node or tier the topology does not have.
        refused: reason -> samples refused for it.
    """

    uplinks: Mapping[str, UplinkEstimate] = field(default_factory=dict)
    fresh: int = 0
    stale: int = 0
    unmatched: int = 0
    refused: Mapping[str, int] = field(default_factory=dict)

    @property
    def degraded(self) -> tuple[str, ...]:
        """Ids of the degraded links, the furthest below nominal first."""
        slow = [(u.fraction, d) for d, u in self.uplinks.items() if u.degraded]
        return tuple(d for _, d in sorted(slow))

    @classmethod
    def of(
        cls,
        measured: Mapping[str, float],
        fabric: Fabric,
        *,
        at: datetime,
        degraded_fraction: float = DEFAULT_DEGRADED_FRACTION,
    ) -> BandwidthEstimate:
        """An estimate that says ``measured`` outright (domain id -> Gbps), for replays
        that model a measured fabric instead of replaying probes.

        Raises:
            KeyError: an id names no domain with an uplink.
        """
        uplinks = {}
        for domain_id, gbps in measured.items():
            domain = fabric.domains[fabric.domain_index[domain_id]]
            if domain.nominal_gbps is None:
                raise KeyError(f"{domain_id} has no uplink")
            uplinks[domain_id] = _estimate(
                domain.tier, [gbps], domain.nominal_gbps, at, outliers=0, fraction=degraded_fraction
            )
        return cls(uplinks=MappingProxyType(uplinks), fresh=len(uplinks))


NO_MEASUREMENTS = BandwidthEstimate()


@dataclass(slots=True)
class _Sample:
    sample: LinkSample
    top: tuple[int, int]  # the two links below the turn
    below: tuple[int, ...]  # the narrower links of the path


def estimate_bandwidth(
    nodes: Iterable[NodeInfo],
    scheme: TopologyScheme,
    samples: Iterable[LinkSample],
    *,
    now: datetime,
    ttl: timedelta,
    degraded_fraction: float = DEFAULT_DEGRADED_FRACTION,
) -> BandwidthEstimate:
    """Estimate every link the fresh ``samples`` speak for (see the module's docstring).

    Args:
        nodes: the cluster's nodes; those lacking a tier label are left out.
        scheme: tiers and nominal rates.
        samples: link samples, in any order.
        now: the time the estimate is for.
        ttl: a sample older than this is stale.
        degraded_fraction: the share of nominal below which a link is degraded.

    Raises:
        ValueError: ``degraded_fraction`` is not in (0, 1].
    """
    if not 0 < degraded_fraction <= 1:
        raise ValueError(f"degraded_fraction must be in (0, 1], got {degraded_fraction}")
    samples = list(samples)
    if not samples:
        return NO_MEASUREMENTS
    labelled = [n for n in nodes if all(n.labels.get(lv.label_key) for lv in scheme.levels)]
    fabric = build_fabric(labelled, scheme)
    tiers = scheme.tier_names
    by_tier: dict[int, list[_Sample]] = defaultdict(list)
    stale = unmatched = 0
    refused: dict[str, int] = defaultdict(int)
    for sample in samples:
        if now - sample.observed_at > ttl:
            stale += 1
            continue
        source = fabric.host_index.get(sample.source)
        target = fabric.host_index.get(sample.target)
        if source is None or target is None or sample.level not in tiers:
            unmatched += 1
            continue
        reason, placed = _place(fabric, sample, source, target)
        if reason is None and sample.observed_at - now > MAX_SKEW:
            reason = "clock skew: dated in the future"
        if reason is not None:
            refused[reason] += 1
            continue
        assert placed is not None
        by_tier[tiers.index(sample.level)].append(placed)

    estimates: dict[int, UplinkEstimate] = {}
    for rank in sorted(by_tier):
        values = _attribute(fabric, by_tier[rank], estimates)
        for link, kept in values.items():
            domain = fabric.domains[link]
            assert domain.nominal_gbps is not None
            gbps = [g for g, _ in kept]
            inliers = _inliers(gbps)
            newest = max(at for g, at in kept if g in inliers)
            estimates[link] = _estimate(
                domain.tier,
                inliers,
                domain.nominal_gbps,
                newest,
                outliers=len(gbps) - len(inliers),
                fraction=degraded_fraction,
            )
    return BandwidthEstimate(
        uplinks=MappingProxyType({fabric.domains[i].id: e for i, e in estimates.items()}),
        fresh=sum(len(s) for s in by_tier.values()),
        stale=stale,
        unmatched=unmatched,
        refused=MappingProxyType(dict(refused)),
    )


def _place(
    fabric: Fabric, sample: LinkSample, source: int, target: int
) -> tuple[str | None, _Sample | None]:
    """The sample's links, or why it is refused."""
    rank = fabric.scheme.tier_names.index(sample.level)
    up_source, up_target = fabric.ancestors[source], fabric.ancestors[target]
    # The path turns at the narrowest shared domain; it crosses the uplinks below it.
    turn = next((r for r in range(len(up_source)) if up_source[r] == up_target[r]), None)
    if source == target or turn != rank + 1:
        return f"level {sample.level} does not match where its nodes sit", None
    path = (*up_source[:turn], *up_target[:turn])
    nominal = min(fabric.domains[d].nominal_gbps or 0.0 for d in path)
    if sample.gbps > ABOVE_NOMINAL * nominal:
        return f"faster than {ABOVE_NOMINAL:g} x its path's nominal bottleneck", None
    below = (*up_source[:rank], *up_target[:rank])
    return None, _Sample(sample, (up_source[rank], up_target[rank]), below)


def _attribute(
    fabric: Fabric, samples: Sequence[_Sample], narrower: Mapping[int, UplinkEstimate]
) -> dict[int, list[tuple[float, datetime]]]:
    """Each link of this tier -> the values the samples give it (see the module)."""

    def rate(link: int) -> float:
        known = narrower.get(link)
        return known.gbps if known is not None else fabric.domains[link].nominal_gbps or 0.0

    best: dict[int, float] = defaultdict(float)
    for s in samples:
        for link in s.top:
            best[link] = max(best[link], s.sample.gbps)
    values: dict[int, list[tuple[float, datetime]]] = defaultdict(list)
    for s in samples:
        allowed = min((rate(link) for link in s.below), default=float("inf"))
        nominal = {link: fabric.domains[link].nominal_gbps or 0.0 for link in s.top}
        expected = min(allowed, *nominal.values())
        gbps, at = s.sample.gbps, s.sample.observed_at
        if gbps >= SATURATION * expected:
            for link in s.top:
                values[link].append((gbps if nominal[link] <= allowed else nominal[link], at))
        else:
            lowest = min(best[link] for link in s.top)
            for link in s.top:
                if best[link] <= lowest * (1 + _AGREEMENT):
                    values[link].append((gbps, at))
    return values


def _inliers(values: list[float]) -> list[float]:
    """``values`` without the outliers (all of them when fewer than three)."""
    if len(values) < 3:
        return values
    middle = statistics.median(values)
    spread = statistics.median(abs(v - middle) for v in values)
    allowed = max(OUTLIER_MADS * _MAD_SCALE * spread, _AGREEMENT * middle)
    return [v for v in values if abs(v - middle) <= allowed]


def _estimate(
    tier: str,
    values: list[float],
    nominal: float,
    newest: datetime,
    *,
    outliers: int,
    fraction: float,
) -> UplinkEstimate:
    gbps = statistics.median(values)
    return UplinkEstimate(
        tier=tier,
        gbps=gbps,
        nominal_gbps=nominal,
        samples=len(values),
        outliers=outliers,
        last_measured=newest,
        degraded=gbps < fraction * nominal,
    )


def apply_bandwidth(fabric: Fabric, bandwidth: BandwidthEstimate) -> Fabric:
    """``fabric`` with its measured links at their estimates and its degraded links listed
    (slowest first); ids the fabric lacks (a node excluded from this snapshot) are skipped."""
    if not bandwidth.uplinks:
        return fabric
    domains = list(fabric.domains)
    for domain_id, estimate in bandwidth.uplinks.items():
        index = fabric.domain_index.get(domain_id)
        if index is not None and domains[index].parent is not None:
            domains[index] = replace(
                domains[index], uplink_gbps=estimate.gbps, samples=estimate.samples
            )
    slow = sorted(
        (bandwidth.uplinks[d.id].gbps, d.index)
        for d in domains
        if d.measured and bandwidth.uplinks[d.id].degraded
    )
    return replace(fabric, domains=tuple(domains), degraded=tuple(i for _, i in slow))
