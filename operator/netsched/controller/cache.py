"""The operator's cache: compact rows kopf indexes keep per object, and the views built on them.

kopf calls the ``*_row`` functions below on every watch event (see
:mod:`netsched.controller.handlers`) and keeps what they return in its indexes, so the
cache holds a few small tuples per Node and Pod, never their bodies. :class:`Cache`
turns the indexes into what one decision reads: a
:class:`~netsched.clusterfile.ClusterState` (the same type ``netsched place`` reads
from a file), the gang pods of each job, and the jobs themselves.

A row function returns ``{}``, never None, for an object that holds nothing: kopf keeps
an object's previous entries when its indexer returns None, so a pod that finished
would go on holding its GPUs.

**Read your own writes.** A watch event arrives a little after the write that caused
it, and the worker must not act on the older picture meanwhile:

- gang pods it created (:meth:`Cache.created`) or is pinning (:meth:`Cache.pinned`)
  are shown as written until the index shows as much, so the worker neither creates
  nor pins them twice, and the GPUs of a pin count as reserved from the moment of the
  decision, so the next decision never hands them out again;
- a job status it wrote is read back from :meth:`Cache.wrote` until the index catches up.

The overlays only repeat what the API server holds or is being told: a restarted
operator loses them and reads the same from its first listing. A pin whose write
failed is taken back (:meth:`Cache.unwritten`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from netsched.api import LinkMeasurement, NetworkTopology, TrainingJob
from netsched.api.linkmeasurement import MeasuredLink
from netsched.api.meta import plain
from netsched.api.occupancy import ObjectError, node_info, pod_occupancy, reserved_node
from netsched.clusterfile import ClusterState
from netsched.domain.bandwidth import BandwidthEstimate
from netsched.domain.cost import RunningGang
from netsched.domain.lifecycle import GangPod
from netsched.domain.manifests import JOB_LABEL, PLACEMENT_GATE, RANK_LABEL, RESTARTS_ANNOTATION
from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import DEFAULT_TOPOLOGY

log = logging.getLogger("netsched.cache")
OVERLAY_SECONDS = 30.0
"""How long a pod write the index has not shown yet is trusted (then the index is)."""
REESTIMATE_SECONDS = 30.0
"""The longest a bandwidth estimate is reused while nothing changes (samples age out)."""


@dataclass(frozen=True, slots=True)
class Held:
    """What one pod holds on a node: the pod-index row."""

    pod: str
    gpus: int
    bound: bool


# --- rows: called by kopf on every event ------------------------------------------------------


def node_row(body: Mapping[str, Any]) -> dict[str, NodeInfo]:
    try:
        info = node_info(body)
    except ObjectError as error:
        log.warning("node %s ignored: %s", body.get("metadata", {}).get("name"), error)
        return {}
    return {info.name: info}


def pod_row(body: Mapping[str, Any]) -> dict[str, Held]:
    try:
        held = pod_occupancy(body)
    except ObjectError as error:
        log.warning("pod %s ignored: %s", _key(body), error)
        return {}
    if held is None or held.gpus == 0:
        return {}
    return {held.node: Held(pod=_key(body), gpus=held.gpus, bound=held.bound)}


def gang_row(body: Mapping[str, Any]) -> dict[tuple[str, str], GangPod]:
    metadata = body.get("metadata", {})
    labels = metadata.get("labels") or {}
    try:
        rank = int(labels.get(RANK_LABEL, ""))
        restart = int((metadata.get("annotations") or {}).get(RESTARTS_ANNOTATION, "0"))
    except ValueError:
        return {}
    spec, status = body.get("spec", {}), body.get("status") or {}
    gates = spec.get("schedulingGates") or []
    pod = GangPod(
        name=metadata["name"],
        rank=rank,
        restart=restart,
        phase=status.get("phase", "Pending"),
        node=spec.get("nodeName"),
        pinned=reserved_node(body),
        gated=any(g.get("name") == PLACEMENT_GATE for g in gates),
        deleting=metadata.get("deletionTimestamp") is not None,
    )
    return {(metadata["namespace"], labels[JOB_LABEL]): pod}


def job_row(body: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    metadata = body["metadata"]
    return {(metadata["namespace"], metadata["name"]): plain(body)}


def topology_row(body: Mapping[str, Any]) -> dict[str, NetworkTopology]:
    try:
        topology = NetworkTopology.model_validate(body)
    except ValidationError as error:
        log.warning("NetworkTopology %s ignored: %s", body["metadata"]["name"], error)
        return {}
    return {body["metadata"]["name"]: topology}


def measurement_row(body: Mapping[str, Any]) -> dict[str, MeasuredLink]:
    try:
        measurement = LinkMeasurement.model_validate(body)
    except ValidationError as error:
        log.warning("LinkMeasurement %s ignored: %s", _key(body), error)
        return {}
    return {_key(body): measurement.measured()}


def _key(body: Mapping[str, Any]) -> str:
    metadata = body.get("metadata", {})
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


# --- the cache ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    """A gang pod as the worker last wrote it (or is writing it), until the index shows it."""

    pod: GangPod
    gpus: int
    at: float

    def shown_by(self, listed: GangPod | None) -> bool:
        """Whether the index's row already shows this write (or something later)."""
        if listed is None:
            return False
        if listed.restart != self.pod.restart:
            return listed.restart > self.pod.restart
        return self.pod.pinned is None or listed.pinned == self.pod.pinned


@dataclass(slots=True)
class JobRecord:
    """One TrainingJob as the worker sees it: its manifest and, if it parses, its model."""

    manifest: dict[str, Any]
    job: TrainingJob | None
    error: str | None = None

    @property
    def key(self) -> str:
        metadata = self.manifest["metadata"]
        return f"{metadata['namespace']}/{metadata['name']}"

    @property
    def resource_version(self) -> str:
        return str(self.manifest["metadata"].get("resourceVersion", ""))


@dataclass(slots=True)
class Cache:
    """Views over kopf's live indexes, plus the two read-your-writes overlays."""

    indexes: Mapping[str, Any]
    _pods: dict[tuple[str, str], dict[str, Written]] = field(default_factory=dict)
    """(namespace, job) -> pod name -> the worker's latest write of it."""
    _written: dict[str, dict[str, Any]] = field(default_factory=dict)
    _parsed: dict[tuple[str, str], JobRecord] = field(default_factory=dict)
    _bandwidth: BandwidthMemo = field(default_factory=lambda: BandwidthMemo())

    def _index(self, name: str) -> Mapping[Any, Iterable[Any]]:
        index: Mapping[Any, Iterable[Any]] = self.indexes[name]
        return index

    def _values(self, name: str) -> Iterator[Any]:
        for store in self._index(name).values():
            yield from store

    def nodes(self) -> tuple[NodeInfo, ...]:
        return tuple(self._values("node_index"))

    def health(self) -> dict[str, bool]:
        """Node name -> Ready and not cordoned-out; nodes absent here are gone."""
        return {node.name: node.ready for node in self._values("node_index")}

    def priorities(self) -> dict[str, int]:
        """PriorityClass name -> value."""
        return {name: next(iter(store)) for name, store in self._index("priority_index").items()}

    def gang(self, namespace: str, job: str) -> list[GangPod]:
        """The job's pods: the index's rows, with the worker's newer writes over them."""
        store = self._index("gang_index").get((namespace, job))
        pods = {pod.name: pod for pod in store or ()}
        writes = self._pods.get((namespace, job))
        if writes:
            now = time.monotonic()
            for name, written in list(writes.items()):
                if written.shown_by(pods.get(name)) or now - written.at > OVERLAY_SECONDS:
                    del writes[name]
                else:
                    pods[name] = written.pod
            if not writes:
                del self._pods[(namespace, job)]
        return list(pods.values())

    def created(self, manifest: Mapping[str, Any], gpus: int) -> None:
        """Remember that the gated gang pod ``manifest`` was created just now."""
        for job, pod in gang_row(manifest).items():
            self._pods.setdefault(job, {})[pod.name] = Written(pod, gpus, time.monotonic())

    def pinned(self, namespace: str, job: str, pins: Iterable[tuple[str, str]], gpus: int) -> None:
        """Remember that the job's pods are pinned (pod name, node), from now on."""
        current = {pod.name: pod for pod in self.gang(namespace, job)}
        writes = self._pods.setdefault((namespace, job), {})
        for name, node in pins:
            pod = current.get(name) or GangPod(name=name, rank=-1, restart=-1, phase="Pending")
            pod = dataclasses.replace(pod, pinned=node, gated=False)
            writes[name] = Written(pod, gpus, time.monotonic())

    def unwritten(self, namespace: str, job: str, names: Iterable[str]) -> None:
        """Forget the worker's writes of these pods of ``job`` (a pin that failed, pods
        deleted)."""
        writes = self._pods.get((namespace, job), {})
        for name in names:
            writes.pop(name, None)

    def wrote(self, manifest: dict[str, Any]) -> None:
        """Remember the job as the API server returned it after our write.

        ``manifest`` is the response's own decoded JSON, plain already and read-only from
        here on, so it is kept as it is (copying it was 3 % of the operator's CPU in a burst).
        """
        metadata = manifest["metadata"]
        self._written[f"{metadata['namespace']}/{metadata['name']}"] = manifest

    def forget(self, key: str) -> None:
        self._written.pop(key, None)

    def cluster_state(
        self, *, at: datetime | None = None, running: tuple[RunningGang, ...] = ()
    ) -> ClusterState:
        """Nodes, bound and reserved GPUs, topologies and measurements, as a file would hold,
        with each topology's bandwidth estimate (made again only when its inputs change),
        and the ``running`` gangs (:func:`netsched.controller.jobs.running_gangs`)."""
        used: dict[str, int] = {}
        reserved: dict[str, int] = {}
        seen: set[str] = set()
        for node, store in self._index("pod_index").items():
            for held in store:
                seen.add(held.pod)
                target = used if held.bound else reserved
                target[node] = target.get(node, 0) + held.gpus
        now = time.monotonic()
        for (namespace, _), writes in list(self._pods.items()):
            for name, written in list(writes.items()):
                node = written.pod.pinned
                if now - written.at > OVERLAY_SECONDS:
                    del writes[name]
                elif node is not None and f"{namespace}/{name}" not in seen:
                    reserved[node] = reserved.get(node, 0) + written.gpus
        state = ClusterState(
            nodes=self.nodes(),
            used_gpus=used,
            reserved_gpus=reserved,
            topologies={t.metadata.name or "": t for t in self._values("topology_index")},
            measurements=tuple(self._values("measurement_index")),
            running=running,
        )
        bandwidth = self._bandwidth.estimates(state, now=at or datetime.now(UTC))
        return dataclasses.replace(state, bandwidth=bandwidth)

    def jobs(self) -> list[JobRecord]:
        """Every TrainingJob, the newer of the index's copy and our last write."""
        records = []
        listed = set()
        for manifest in self._values("job_index"):
            metadata = manifest["metadata"]
            key = f"{metadata['namespace']}/{metadata['name']}"
            listed.add(key)
            mine = self._written.get(key)
            if mine is not None and _newer(mine, than=manifest):
                manifest = mine
            else:
                self._written.pop(key, None)
            records.append(self._record(manifest))
        for key in set(self._written) - listed:
            del self._written[key]
        return records

    def _record(self, manifest: dict[str, Any]) -> JobRecord:
        metadata = manifest["metadata"]
        version = (metadata.get("uid", ""), str(metadata.get("resourceVersion", "")))
        cached = self._parsed.get(version)
        if cached is not None:
            return cached
        try:
            record = JobRecord(manifest, TrainingJob.model_validate(manifest))
        except ValidationError as error:
            record = JobRecord(manifest, None, str(error))
        if len(self._parsed) > 4096:
            self._parsed.clear()
        self._parsed[version] = record
        return record


class BandwidthMemo:
    """Each NetworkTopology's bandwidth estimate, kept between cycles.

    An estimate reads every measurement; a decision must not. It is made again when the
    topology, a node row or a measurement row changed (rows are compared by identity:
    kopf's indexes keep a row until its object changes), or :data:`REESTIMATE_SECONDS`
    passed (samples age out of the TTL with time alone).
    """

    def __init__(self) -> None:
        self._made: dict[str, tuple[tuple[Any, ...], float, BandwidthEstimate]] = {}

    def estimates(self, state: ClusterState, *, now: datetime) -> dict[str, BandwidthEstimate]:
        names = {*state.topologies, DEFAULT_TOPOLOGY}
        for gone in set(self._made) - names:
            del self._made[gone]
        out = {}
        for name in names:
            inputs = (state.topologies.get(name), *state.nodes, None, *state.measurements)
            last = self._made.get(name)
            fresh = last is not None and time.monotonic() - last[1] < REESTIMATE_SECONDS
            if last is not None and fresh and _same(last[0], inputs):
                out[name] = last[2]
                continue
            estimate = state.bandwidth_for(name, now=now)
            self._made[name] = (inputs, time.monotonic(), estimate)
            out[name] = estimate
        return out


def _same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _newer(mine: Mapping[str, Any], *, than: Mapping[str, Any]) -> bool:
    """Whether our write is newer than the index's copy.

    resourceVersions are opaque to clients in general; the API server backed by etcd
    hands out its revision, which grows. If either is not a number, trust the index.
    """
    try:
        return int(mine["metadata"]["resourceVersion"]) > int(than["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return False
