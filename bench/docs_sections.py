"""docs/benchmarks.md holds one top-level section per benchmark; each rewrites only its own.

A section runs from its ``# `` heading to the next top-level heading (or the end). The
placement benchmark's report starts the file; the end-to-end benchmark's follows it.
"""

from __future__ import annotations

from pathlib import Path


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
