"""The dashboard and the alerts against live data: a real Prometheus (built here) scrapes a
real ``netsched run`` every second while TrainingJobs are placed, one waits unschedulable and
a NetworkTopology is reported on; then every dashboard query and every alert's signal is
evaluated through Prometheus's HTTP API and must return series. Prometheus also loads the
alerting rules and evaluates them itself: every rule must be healthy.

This is the test that the dashboard shows something, not only that its JSON parses.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from gangs import OperatorProcess, network_topology, training_job, wait_phase
from prometheus_client.parser import text_string_to_metric_families

from conftest import Cluster
from netsched import observe
from netsched.devcluster.prometheus import Prometheus, start_prometheus

pytestmark = pytest.mark.integration

TOPOLOGY = "observed"
SCRAPES = 5
"""Scrapes inside the window of a rate (1 m) before the queries run."""


@pytest.fixture(scope="module")
def prometheus(
    operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    server = start_prometheus(
        {observe.JOB: f"127.0.0.1:{operator.metrics_port}"},
        tmp_path_factory.mktemp("prometheus"),
        rule_files=[observe.ALERTS_FILE],
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live(api: Cluster, operator: OperatorProcess, prometheus: Prometheus) -> Iterator[None]:
    """Jobs placed, one unschedulable, a NetworkTopology reported on: then enough scrapes
    for every rate to have two samples."""
    namespace = "observe-live"
    api.kubectl("create", "namespace", namespace)
    api.apply(network_topology(TOPOLOGY, host_gbps=400, spine_gbps=3200, leaf_gbps=1600))
    try:
        for name, replicas in (("small", 2), ("wide", 12)):
            api.apply(training_job(name, namespace, replicas=replicas))
        api.apply(training_job("too-big", namespace, replicas=17))  # 16 nodes
        for name in ("small", "wide"):
            wait_phase(api, namespace, name, "Running")
        # The operator reports on each NetworkTopology every 10 s: once it has on ours, its
        # link gauges exist; then a rate needs a few scrapes.
        Cluster.wait_for(
            lambda: prometheus.query(f'netsched_links_degraded{{topology="{TOPOLOGY}"}}'),
            what=f"the operator's first report on NetworkTopology {TOPOLOGY}, scraped",
        )
        Cluster.wait_for(
            lambda: prometheus.query(
                f'count_over_time(netsched_queue_length{{job="{observe.JOB}"}}[1m]) >= {SCRAPES}'
            ),
            what=f"{SCRAPES} scrapes of the operator",
        )
        yield
    finally:
        api.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
        api.kubectl("delete", "networktopology", TOPOLOGY, "--ignore-not-found", check=False)


@pytest.mark.parametrize(
    "panel, expr",
    [(p.title, q.expr) for p in observe.PANELS for q in p.queries],
)
def test_every_dashboard_query_returns_series(
    prometheus: Prometheus, live: None, panel: str, expr: str
) -> None:
    series = prometheus.query(observe.for_prometheus(expr))
    assert series, f"panel {panel!r}: {expr} returned nothing"


@pytest.mark.parametrize("alert", observe.ALERTS, ids=lambda a: a.name)
def test_every_alert_reads_live_series_and_is_quiet_on_a_healthy_operator(
    prometheus: Prometheus, live: None, alert: observe.Alert
) -> None:
    assert prometheus.query(alert.signal), f"{alert.name}: {alert.signal} returned nothing"
    # A healthy operator: nothing fires (the unschedulable job has waited seconds, not 30 min).
    assert prometheus.query(alert.expr) == [], alert.expr


def test_prometheus_evaluates_every_rule_without_error(prometheus: Prometheus, live: None) -> None:
    def evaluated() -> list[dict[str, object]] | None:
        [group] = prometheus.api("rules")["groups"]
        rules = list(group["rules"])
        return rules if all(r.get("lastEvaluation", "").startswith("20") for r in rules) else None

    rules = Cluster.wait_for(evaluated, what="one evaluation of every rule")
    assert {r["name"] for r in rules} == {a.name for a in observe.ALERTS}
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
    assert all(r["state"] == "inactive" for r in rules), rules


def test_every_query_names_only_metrics_the_operator_really_exports(
    operator: OperatorProcess, live: None
) -> None:
    url = f"http://127.0.0.1:{operator.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:
        page = answer.read().decode()
    exported = {"up"} | {
        sample.name for family in text_string_to_metric_families(page) for sample in family.samples
    }
    exprs = [q.expr for p in observe.PANELS for q in p.queries]
    exprs += [e for a in observe.ALERTS for e in (a.expr, a.signal)]
    unknown = {name for e in exprs for name in observe.metric_names(e)} - exported
    assert not unknown, f"queried but not exported: {sorted(unknown)}"


def test_the_scrape_is_labelled_as_the_alerts_expect(prometheus: Prometheus, live: None) -> None:
    [target] = prometheus.api("targets")["activeTargets"]
    assert target["labels"]["job"] == observe.JOB and target["health"] == "up"
    assert Path(observe.ALERTS_FILE).is_file()
