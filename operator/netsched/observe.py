"""What an operator of netsched watches: the Grafana dashboard and the Prometheus alerts.

One home for both: the panels and the alerts are data here, and ``netsched observe --write``
renders them into the files users install (:data:`DASHBOARD_FILE`, :data:`ALERTS_FILE`, and
the chart's copies that its ConfigMap and PrometheusRule read). Tests evaluate every query
here against a real Prometheus scraping a real operator, and unit-test every alert with
``promtool test rules``.

Queries use two of Grafana's variables: ``$datasource`` (the panels' data source) and
``$__rate_interval``; :func:`for_prometheus` makes a query Prometheus itself can run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DASHBOARD_UID = "netsched-overview"
"""Stable across releases: links and provisioning find the dashboard by it."""
JOB = "netsched"
"""The ``job`` label of the operator's scrape: the chart's ServiceMonitor sets it from the
metrics Service's ``app.kubernetes.io/name`` label; a static scrape config names it so."""
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD_FILE = DEPLOY / "grafana" / "netsched-dashboard.json"
ALERTS_FILE = DEPLOY / "prometheus" / "netsched-alerts.yaml"
CHART_FILES = DEPLOY / "helm" / "netsched" / "files"
"""The chart reads its own copies (Helm reads files inside the chart only)."""
RATE_INTERVAL = "1m"
"""What ``$__rate_interval`` stands for when a query runs outside Grafana."""


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 12


def _quantiles(histogram: str, by: str = "") -> tuple[Query, ...]:
    labels = f"le, {by}" if by else "le"
    suffix = f" {{{{{by}}}}}" if by else ""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({labels}) "
            f"(rate({histogram}_bucket[$__rate_interval])))",
            f"p{round(q * 100)}{suffix}",
        )
        for q in (0.5, 0.99)
    )


PANELS: tuple[Panel, ...] = (
    Panel(
        "Jobs by phase",
        "TrainingJobs the operator sees, by status.phase.",
        (Query("sum by (phase) (netsched_jobs)", "{{phase}}"),),
    ),
    Panel(
        "Queue",
        "Jobs waiting for a placement, and how long the longest of them has waited.",
        (
            Query("netsched_queue_length", "waiting jobs"),
            Query("netsched_queue_longest_wait_seconds", "longest wait (s)"),
        ),
    ),
    Panel(
        "Placement decision latency",
        "One decision: the cluster snapshot and the strategy, without API writes.",
        _quantiles("netsched_placement_decision_seconds"),
        unit="s",
    ),
    Panel(
        "Create-to-bound latency",
        "From a TrainingJob's creation (or its gang's restart) to every pod of it bound.",
        _quantiles("netsched_create_to_bound_seconds"),
        unit="s",
    ),
    Panel(
        "Schedule attempts by result",
        "Placement decisions a second: placed, unschedulable, held behind a starving job, error.",
        (
            Query(
                "sum by (result) (rate(netsched_schedule_attempts_total[$__rate_interval]))",
                "{{result}}",
            ),
        ),
        unit="ops",
    ),
    Panel(
        "Placements by tier spanned",
        "Placements made a second, by the widest switch tier their gang spans.",
        (
            Query(
                "sum by (tier) (rate(netsched_placements_total[$__rate_interval]))",
                "{{tier}}",
            ),
        ),
        unit="ops",
    ),
    Panel(
        "Cross-tier bytes",
        "Predicted bytes a training step sends across each level's uplinks, per placement made.",
        (
            Query(
                "sum by (level) (rate(netsched_placement_cross_tier_bytes_sum"
                "[$__rate_interval])) / sum by (level) "
                "(rate(netsched_placement_cross_tier_bytes_count[$__rate_interval]))",
                "{{level}}",
            ),
        ),
        unit="bytes",
    ),
    Panel(
        "Uplink bandwidth per domain: measured and nominal",
        "Each top-level domain's uplink: the probes' estimate when fresh, else the nominal rate.",
        (Query("netsched_uplink_gbps", "{{domain}} ({{source}})"),),
        unit="Gbits",
    ),
    Panel(
        "Free GPUs per domain",
        "Free GPUs in each domain of the top levels, as of the last decision.",
        (Query("netsched_free_gpus", "{{level}} {{domain}}"),),
    ),
    Panel(
        "Links degraded and reconcile errors",
        "Links measured below degradedBelowFraction of nominal; reconcile errors a second.",
        (
            Query("sum by (level) (netsched_links_degraded)", "degraded {{level}} links"),
            Query(
                "sum by (step) (rate(netsched_reconcile_errors_total[$__rate_interval]))",
                "errors: {{step}}",
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alerting rule. ``signal`` is the quantity ``expr`` watches: on a live operator
    it has series even while the alert is quiet (a test checks that)."""

    name: str
    expr: str
    signal: str
    for_: str
    severity: str
    summary: str
    description: str


ALERTS: tuple[Alert, ...] = (
    Alert(
        "NetschedOperatorDown",
        f'absent(up{{job="{JOB}"}} == 1)',
        f'up{{job="{JOB}"}}',
        "5m",
        "critical",
        "The netsched operator is down",
        "No netsched operator target has been up for 5 minutes: no TrainingJob is placed, "
        "restarted or cleaned up. kubectl -n <namespace> logs deploy/<release>-netsched.",
    ),
    Alert(
        "NetschedJobUnschedulable",
        "netsched_queue_longest_wait_seconds > 1800",
        "netsched_queue_longest_wait_seconds",
        "5m",
        "warning",
        "A TrainingJob has waited more than 30 minutes for a placement",
        "The longest-waiting TrainingJob has waited {{ $value | humanizeDuration }}. "
        "`netsched explain <job>` says why: too few free GPUs in one domain, a quota, or "
        "a job of higher priority ahead of it.",
    ),
    Alert(
        "NetschedLinkDegraded",
        "max by (topology, level) (netsched_links_degraded) > 0",
        "max by (topology, level) (netsched_links_degraded)",
        "10m",
        "warning",
        "Switch uplinks measured below their nominal bandwidth",
        "{{ $value }} {{ $labels.level }} link(s) of NetworkTopology {{ $labels.topology }} "
        "have measured below degradedBelowFraction of nominal for 10 minutes; placement "
        "avoids them. kubectl describe networktopology {{ $labels.topology }}.",
    ),
    Alert(
        "NetschedReconcileErrors",
        "sum by (step) (rate(netsched_reconcile_errors_total[5m])) > 0.05",
        "sum by (step) (rate(netsched_reconcile_errors_total[5m]))",
        "10m",
        "warning",
        "The netsched operator keeps failing to reconcile jobs",
        'Reconcile step {{ $labels.step }} has failed {{ printf "%.2f" $value }} times a second '
        "for 10 minutes. The operator's log names the jobs and the API server's answers.",
    ),
    Alert(
        "NetschedPlacementSlow",
        "histogram_quantile(0.99, sum by (le) "
        "(rate(netsched_placement_decision_seconds_bucket[10m]))) > 2",
        "histogram_quantile(0.99, sum by (le) "
        "(rate(netsched_placement_decision_seconds_bucket[10m])))",
        "15m",
        "warning",
        "Placement decisions are slow",
        "The 99th percentile of one placement decision has been {{ $value | humanize }} s "
        "for 15 minutes (the operator decides jobs one at a time). Check its CPU limit.",
    ),
)


def for_prometheus(expr: str) -> str:
    """``expr`` with Grafana's variables replaced, runnable by Prometheus itself."""
    return expr.replace("$__rate_interval", RATE_INTERVAL)


_METRIC = re.compile(r"\b(netsched_[a-z0-9_]+|up)\b")


def metric_names(expr: str) -> set[str]:
    """The metric names ``expr`` reads (netsched's, and ``up``), as the scrape exposes them
    (a histogram's ``_bucket``, ``_sum`` and ``_count`` series included).

    >>> sorted(metric_names('sum by (le) (rate(netsched_create_to_bound_seconds_bucket[1m]))'))
    ['netsched_create_to_bound_seconds_bucket']
    """
    return set(_METRIC.findall(expr))


def dashboard() -> dict[str, Any]:
    """The Grafana dashboard: one time series panel per :data:`PANELS` entry, two a row."""
    panels = []
    x = y = 0
    for number, panel in enumerate(PANELS, start=1):
        if x + panel.width > 24:
            x, y = 0, y + 8
        panels.append(
            {
                "id": number,
                "type": "timeseries",
                "title": panel.title,
                "description": panel.description,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"x": x, "y": y, "w": panel.width, "h": 8},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
                "targets": [
                    {
                        "refId": chr(ord("A") + index),
                        "expr": query.expr,
                        "legendFormat": query.legend,
                        "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    }
                    for index, query in enumerate(panel.queries)
                ],
            }
        )
        x += panel.width
    return {
        "uid": DASHBOARD_UID,
        "title": "netsched",
        "description": "Network-aware gang placement of TrainingJobs: the queue, the "
        "decisions, the tiers they span and the fabric they span it on.",
        "tags": ["netsched", "kubernetes", "scheduling"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "panels": panels,
    }


def alert_rules() -> dict[str, Any]:
    """The alerts as a Prometheus rule file (also a PrometheusRule's ``spec``)."""
    return {
        "groups": [
            {
                "name": "netsched",
                "rules": [
                    {
                        "alert": alert.name,
                        "expr": alert.expr,
                        "for": alert.for_,
                        "labels": {"severity": alert.severity},
                        "annotations": {
                            "summary": alert.summary,
                            "description": alert.description,
                        },
                    }
                    for alert in ALERTS
                ],
            }
        ]
    }


def rendered() -> dict[Path, str]:
    """Every file this module owns, with its content."""
    board = json.dumps(dashboard(), indent=2) + "\n"
    rules = "# Rendered by `netsched observe --write` from netsched/observe.py: edit that.\n"
    rules += yaml.safe_dump(alert_rules(), sort_keys=False, width=100)
    return {
        DASHBOARD_FILE: board,
        CHART_FILES / DASHBOARD_FILE.name: board,
        ALERTS_FILE: rules,
        CHART_FILES / ALERTS_FILE.name: rules,
    }
