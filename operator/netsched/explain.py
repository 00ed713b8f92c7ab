"""``kubectl netsched explain`` and ``kubectl netsched queue``: the operator's decisions, read back.

``explain`` shows where each rank of a placed job went and why, and what the best
labels-only placement (Kueue-style ``tas``) would have cost on the same cluster: the
cluster is read live, without the job's own pods, and both strategies are costed by
the same model. For a waiting job it shows why it waits and what would unblock it.
``queue`` lists the waiting jobs in the order netsched will try them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

from netsched.api import TrainingJob
from netsched.api.meta import parse_time
from netsched.clusterfile import parse_cluster
from netsched.domain.manifests import JOB_LABEL
from netsched.domain.placement import Placement, place
from netsched.kubeclient import request

GROUP_PATH = "/apis/netsched.io/v1alpha1"
WAITING = ("Pending", "Unschedulable")
PLURAL = TrainingJob.INFO.plural


@dataclass(frozen=True, slots=True)
class Reader:
    """Reads the live cluster through one API client."""

    api: client.ApiClient

    def job(self, namespace: str, name: str) -> dict[str, Any]:
        return request(self.api, "GET", f"{GROUP_PATH}/namespaces/{namespace}/{PLURAL}/{name}")

    def jobs(self) -> list[dict[str, Any]]:
        return list(request(self.api, "GET", f"{GROUP_PATH}/{PLURAL}")["items"])

    def cluster(self, *, without_job: tuple[str, str] | None = None) -> dict[str, Any]:
        """Nodes, pods, topologies and measurements as one List (what ``kubectl get`` prints)."""
        sources = (
            ("Node", "/api/v1/nodes"),
            ("Pod", "/api/v1/pods"),
            ("NetworkTopology", f"{GROUP_PATH}/networktopologies"),
            ("LinkMeasurement", f"{GROUP_PATH}/linkmeasurements"),
        )
        items = []
        for kind, path in sources:
            for item in request(self.api, "GET", path)["items"]:
                if kind == "Pod" and without_job is not None and _of_job(item, without_job):
                    continue
                items.append({"kind": kind, **item})
        return {"kind": "List", "items": items}


def _of_job(pod: Mapping[str, Any], job: tuple[str, str]) -> bool:
    metadata = pod["metadata"]
    return (metadata["namespace"], (metadata.get("labels") or {}).get(JOB_LABEL)) == job


def explain(reader: Reader, *, namespace: str, name: str) -> str:
    """The text ``kubectl netsched explain <job>`` prints."""
    manifest = reader.job(namespace, name)
    status = manifest.get("status") or {}
    head = f"{namespace}/{name}: {status.get('phase') or 'not seen by netsched yet'}"
    conditions = {c["type"]: c for c in status.get("conditions") or []}
    ready = conditions.get("Ready")
    if ready is not None and ready["status"] == "False":
        return f"{head}\nthe spec is not accepted ({ready['reason']}):\n{ready['message']}\n"
    placement = status.get("placement")
    if not placement:
        return _waiting(head, status, conditions)
    lines = [head, _placed_table(placement), "", placement.get("explanation", "")]
    lines += _against_tas(reader, manifest, placement)
    return "\n".join(lines) + "\n"


def _waiting(head: str, status: Mapping[str, Any], conditions: Mapping[str, Any]) -> str:
    placed = conditions.get("Placed")
    lines = [head]
    if status.get("queuePosition"):
        lines.append(f"queue position {status['queuePosition']} (kubectl netsched queue)")
    if placed is None:
        lines.append("waiting for its first turn")
    else:
        lines += [f"waiting: {placed['reason']}", placed.get("message", "")]
    return "\n".join(lines) + "\n"


def _placed_table(placement: Mapping[str, Any]) -> str:
    rows = [("RANK", "NODE", "GPUS")]
    rows += [(str(r["rank"]), r["node"], str(r.get("gpus", ""))) for r in placement["ranks"]]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    table = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    crossing = placement.get("crossTierBytesPerStep") or {}
    summary = (
        f"tier {placement.get('tiersSpanned')} ({placement.get('lowestCommonDomain')}), "
        f"comm/step {placement.get('predictedCommSecondsPerStep', 0):.3g} s, cross-tier "
        + ", ".join(f"{tier} {size / 1e9:.3g} GB" for tier, size in crossing.items())
    )
    return "\n".join([summary, *table])


def _against_tas(
    reader: Reader, manifest: dict[str, Any], placement: Mapping[str, Any]
) -> list[str]:
    """The best labels-only placement on the cluster as it is, without this job's pods."""
    job = TrainingJob.model_validate(manifest)
    metadata = manifest["metadata"]
    state = parse_cluster(
        reader.cluster(without_job=(metadata["namespace"], metadata["name"])), source="cluster"
    )
    snapshot = state.snapshot_for(job, now=datetime.now(UTC))
    labels_only = place(job.to_demand(), snapshot, strategy="tas")
    ours = float(placement.get("predictedCommSecondsPerStep") or 0.0)
    if not isinstance(labels_only, Placement):
        return ["", f"labels-only (tas) on the cluster now: unschedulable: {labels_only.reason}"]
    theirs = labels_only.cost.comm_seconds
    ratio = f" ({ours / theirs:.2f}x)" if theirs > 0 else ""
    return [
        "",
        f"labels-only (tas) on the cluster now, without this job: comm/step {theirs:.3g} s, "
        f"tier {labels_only.cost.tier_spanned}; netsched's {ours:.3g} s{ratio}",
    ]


@dataclass(frozen=True, slots=True)
class QueueEntry:
    position: int
    key: str
    phase: str
    gpus: int | None
    waiting_seconds: float | None
    reason: str


def queue(jobs: Iterable[Mapping[str, Any]], *, now: datetime) -> list[QueueEntry]:
    """Waiting jobs in the operator's order (its ``status.queuePosition``)."""
    entries = []
    for manifest in jobs:
        status = manifest.get("status") or {}
        position = status.get("queuePosition")
        if status.get("phase") not in WAITING or not position:
            continue
        placed = next((c for c in status.get("conditions") or [] if c["type"] == "Placed"), None)
        since = parse_time(placed["lastTransitionTime"]) if placed else None
        metadata = manifest["metadata"]
        entries.append(
            QueueEntry(
                position=int(position),
                key=f"{metadata['namespace']}/{metadata['name']}",
                phase=status["phase"],
                gpus=status.get("gpus"),
                waiting_seconds=(now - since).total_seconds() if since else None,
                reason=(placed or {}).get("reason", ""),
            )
        )
    return sorted(entries, key=lambda e: (e.position, e.key))


def queue_table(entries: Iterable[QueueEntry]) -> str:
    rows = [("POS", "JOB", "PHASE", "GPUS", "WAITING", "REASON")]
    for e in entries:
        waited = f"{e.waiting_seconds:.0f}s" if e.waiting_seconds is not None else "-"
        rows.append((str(e.position), e.key, e.phase, str(e.gpus or "-"), waited, e.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    if len(rows) == 1:
        lines.append("(no job is waiting)")
    return "\n".join(lines) + "\n"
