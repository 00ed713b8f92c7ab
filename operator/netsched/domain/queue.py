"""The order in which waiting gangs are tried, and the rule that keeps a large one from starving.

Order: higher ``priority`` first, then earlier arrival (the time the job entered the
queue), then name, so the order is total and the same on every restart.

**Starvation bound.** Trying every waiting job in order (best-effort FIFO) lets small
gangs fill every hole a large gang would need: a 64-GPU job behind a stream of 8-GPU
jobs may wait forever. So once a job that cannot be placed has waited longer than
``starvation_seconds``, the jobs *behind* it are held: nothing after it is placed,
and the GPUs that running jobs free accumulate for it. It is placed as soon as enough
is free; the jobs behind it then go on. Jobs ahead of it (higher priority, or older)
are not held, and neither is anyone behind a job that would not fit even on an idle
cluster (more GPUs than exist under its maxTier, say): waiting cannot help it, so it
must not stop the queue. This is Kueue's StrictFIFO, switched on per job after a bound, instead of
for a whole queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_STARVATION_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Waiting:
    """A gang in the queue.

    Attributes:
        key: ``namespace/name``.
        priority: ``spec.priority`` (0 when unset).
        since: when it entered the queue.
    """

    key: str
    priority: int
    since: datetime

    def order(self) -> tuple[int, datetime, str]:
        return (-self.priority, self.since, self.key)


def queue_order(jobs: Iterable[Waiting]) -> list[Waiting]:
    """``jobs`` by priority (highest first), then arrival, then name."""
    return sorted(jobs, key=Waiting.order)


@dataclass(frozen=True, slots=True)
class Turn:
    """One job's turn in a round: try it, or hold it behind a starving job."""

    job: Waiting
    position: int
    """1-based position in the queue."""
    held_behind: Waiting | None = None


class Round:
    """Walk the queue in order, holding everyone behind the first starving failure.

    Example:
        >>> t0 = datetime(2025, 1, 1)
        >>> big = Waiting("ml/big", 0, t0)
        >>> small = Waiting("ml/small", 0, t0 + timedelta(seconds=1))
        >>> turns = Round([big, small], now=t0 + timedelta(seconds=600), starvation_seconds=300)
        >>> for turn in turns:
        ...     if turn.job is big:
        ...         turns.unplaced(turn.job)
        ...     print(turn.job.key, turn.held_behind and turn.held_behind.key)
        ml/big None
        ml/small ml/big
    """

    def __init__(
        self, jobs: Iterable[Waiting], *, now: datetime, starvation_seconds: float
    ) -> None:
        self._jobs = queue_order(jobs)
        self._now = now
        self._bound = timedelta(seconds=starvation_seconds)
        self._starving: Waiting | None = None

    def __iter__(self) -> Iterator[Turn]:
        for position, job in enumerate(self._jobs, start=1):
            yield Turn(job, position, self._starving)

    def unplaced(self, job: Waiting) -> None:
        """``job`` could not be placed: if it has waited past the bound, hold the rest."""
        if self._starving is None and self._now - job.since >= self._bound:
            self._starving = job

    def starves_at(self, job: Waiting) -> datetime:
        """When ``job`` will start holding the jobs behind it."""
        return job.since + self._bound
