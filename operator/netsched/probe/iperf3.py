"""iperf3, the tool network engineers trust: its server, one client run, and its JSON report.

A probe is ``iperf3 --client TARGET --json --time D --parallel S --omit 1``: S TCP streams
for D seconds after one second of slow start that is not counted. Its figure is what the
*receiver* got (``end.sum_received``), so it is goodput: about 95 % of a link's rate at a
1500-byte MTU (Ethernet and TCP/IP headers are the rest). The round-trip time is the
senders' mean (``end.streams[].sender.mean_rtt``, microseconds, Linux only).

Every way a probe can fail is a :class:`Failed` with a reason a person can act on, never
an exception: iperf3 missing, the peer unreachable or busy with another test, a report
that is not JSON, or a run that moved nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

DEFAULT_PORT = 5201
OMIT_SECONDS = 1
CONNECT_TIMEOUT_MS = 3000
MISSING = "iperf3 is not on PATH: install the iperf3 package (the netsched image has it)"


@dataclass(frozen=True, slots=True)
class Measured:
    """One successful run."""

    gbps: float
    rtt_microseconds: float | None
    seconds: float
    streams: int


@dataclass(frozen=True, slots=True)
class Failed:
    """One run that measured nothing, and why."""

    reason: str
    kind: str
    """A short label for metrics: ``missing``, ``unreachable``, ``busy``, ``no-traffic``,
    ``bad-report``, ``timeout`` or ``error``."""


def parse_report(text: str) -> Measured | Failed:
    """What one ``iperf3 --json`` client run reported.

    >>> parse_report('{"error": "the server is busy running a test. try again later"}').kind
    'busy'
    >>> parse_report("not json").kind
    'bad-report'
    """
    try:
        report = json.loads(text)
    except json.JSONDecodeError:
        return Failed(f"iperf3 printed no JSON report: {text.strip()[:200]!r}", "bad-report")
    if not isinstance(report, dict):
        return Failed("iperf3's report is not a JSON object", "bad-report")
    error = report.get("error")
    if error:
        return Failed(f"iperf3: {error}", _kind(str(error)))
    end = report.get("end") or {}
    received = end.get("sum_received") or {}
    try:
        bits = float(received["bits_per_second"])
        seconds = float(received["seconds"])
    except (KeyError, TypeError, ValueError):
        return Failed("iperf3's report has no end.sum_received.bits_per_second", "bad-report")
    if not bits > 0:
        return Failed("the probe moved no traffic (0 bits/s received)", "no-traffic")
    streams = [s for s in end.get("streams") or [] if isinstance(s, dict)]
    rtts = [_number(s.get("sender", {}).get("mean_rtt")) for s in streams]
    known = [r for r in rtts if r is not None and r > 0]
    return Measured(
        gbps=bits / 1e9,
        rtt_microseconds=sum(known) / len(known) if known else None,
        seconds=seconds,
        streams=len(streams) or 1,
    )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _kind(error: str) -> str:
    lowered = error.lower()
    if "busy" in lowered:
        return "busy"
    if "connect" in lowered or "no route" in lowered or "refused" in lowered:
        return "unreachable"
    return "error"


def client_command(
    binary: str,
    target: str,
    *,
    port: int = DEFAULT_PORT,
    duration_seconds: int,
    streams: int,
    bind: str | None = None,
) -> list[str]:
    """The iperf3 client command line of one probe."""
    command = [
        binary, "--client", target, "--port", str(port), "--json",
        "--time", str(duration_seconds), "--parallel", str(streams),
        "--omit", str(OMIT_SECONDS), "--connect-timeout", str(CONNECT_TIMEOUT_MS),
    ]  # fmt: skip
    return [*command, "--bind", bind] if bind else command


def measure(
    target: str,
    *,
    port: int = DEFAULT_PORT,
    duration_seconds: int,
    streams: int,
    bind: str | None = None,
    binary: str = "iperf3",
) -> Measured | Failed:
    """Run one probe to ``target``'s iperf3 server."""
    path = shutil.which(binary)
    if path is None:
        return Failed(MISSING, "missing")
    command = client_command(
        path, target, port=port, duration_seconds=duration_seconds, streams=streams, bind=bind
    )
    limit = duration_seconds + OMIT_SECONDS + CONNECT_TIMEOUT_MS / 1000 + 10
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return Failed(f"iperf3 to {target} did not finish within {limit:.0f} s", "timeout")
    result = parse_report(run.stdout or run.stderr)
    if isinstance(result, Failed) and run.returncode != 0 and not run.stdout:
        return Failed(f"iperf3 exited {run.returncode}: {run.stderr.strip()[:200]}", "error")
    return result


class Server:
    """The node's iperf3 server, started once and started again if it exits."""

    def __init__(self, *, bind: str | None, port: int = DEFAULT_PORT, binary: str = "iperf3"):
        self.bind, self.port, self.binary = bind, port, binary
        self._process: subprocess.Popen[bytes] | None = None

    def ensure(self) -> str | None:
        """Start the server unless it runs; None when it runs, else why it cannot."""
        if self._process is not None and self._process.poll() is None:
            return None
        path = shutil.which(self.binary)
        if path is None:
            return MISSING
        command = [path, "--server", "--port", str(self.port)]
        if self.bind:
            command += ["--bind", self.bind]
        self._process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
