"""The queue's order and its starvation bound (netsched.domain.queue)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from netsched.domain.queue import Round, Waiting, queue_order

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_priority_then_arrival_then_name() -> None:
    jobs = [
        Waiting("b", 0, at(1)),
        Waiting("a", 0, at(1)),
        Waiting("old", 0, at(0)),
        Waiting("vip", 5, at(9)),
    ]
    assert [j.key for j in queue_order(jobs)] == ["vip", "old", "a", "b"]


def walk(turns: Round, unplaced: set[str]) -> list[tuple[str, str | None]]:
    seen = []
    for turn in turns:
        if turn.job.key in unplaced and turn.held_behind is None:
            turns.unplaced(turn.job)
        seen.append((turn.job.key, turn.held_behind.key if turn.held_behind else None))
    return seen


def test_a_young_unplaced_job_lets_the_ones_behind_it_backfill() -> None:
    jobs = [Waiting("big", 0, at(0)), Waiting("small", 0, at(1))]
    turns = Round(jobs, now=at(10), starvation_seconds=300)
    assert walk(turns, {"big"}) == [("big", None), ("small", None)]


def test_past_the_bound_it_holds_everyone_behind_it_but_not_ahead() -> None:
    jobs = [
        Waiting("vip", 9, at(5)),
        Waiting("big", 0, at(0)),
        Waiting("s1", 0, at(1)),
        Waiting("s2", 0, at(2)),
    ]
    turns = Round(jobs, now=at(400), starvation_seconds=300)
    assert walk(turns, {"big"}) == [("vip", None), ("big", None), ("s1", "big"), ("s2", "big")]
    assert turns.starves_at(jobs[1]) == at(300)
