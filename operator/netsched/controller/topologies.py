"""Measured bandwidth, reported: each NetworkTopology's status, its Events and its metrics.

Every :data:`REPORT_SECONDS` the reporter takes each topology's bandwidth estimate (the one
the placements read, kept by :class:`~netsched.controller.cache.BandwidthMemo`) and:

- writes the topology's ``status`` when it changed: every switch domain with its nominal
  and measured uplink (``domains``), a ``Degraded`` condition naming the slowest links,
  the newest measurement's time;
- posts an Event when a link turns degraded (Warning ``LinkDegraded``) and when it
  recovers (Normal ``LinkRecovered``), judged against the status it wrote last, so a
  restarted operator does not repeat them;
- sets the ``netsched_link_*`` gauges (:mod:`netsched.metrics`), at most
  :data:`~netsched.metrics.MAX_DOMAIN_SERIES` links a level, the slowest first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from netsched import metrics
from netsched.api import NetworkTopology
from netsched.api.meta import rfc3339, with_condition
from netsched.api.networktopology import NetworkTopologyStatus
from netsched.controller.cache import Cache
from netsched.controller.kube import Kube
from netsched.domain.bandwidth import BandwidthEstimate, UplinkEstimate
from netsched.domain.fabric import build_fabric
from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import HOST_TIER

log = logging.getLogger("netsched.topologies")
REPORT_SECONDS = 10.0
DEGRADED = "Degraded"
SHOWN = 5
"""Links a condition's message names (the slowest)."""


def _describe(domain: str, link: UplinkEstimate) -> str:
    return (
        f"{link.tier} uplink {domain} measured {link.gbps:.3g} Gbps, "
        f"{link.fraction:.0%} of nominal {link.nominal_gbps:g}"
    )


def topology_status(
    topology: NetworkTopology,
    nodes: Iterable[NodeInfo],
    bandwidth: BandwidthEstimate,
    *,
    now: datetime,
) -> dict[str, Any]:
    """The status the operator writes for ``topology`` (wire form), from its estimate."""
    scheme = topology.to_scheme()
    labelled = [n for n in nodes if all(n.labels.get(lv.label_key) for lv in scheme.levels)]
    fabric = build_fabric(labelled, scheme)
    domains = []
    for domain in fabric.domains:
        if domain.tier == HOST_TIER:
            continue
        entry: dict[str, Any] = {
            "level": domain.tier,
            "name": domain.id,
            "nodes": len(domain.hosts),
            "nominalGbps": domain.nominal_gbps or 0.0,
        }
        link = bandwidth.uplinks.get(domain.id)
        if link is not None:
            entry |= {
                "measuredGbps": round(link.gbps, 6),
                "samples": link.samples,
                "lastMeasured": rfc3339(link.last_measured),
                "degraded": link.degraded,
            }
        domains.append(entry)
    degraded = [d for d in bandwidth.degraded if bandwidth.uplinks[d].tier != HOST_TIER]
    hosts = len(bandwidth.degraded) - len(degraded)
    fraction = topology.spec.degraded_below_fraction
    if degraded:
        named = "; ".join(_describe(d, bandwidth.uplinks[d]) for d in degraded[:SHOWN])
        more = f" and {len(degraded) - SHOWN} more" if len(degraded) > SHOWN else ""
        reason = "LinkDegraded"
        message = (
            f"{len(degraded)} link{'s' if len(degraded) != 1 else ''} below {fraction:.0%} of "
            f"nominal: {named}{more}; new placements go around them where they can"
        )
    elif bandwidth.uplinks:
        reason, message = (
            "LinksHealthy",
            f"every measured switch uplink is at or above {fraction:.0%} of nominal",
        )
    else:
        reason, message = (
            "NotMeasured",
            "no fresh LinkMeasurement: every link is at its nominal rate",
        )
    if hosts:
        message += f" ({hosts} host link{'s' if hosts != 1 else ''} below it too)"
    old = _normal(topology.status) if topology.status else {}
    generation = topology.metadata.generation
    conditions = with_condition(
        old.get("conditions", []),
        type=DEGRADED,
        status=bool(degraded),
        reason=reason,
        message=message,
        generation=generation,
        now=now,
    )
    status: dict[str, Any] = {
        "conditions": conditions,
        "domains": domains,
        "nodes": len(labelled),
    }
    if generation is not None:
        status["observedGeneration"] = generation
    newest = max((link.last_measured for link in bandwidth.uplinks.values()), default=None)
    if newest is not None:
        status["lastMeasurement"] = rfc3339(newest)
    return status


def _normal(status: Any) -> dict[str, Any]:
    """A status in one wire form (the model's defaults spelled out), for comparing."""
    model = NetworkTopologyStatus.model_validate(status)
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def degraded_domains(status: Mapping[str, Any]) -> set[str]:
    """The switch domains a status marks degraded."""
    return {d["name"] for d in status.get("domains") or [] if d.get("degraded")}


class TopologyReporter:
    """Keeps every NetworkTopology's status, Events and metrics current."""

    def __init__(self, *, kube: Kube, cache: Cache) -> None:
        self.kube, self.cache = kube, cache
        self._shown: dict[Any, set[tuple[str, ...]]] = {}
        """gauge -> the label values this reporter set on it (to remove what went)."""

    def record_metrics(
        self, name: str, bandwidth: BandwidthEstimate, *, levels: Iterable[str] = ()
    ) -> None:
        """The ``netsched_link_*`` gauges of one topology; ``netsched_links_degraded`` has a
        series for each of ``levels`` (the topology's tiers), 0 where nothing is degraded."""
        counts = {
            "fresh": bandwidth.fresh,
            "stale": bandwidth.stale,
            "unmatched": bandwidth.unmatched,
            "refused": sum(bandwidth.refused.values()),
        }
        for state, count in counts.items():
            metrics.LINK_SAMPLES.labels(topology=name, state=state).set(count)
        by_level: dict[str, list[tuple[float, str, UplinkEstimate]]] = {lv: [] for lv in levels}
        for domain, link in bandwidth.uplinks.items():
            by_level.setdefault(link.tier, []).append((link.fraction, domain, link))
        shown: dict[Any, set[tuple[str, ...]]] = {}

        def show(gauge: Any, value: float, *labels: str) -> None:
            gauge.labels(name, *labels).set(value)
            shown.setdefault(gauge, set()).add((name, *labels))

        for level, links in by_level.items():
            links.sort()
            show(metrics.LINKS_DEGRADED, sum(1 for *_, link in links if link.degraded), level)
            if level == HOST_TIER:
                continue
            for _, domain, link in links[: metrics.MAX_DOMAIN_SERIES]:
                show(metrics.LINK_MEASURED_GBPS, link.gbps, level, domain)
                if link.degraded:
                    show(metrics.LINK_DEGRADED, 1, level, domain)
        for gauge in (metrics.LINKS_DEGRADED, metrics.LINK_MEASURED_GBPS, metrics.LINK_DEGRADED):
            before = {labels for labels in self._shown.get(gauge, set()) if labels[0] == name}
            for labels in before - shown.get(gauge, set()):
                gauge.remove(*labels)
            others = {labels for labels in self._shown.get(gauge, set()) if labels[0] != name}
            self._shown[gauge] = others | shown.get(gauge, set())

    async def run(self) -> None:
        while True:
            try:
                await self.report(now=datetime.now(UTC))
            except Exception:
                log.exception("reporting the NetworkTopologies failed; retrying")
                metrics.RECONCILE_ERRORS.labels(step="topology-status").inc()
            await asyncio.sleep(REPORT_SECONDS)

    async def report(self, *, now: datetime) -> None:
        state = self.cache.cluster_state(at=now)
        for name, topology in state.topologies.items():
            bandwidth = state.bandwidth[name]
            self.record_metrics(name, bandwidth, levels=topology.to_scheme().tier_names)
            status = _normal(topology_status(topology, state.nodes, bandwidth, now=now))
            old = _normal(topology.status) if topology.status else {}
            if status == old:
                continue
            await self.kube.patch_topology_status(name, status)
            await self._events(topology, bandwidth, was=degraded_domains(old), written=status)

    async def _events(
        self,
        topology: NetworkTopology,
        bandwidth: BandwidthEstimate,
        *,
        was: set[str],
        written: Mapping[str, Any],
    ) -> None:
        """Events for the links that turned degraded, or recovered, in the status just written."""
        body = topology.model_dump(mode="json", by_alias=True, exclude_none=True)
        fraction = topology.spec.degraded_below_fraction
        current = degraded_domains(written)
        for domain in sorted(current - was):
            link = bandwidth.uplinks[domain]
            message = (
                f"{_describe(domain, link)} (below the {fraction:.0%} threshold); new placements "
                "go around it where they can"
            )
            log.warning("NetworkTopology %s: %s", topology.metadata.name, message)
            await self.kube.event(body, type="Warning", reason="LinkDegraded", message=message)
        for domain in sorted(was - current):
            recovered = bandwidth.uplinks.get(domain)
            detail = (
                _describe(domain, recovered)
                if recovered
                else f"uplink {domain} has no fresh sample"
            )
            message = f"{detail}: no longer degraded"
            log.info("NetworkTopology %s: %s", topology.metadata.name, message)
            await self.kube.event(body, type="Normal", reason="LinkRecovered", message=message)
