"""The placement worker: one loop reconciles every TrainingJob and makes one decision at a time.

Each cycle has two phases:

1. **Reconcile.** For every job (several at once: a job's step writes only its own
   objects and decides nothing about capacity), validate it, ask
   :func:`netsched.domain.lifecycle.next_step` what comes next, and do that one step
   (create the gated pods, pin pods of a recorded placement, advance the phase, restart
   or fail the gang, delete a finished job). A failure in one job is logged, counted
   and posted as an Event; the others go on.
2. **Place.** The jobs waiting for a placement are walked in queue order
   (:mod:`netsched.domain.queue`), one decision at a time on one snapshot, which each
   placement updates before the next decision reads it: two decisions never hand out
   the same free GPUs. A placement is written to the job's status *before* its pods
   are pinned, so an operator killed in between finishes the same placement when it
   comes back instead of choosing another.

The loop sleeps until a watch event wakes it (:meth:`Worker.notify`) or the nearest
deadline (a bind timeout, a TTL, a starvation bound) comes. A job found unschedulable
is tried again only when capacity has changed since: a pod finished or went, a node
joined, changed or recovered, a measurement or topology changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from netsched import metrics
from netsched.api import NetworkTopology, PlacementStatus, TrainingJob, summary
from netsched.api.meta import condition_since, rfc3339, with_condition
from netsched.api.validation import validate_training_job
from netsched.clusterfile import ClusterState
from netsched.controller.cache import Cache, JobRecord
from netsched.controller.jobs import (
    after_deletion,
    conditions_of,
    has_condition,
    job_view,
    manifest_of,
    queue_entry,
    reserve,
    since_queued,
    snapshot_key,
    split_key,
)
from netsched.controller.kube import Conflict, Kube, Rejected
from netsched.domain import lifecycle, manifests
from netsched.domain.lifecycle import Phase
from netsched.domain.placement import Placement, place
from netsched.domain.queue import Round, Turn, Waiting
from netsched.domain.topology import ClusterSnapshot

log = logging.getLogger("netsched.worker")
MAX_IDLE_SECONDS = 30.0
"""The longest the worker sleeps without an event (a safety net, not the trigger)."""
RECONCILE_CONCURRENCY = 16
"""Jobs reconciled at once in phase 1 (their steps write only their own objects)."""
MAX_BACKOFF_SECONDS = 60.0
"""The longest a job whose reconcile keeps failing is left alone between tries."""
COALESCE_SECONDS = 0.05
"""After a wake-up, wait this long so that a burst of watch events makes one cycle."""


class Worker:
    """The single decision maker (see the module docstring)."""

    def __init__(
        self, *, kube: Kube, cache: Cache, strategy: str, starvation_seconds: float
    ) -> None:
        self.kube = kube
        self.cache = cache
        self.strategy = strategy
        self.starvation_seconds = starvation_seconds
        self.ready = asyncio.Event()
        self._wake = asyncio.Event()
        self._capacity = 0
        self._tried: dict[str, tuple[int, int, bool]] = {}
        self._nodes: dict[str, object] = {}
        self._events: set[asyncio.Task[None]] = set()
        self._backoff: dict[str, tuple[float, float]] = {}

    def remember_node(self, name: str, info: object) -> bool:
        """Note a node's latest row; True when it differs from the last one seen."""
        changed = self._nodes.get(name) != info
        if info is None:
            self._nodes.pop(name, None)
        else:
            self._nodes[name] = info
        return changed

    def notify(self, *, capacity: bool = False) -> None:
        """Something changed; ``capacity`` when GPUs, nodes or bandwidth may have been freed."""
        if capacity:
            self._capacity += 1
        self._wake.set()

    async def run(self) -> None:
        """Cycle forever (until cancelled)."""
        await self.ready.wait()
        while True:
            self._wake.clear()
            try:
                until = await self.cycle(now=datetime.now(UTC))
            except Exception:
                log.exception("placement cycle failed; retrying")
                metrics.RECONCILE_ERRORS.labels(step="cycle").inc()
                until = None
            idle = MAX_IDLE_SECONDS
            if until is not None:
                idle = min(idle, max(0.0, (until - datetime.now(UTC)).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=idle)
            await asyncio.sleep(COALESCE_SECONDS)  # let a burst of events land: one cycle

    async def cycle(self, *, now: datetime) -> datetime | None:
        """One reconcile pass and one placement round; returns the nearest deadline."""
        started = time.perf_counter()
        state = self.cache.cluster_state()
        healthy = self.cache.health()
        deadlines: list[datetime] = []
        waiting: list[tuple[JobRecord, Waiting]] = []
        records = self.cache.jobs()
        self._forget_gone({r.key for r in records})
        limit = asyncio.Semaphore(RECONCILE_CONCURRENCY)

        async def reconcile(record: JobRecord) -> Any:
            if self._backing_off(record, now=now):
                return None
            async with limit:
                work = self._reconcile(record, state.topologies, healthy, now)
                return await self._guarded(record, "reconcile", work)

        steps = await asyncio.gather(*(reconcile(r) for r in records))
        for record, step in zip(records, steps, strict=True):
            if isinstance(step, lifecycle.Enqueue):
                waiting.append((record, queue_entry(record, self.cache.priorities(), now=now)))
            until = getattr(step, "until", None)
            if until is not None:
                deadlines.append(until)
        if waiting:
            starving = await self._place_round(waiting, now=now)
            deadlines += starving
        metrics.QUEUE_LENGTH.set(len(waiting))
        log.debug(
            "cycle: %d jobs, %d waiting, %.3f s", len(records), len(waiting),
            time.perf_counter() - started,
        )  # fmt: skip
        metrics.record_phases(
            (str((r.manifest.get("status") or {}).get("phase", Phase.PENDING)) for r in records),
            known=[str(p) for p in Phase],
        )
        return min(deadlines, default=None)

    async def _guarded(self, record: JobRecord, step: str, work: Awaitable[Any]) -> Any:
        """Run one job's work; a conflict re-reads it next cycle, an error never spreads.

        A job whose work fails is left alone for a while (doubling from 1 s to
        :data:`MAX_BACKOFF_SECONDS`), so one broken job never makes the loop spin.
        """
        try:
            result = await work
        except Conflict:
            self.cache.forget(record.key)
            self._wake.set()
        except Rejected as error:
            log.warning("%s of %s: the API server refused: %s", step, record.key, error)
            self._back_off(record)
            await self._guarded(record, "status", self._rejected(record, str(error)))
        except Exception as error:
            log.exception("%s of %s failed", step, record.key)
            metrics.RECONCILE_ERRORS.labels(step=step).inc()
            self._event(record, "Warning", "ReconcileError", f"{step} failed: {error}")
            self._back_off(record)
        else:
            self._backoff.pop(record.key, None)
            return result
        return None

    def _forget_gone(self, keys: set[str]) -> None:
        """Drop what the worker remembers of jobs that no longer exist."""
        for memory in (self._tried, self._backoff):
            for key in set(memory) - keys:
                del memory[key]

    def _back_off(self, record: JobRecord) -> None:
        _, delay = self._backoff.get(record.key, (0.0, 0.5))
        delay = min(MAX_BACKOFF_SECONDS, delay * 2)
        self._backoff[record.key] = (time.monotonic() + delay, delay)

    async def _rejected(self, record: JobRecord, message: str) -> None:
        """The API server refused a pod made from the spec: say so on the job, and retry later
        (what it lacked, a PriorityClass or quota, may appear)."""
        text = f"the API server refused the job's pods: {message}"
        ready = ("Ready", False, "PodsRejected", text)
        await self._write(record, now=datetime.now(UTC), conditions=[ready])
        self._event(record, "Warning", "PodsRejected", text)

    def _backing_off(self, record: JobRecord, *, now: datetime) -> bool:
        """Skip a job being deleted, or one whose last work failed a moment ago."""
        if record.manifest["metadata"].get("deletionTimestamp"):
            return True
        until, _ = self._backoff.get(record.key, (0.0, 0.0))
        return time.monotonic() < until

    # --- phase 1: reconcile ----------------------------------------------------------------

    async def _reconcile(
        self,
        record: JobRecord,
        topologies: Mapping[str, NetworkTopology],
        healthy: Mapping[str, bool],
        now: datetime,
    ) -> lifecycle.Step | None:
        job = record.job
        if job is None:
            await self._invalid(record, f"(spec): {record.error}", now=now)
            return None
        problems = validate_training_job(
            job,
            topologies.get(job.spec.topology.network_topology),
            priority_classes=self.cache.priorities(),
        )
        if problems:
            await self._invalid(record, summary(problems), now=now)
            return None
        namespace, name = split_key(record.key)
        pods = self.cache.gang(namespace, name)
        step = lifecycle.next_step(job_view(record), pods, healthy=healthy, now=now)
        if isinstance(step, lifecycle.CreatePods):
            await self._create(record, job, step.ranks, now=now)
        elif isinstance(step, lifecycle.Enqueue):
            if condition_since(conditions_of(record), "Placed", status=False) is None:
                await self._write(
                    record, now=now, conditions=[("Placed", False, "Queued", "waiting for a turn")]
                )
        elif isinstance(step, lifecycle.Pin):
            await self._pin(record, job, step.pods)
        elif isinstance(step, lifecycle.Advance):
            await self._advance(record, step, now=now)
        elif isinstance(step, lifecycle.DeletePods):
            await self._delete_pods(record, step, now=now)
        elif isinstance(step, lifecycle.DeleteJob):
            log.info("deleting %s: ttlSecondsAfterFinished passed", record.key)
            await self.kube.delete_job(namespace, name)
        return step

    async def _invalid(self, record: JobRecord, message: str, *, now: datetime) -> None:
        ready = next((c for c in conditions_of(record) if c.get("type") == "Ready"), {})
        generation = record.manifest["metadata"].get("generation")
        seen = (ready.get("reason"), ready.get("message"), ready.get("observedGeneration"))
        if seen == ("InvalidSpec", message, generation):
            return
        invalid = ("Ready", False, "InvalidSpec", message)
        await self._write(record, now=now, phase=Phase.PENDING, conditions=[invalid])
        self._event(record, "Warning", "InvalidSpec", message)

    async def _create(
        self, record: JobRecord, job: TrainingJob, ranks: Iterable[int], *, now: datetime
    ) -> None:
        manifest = manifest_of(record, job)
        gpus = job.spec.template.gpus_per_pod()
        restarts = int((record.manifest.get("status") or {}).get("restarts", 0))
        objects = [manifests.headless_service(manifest), manifests.network_policy(manifest)]
        objects += [
            manifests.gang_pod(manifest, rank=r, gpus_per_pod=gpus, restarts=restarts)
            for r in ranks
        ]
        await asyncio.gather(*(self.kube.create(o) for o in objects if o is not None))
        status = record.manifest.get("status") or {}
        if status.get("gpus") is None or not has_condition(record, "Ready", True):
            await self._write(
                record,
                now=now,
                conditions=[("Ready", True, "Valid", "the spec is valid")],
                gpus=gpus * job.spec.replicas,
            )

    async def _pin(
        self, record: JobRecord, job: TrainingJob, pods: Iterable[tuple[str, str]]
    ) -> None:
        namespace = record.manifest["metadata"]["namespace"]
        gates = (job.spec.template.model_dump(by_alias=True)["spec"].get("schedulingGates")) or []
        gpus = job.spec.template.gpus_per_pod()

        async def pin(pod: str, node: str) -> None:
            await self.kube.patch_pod(namespace, pod, manifests.placement_patch(node, gates=gates))
            self.cache.pinned(f"{namespace}/{pod}", node, gpus)

        await asyncio.gather(*(pin(pod, node) for pod, node in pods))

    async def _advance(self, record: JobRecord, step: lifecycle.Advance, *, now: datetime) -> None:
        status = record.manifest.get("status") or {}
        fields: dict[str, Any] = {}
        conditions = [(str(step.phase), True, step.reason, step.message)]
        if step.phase is Phase.RUNNING:
            if not status.get("startTime"):
                fields["startTime"] = rfc3339(now)
            metrics.CREATE_TO_BOUND_SECONDS.observe(since_queued(record, now=now))
        else:
            fields["completionTime"] = rfc3339(now)
            conditions.append(("Running", False, step.reason, step.message))
        await self._write(record, now=now, phase=step.phase, conditions=conditions, **fields)
        self._event(record, "Normal", step.reason, step.message)

    async def _delete_pods(
        self, record: JobRecord, step: lifecycle.DeletePods, *, now: datetime
    ) -> None:
        status = record.manifest.get("status") or {}
        namespace = record.manifest["metadata"]["namespace"]
        if step.phase is not None:
            conditions, fields = after_deletion(step, status, now=now)
            await self._write(record, now=now, phase=step.phase, conditions=conditions, **fields)
            self._event(record, "Warning", step.reason, step.message)
        await asyncio.gather(*(self.kube.delete_pod(namespace, pod) for pod in step.pods))
        self.notify(capacity=True)

    # --- phase 2: place ----------------------------------------------------------------------

    async def _place_round(
        self, waiting: list[tuple[JobRecord, Waiting]], *, now: datetime
    ) -> list[datetime]:
        """Walk the queue; returns when a job will start to starve (a deadline to wake at)."""
        records = {entry.key: record for record, entry in waiting}
        turns = Round(
            (entry for _, entry in waiting), now=now, starvation_seconds=self.starvation_seconds
        )
        state = self.cache.cluster_state()
        snapshots: dict[str, ClusterSnapshot] = {}
        empty = dataclasses.replace(state, used_gpus={}, reserved_gpus={})
        idle_snapshots: dict[str, ClusterSnapshot] = {}

        def idle(job: TrainingJob) -> ClusterSnapshot:
            """The cluster with nothing running: would the job fit were every job to end?"""
            key = snapshot_key(job)
            if key not in idle_snapshots:
                idle_snapshots[key] = empty.snapshot_for(job, now=now)
            return idle_snapshots[key]

        deadlines = []
        commits = []
        for turn in turns:
            record = records[turn.job.key]
            outcome = await self._guarded(
                record, "place", self._take_turn(record, turn, state, snapshots, idle, now=now)
            )
            if isinstance(outcome, Placement):
                # The decision is made and counted in the snapshot; its writes can overlap
                # the next decisions.
                state = reserve(state, outcome)
                work = self._commit(record, outcome, now=now)
                commits.append(asyncio.create_task(self._guarded(record, "place", work)))
            elif outcome is True:  # waits, but would fit once running jobs end
                turns.unplaced(turn.job)
                deadlines.append(turns.starves_at(turn.job))
        await asyncio.gather(*commits)
        if snapshots:
            metrics.record_domains(next(iter(snapshots.values())))
        return [d for d in deadlines if d > now]

    async def _take_turn(
        self,
        record: JobRecord,
        turn: Turn,
        state: ClusterState,
        snapshots: dict[str, ClusterSnapshot],
        idle: Callable[[TrainingJob], ClusterSnapshot],
        *,
        now: datetime,
    ) -> Placement | bool | None:
        """Place one job, or say why it waits.

        Returns the placement; True when the job waits but would fit on this cluster were
        every running job to end (only such a job may hold the queue behind it); False
        when it would not fit even then; None when it is held behind another job.
        """
        job = record.job
        assert job is not None  # only valid jobs are enqueued
        if turn.held_behind is not None:
            metrics.SCHEDULE_ATTEMPTS.labels(result="held").inc()
            # No running figure in the message: a message that changed every cycle would be
            # a status write, hence a watch event, hence another cycle, forever.
            held = turn.held_behind
            message = (
                f"held behind {held.key}, which has waited more than the "
                f"{self.starvation_seconds:.0f} s starvation bound (since "
                f"{rfc3339(held.since)}): freed GPUs go to it first"
            )
            await self._waiting(record, turn, "HeldBehind", message, now=now)
            return None
        generation = int(record.manifest["metadata"].get("generation", 0))
        tried = self._tried.get(turn.job.key)
        if tried is not None and tried[:2] == (self._capacity, generation):
            await self._waiting(record, turn, None, None, now=now)
            return tried[2]
        key = snapshot_key(job)
        snapshot = snapshots.get(key) or state.snapshot_for(job, now=now)
        started = time.perf_counter()
        outcome = place(job.to_demand(), snapshot, strategy=self.strategy)
        metrics.DECISION_SECONDS.observe(time.perf_counter() - started)
        if not isinstance(outcome, Placement):
            metrics.SCHEDULE_ATTEMPTS.labels(result="unschedulable").inc()
            snapshots[key] = snapshot
            fits = isinstance(place(job.to_demand(), idle(job)), Placement)
            self._tried[turn.job.key] = (self._capacity, generation, fits)
            message = outcome.explanation  # it opens with the reason
            if not fits:
                message += (
                    "\nIt would not fit even if every running job ended, so it does not hold "
                    "the jobs behind it."
                )
            await self._waiting(record, turn, "Unschedulable", message, now=now)
            return fits
        metrics.SCHEDULE_ATTEMPTS.labels(result="placed").inc()
        snapshots.clear()
        snapshots[key] = snapshot.with_allocation(outcome.gpus_by_node())
        self._tried.pop(turn.job.key, None)
        metrics.record_placement(outcome)
        return outcome

    async def _commit(self, record: JobRecord, placement: Placement, *, now: datetime) -> None:
        """Record the placement in the job's status, then pin its pods (in that order: an
        operator killed in between finishes this placement instead of choosing another)."""
        job = record.job
        assert job is not None
        status = PlacementStatus.from_placement(placement)
        await self._write(
            record,
            now=now,
            phase=Phase.PLACING,
            conditions=[("Placed", True, "Placed", placement.explanation)],
            placement=status.model_dump(by_alias=True, mode="json", exclude_none=True),
            queuePosition=None,
        )
        name = job.metadata.name or ""
        pods = tuple((manifests.pod_name(name, r.rank), r.node) for r in placement.ranks)
        await self._pin(record, job, pods)
        self._event(record, "Normal", "Placed", placement.explanation)

    async def _waiting(
        self,
        record: JobRecord,
        turn: Turn,
        reason: str | None,
        message: str | None,
        *,
        now: datetime,
    ) -> None:
        """Write the queue position, and the reason the job waits when it changed."""
        status = record.manifest.get("status") or {}
        placed = next((c for c in conditions_of(record) if c.get("type") == "Placed"), {})
        same_reason = reason is None or (
            placed.get("reason") == reason and placed.get("message") == message
        )
        if same_reason and status.get("queuePosition") == turn.position:
            return
        fields: dict[str, Any] = {"queuePosition": turn.position}
        conditions = []
        if reason is not None and message is not None:
            conditions.append(("Placed", False, reason, message))
            fields["phase"] = Phase.UNSCHEDULABLE  # not placeable now: unfit, or held
        await self._write(record, now=now, conditions=conditions, **fields)
        if not same_reason and message is not None and reason is not None:
            self._event(
                record, "Warning" if reason == "Unschedulable" else "Normal", reason, message
            )

    def _event(self, record: JobRecord, kind: str, reason: str, message: str) -> None:
        """Post an Event in the background; a lost Event is logged, never fatal."""
        task = asyncio.create_task(
            self.kube.event(record.manifest, type=kind, reason=reason, message=message)
        )
        self._events.add(task)
        task.add_done_callback(self._posted)

    def _posted(self, task: asyncio.Task[None]) -> None:
        self._events.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not post an event: %s", task.exception())

    # --- status ----------------------------------------------------------------------------

    async def _write(
        self,
        record: JobRecord,
        *,
        now: datetime,
        phase: Phase | None = None,
        conditions: Iterable[tuple[str, bool, str, str]] = (),
        **fields: Any,
    ) -> None:
        """Merge-patch the job's status at the version we read; keeps ``record`` current."""
        status = record.manifest.get("status") or {}
        generation = record.manifest["metadata"].get("generation")
        merged = list(status.get("conditions") or [])
        for kind, value, reason, message in conditions:
            merged = with_condition(
                merged, type=kind, status=value, reason=reason, message=message,
                generation=generation, now=now,
            )  # fmt: skip
        patch: dict[str, Any] = {"conditions": merged, "observedGeneration": generation, **fields}
        if phase is not None:
            patch["phase"] = str(phase)
        if all(status.get(k) == v for k, v in patch.items()):
            return
        namespace, name = split_key(record.key)
        result = await self.kube.patch_status(
            namespace, name, status=patch, resource_version=record.resource_version
        )
        record.manifest = result
        self.cache.wrote(result)
