"""Every Prometheus metric netsched exports, in one place (documented in docs/metrics.md).

Base units, ``_total`` counters, histograms for durations and sizes, and no label per
job or per pod: the label sets are results, phases, tiers and a bounded set of
domains (:data:`MAX_DOMAIN_SERIES` per level, the rest summed under ``other``).
Served by prometheus-client's own HTTP server, with the client's process metrics
(``process_resident_memory_bytes``, ``process_cpu_seconds_total``) beside them.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable

from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    start_http_server,
)

from netsched import __version__
from netsched.domain.placement import Placement
from netsched.domain.topology import ClusterSnapshot

MAX_DOMAIN_SERIES = 32
"""Domains per level with a series of their own; the rest are summed as ``other``."""
TOP_LEVELS = 2
"""Levels, widest first, whose domains get free-GPU and bandwidth series (core, spine)."""

_SECONDS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_LATENCY = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 600)
_BYTES = tuple(10.0**e for e in range(6, 14))

SCHEDULE_ATTEMPTS = Counter(
    "netsched_schedule_attempts_total",
    "Placement decisions, by result: placed, unschedulable, held (behind a starving job), error.",
    ["result"],
)
DECISION_SECONDS = Histogram(
    "netsched_placement_decision_seconds",
    "Time of one placement decision: snapshot and strategy, without API writes.",
    buckets=_SECONDS,
)
CREATE_TO_BOUND_SECONDS = Histogram(
    "netsched_create_to_bound_seconds",
    "From a TrainingJob's creation (or its gang's restart) to every pod of it bound.",
    buckets=_LATENCY,
)
JOBS = Gauge("netsched_jobs", "TrainingJobs by phase.", ["phase"])
QUEUE_LENGTH = Gauge("netsched_queue_length", "TrainingJobs waiting for a placement.")
QUEUE_LONGEST_WAIT_SECONDS = Gauge(
    "netsched_queue_longest_wait_seconds",
    "Seconds the longest-waiting TrainingJob has waited for a placement (0: none waits).",
)
PLACEMENTS = Counter(
    "netsched_placements_total",
    "Placements made, by the widest tier they span (host, leaf, spine, ...).",
    ["tier"],
)
PREDICTED_COMM_SECONDS = Histogram(
    "netsched_placement_predicted_comm_seconds",
    "Predicted communication seconds per step of the placements made, by tier spanned.",
    ["tier"],
    buckets=_SECONDS,
)
CROSS_TIER_BYTES = Histogram(
    "netsched_placement_cross_tier_bytes",
    "Predicted bytes per step crossing each level's uplinks, per placement made.",
    ["level"],
    buckets=_BYTES,
)
FREE_GPUS = Gauge(
    "netsched_free_gpus",
    "Free GPUs per domain of the top levels, as of the last decision.",
    ["level", "domain"],
)
UPLINK_GBPS = Gauge(
    "netsched_uplink_gbps",
    "Uplink bandwidth per domain of the top levels: measured when fresh, else nominal.",
    ["level", "domain", "source"],
)
RECONCILE_ERRORS = Counter(
    "netsched_reconcile_errors_total",
    "Errors while reconciling one TrainingJob (the others go on), by step.",
    ["step"],
)
READY = Gauge(
    "netsched_ready",
    "1 once every watched kind is listed and indexed (decisions then see every reservation).",
)
CACHE_SYNC_SECONDS = Gauge(
    "netsched_cache_sync_seconds",
    "Seconds from the operator's start until its cache was filled and it began to decide.",
)
LINKS_DEGRADED = Gauge(
    "netsched_links_degraded",
    "Links measured below their NetworkTopology's degradedBelowFraction of nominal, by level.",
    ["topology", "level"],
)
LINK_DEGRADED = Gauge(
    "netsched_link_degraded",
    "1 for each degraded switch uplink (at most 32 a level, slowest first); gone once recovered.",
    ["topology", "level", "domain"],
)
LINK_MEASURED_GBPS = Gauge(
    "netsched_link_measured_gbps",
    "The probes' estimate of each measured link of the top levels (at most 32 a level).",
    ["topology", "level", "domain"],
)
LINK_SAMPLES = Gauge(
    "netsched_link_samples",
    "LinkMeasurements by what the estimate made of them: fresh, stale, unmatched, refused.",
    ["topology", "state"],
)
PROBES = Counter(
    "netsched_probes_total",
    "Probes this agent ran, by level and result (ok, busy-skipped, or why it failed).",
    ["level", "result"],
)
PROBE_ROUNDS = Counter(
    "netsched_probe_rounds_total",
    "Probe rounds this agent ran, or failed to start (the API server said no).",
    ["result"],
)
BUILD_INFO = Info("netsched_build", "netsched's version and its runtime.")


RECONCILE_STEPS = ("reconcile", "place", "status", "cycle", "topology-status")
ATTEMPT_RESULTS = ("placed", "unschedulable", "held", "error")


def serve(port: int, *, address: str = "0.0.0.0") -> None:
    """Serve ``/metrics`` on ``address:port`` from a background thread. The counters of
    known label values start at 0, so that their first increment is a rate, and a quiet
    operator's dashboard and alerts have series to read."""
    disable_created_metrics()  # type: ignore[no-untyped-call]
    for step in RECONCILE_STEPS:
        RECONCILE_ERRORS.labels(step=step)
    for result in ATTEMPT_RESULTS:
        SCHEDULE_ATTEMPTS.labels(result=result)
    BUILD_INFO.info({"version": __version__, "python": platform.python_version()})
    start_http_server(port, addr=address)


def record_placement(placement: Placement) -> None:
    """Count one placement made and its predicted cost."""
    cost = placement.cost
    PLACEMENTS.labels(tier=cost.tier_spanned).inc()
    PREDICTED_COMM_SECONDS.labels(tier=cost.tier_spanned).observe(cost.comm_seconds)
    for level, size in cost.cross_tier_bytes.items():
        CROSS_TIER_BYTES.labels(level=level).observe(size)


def record_phases(phases: Iterable[str], *, known: Iterable[str]) -> None:
    """Set the per-phase job counts (every known phase gets a series, zero included)."""
    counts = dict.fromkeys(known, 0)
    for phase in phases:
        counts[phase] = counts.get(phase, 0) + 1
    for phase, count in counts.items():
        JOBS.labels(phase=phase).set(count)


def record_domains(snapshot: ClusterSnapshot) -> None:
    """Free GPUs and uplink bandwidth of the top levels' domains, bounded per level."""
    FREE_GPUS.clear()
    UPLINK_GBPS.clear()
    tiers = snapshot.scheme.tier_names
    for rank in range(len(tiers) - 1, max(0, len(tiers) - 1 - TOP_LEVELS), -1):
        domains = sorted(snapshot.tier_domains(rank), key=lambda d: snapshot.domains[d].id)
        shown, rest = domains[:MAX_DOMAIN_SERIES], domains[MAX_DOMAIN_SERIES:]
        for index in shown:
            domain = snapshot.domains[index]
            FREE_GPUS.labels(level=tiers[rank], domain=domain.id).set(snapshot.free[index])
            if domain.uplink_gbps is not None:
                source = "measured" if domain.measured else "nominal"
                UPLINK_GBPS.labels(level=tiers[rank], domain=domain.id, source=source).set(
                    domain.uplink_gbps
                )
        if rest:
            FREE_GPUS.labels(level=tiers[rank], domain="other").set(
                sum(snapshot.free[d] for d in rest)
            )
