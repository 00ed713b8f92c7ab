"""A cluster saved by kubectl, in the placement engine's terms: what ``netsched place`` reads.

``kubectl get nodes,pods,networktopologies,linkmeasurements -A -o yaml`` prints one
Kubernetes ``List``. :func:`parse_cluster` turns its items into what
:func:`netsched.domain.topology.build_snapshot` takes:

- **Nodes** (at least one) become :class:`~netsched.domain.nodes.NodeInfo`: labels,
  ``status.allocatable["nvidia.com/gpu"]``, the ``Ready`` condition and
  ``spec.unschedulable``. A Node without any condition (a hand-written file) counts
  as Ready; one whose Ready condition is not ``True`` does not.
- **Pods** bound to a node (``spec.nodeName``) and not finished (phase neither
  ``Succeeded`` nor ``Failed``) occupy the GPUs they request, by Kubernetes' rule for
  a pod's effective request: the larger of the app containers' sum (plus sidecars)
  and the largest init container (plus the sidecars started before it).
- **NetworkTopologies** (optional) name the tiers; without one, ``default`` means
  :data:`~netsched.domain.scheme.DEFAULT_SCHEME`.
- **LinkMeasurements** (optional) are kept as validated objects; a snapshot takes them
  through :meth:`~netsched.api.LinkMeasurement.to_sample` once the scheme is known.

Other kinds are ignored. Everything here is pure parsing of already-loaded YAML;
only :func:`load_yaml` touches the file system. Every error is a
:class:`ClusterFileError` naming the file, the item and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from netsched.api import GPU_RESOURCE, LinkMeasurement, NetworkTopology, whole_gpus
from netsched.api.validation import field_path
from netsched.domain.nodes import NodeInfo

DEFAULT_MEASUREMENT_TTL = timedelta(minutes=10)
"""How long a measurement stays fresh when the file holds no NetworkTopology to say."""
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
_Model = TypeVar("_Model", NetworkTopology, LinkMeasurement)


class ClusterFileError(ValueError):
    """A file ``netsched place`` reads is missing, not YAML, or has a bad object in it."""


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Everything a placement snapshot is built from, read from one ``List``.

    Attributes:
        nodes: every Node, in file order.
        used_gpus: node name -> GPUs requested by pods bound to it and not finished.
        topologies: NetworkTopology name -> object.
        measurements: every LinkMeasurement, validated.
    """

    nodes: tuple[NodeInfo, ...]
    used_gpus: Mapping[str, int] = field(default_factory=dict)
    topologies: Mapping[str, NetworkTopology] = field(default_factory=dict)
    measurements: tuple[LinkMeasurement, ...] = ()

    def measurement_ttl(self, topology: NetworkTopology | None) -> timedelta:
        """The topology's ``measurementTTLSeconds``, else :data:`DEFAULT_MEASUREMENT_TTL`."""
        if topology is None:
            return DEFAULT_MEASUREMENT_TTL
        return timedelta(seconds=topology.spec.measurement_ttl_seconds)


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
            f"'kubectl get nodes,pods,networktopologies,linkmeasurements -A -o yaml' "
            f"prints it, got {kind or 'an object without kind'}"
        )
    items = document.get("items") or []
    if not isinstance(items, list):
        raise ClusterFileError(f"{source}: items must be a list of objects")
    nodes: list[NodeInfo] = []
    used: dict[str, int] = {}
    topologies: dict[str, NetworkTopology] = {}
    samples: list[LinkMeasurement] = []
    for index, item in enumerate(items):
        where = f"{source}: items[{index}]"
        if not isinstance(item, dict):
            raise ClusterFileError(f"{where}: expected an object, got {type(item).__name__}")
        kind = item.get("kind")
        where = f"{where} ({kind or 'no kind'}{_named(item)})"
        if kind == "Node":
            nodes.append(_node(item, where=where))
        elif kind == "Pod":
            node, gpus = _pod_gpus(item, where=where)
            if node is not None and gpus:
                used[node] = used.get(node, 0) + gpus
        elif kind == "NetworkTopology":
            topology = _validated(NetworkTopology, item, where=where)
            topologies[topology.metadata.name or "default"] = topology
        elif kind == "LinkMeasurement":
            samples.append(_validated(LinkMeasurement, item, where=where))
        elif kind is None:
            raise ClusterFileError(f"{where}: kind is missing; every item needs one")
    if not nodes:
        raise ClusterFileError(
            f"{source}: the List holds no Node; include them: kubectl get nodes,pods,... -o yaml"
        )
    return ClusterState(tuple(nodes), used, topologies, tuple(samples))


def _named(item: Mapping[str, Any]) -> str:
    metadata = item.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return f" {name}" if isinstance(name, str) and name else ""


def _node(item: Mapping[str, Any], *, where: str) -> NodeInfo:
    metadata = _mapping(item, "metadata", where=where)
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ClusterFileError(f"{where}: metadata.name is missing; every Node needs a name")
    labels = _mapping(metadata, "labels", where=f"{where}: metadata")
    spec = _mapping(item, "spec", where=where)
    status = _mapping(item, "status", where=where)
    allocatable = _mapping(status, "allocatable", where=f"{where}: status")
    gpus = _gpu_count(allocatable, where=f"{where}: status.allocatable")
    conditions = status.get("conditions") or []
    ready = not conditions or any(
        isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions
    )
    return NodeInfo(
        name=name,
        labels={str(k): str(v) for k, v in labels.items()},
        allocatable_gpus=gpus,
        ready=ready,
        unschedulable=bool(spec.get("unschedulable", False)),
    )


def _pod_gpus(item: Mapping[str, Any], *, where: str) -> tuple[str | None, int]:
    """(node, effective GPU request) of a pod; node None when unbound or finished."""
    spec = _mapping(item, "spec", where=where)
    status = _mapping(item, "status", where=where)
    node = spec.get("nodeName")
    if not node or status.get("phase") in FINISHED_PHASES:
        return None, 0
    apps = sum(
        _container_gpus(c, where=f"{where}: spec.containers[{i}]")
        for i, c in enumerate(_list(spec, "containers", where=where))
    )
    sidecars, init_peak = 0, 0
    for i, container in enumerate(_list(spec, "initContainers", where=where)):
        gpus = _container_gpus(container, where=f"{where}: spec.initContainers[{i}]")
        if isinstance(container, dict) and container.get("restartPolicy") == "Always":
            sidecars += gpus
        else:
            init_peak = max(init_peak, sidecars + gpus)
    return str(node), max(apps + sidecars, init_peak)


def _container_gpus(container: Any, *, where: str) -> int:
    """A container's GPUs: its limit, else its request (Kubernetes requires them equal)."""
    if not isinstance(container, dict):
        raise ClusterFileError(f"{where}: expected an object")
    resources = _mapping(container, "resources", where=where)
    for key in ("limits", "requests"):
        amounts = _mapping(resources, key, where=f"{where}.resources")
        if GPU_RESOURCE in amounts:
            return _gpu_count(amounts, where=f"{where}.resources.{key}")
    return 0


def _gpu_count(amounts: Mapping[str, Any], *, where: str) -> int:
    raw = amounts.get(GPU_RESOURCE, 0)
    try:
        return whole_gpus(raw if isinstance(raw, int) else str(raw))
    except ValueError:
        raise ClusterFileError(
            f"{where}[{GPU_RESOURCE!r}]: {raw!r} is not a whole number of GPUs"
        ) from None


def _mapping(parent: Mapping[str, Any], key: str, *, where: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ClusterFileError(f"{where}: {key} must be an object, got {type(value).__name__}")
    return value


def _list(parent: Mapping[str, Any], key: str, *, where: str) -> Sequence[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ClusterFileError(f"{where}: spec.{key} must be a list")
    return value


def _validated(model: type[_Model], item: Mapping[str, Any], *, where: str) -> _Model:
    try:
        return model.model_validate(item)
    except ValidationError as error:
        raise ClusterFileError(f"{where}: {plain_errors(error)}") from None


def plain_errors(error: ValidationError) -> str:
    """pydantic's errors as ``spec.replicas: Input should be ...`` lines joined by ``; ``."""
    return "; ".join(
        f"{field_path(detail['loc']) or '(top level)'}: {detail['msg']}"
        for detail in error.errors(include_url=False)
    )
