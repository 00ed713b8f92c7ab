"""A TrainingJob's next step, given what the API server shows (netsched.domain.lifecycle)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from netsched.domain.lifecycle import (
    Advance,
    CreatePods,
    DeleteJob,
    DeletePods,
    Enqueue,
    FailurePolicy,
    GangPod,
    JobView,
    Phase,
    Pin,
    Wait,
    next_step,
)

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
HEALTHY = {"n0": True, "n1": True, "n2": True}


def gated(rank: int, **kw: object) -> GangPod:
    return GangPod(name=f"j-{rank}", rank=rank, restart=0, phase="Pending", **kw)  # type: ignore[arg-type]


def running(rank: int, node: str = "", **kw: object) -> GangPod:
    node = node or f"n{rank}"
    fields = {"restart": 0, "phase": "Running", "node": node, "pinned": node, "gated": False, **kw}
    return GangPod(name=f"j-{rank}", rank=rank, **fields)  # type: ignore[arg-type]


def view(phase: Phase = Phase.PENDING, **kw: object) -> JobView:
    return JobView(replicas=2, phase=phase, **kw)  # type: ignore[arg-type]


def test_a_new_job_creates_its_pods() -> None:
    assert next_step(view(), [], healthy=HEALTHY, now=T0) == CreatePods((0, 1))


def test_only_missing_ranks_are_created() -> None:
    assert next_step(view(), [gated(1)], healthy=HEALTHY, now=T0) == CreatePods((0,))


def test_gated_pods_wait_in_the_queue_until_the_scheduling_timeout() -> None:
    job = view(waiting_since=T0, scheduling_timeout_seconds=60)
    assert next_step(job, [gated(0), gated(1)], healthy=HEALTHY, now=T0) == Enqueue(
        until=T0 + timedelta(seconds=60)
    )
    late = next_step(job, [gated(0), gated(1)], healthy=HEALTHY, now=T0 + timedelta(seconds=61))
    assert isinstance(late, DeletePods) and late.phase is Phase.FAILED
    assert late.reason == "SchedulingTimeout"


def test_a_recorded_placement_is_pinned_after_a_restart_of_the_operator() -> None:
    job = view(Phase.PLACING, placement=("n0", "n2"), placed_at=T0)
    assert next_step(job, [gated(0), gated(1)], healthy=HEALTHY, now=T0) == Pin(
        (("j-0", "n0"), ("j-1", "n2"))
    )
    half = [running(0, "n0"), gated(1)]
    assert next_step(job, half, healthy=HEALTHY, now=T0) == Pin((("j-1", "n2"),))


def test_a_partial_pin_without_a_recorded_placement_is_replanned() -> None:
    step = next_step(view(), [running(0), gated(1)], healthy=HEALTHY, now=T0)
    assert isinstance(step, DeletePods)
    assert (step.phase, step.reason, step.pods) == (
        Phase.PENDING,
        "PartialPlacement",
        ("j-0", "j-1"),
    )


def test_all_pods_running_advance_the_job() -> None:
    step = next_step(view(Phase.PLACING), [running(0), running(1)], healthy=HEALTHY, now=T0)
    assert step == Advance(Phase.RUNNING, "AllPodsRunning", "all 2 pods run")
    assert (
        next_step(view(Phase.RUNNING), [running(0), running(1)], healthy=HEALTHY, now=T0) == Wait()
    )


def test_pins_that_do_not_bind_are_unreserved_after_the_bind_timeout() -> None:
    job = view(Phase.PLACING, placement=("n0", "n1"), placed_at=T0, scheduling_timeout_seconds=30)
    pods = [running(0), GangPod("j-1", 1, 0, "Pending", pinned="n1", gated=False)]
    assert next_step(job, pods, healthy=HEALTHY, now=T0 + timedelta(seconds=10)) == Wait(
        until=T0 + timedelta(seconds=30)
    )
    step = next_step(job, pods, healthy=HEALTHY, now=T0 + timedelta(seconds=31))
    assert isinstance(step, DeletePods)
    assert (step.phase, step.reason) == (Phase.PENDING, "BindTimeout")
    assert "1 of 2 pods did not bind within 30 s" in step.message


@pytest.mark.parametrize(
    ("policy", "restarts", "phase", "reason"),
    [
        (FailurePolicy.RESTART_GANG, 0, Phase.RESTARTING, "PodFailed"),
        (FailurePolicy.RESTART_GANG, 3, Phase.FAILED, "BackoffLimitExceeded"),
        (FailurePolicy.FAIL_JOB, 0, Phase.FAILED, "PodFailed"),
    ],
)
def test_a_failed_pod(policy: FailurePolicy, restarts: int, phase: Phase, reason: str) -> None:
    job = view(Phase.RUNNING, failure_policy=policy, restarts=restarts, backoff_limit=3)
    pods = [running(0, restart=restarts), running(1, phase="Failed", restart=restarts)]
    step = next_step(job, pods, healthy=HEALTHY, now=T0)
    assert isinstance(step, DeletePods)
    assert (step.phase, step.reason) == (phase, reason)


def test_a_lost_node_restarts_the_gang() -> None:
    step = next_step(view(Phase.RUNNING), [running(0), running(1)], healthy={"n0": True}, now=T0)
    assert isinstance(step, DeletePods)
    assert (step.phase, step.reason) == (Phase.RESTARTING, "NodeLost")


def test_a_lost_node_before_binding_replans_without_a_restart() -> None:
    pinned = [GangPod(f"j-{r}", r, 0, "Pending", pinned=f"n{r}", gated=False) for r in (0, 1)]
    job = view(Phase.PLACING, placement=("n0", "n1"), placed_at=T0)
    step = next_step(job, pinned, healthy={"n0": True, "n1": False}, now=T0)
    assert isinstance(step, DeletePods)
    assert (step.phase, step.reason) == (Phase.PENDING, "NodeLost")


def test_pods_of_an_earlier_run_go_first_and_the_gang_waits_for_them() -> None:
    old = GangPod("j-0", 0, 0, "Running", node="n0", gated=False)
    job = view(Phase.RESTARTING, restarts=1)
    step = next_step(job, [old], healthy=HEALTHY, now=T0)
    assert step == DeletePods(("j-0",), None, "StalePods", "pods of an earlier run remain")
    going = GangPod("j-0", 0, 0, "Running", node="n0", gated=False, deleting=True)
    assert next_step(job, [going], healthy=HEALTHY, now=T0) == Wait()
    assert next_step(job, [], healthy=HEALTHY, now=T0) == CreatePods((0, 1))


def test_success_then_the_ttl() -> None:
    done = [running(0, phase="Succeeded"), running(1, phase="Succeeded")]
    step = next_step(view(Phase.RUNNING), done, healthy=HEALTHY, now=T0)
    assert step == Advance(Phase.SUCCEEDED, "AllPodsSucceeded", "all 2 pods succeeded")
    job = view(Phase.SUCCEEDED, completion_time=T0, ttl_seconds_after_finished=60)
    assert next_step(job, done, healthy=HEALTHY, now=T0) == Wait(until=T0 + timedelta(seconds=60))
    assert next_step(job, done, healthy=HEALTHY, now=T0 + timedelta(seconds=60)) == DeleteJob()


def test_the_active_deadline_fails_a_running_job() -> None:
    job = view(Phase.RUNNING, start_time=T0, active_deadline_seconds=10)
    step = next_step(job, [running(0), running(1)], healthy=HEALTHY, now=T0 + timedelta(seconds=10))
    assert isinstance(step, DeletePods)
    assert (step.phase, step.reason, step.pods) == (
        Phase.FAILED,
        "DeadlineExceeded",
        ("j-0", "j-1"),
    )


def test_a_failed_job_clears_away_its_running_pods() -> None:
    step = next_step(view(Phase.FAILED), [running(0)], healthy=HEALTHY, now=T0)
    assert step == DeletePods(("j-0",), None, "Cleanup", "the job failed; its pods go")
