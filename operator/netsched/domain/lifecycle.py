"""A TrainingJob's life, as pure decisions: given what the API server shows, what next.

::

    Pending ──(pods created, gated)──► queued ──place──► Placing ──all bound──► Running
       ▲                                 │                  │                     │
       │                                 ▼                  │ bind timeout        ├─ all pods
       │                           Unschedulable ───────────┤ (un-reserve,        │  Succeeded
       │                       (retried when capacity       │  re-plan)           ▼
       │                        changes; Failed after       ▼                 Succeeded
       │                        schedulingTimeoutSeconds)  Pending
       │
       └── Restarting ◄── a pod Failed, a node lost (RestartGang, restarts < backoffLimit)
                          otherwise (FailJob, backoff spent, activeDeadlineSeconds) ──► Failed

:func:`next_step` reads one job and its pods and returns one :class:`Step`; the
controller carries it out and asks again when something changes. Every step is
idempotent: doing it twice (after an operator restart, say) changes nothing more,
because each reads only what the API server holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

DEFAULT_BIND_TIMEOUT = timedelta(seconds=120)
"""How long pinned pods may wait for kube-scheduler before the gang is re-planned."""


class Phase(StrEnum):
    """Where the job is in its life."""

    PENDING = "Pending"
    """Accepted, not yet looked at (or its spec is invalid: see the Ready condition)."""
    PLACING = "Placing"
    """A placement is chosen; pods are created and waiting to bind."""
    RUNNING = "Running"
    """Every pod is bound and running."""
    RESTARTING = "Restarting"
    """A pod failed or a node was lost; the gang is being placed again."""
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNSCHEDULABLE = "Unschedulable"
    """No placement satisfies the constraints now; retried until schedulingTimeoutSeconds."""


FINISHED = frozenset({Phase.SUCCEEDED, Phase.FAILED})


class FailurePolicy(StrEnum):
    """What a failed pod or a lost node does to the job."""

    RESTART_GANG = "RestartGang"
    """Delete every pod and place the whole gang again (counts against ``backoffLimit``)."""
    FAIL_JOB = "FailJob"
    """Mark the job Failed at once."""


@dataclass(frozen=True, slots=True)
class GangPod:
    """One pod of a gang as the API server shows it.

    Attributes:
        name: ``<job>-<rank>``.
        rank: its rank label.
        restart: the job's restart count when the pod was made (older pods are stale).
        phase: ``status.phase`` (``Pending`` until the kubelet runs it).
        node: the node it is bound to, if any.
        pinned: the node netsched's nodeSelector names, if any.
        gated: it still carries netsched's scheduling gate.
        deleting: it has a deletion timestamp.
    """

    name: str
    rank: int
    restart: int
    phase: str
    node: str | None = None
    pinned: str | None = None
    gated: bool = True
    deleting: bool = False


@dataclass(frozen=True, slots=True)
class JobView:
    """What the lifecycle reads of a TrainingJob (its spec, run policy and status)."""

    replicas: int
    phase: Phase
    restarts: int = 0
    backoff_limit: int = 3
    failure_policy: FailurePolicy = FailurePolicy.RESTART_GANG
    active_deadline_seconds: int | None = None
    ttl_seconds_after_finished: int | None = None
    scheduling_timeout_seconds: int = 600
    waiting_since: datetime | None = None
    """When the job last entered the queue (Placed=False), for the scheduling timeout."""
    placed_at: datetime | None = None
    """When the current placement was chosen (Placed=True), for the bind timeout."""
    start_time: datetime | None = None
    completion_time: datetime | None = None
    placement: tuple[str, ...] | None = None
    """Node per rank of the current placement, from the job's status."""

    @property
    def bind_timeout(self) -> timedelta:
        """The shorter of :data:`DEFAULT_BIND_TIMEOUT` and ``schedulingTimeoutSeconds``."""
        return min(DEFAULT_BIND_TIMEOUT, timedelta(seconds=self.scheduling_timeout_seconds))


# --- steps ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do until something changes, or until ``until`` (a deadline to re-check)."""

    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class CreatePods:
    """Create the missing ranks' pods, gated (and the Service and NetworkPolicy)."""

    ranks: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Every pod exists and is gated: the job waits for a placement decision."""

    until: datetime | None = None
    """When the scheduling timeout expires."""


@dataclass(frozen=True, slots=True)
class Pin:
    """A placement is recorded but some pods still carry the gate: pin them (pod, node)."""

    pods: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Advance:
    """Move to ``phase`` (Running or Succeeded) with ``reason``."""

    phase: Phase
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class DeletePods:
    """Move to ``phase`` for ``reason``, then delete ``pods``.

    ``phase`` Restarting counts a restart; Pending un-reserves the gang for a new
    plan (no restart counted); Failed ends the job; None only clears away pods (of an
    earlier run, or of a failed job) without a change of phase.
    """

    pods: tuple[str, ...]
    phase: Phase | None
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class DeleteJob:
    """``ttlSecondsAfterFinished`` has passed."""


Step = Wait | CreatePods | Enqueue | Pin | Advance | DeletePods | DeleteJob


def next_step(
    job: JobView, pods: Sequence[GangPod], *, healthy: Mapping[str, bool], now: datetime
) -> Step:
    """The one thing to do next for ``job``.

    Args:
        job: the job's spec and status.
        pods: its pods, of every restart.
        healthy: node name -> Ready and present; a node missing here is gone.
        now: the time of the decision.
    """
    live = [p for p in pods if not p.deleting]
    if job.phase in FINISHED:
        return _finished(job, live, now=now)
    if job.start_time and job.active_deadline_seconds is not None:
        deadline = job.start_time + timedelta(seconds=job.active_deadline_seconds)
        if now >= deadline:
            return _fail(job, live, "DeadlineExceeded", "activeDeadlineSeconds passed")
    stale = [p.name for p in live if p.restart != job.restarts]
    if stale:
        return DeletePods(tuple(stale), None, "StalePods", "pods of an earlier run remain")
    current = {p.rank: p for p in live if p.restart == job.restarts}
    if len(current) < len(live) or any(p.deleting for p in pods):
        return Wait()  # pods of an earlier run are still going away
    trouble = _trouble(job, current, healthy=healthy)
    if trouble is not None:
        return trouble
    if len(current) == job.replicas and all(p.phase == "Succeeded" for p in current.values()):
        return Advance(Phase.SUCCEEDED, "AllPodsSucceeded", f"all {job.replicas} pods succeeded")
    missing = tuple(r for r in range(job.replicas) if r not in current)
    if missing:
        return CreatePods(missing)
    return _placement_step(job, list(current.values()), now=now)


def _finished(job: JobView, live: Sequence[GangPod], *, now: datetime) -> Step:
    active = tuple(p.name for p in live if p.phase not in ("Succeeded", "Failed"))
    if job.phase is Phase.FAILED and active:
        return DeletePods(active, None, "Cleanup", "the job failed; its pods go")
    if job.ttl_seconds_after_finished is None or job.completion_time is None:
        return Wait()
    expiry = job.completion_time + timedelta(seconds=job.ttl_seconds_after_finished)
    return DeleteJob() if now >= expiry else Wait(until=expiry)


def _trouble(
    job: JobView, current: Mapping[int, GangPod], *, healthy: Mapping[str, bool]
) -> Step | None:
    """A failed pod or a lost node: restart the gang, fail the job, or re-plan."""
    for pod in sorted(current.values(), key=lambda p: p.rank):
        if pod.phase == "Failed":
            return _failure(job, current, "PodFailed", f"pod {pod.name} failed")
        if pod.node and not healthy.get(pod.node, False):
            return _failure(job, current, "NodeLost", f"node {pod.node} of pod {pod.name} is lost")
    for pod in current.values():
        if pod.pinned and not pod.node and not healthy.get(pod.pinned, False):
            message = f"node {pod.pinned} chosen for pod {pod.name} is gone or not Ready"
            return DeletePods(_names(current), Phase.PENDING, "NodeLost", f"{message}; re-planning")
    return None


def _failure(job: JobView, current: Mapping[int, GangPod], reason: str, message: str) -> Step:
    if job.failure_policy is FailurePolicy.FAIL_JOB:
        return _fail(job, list(current.values()), reason, f"{message} (failurePolicy FailJob)")
    if job.restarts >= job.backoff_limit:
        limit = f"{message}; backoffLimit {job.backoff_limit} reached"
        return _fail(job, list(current.values()), "BackoffLimitExceeded", limit)
    return DeletePods(_names(current), Phase.RESTARTING, reason, f"{message}; restarting the gang")


def _fail(job: JobView, live: Sequence[GangPod], reason: str, message: str) -> Step:
    active = tuple(p.name for p in live if p.phase not in ("Succeeded", "Failed"))
    return DeletePods(active, Phase.FAILED, reason, message)


def _placement_step(job: JobView, pods: Sequence[GangPod], *, now: datetime) -> Step:
    gated = [p for p in pods if p.gated and not p.pinned]
    if len(gated) == len(pods):
        if job.placement is not None and job.phase is Phase.PLACING:
            return Pin(tuple((p.name, job.placement[p.rank]) for p in sorted(pods, key=_rank)))
        since = job.waiting_since or now
        expiry = since + timedelta(seconds=job.scheduling_timeout_seconds)
        if now >= expiry:
            seconds = job.scheduling_timeout_seconds
            return _fail(job, pods, "SchedulingTimeout", f"not placed within {seconds} s")
        return Enqueue(until=expiry)
    if gated:
        if job.placement is None:
            return DeletePods(
                _names({p.rank: p for p in pods}),
                Phase.PENDING,
                "PartialPlacement",
                "some pods are pinned but no placement is recorded; re-planning",
            )
        return Pin(tuple((p.name, job.placement[p.rank]) for p in sorted(gated, key=_rank)))
    if all(p.node for p in pods):
        if job.phase is not Phase.RUNNING and all(p.phase == "Running" for p in pods):
            return Advance(Phase.RUNNING, "AllPodsRunning", f"all {job.replicas} pods run")
        return Wait()
    placed_at = job.placed_at or now
    expiry = placed_at + job.bind_timeout
    if now >= expiry:
        unbound = sum(1 for p in pods if not p.node)
        message = (
            f"{unbound} of {job.replicas} pods did not bind within "
            f"{job.bind_timeout.total_seconds():.0f} s; un-reserving and re-planning"
        )
        return DeletePods(_names({p.rank: p for p in pods}), Phase.PENDING, "BindTimeout", message)
    return Wait(until=expiry)


def _names(pods: Mapping[int, GangPod]) -> tuple[str, ...]:
    return tuple(pods[r].name for r in sorted(pods))


def _rank(pod: GangPod) -> int:
    return pod.rank
