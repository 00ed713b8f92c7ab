"""The one error type of the dev cluster: which component, what happened, its log, what to do."""

from __future__ import annotations

from pathlib import Path

TAIL_LINES = 25


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a component's log file, or a note that it has none yet."""
    try:
        return tail(path.read_text(errors="replace"), lines)
    except FileNotFoundError:
        return f"(no log at {path})"


class ComponentError(RuntimeError):
    """A dev-cluster component could not be built, started or made ready.

    The message is one paragraph a person can act on, followed by the
    component's log tail when there is one.
    """

    def __init__(self, *, component: str, what: str, remedy: str, log_tail: str = "") -> None:
        self.component = component
        self.what = what
        self.remedy = remedy
        self.log_tail = log_tail
        message = f"{component}: {what}. What to do: {remedy}."
        if log_tail:
            message += f"\n--- last lines of {component}'s output ---\n{log_tail}"
        super().__init__(message)
