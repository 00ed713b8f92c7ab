"""Start, watch and stop the dev cluster's processes.

Every process runs in its own session with its output in a log file, so a
crash leaves evidence and ``dev-cluster down`` can stop what ``up`` started
from another shell. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netsched.devcluster.failures import ComponentError, log_tail

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass(frozen=True, slots=True)
class Running:
    """A started component: its pid and where its log goes."""

    name: str
    pid: int
    log: Path


def start(name: str, argv: list[str], *, log: Path) -> Running:
    """Start ``argv`` detached from our session, output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Running(name=name, pid=process.pid, log=log)


def is_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _reap(pid: int) -> None:
    # Our own children must be waited for, or they linger as zombies.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(running: Running) -> None:
    """SIGTERM the component's process group, then SIGKILL what is left after a grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(running.pid, sig)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while time.monotonic() < deadline:
            _reap(running.pid)
            if not is_alive(running.pid):
                return
            time.sleep(POLL_SECONDS)


def stop_all(started: list[Running]) -> None:
    """Stop every process of ``started``, newest first (a process may depend on an older
    one, never the other way round), and empty the list."""
    for running in reversed(started):
        stop(running)
    started.clear()


def wait_until(
    running: Running,
    ready: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    remedy: str,
) -> None:
    """Poll ``ready`` until it holds; fail fast if the process dies, bounded by ``timeout``.

    Raises:
        ComponentError: the process exited, or was not ready in time; carries its log tail.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(running.pid)
        if not is_alive(running.pid):
            raise ComponentError(
                component=running.name,
                what=f"exited while starting (waiting for {what})",
                log_tail=log_tail(running.log),
                remedy=remedy,
            )
        if ready():
            return
        time.sleep(POLL_SECONDS)
    raise ComponentError(
        component=running.name,
        what=f"not ready after {timeout:.0f} s (waiting for {what})",
        log_tail=log_tail(running.log),
        remedy=remedy,
    )


def https_ok(url: str, *, token: str | None = None, ca: Path | None = None) -> bool:
    """True when ``url`` answers 200; TLS is verified against ``ca`` when given."""
    context = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
