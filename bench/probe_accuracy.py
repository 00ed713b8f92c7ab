"""How close the probe's iperf3 figures come to the rate a link is shaped to.

Two network namespaces joined by one veth pair, shaped with tc HTB on both ends to each rate
the dev cluster's fabric uses (50 Mbit/s for a degraded uplink, 200 Mbit/s for an uplink,
1 Gbit/s for a host link). In each, the probe agent's own iperf3 client command
(:func:`netsched.probe.iperf3.client_command`) and report parser run against an iperf3
server in the other namespace, with the agent's default settings and with the tests'
shorter ones, several times each.

The error is reported twice: against the shaped rate, and against the TCP goodput that rate
allows (HTB counts whole Ethernet frames: a 1500-byte MTU carries 1448 bytes of payload in
1514, so goodput is 95.6 % of the rate). Needs root, iproute2 and iperf3.

    python bench/probe_accuracy.py [--repeat 5]      # rewrites its section of docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from docs_sections import machine, replace
from netsched.probe.iperf3 import DEFAULT_PORT, Failed, client_command, parse_report

RATES = {"50mbit": 0.05, "200mbit": 0.2, "1gbit": 1.0}
SETTINGS = {"agent default (10 s, 4 streams)": (10, 4), "tests (3 s, 2 streams)": (3, 2)}
GOODPUT = 1448 / 1514
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADING = "# Probe accuracy (bench/probe_accuracy.py)"
A, B = "10.78.0.1", "10.78.0.2"


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def listeners(netns: str) -> str:
    """``ss -ltnH`` in ``netns``: its listening TCP sockets."""
    argv = ["ip", "netns", "exec", netns, "ss", "-ltnH"]
    return subprocess.run(argv, capture_output=True, text=True, check=False).stdout


def shape(netns: str, rate: str) -> None:
    """One HTB class at ``rate`` on eth0's egress (the qdisc is made once, then reshaped)."""
    listed = subprocess.run(["tc", "-n", netns, "qdisc", "show", "dev", "eth0"],
                            capture_output=True, text=True).stdout  # fmt: skip
    if "htb" not in listed:
        sh("tc", "-n", netns, "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "htb",
           "default", "10")  # fmt: skip
    sh("tc", "-n", netns, "class", "replace", "dev", "eth0", "parent", "1:", "classid", "1:10",
       "htb", "rate", rate, "ceil", rate)  # fmt: skip


def remove_leftovers() -> None:
    """The namespaces of a run that was killed (``pa<hex>-a``/``-b``), and what runs in them."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for name in (line.split(" ")[0] for line in listed.splitlines()):
        if re.fullmatch(r"pa[0-9a-f]{4}-[ab]", name):
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
            for pid in pids.stdout.split():
                os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run(repeat: int) -> list[tuple[str, str, list[float]]]:
    remove_leftovers()
    prefix = f"pa{os.getpid() % 0x10000:04x}"
    left, right = f"{prefix}-a", f"{prefix}-b"
    binary = shutil.which("iperf3")
    if binary is None:
        sys.exit("iperf3 is not installed (apt-get install iperf3)")
    results = []
    server = None
    try:
        for netns in (left, right):
            sh("ip", "netns", "add", netns)
            sh("ip", "-n", netns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"{prefix}x", "type", "veth", "peer", "name", f"{prefix}y")
        for device, netns, address in ((f"{prefix}x", left, A), (f"{prefix}y", right, B)):
            sh("ip", "link", "set", device, "netns", netns)
            sh("ip", "-n", netns, "link", "set", device, "name", "eth0")
            sh("ip", "-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
            sh("ip", "-n", netns, "link", "set", "eth0", "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", right, binary, "--server", "--bind", B],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        listening = f"{B}:{DEFAULT_PORT}"
        deadline = time.monotonic() + 10
        while listening not in listeners(right):
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"iperf3 --server did not listen on {listening} in {right}")
            time.sleep(0.05)
        for rate in RATES:
            shape(left, rate)
            shape(right, rate)
            for label, (duration, streams) in SETTINGS.items():
                gbps = []
                for _ in range(repeat):
                    command = client_command(
                        binary, B, duration_seconds=duration, streams=streams, bind=A
                    )
                    out = subprocess.run(
                        ["ip", "netns", "exec", left, *command], capture_output=True, text=True
                    ).stdout
                    result = parse_report(out)
                    if isinstance(result, Failed):
                        sys.exit(f"{rate}, {label}: {result.reason}")
                    gbps.append(result.gbps)
                print(f"{rate:>8} {label:<34} " + " ".join(f"{g:.4f}" for g in gbps), flush=True)
                results.append((rate, label, gbps))
    finally:
        if server is not None:
            server.kill()
            server.wait()
        for netns in (left, right):
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
    return results


def table(results: list[tuple[str, str, list[float]]], repeat: int, seconds: float) -> str:
    lines = [
        HEADING,
        "",
        "Command: `python bench/probe_accuracy.py`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {seconds / 60:.1f} min  ",
        f"Machine: {machine()}  ",
        "Setup: two network namespaces, one veth pair shaped with tc HTB (rate = ceil) on both "
        f"ends; the probe agent's iperf3 command and parser; {repeat} runs a row",
        "",
        "| shaped rate | settings | median Gbit/s | min - max | error vs rate | "
        "error vs goodput (rate x 1448/1514) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for rate, label, gbps in results:
        shaped = RATES[rate]
        middle = statistics.median(gbps)
        lines.append(
            f"| {rate} | {label} | {middle:.4f} | {min(gbps):.4f} - {max(gbps):.4f} | "
            f"{middle / shaped - 1:+.1%} | {middle / (shaped * GOODPUT) - 1:+.1%} |"
        )
    worst = max(abs(statistics.median(g) / (RATES[r] * GOODPUT) - 1) for r, _, g in results)
    worst_raw = max(abs(statistics.median(g) / RATES[r] - 1) for r, _, g in results)
    lines += [
        "",
        f"Largest error of a median: {worst_raw:.1%} against the shaped rate (the issue's bar "
        f"is 15 %), {worst:.1%} against goodput (the aim is 5 % after protocol overhead).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    began = time.monotonic()
    results = run(args.repeat)
    text = table(results, args.repeat, time.monotonic() - began)
    print(text)
    if not args.no_write:
        replace(DOCS, HEADING, text)
        print(f"wrote its section of {DOCS}")


if __name__ == "__main__":
    main()
