"""docs/benchmarks.md holds one top-level section per benchmark; each rewrites only its own.

A section runs from its ``# `` heading to the next top-level heading (or the end). The
placement benchmark's report starts the file; the end-to-end benchmark's follows it. What
every section writes the same way lives here too: the machine it ran on and the issue's
bars as PASS/FAIL lines (printed, never asserted).
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def bar(ok: bool, text: str) -> str:
    """One of an issue's bars as the benchmarks print it: ``PASS  text`` or ``FAIL  text``."""
    return f"{'PASS' if ok else 'FAIL'}  {text}"


def machine(*, memory: bool = False) -> str:
    """CPUs, CPU model and Python, as each section's Machine line gives them (with the RAM
    for the benchmarks that share the machine with a cluster)."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = ""
    if memory:
        free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.splitlines()
        ram = f", {free[1].split()[1] if len(free) > 1 else '?'} GiB RAM (free -g)"
    return f"{os.cpu_count()} CPUs (nproc), {model}{ram}, Python {platform.python_version()}"


def split(text: str) -> list[tuple[str, str]]:
    """``(heading, body)`` per top-level section, in order (a preamble has heading "")."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("# "):
            sections.append((line.strip(), []))
        sections[-1][1].append(line)
    return [(heading, "".join(lines)) for heading, lines in sections if heading or lines]


def replace(path: Path, heading: str, text: str) -> None:
    """Write ``text`` as the section ``heading`` of ``path``: in its place if there is one,
    else after the others. Every other section is kept as it is."""
    old = split(path.read_text()) if path.exists() else []
    body = text.rstrip("\n") + "\n"
    if not any(h == heading for h, _ in old):
        old.append((heading, ""))
    parts = [body if h == heading else s for h, s in old]
    path.write_text("\n".join(part.rstrip("\n") + "\n" for part in parts))
