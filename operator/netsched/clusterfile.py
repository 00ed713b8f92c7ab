"""A cluster saved by kubectl, in the placement engine's terms: what ``netsched place`` reads.

``kubectl get nodes,pods,networktopologies,linkmeasurements,trainingjobs -A -o yaml``
prints one Kubernetes ``List``. :func:`parse_cluster` turns its items into what
:func:`netsched.domain.topology.build_snapshot` takes:

- **Nodes** (at least one) become :class:`~netsched.domain.nodes.NodeInfo`: labels,
  ``status.allocatable["nvidia.com/gpu"]``, the ``Ready`` condition and
  ``spec.unschedulable``. A Node without any condition (a hand-written file) counts
  as Ready; one whose Ready condition is not ``True`` does not.
- **Pods** occupy GPUs as :mod:`netsched.api.occupancy` says (the rules the operator
  applies to its watch streams): bound and not finished, or a netsched gang pod
  pinned to a node and not yet bound (a reservation).
- **NetworkTopologies** (optional) name the tiers; without one, ``default`` means
  :data:`~netsched.domain.scheme.DEFAULT_SCHEME`.
- **TrainingJobs** (optional) that are Placing or Running, with a placement in their
  status, are **running gangs** (:meth:`TrainingJob.running_gang`): their traffic shares
  the uplinks it crosses with the next gang (:func:`netsched.domain.cost.with_running`),
  as it does for the operator. Other TrainingJobs are ignored.
- **LinkMeasurements** (optional) are validated, then kept as the few fields an estimate
  reads (:class:`~netsched.api.linkmeasurement.MeasuredLink`: 80 bytes, against 2.4 KB for
  the object), turned into samples once the scheme is known.

Other kinds are ignored. Everything here is pure parsing of already-loaded YAML;
only :func:`load_yaml` touches the file system. Every error is a
:class:`ClusterFileError` naming the file, the item and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from netsched.api import LinkMeasurement, NetworkTopology, TrainingJob, as_utc, scheme_for
from netsched.api.linkmeasurement import MeasuredLink
from netsched.api.occupancy import ObjectError, node_info, pod_occupancy, refusal
from netsched.api.validation import parse_problems
from netsched.domain.bandwidth import (
    DEFAULT_DEGRADED_FRACTION,
    BandwidthEstimate,
    estimate_bandwidth,
)
from netsched.domain.cost import RunningGang, with_running
from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import TopologyScheme
from netsched.domain.topology import ClusterSnapshot, build_snapshot

DEFAULT_MEASUREMENT_TTL = timedelta(minutes=10)
"""How long a measurement stays fresh when the file holds no NetworkTopology to say."""
_Model = TypeVar("_Model", NetworkTopology, LinkMeasurement, TrainingJob)
_Read = TypeVar("_Read")


class ClusterFileError(ValueError):
    """A file ``netsched place`` reads is missing, not YAML, or has a bad object in it."""


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Everything a placement snapshot is built from, read from one ``List``.

    Attributes:
        nodes: every Node, in file order.
        used_gpus: node name -> GPUs requested by pods bound to it and not finished.
        reserved_gpus: node name -> GPUs of netsched gang pods pinned to it, not yet bound.
        topologies: NetworkTopology name -> object.
        measurements: every LinkMeasurement, validated, in the fields an estimate reads.
        bandwidth: NetworkTopology name -> the estimate from ``measurements``, when the
            caller keeps them current (the operator); :meth:`snapshot_for` makes any
            other it needs.
        running: the gangs of TrainingJobs that are Placing or Running, rank by rank.
    """

    nodes: tuple[NodeInfo, ...]
    used_gpus: Mapping[str, int] = field(default_factory=dict)
    reserved_gpus: Mapping[str, int] = field(default_factory=dict)
    topologies: Mapping[str, NetworkTopology] = field(default_factory=dict)
    measurements: tuple[MeasuredLink, ...] = ()
    bandwidth: Mapping[str, BandwidthEstimate] = field(default_factory=dict)
    running: tuple[RunningGang, ...] = ()

    def measurement_ttl(self, topology: NetworkTopology | None) -> timedelta:
        """The topology's ``measurementTTLSeconds``, else :data:`DEFAULT_MEASUREMENT_TTL`."""
        if topology is None:
            return DEFAULT_MEASUREMENT_TTL
        return timedelta(seconds=topology.spec.measurement_ttl_seconds)

    def scheme(self, name: str) -> TopologyScheme:
        """The scheme of NetworkTopology ``name`` (``default`` without one is the default).

        Raises:
            ValueError: no NetworkTopology of that name is in the state.
        """
        scheme = scheme_for(name, self.topologies.get(name))
        if scheme is None:
            raise ValueError(f'NetworkTopology "{name}" does not exist')
        return scheme

    def bandwidth_for(self, name: str, *, now: datetime) -> BandwidthEstimate:
        """What the LinkMeasurements say about the links of NetworkTopology ``name``.

        Raises:
            ValueError: no NetworkTopology of that name is in the state.
        """
        scheme = self.scheme(name)
        topology = self.topologies.get(name)
        return estimate_bandwidth(
            self.nodes,
            scheme,
            [m.to_sample(scheme) for m in self.measurements],
            now=as_utc(now),
            ttl=self.measurement_ttl(topology),
            degraded_fraction=(
                topology.spec.degraded_below_fraction if topology else DEFAULT_DEGRADED_FRACTION
            ),
        )

    def snapshot_for(
        self, job: TrainingJob, *, now: datetime, bandwidth: BandwidthEstimate | None = None
    ) -> ClusterSnapshot:
        """The snapshot one decision for ``job`` reads: ``netsched place`` and the operator
        both build it here, so a dump of the cluster replays the operator's decision.

        ``bandwidth`` is :meth:`bandwidth_for` the job's topology; when not given, it is
        taken from :attr:`bandwidth`, else made here.

        Raises:
            ValueError: the job names a NetworkTopology that is not in the state (validate
                the job first), or two nodes share a name.
        """
        name = job.spec.topology.network_topology
        pod = job.spec.template.spec.model_dump(by_alias=True)
        selector, tolerations = pod.get("nodeSelector") or {}, pod.get("tolerations") or []
        refused = {
            node.name: why
            for node in self.nodes
            if (why := refusal(node, node_selector=selector, tolerations=tolerations))
        }
        others = tuple(g for g in self.running if g.demand.name != job.key)
        state = self if len(others) == len(self.running) else replace(self, running=others)
        return state.snapshot(name, now=now, refused=refused, bandwidth=bandwidth)

    def snapshot(
        self,
        topology: str = "default",
        *,
        now: datetime,
        refused: Mapping[str, str] | None = None,
        bandwidth: BandwidthEstimate | None = None,
    ) -> ClusterSnapshot:
        """The snapshot of every node under NetworkTopology ``topology`` (``refused``: nodes
        a job may not use, with why), its uplinks shared with the :attr:`running` gangs;
        what ``netsched simulate`` starts from.

        Raises:
            ValueError: no NetworkTopology of that name is in the state, or two nodes share
                a name.
        """
        empty = build_snapshot(
            nodes=self.nodes,
            scheme=self.scheme(topology),
            used_gpus=self.used_gpus,
            reserved=self.reserved_gpus,
            refused=refused or {},
            bandwidth=bandwidth
            or self.bandwidth.get(topology)
            or self.bandwidth_for(topology, now=now),
        )
        return with_running(empty, self.running)


def load_yaml(path: Path) -> Any:
    """The one YAML document in ``path``.

    Raises:
        ClusterFileError: the file is missing or unreadable, is not YAML, or holds
            several documents.
    """
    try:
        text = path.read_text()
    except OSError as error:
        raise ClusterFileError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ClusterFileError(f"{path}: not valid YAML{line}: {error}") from None
    if len(documents) != 1:
        raise ClusterFileError(
            f"{path}: expected one YAML document, found {len(documents)}"
            + ("; put several objects into one List" if documents else "")
        )
    return documents[0]


def parse_cluster(document: Any, *, source: str) -> ClusterState:
    """Read a Kubernetes ``List`` of Nodes, Pods, NetworkTopologies and LinkMeasurements.

    Example:
        >>> state = parse_cluster({"kind": "List", "items": [
        ...     {"kind": "Node", "metadata": {"name": "n1", "labels": {}},
        ...      "status": {"allocatable": {"nvidia.com/gpu": "8"}}}]}, source="c.yaml")
        >>> state.nodes[0].allocatable_gpus
        8

    Raises:
        ClusterFileError: ``document`` is not a List, holds no Node, or an item is
            malformed; the message names ``source``, the item and the field.
    """
    if not isinstance(document, dict) or not str(document.get("kind", "")).endswith("List"):
        kind = document.get("kind") if isinstance(document, dict) else type(document).__name__
        raise ClusterFileError(
            f"{source}: expected a Kubernetes List (kind: List, items: [...]) as "
            f"'kubectl get nodes,pods,networktopologies,linkmeasurements,trainingjobs -A -o yaml' "
            f"prints it, got {kind or 'an object without kind'}"
        )
    items = document.get("items") or []
    if not isinstance(items, list):
        raise ClusterFileError(f"{source}: items must be a list of objects")
    nodes: list[NodeInfo] = []
    used: dict[str, int] = {}
    reserved: dict[str, int] = {}
    topologies: dict[str, NetworkTopology] = {}
    samples: list[LinkMeasurement] = []
    running: list[RunningGang] = []
    for index, item in enumerate(items):
        where = f"{source}: items[{index}]"
        if not isinstance(item, dict):
            raise ClusterFileError(f"{where}: expected an object, got {type(item).__name__}")
        kind = item.get("kind")
        where = f"{where} ({kind or 'no kind'}{_named(item)})"
        if kind == "Node":
            nodes.append(_read(node_info, item, where=where))
        elif kind == "Pod":
            held = _read(pod_occupancy, item, where=where)
            if held is not None and held.gpus:
                target = used if held.bound else reserved
                target[held.node] = target.get(held.node, 0) + held.gpus
        elif kind == "NetworkTopology":
            topology = _validated(NetworkTopology, item, where=where)
            topologies[topology.metadata.name or "default"] = topology
        elif kind == "LinkMeasurement":
            samples.append(_validated(LinkMeasurement, item, where=where))
        elif kind == "TrainingJob" and (item.get("status") or {}).get("placement"):
            gang = _running(_validated(TrainingJob, item, where=where), where=where)
            running += [gang] if gang else []
        elif kind is None:
            raise ClusterFileError(f"{where}: kind is missing; every item needs one")
    if not nodes:
        raise ClusterFileError(
            f"{source}: the List holds no Node; include them: kubectl get nodes,pods,... -o yaml"
        )
    return ClusterState(
        tuple(nodes),
        used,
        reserved,
        topologies,
        tuple(m.measured() for m in samples),
        running=tuple(running),
    )


def _running(job: TrainingJob, *, where: str) -> RunningGang | None:
    try:
        return job.running_gang()
    except ValueError as error:
        raise ClusterFileError(f"{where}: {error}") from None


def _named(item: Mapping[str, Any]) -> str:
    metadata = item.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f" {name}" if isinstance(name, str) and name else ""


def _read(
    parse: Callable[[Mapping[str, Any]], _Read], item: Mapping[str, Any], *, where: str
) -> _Read:
    try:
        return parse(item)
    except ObjectError as error:
        raise ClusterFileError(f"{where}: {error}") from None


def _validated(model: type[_Model], item: Mapping[str, Any], *, where: str) -> _Model:
    try:
        return model.model_validate(item)
    except ValidationError as error:
        raise ClusterFileError(f"{where}: {plain_errors(error)}") from None


def plain_errors(error: ValidationError) -> str:
    """pydantic's errors as ``spec.replicas: Input should be ...`` lines joined by ``; ``."""
    return "; ".join(
        f"{problem.field_path or '(top level)'}: {problem.message}"
        for problem in parse_problems(error)
    )
