"""The dashboard and the alerts as data: their files current, their queries well formed and
naming only metrics netsched defines. Whether the queries return series on a live operator is
tests/integration/test_observe_live.py; whether each alert fires when it should is promtool's
test (tests/prometheus/netsched-alerts.test.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

from netsched import metrics, observe

TESTS = Path(__file__).resolve().parents[1]


def exported_sample_names() -> set[str]:
    """Every sample name netsched's metrics module can expose (histograms' series too)."""
    names = {"up"}
    for family in REGISTRY.collect():
        names.add(family.name)
        if family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def test_the_files_in_deploy_are_current() -> None:
    for path, content in observe.rendered().items():
        assert path.read_text() == content, f"{path} is stale: run `netsched observe --write`"


def test_every_query_names_only_metrics_netsched_defines() -> None:
    assert metrics.QUEUE_LENGTH  # the module is imported: its metrics are registered
    known = exported_sample_names()
    exprs = [q.expr for p in observe.PANELS for q in p.queries]
    exprs += [e for a in observe.ALERTS for e in (a.expr, a.signal)]
    for expr in exprs:
        names = observe.metric_names(expr)
        assert names, expr
        assert names <= known, (expr, names - known)


def test_the_dashboard_has_a_stable_uid_a_datasource_variable_and_every_panel() -> None:
    board = json.loads(observe.DASHBOARD_FILE.read_text())
    assert board["uid"] == observe.DASHBOARD_UID == "netsched-overview"
    [variable] = board["templating"]["list"]
    assert (variable["type"], variable["name"]) == ("datasource", "datasource")
    titles = [p["title"] for p in board["panels"]]
    assert titles == [p.title for p in observe.PANELS] and len(set(titles)) == len(titles)
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    # Each panel the issue asks for is there.
    wanted = ["phase", "Queue", "decision latency", "Create-to-bound", "tier", "Cross-tier",
              "measured and nominal", "Free GPUs", "attempts by result"]  # fmt: skip
    for word in wanted:
        assert any(word in title for title in titles), word


def test_every_alert_signal_is_what_its_expression_watches() -> None:
    names = [a.name for a in observe.ALERTS]
    assert len(set(names)) == len(names)
    for alert in observe.ALERTS:
        assert observe.metric_names(alert.signal) <= observe.metric_names(alert.expr)
        assert alert.severity in ("warning", "critical") and alert.summary and alert.description


def test_promtool_tests_every_alert_firing_and_quiet() -> None:
    cases = yaml.safe_load((TESTS / "prometheus" / "netsched-alerts.test.yaml").read_text())
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in cases["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    every = {a.name for a in observe.ALERTS}
    assert firing == every and quiet == every


def test_grafana_variables_are_replaced_for_prometheus() -> None:
    expr = "rate(netsched_placements_total[$__rate_interval])"
    assert observe.for_prometheus(expr) == "rate(netsched_placements_total[1m])"
