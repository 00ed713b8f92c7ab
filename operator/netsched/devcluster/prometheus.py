"""A real Prometheus (built from its Go module, :data:`binaries.TOOL_COMPONENTS`) scraping
netsched on the dev cluster, and its HTTP API: what the dashboard and alert tests query.

It scrapes static targets (no service discovery: the build leaves it out), keeps its data
in a directory of the caller's, listens on 127.0.0.1 only, and loads netsched's alerting
rules, so the rules are evaluated on live data as a real Prometheus evaluates them.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netsched.devcluster.binaries import TOOL_COMPONENTS, ensure_all
from netsched.devcluster.failures import ComponentError
from netsched.devcluster.processes import Running, free_port, http_ok, start, stop, wait_until

START_TIMEOUT_SECONDS = 60.0


@dataclass
class Prometheus:
    """A running Prometheus and its API."""

    process: Running
    url: str

    def api(self, path: str, **params: str) -> Any:
        """``GET /api/v1/<path>`` with ``params``; its ``data``, or ComponentError."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as answer:
            body = json.loads(answer.read())
        if body.get("status") != "success":
            raise ComponentError(
                component="prometheus",
                what=f"{path} {params} failed: {body.get('error')}",
                remedy="check the expression with promtool",
            )
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector ``expr`` evaluates to now."""
        return list(self.api("query", query=expr)["result"])

    def query_range(self, expr: str, *, start: float, end: float, step: float) -> list[Any]:
        data = self.api("query_range", query=expr, start=str(start), end=str(end), step=str(step))
        return list(data["result"])

    def stop(self) -> None:
        stop(self.process)


def scrape_config(
    targets: dict[str, str], *, interval: str, rule_files: list[Path]
) -> dict[str, Any]:
    """One static scrape job per ``{job: "host:port"}``."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in targets.items()
        ],
    }


def start_prometheus(
    targets: dict[str, str],
    run_dir: Path,
    *,
    interval: str = "1s",
    rule_files: list[Path] | None = None,
) -> Prometheus:
    """Start Prometheus scraping ``targets`` every ``interval``; wait until it is ready."""
    binary = ensure_all(TOOL_COMPONENTS)["prometheus"]
    run_dir.mkdir(parents=True, exist_ok=True)
    config = run_dir / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(scrape_config(targets, interval=interval, rule_files=rule_files or []))
    )
    port = free_port()
    log = run_dir / "prometheus.log"
    process = start(
        "prometheus",
        [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={run_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            process,
            lambda: http_ok(f"{url}/-/ready"),
            timeout=START_TIMEOUT_SECONDS,
            what="/-/ready",
            remedy=f"read {log}",
        )
    except ComponentError:
        stop(process)
        raise
    return Prometheus(process, url)
