"""The placement worker: one loop reconciles every TrainingJob and makes one decision at a time.

Each cycle reads the cache, decides, and hands every write to a task of its own:

1. **Reconcile.** For every job with no write in flight, validate it and ask
   :func:`netsched.domain.lifecycle.next_step` what comes next. The step's writes
   (create the gated pods, pin pods of a recorded placement, advance the phase, restart
   or fail the gang, delete a finished job) go to a task of the job's own: a job has
   at most one task at a time, and a step writes only its own objects.
2. **Place.** The jobs waiting for a placement are walked in queue order
   (:mod:`netsched.domain.queue`), one decision at a time on one snapshot, which each
   placement updates before the next decision reads it: two decisions never hand out
   the same free GPUs. A placement counts as reserved in the cache from the moment
   it is made (:meth:`netsched.controller.cache.Cache.pinned`), so the next cycle
   never hands it out either, while its writes run. A placement is written to the
   job's status *before* its pods are pinned, so an operator killed in between
   finishes the same placement when it comes back instead of choosing another.

A failure in one job's step is logged, counted and posted as an Event; the others go
on. The loop sleeps until a watch event or a finished task wakes it
(:meth:`Worker.notify`) or the nearest deadline (a bind timeout, a TTL, a starvation
bound) comes. A job found unschedulable is tried again only when capacity has changed
since: a pod finished or went, a node joined, changed or recovered, a measurement or
topology changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from netsched import metrics
from netsched.api import NetworkTopology, PlacementStatus, TrainingJob, summary
from netsched.api.meta import rfc3339, with_condition
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
    running_gangs,
    since_queued,
    snapshot_key,
    split_key,
    waiting_since,
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
CREATE_CONCURRENCY = 8
"""Jobs whose pods are being created at once. Small, so that the pins of jobs already
placed never queue behind a burst of creations."""
WRITE_CONCURRENCY = 32
"""Jobs with any other writes in flight at once."""
MAX_BACKOFF_SECONDS = 60.0
"""The longest a job whose reconcile keeps failing is left alone between tries."""
COALESCE_SECONDS = 0.05
"""After a wake-up, wait this long so that a burst of watch events makes one cycle."""
CYCLE_SHARE = 0.2
"""At most this share of the worker's time goes to cycles: after a cycle of d seconds the
next waits at least d * (1 - share) / share. A burst then makes fewer, larger cycles
instead of spending the operator's one core on re-reading a cache that barely moved."""
VALID = ("Ready", True, "Valid", "the spec is valid")
"""The condition every decision about a valid job writes."""


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
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._creating = asyncio.Semaphore(CREATE_CONCURRENCY)
        self._writing = asyncio.Semaphore(WRITE_CONCURRENCY)

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
        try:
            while True:
                self._wake.clear()
                began = time.perf_counter()
                try:
                    until = self.cycle(now=datetime.now(UTC))
                except Exception:
                    log.exception("placement cycle failed; retrying")
                    metrics.RECONCILE_ERRORS.labels(step="cycle").inc()
                    until = None
                took = time.perf_counter() - began
                idle = MAX_IDLE_SECONDS
                if until is not None:
                    idle = min(idle, max(0.0, (until - datetime.now(UTC)).total_seconds()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=idle)
                # Let a burst of events land: one cycle, and keep cycles to their share.
                await asyncio.sleep(max(COALESCE_SECONDS, took * (1 - CYCLE_SHARE) / CYCLE_SHARE))
        finally:
            for task in list(self._busy.values()):
                task.cancel()

    def cycle(self, *, now: datetime) -> datetime | None:
        """Decide every job's next step and one placement round; returns the nearest deadline.

        Never waits on the API server: every write goes to a task of its job's own.
        """
        started = time.perf_counter()
        healthy = self.cache.health()
        deadlines: list[datetime] = []
        waiting: list[tuple[JobRecord, Waiting]] = []
        records = self.cache.jobs()
        state = self.cache.cluster_state(at=now, running=running_gangs(records))
        self._forget_gone({r.key for r in records})
        for record in records:
            if record.key in self._busy or self._backing_off(record, now=now):
                continue
            try:
                step, work = self._reconcile(record, state.topologies, healthy, now)
            except Exception as error:
                self._failed(record, "reconcile", error)
                continue
            if work is not None:
                create = isinstance(step, lifecycle.CreatePods)
                self._spawn(record, "reconcile", work, limit=self._creating if create else None)
            elif isinstance(step, lifecycle.Enqueue):
                waiting.append((record, queue_entry(record, self.cache.priorities(), now=now)))
            until = getattr(step, "until", None)
            if until is not None:
                deadlines.append(until)
        if waiting:
            deadlines += self._place_round(waiting, state, now=now)
        metrics.QUEUE_LENGTH.set(len(waiting))
        metrics.QUEUE_LONGEST_WAIT_SECONDS.set(
            max(((now - entry.since).total_seconds() for _, entry in waiting), default=0.0)
        )
        log.debug(
            "cycle: %d jobs, %d waiting, %d busy, %.3f s", len(records), len(waiting),
            len(self._busy), time.perf_counter() - started,
        )  # fmt: skip
        metrics.record_phases(
            (str((r.manifest.get("status") or {}).get("phase", Phase.PENDING)) for r in records),
            known=[str(p) for p in Phase],
        )
        return min(deadlines, default=None)

    def _spawn(
        self,
        record: JobRecord,
        step: str,
        work: Coroutine[Any, Any, Any],
        *,
        limit: asyncio.Semaphore | None = None,
    ) -> None:
        """Run the job's writes in a task of its own; the job is left alone until it ends."""

        async def run() -> None:
            async with limit or self._writing:
                await self._guarded(record, step, work)

        task = asyncio.create_task(run(), name=f"netsched {step} {record.key}")
        self._busy[record.key] = task

        def done(_: asyncio.Task[None]) -> None:
            self._busy.pop(record.key, None)
            self._wake.set()  # what the job does next may be possible now

        task.add_done_callback(done)

    async def _guarded(self, record: JobRecord, step: str, work: Awaitable[Any]) -> Any:
        """Run one job's work; a conflict re-reads it next cycle, an error never spreads."""
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
            self._failed(record, step, error)
        else:
            self._backoff.pop(record.key, None)
            return result
        return None

    def _failed(self, record: JobRecord, step: str, error: Exception) -> None:
        """Log, count and post a job's failed step, and leave the job alone for a while
        (doubling from 1 s to :data:`MAX_BACKOFF_SECONDS`), so that one broken job never
        makes the loop spin."""
        log.error("%s of %s failed", step, record.key, exc_info=error)
        metrics.RECONCILE_ERRORS.labels(step=step).inc()
        self._event(record, "Warning", "ReconcileError", f"{step} failed: {error}")
        self._back_off(record)

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

    def _reconcile(
        self,
        record: JobRecord,
        topologies: Mapping[str, NetworkTopology],
        healthy: Mapping[str, bool],
        now: datetime,
    ) -> tuple[lifecycle.Step | None, Coroutine[Any, Any, None] | None]:
        """The job's next step, and the writes that do it (None when there are none)."""
        job = record.job
        if job is None:
            return None, self._invalid(record, f"(spec): {record.error}", now=now)
        problems = validate_training_job(
            job,
            topologies.get(job.spec.topology.network_topology),
            priority_classes=self.cache.priorities(),
        )
        if problems:
            return None, self._invalid(record, summary(problems), now=now)
        namespace, name = split_key(record.key)
        pods = self.cache.gang(namespace, name)
        step = lifecycle.next_step(job_view(record), pods, healthy=healthy, now=now)
        work: Coroutine[Any, Any, None] | None = None
        if isinstance(step, lifecycle.CreatePods):
            work = self._create(record, job, step.ranks)
        elif isinstance(step, lifecycle.Pin):
            work = self._pin(record, job, step.pods)
        elif isinstance(step, lifecycle.Advance):
            work = self._advance(record, step, now=now)
        elif isinstance(step, lifecycle.DeletePods):
            work = self._delete_pods(record, step, now=now)
        elif isinstance(step, lifecycle.DeleteJob):
            log.info("deleting %s: ttlSecondsAfterFinished passed", record.key)
            work = self.kube.delete_job(namespace, name)
        return step, work

    def _invalid(
        self, record: JobRecord, message: str, *, now: datetime
    ) -> Coroutine[Any, Any, None] | None:
        """The writes that mark the job InvalidSpec, unless it is already marked so."""
        ready = next((c for c in conditions_of(record) if c.get("type") == "Ready"), {})
        generation = record.manifest["metadata"].get("generation")
        seen = (ready.get("reason"), ready.get("message"), ready.get("observedGeneration"))
        if seen == ("InvalidSpec", message, generation):
            return None

        async def mark() -> None:
            invalid = ("Ready", False, "InvalidSpec", message)
            await self._write(record, now=now, phase=Phase.PENDING, conditions=[invalid])
            self._event(record, "Warning", "InvalidSpec", message)

        return mark()

    async def _create(self, record: JobRecord, job: TrainingJob, ranks: Iterable[int]) -> None:
        """Create the missing pods (gated), the headless Service and the NetworkPolicy.

        The job's status is not written here: its first decision writes it (``Ready``
        and the GPUs it asks with the placement, or the reason it waits).
        """
        manifest = manifest_of(record, job)
        gpus = job.spec.template.gpus_per_pod()
        restarts = int((record.manifest.get("status") or {}).get("restarts", 0))
        pods = [
            manifests.gang_pod(manifest, rank=r, gpus_per_pod=gpus, restarts=restarts)
            for r in ranks
        ]
        others = [manifests.headless_service(manifest), manifests.network_policy(manifest)]

        async def create(pod: Mapping[str, Any]) -> None:
            if await self.kube.create(pod):
                self.cache.created(pod, gpus)

        await asyncio.gather(
            *(create(p) for p in pods), *(self.kube.create(o) for o in others if o is not None)
        )

    async def _pin(
        self, record: JobRecord, job: TrainingJob, pods: Iterable[tuple[str, str]]
    ) -> None:
        """One patch per pod: netsched's nodeSelector on, the placement gate off."""
        namespace, name = split_key(record.key)
        gates = (job.spec.template.model_dump(by_alias=True)["spec"].get("schedulingGates")) or []
        pods = tuple(pods)
        self.cache.pinned(namespace, name, pods, job.spec.template.gpus_per_pod())

        async def pin(pod: str, node: str) -> None:
            try:
                await self.kube.patch_pod(
                    namespace, pod, manifests.placement_patch(node, gates=gates)
                )
            except BaseException:
                self.cache.unwritten(namespace, name, [pod])
                raise

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
        namespace, name = split_key(record.key)
        if step.phase is not None:
            conditions, fields = after_deletion(step, status, now=now)
            await self._write(record, now=now, phase=step.phase, conditions=conditions, **fields)
            self._event(record, "Warning", step.reason, step.message)
        # A pod bound to a node that is gone has no kubelet to stop it: it would stay until
        # the pod garbage collector's quarantine ends (40 s and more), and its name, which
        # the gang's next pod takes, with it. Such pods go at once, as `kubectl delete
        # --force` would.
        nodes = self.cache.health()
        orphans = {
            p.name for p in self.cache.gang(namespace, name) if p.node and p.node not in nodes
        }
        await asyncio.gather(
            *(self.kube.delete_pod(namespace, pod, at_once=pod in orphans) for pod in step.pods)
        )
        self.cache.unwritten(namespace, name, step.pods)
        self.notify(capacity=True)

    # --- phase 2: place ----------------------------------------------------------------------

    def _place_round(
        self, waiting: list[tuple[JobRecord, Waiting]], state: ClusterState, *, now: datetime
    ) -> list[datetime]:
        """Walk the queue; returns when a job will start to starve (a deadline to wake at)."""
        records = {entry.key: record for record, entry in waiting}
        turns = Round(
            (entry for _, entry in waiting), now=now, starvation_seconds=self.starvation_seconds
        )
        snapshots: dict[str, ClusterSnapshot] = {}
        empty = dataclasses.replace(state, used_gpus={}, reserved_gpus={}, running=())
        idle_snapshots: dict[str, ClusterSnapshot] = {}

        def idle(job: TrainingJob) -> ClusterSnapshot:
            """The cluster with nothing running: would the job fit were every job to end?"""
            key = snapshot_key(job)
            if key not in idle_snapshots:
                idle_snapshots[key] = empty.snapshot_for(job, now=now)
            return idle_snapshots[key]

        deadlines = []
        for turn in turns:
            record = records[turn.job.key]
            try:
                outcome, work = self._take_turn(record, turn, state, snapshots, idle, now=now)
            except Exception as error:
                self._failed(record, "place", error)
                continue
            if isinstance(outcome, Placement):
                # Counted from now on, in this round's snapshot and in the cache's, while
                # the writes run.
                assert record.job is not None  # only valid jobs are placed
                state = reserve(state, outcome, record.job.to_demand())
                work = self._commit(record, outcome, now=now)
            elif outcome is True:  # waits, but would fit once running jobs end
                turns.unplaced(turn.job)
                deadlines.append(turns.starves_at(turn.job))
            if work is not None:
                self._spawn(record, "place", work)
        if snapshots:
            metrics.record_domains(next(iter(snapshots.values())))
        return [d for d in deadlines if d > now]

    def _take_turn(
        self,
        record: JobRecord,
        turn: Turn,
        state: ClusterState,
        snapshots: dict[str, ClusterSnapshot],
        idle: Callable[[TrainingJob], ClusterSnapshot],
        *,
        now: datetime,
    ) -> tuple[Placement | bool | None, Coroutine[Any, Any, None] | None]:
        """Place one job, or say why it waits; and the status writes that say so.

        The outcome is the placement; True when the job waits but would fit on this
        cluster were every running job to end (only such a job may hold the queue behind
        it); False when it would not fit even then; None when it is held behind another.
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
            return None, self._waiting(record, turn, "HeldBehind", message, now=now)
        generation = int(record.manifest["metadata"].get("generation", 0))
        tried = self._tried.get(turn.job.key)
        if tried is not None and tried[:2] == (self._capacity, generation):
            return tried[2], self._waiting(record, turn, None, None, now=now)
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
            return fits, self._waiting(record, turn, "Unschedulable", message, now=now)
        metrics.SCHEDULE_ATTEMPTS.labels(result="placed").inc()
        snapshots.clear()
        snapshots[key] = snapshot.with_allocation(
            outcome.gpus_by_node(), links=outcome.cost.crossed_uplinks
        )
        self._tried.pop(turn.job.key, None)
        metrics.record_placement(outcome)
        return outcome, None

    def _commit(
        self, record: JobRecord, placement: Placement, *, now: datetime
    ) -> Coroutine[Any, Any, None]:
        """Reserve the placement's GPUs in the cache now, and return the writes: the
        placement into the job's status, then the pins (in that order: an operator killed
        in between finishes this placement instead of choosing another)."""
        job = record.job
        assert job is not None
        namespace, name = split_key(record.key)
        pods = tuple((manifests.pod_name(name, r.rank), r.node) for r in placement.ranks)
        self.cache.pinned(namespace, name, pods, job.spec.template.gpus_per_pod())

        async def commit() -> None:
            status = PlacementStatus.from_placement(placement)
            try:
                await self._write(
                    record,
                    now=now,
                    phase=Phase.PLACING,
                    conditions=[VALID, ("Placed", True, "Placed", placement.explanation)],
                    placement=status.model_dump(by_alias=True, mode="json", exclude_none=True),
                    queuePosition=None,
                    gpus=_gpus(job),
                )
            except BaseException:
                self.cache.unwritten(namespace, name, (pod for pod, _ in pods))
                raise
            await self._pin(record, job, pods)
            self._event(record, "Normal", "Placed", placement.explanation)

        return commit()

    def _waiting(
        self,
        record: JobRecord,
        turn: Turn,
        reason: str | None,
        message: str | None,
        *,
        now: datetime,
    ) -> Coroutine[Any, Any, None] | None:
        """The writes of the queue position, and of the reason the job waits when it changed
        (None when the status already says all that)."""
        job = record.job
        assert job is not None
        status = record.manifest.get("status") or {}
        placed = next((c for c in conditions_of(record) if c.get("type") == "Placed"), {})
        same_reason = reason is None or (
            placed.get("reason") == reason and placed.get("message") == message
        )
        accepted = has_condition(record, "Ready", True) and status.get("gpus") is not None
        if same_reason and accepted and status.get("queuePosition") == turn.position:
            return None
        fields: dict[str, Any] = {"queuePosition": turn.position, "gpus": _gpus(job)}
        conditions = [VALID]
        if reason is not None and message is not None:
            conditions.append(("Placed", False, reason, message))
            fields["phase"] = Phase.UNSCHEDULABLE  # not placeable now: unfit, or held
        # A first wait is dated from the job's creation, as the queue counts it.
        since = now if placed else (waiting_since(record) or now)

        async def write() -> None:
            await self._write(record, now=since, conditions=conditions, **fields)
            if not same_reason and message is not None and reason is not None:
                kind = "Warning" if reason == "Unschedulable" else "Normal"
                self._event(record, kind, reason, message)

        return write()

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


def _gpus(job: TrainingJob) -> int:
    """The GPUs the whole gang asks for (``status.gpus``)."""
    return job.spec.template.gpus_per_pod() * job.spec.replicas
