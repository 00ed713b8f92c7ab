"""A TrainingJob as the worker reads and writes it: pure helpers over its manifest and status.

The worker (:mod:`netsched.controller.worker`) does I/O; these functions only translate
between the wire form of a job (camelCase status, metav1 conditions) and the domain's
terms (:class:`~netsched.domain.lifecycle.JobView`, :class:`~netsched.domain.queue.Waiting`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from netsched.api import TrainingJob
from netsched.api.meta import condition_since, parse_time, rfc3339
from netsched.clusterfile import ClusterState
from netsched.controller.cache import JobRecord
from netsched.domain import lifecycle
from netsched.domain.cost import RunningGang
from netsched.domain.demand import Demand
from netsched.domain.lifecycle import FailurePolicy, JobView, Phase
from netsched.domain.placement import Placement
from netsched.domain.queue import Waiting


def job_view(record: JobRecord) -> JobView:
    """What :func:`netsched.domain.lifecycle.next_step` reads of a job and its status."""
    job = record.job
    assert job is not None
    status = record.manifest.get("status") or {}
    policy = job.spec.run_policy
    placement = status.get("placement") or {}
    ranks = sorted(placement.get("ranks") or [], key=lambda r: r["rank"])
    return JobView(
        replicas=job.spec.replicas,
        phase=Phase(status.get("phase", Phase.PENDING)),
        restarts=int(status.get("restarts", 0)),
        backoff_limit=policy.backoff_limit,
        failure_policy=FailurePolicy(policy.failure_policy),
        active_deadline_seconds=policy.active_deadline_seconds,
        ttl_seconds_after_finished=policy.ttl_seconds_after_finished,
        scheduling_timeout_seconds=policy.scheduling_timeout_seconds,
        waiting_since=waiting_since(record),
        placed_at=condition_since(conditions_of(record), "Placed", status=True),
        start_time=time_of(status.get("startTime")),
        completion_time=time_of(status.get("completionTime")),
        placement=tuple(r["node"] for r in ranks) if len(ranks) == job.spec.replicas else None,
    )


Conditions = list[tuple[str, bool, str, str]]


def after_deletion(
    step: lifecycle.DeletePods, status: Mapping[str, Any], *, now: datetime
) -> tuple[Conditions, dict[str, Any]]:
    """The conditions and status fields a gang's deletion writes (see ``DeletePods``)."""
    fields: dict[str, Any] = {}
    stopped = ("Running", False, step.reason, step.message)
    if step.phase is Phase.FAILED:
        fields["completionTime"] = status.get("completionTime") or rfc3339(now)
        return [("Failed", True, step.reason, step.message), stopped], fields
    if step.phase is Phase.RESTARTING:
        fields["restarts"] = int(status.get("restarts", 0)) + 1
    fields["placement"] = None
    return [("Placed", False, step.reason, step.message), stopped], fields


def snapshot_key(job: TrainingJob) -> str:
    """What a job's snapshot depends on besides the cluster: its topology, and the nodes its
    pod template may use (nodeSelector, tolerations). Jobs with equal keys share one."""
    pod = job.spec.template.spec.model_dump(by_alias=True)
    return json.dumps(
        [job.spec.topology.network_topology, pod.get("nodeSelector"), pod.get("tolerations")],
        sort_keys=True,
    )


def reserve(state: ClusterState, placement: Placement, demand: Demand) -> ClusterState:
    """``state`` with ``placement``'s GPUs reserved and its gang running on its links."""
    reserved = dict(state.reserved_gpus)
    for node, gpus in placement.gpus_by_node().items():
        reserved[node] = reserved.get(node, 0) + gpus
    gang = RunningGang(demand, placement.nodes)
    return dataclasses.replace(state, reserved_gpus=reserved, running=(*state.running, gang))


def running_gangs(records: Iterable[JobRecord]) -> tuple[RunningGang, ...]:
    """The gangs of every valid job that is Placing or Running, for the snapshots."""
    gangs = []
    for record in records:
        try:
            gang = record.job.running_gang() if record.job is not None else None
        except ValueError:  # a bad GPU limit: the job is marked invalid elsewhere
            continue
        if gang is not None:
            gangs.append(gang)
    return tuple(gangs)


def queue_entry(record: JobRecord, priorities: Mapping[str, int], *, now: datetime) -> Waiting:
    """The job's place in the queue: its priority (or its PriorityClass's) and arrival."""
    job = record.job
    assert job is not None
    since = waiting_since(record) or now
    priority = job.spec.priority
    if priority is None:
        priority = priorities.get(job.spec.priority_class_name or "", 0)
    return Waiting(record.key, priority, since)


def waiting_since(record: JobRecord) -> datetime | None:
    """Since when the job waits for a placement: since its ``Placed`` condition turned
    False (a restart, an un-reservation), else since it was created (its first wait)."""
    since = condition_since(conditions_of(record), "Placed", status=False)
    created = record.manifest["metadata"].get("creationTimestamp")
    if since is None and not has_condition(record, "Placed", True) and created:
        return parse_time(created)
    return since


def since_queued(record: JobRecord, *, now: datetime) -> float:
    status = record.manifest.get("status") or {}
    created = record.manifest["metadata"].get("creationTimestamp")
    start = condition_since(conditions_of(record), "Placed", status=True)
    if not status.get("restarts") and created:
        start = parse_time(created)
    return max(0.0, (now - (start or now)).total_seconds())


def manifest_of(record: JobRecord, job: TrainingJob) -> dict[str, Any]:
    """The job with defaults filled, as the manifest builders read it."""
    manifest = job.model_dump(by_alias=True, mode="json", exclude_none=True)
    manifest["metadata"] = record.manifest["metadata"]
    return manifest


def conditions_of(record: JobRecord) -> list[dict[str, Any]]:
    return list((record.manifest.get("status") or {}).get("conditions") or [])


def has_condition(record: JobRecord, kind: str, value: bool) -> bool:
    return condition_since(conditions_of(record), kind, status=value) is not None


def time_of(text: str | None) -> datetime | None:
    return parse_time(text) if text else None


def split_key(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name
