"""A real ``netsched run`` process for the end-to-end benchmark, and what its /metrics say.

The operator runs as users run it: a separate process (``python -m netsched.cli run``)
against the benchmark's cluster, its log in a file. :meth:`Operator.stop` always ends
it (SIGTERM, then SIGKILL), so a failed run leaves no operator behind.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from e2e_kube import wait_for

DECISION = "netsched_placement_decision_seconds"
STARVATION_SECONDS = 300.0
"""The default bound: no job of the benchmark waits long enough to hold others."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Scrape:
    """One reading of the operator's /metrics (every sample, by its series)."""

    samples: dict[str, float]

    @property
    def rss_bytes(self) -> float:
        return self.samples.get("process_resident_memory_bytes", 0.0)

    @property
    def sync_seconds(self) -> float:
        """How long the operator took to fill its cache (``netsched_cache_sync_seconds``)."""
        return self.samples.get("netsched_cache_sync_seconds", math.nan)

    @property
    def cpu_seconds(self) -> float:
        return self.samples.get("process_cpu_seconds_total", 0.0)

    def histogram(self, name: str) -> list[tuple[float, float]]:
        """``(upper bound, cumulative count)`` of a label-free histogram, ascending."""
        prefix = f'{name}_bucket{{le="'
        buckets = [
            (float(series[len(prefix) : -2]), value)
            for series, value in self.samples.items()
            if series.startswith(prefix)
        ]
        return sorted(buckets)

    def count(self, name: str) -> float:
        return self.samples.get(f"{name}_count", 0.0)

    def total(self, name: str) -> float:
        return self.samples.get(f"{name}_sum", 0.0)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket.

    Observations above the last finite bound give that bound (as Prometheus does).
    """
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def bucket_bound(q: float, buckets: list[tuple[float, float]]) -> float:
    """The upper bound of the bucket holding the ``q`` quantile (what the histogram proves)."""
    rank = q * buckets[-1][1]
    return next(bound for bound, cumulative in buckets if cumulative >= rank)


@dataclass
class Operator:
    """One ``netsched run`` against ``kubeconfig``; its log goes to ``log``."""

    kubeconfig: Path
    log: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 120.0) -> Operator:
        self.port = self.port or free_port()
        command = [
            sys.executable, "-m", "netsched.cli", "run",
            "--kubeconfig", str(self.kubeconfig),
            "--metrics-port", str(self.port), "--metrics-address", "127.0.0.1",
            "--starvation-seconds", str(STARVATION_SECONDS),
        ]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        wait_for(self._serving, what=f"the operator's /metrics (log: {self.log})", timeout=timeout)
        return self

    def _serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the operator exited ({self.process.returncode}):\n{tail}")
        try:
            self.scrape()
        except OSError:
            return False
        return True

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def scrape(self) -> Scrape:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                samples[series] = float(value)
        return Scrape(samples)

    def peak_rss_bytes(self) -> float:
        """VmHWM from /proc: the most resident memory the process has had."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
        return math.nan

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s; harmless when it is not running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

    def __enter__(self) -> Operator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def settle(seconds: float) -> None:
    """Let the cluster's components catch up between batches."""
    time.sleep(seconds)
