"""What a Node offers and what a Pod occupies, read from raw Kubernetes objects.

The one home of these rules: ``netsched place`` reads them from a file kubectl saved
(:mod:`netsched.clusterfile`), the operator from its watch streams (the kopf indexes in
:mod:`netsched.controller`), so a dump of the live cluster gives the snapshot the
operator saw.

- A **Node** offers ``status.allocatable["nvidia.com/gpu"]``. It counts as Ready when
  its Ready condition is ``True`` (a hand-written Node without conditions is Ready)
  and as cordoned when ``spec.unschedulable`` is set.
- A **Pod** that is not finished (phase neither ``Succeeded`` nor ``Failed``) occupies
  its GPUs on the node it is bound to (``spec.nodeName``). A pod of a netsched gang
  that is not bound yet but carries netsched's ``kubernetes.io/hostname`` nodeSelector
  is a **reservation**: it occupies that node from the moment it was patched, so
  every decision, and a restarted operator, counts what netsched has promised.
- A node **refuses** a job's pods that its labels do not match (the template's
  nodeSelector) or whose tolerations miss one of its NoSchedule/NoExecute taints: the
  kube-scheduler would never bind them there, so placement must not choose it.
- A pod's GPUs follow Kubernetes' rule for its effective request: the larger of the
  app containers' sum (plus sidecars) and the largest init container (plus the
  sidecars started before it).

Every function is pure and raises :class:`ObjectError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netsched.api.podtemplate import GPU_RESOURCE, whole_gpus
from netsched.domain.manifests import JOB_LABEL
from netsched.domain.nodes import NodeInfo, Taint
from netsched.domain.scheme import HOSTNAME_LABEL

FINISHED_PHASES = frozenset({"Succeeded", "Failed"})
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
"""Taint effects that keep a pod off a node (PreferNoSchedule only discourages it)."""


class ObjectError(ValueError):
    """A Node or Pod field has the wrong shape; the message names the field."""


@dataclass(frozen=True, slots=True)
class Occupancy:
    """GPUs a pod holds on one node.

    Attributes:
        node: the node's name.
        gpus: the pod's effective GPU request (may be 0).
        bound: the pod is bound (``spec.nodeName``); False for a netsched reservation.
    """

    node: str
    gpus: int
    bound: bool


def node_info(node: Mapping[str, Any]) -> NodeInfo:
    """A Node object in placement's terms.

    Example:
        >>> node_info({"metadata": {"name": "n1"},
        ...            "status": {"allocatable": {"nvidia.com/gpu": "8"}}}).allocatable_gpus
        8

    Raises:
        ObjectError: the name is missing or a field has the wrong type.
    """
    metadata = _mapping(node, "metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ObjectError("metadata.name is missing; every Node needs a name")
    labels = _mapping(metadata, "labels", parent="metadata")
    spec = _mapping(node, "spec")
    status = _mapping(node, "status")
    allocatable = _mapping(status, "allocatable", parent="status")
    conditions = status.get("conditions") or []
    ready = not conditions or any(
        isinstance(c, Mapping) and c.get("type") == "Ready" and c.get("status") == "True"
        for c in conditions
    )
    return NodeInfo(
        name=name,
        labels={str(k): str(v) for k, v in labels.items()},
        allocatable_gpus=_gpu_count(allocatable, where="status.allocatable"),
        ready=ready,
        unschedulable=bool(spec.get("unschedulable", False)),
        taints=tuple(
            Taint(key=str(t.get("key", "")), value=str(t.get("value", "")), effect=str(t["effect"]))
            for t in _list(spec, "taints")
            if isinstance(t, Mapping) and t.get("effect") in BLOCKING_EFFECTS
        ),
    )


def refusal(
    node: NodeInfo,
    *,
    node_selector: Mapping[str, str],
    tolerations: Sequence[Mapping[str, Any]],
) -> str | None:
    """Why a pod with this nodeSelector and these tolerations may not run on ``node``
    (kube-scheduler would not bind it there), or None.

    Example:
        >>> gpu = NodeInfo("n1", {"pool": "a100"}, 8, taints=(Taint("nvidia.com/gpu"),))
        >>> refusal(gpu, node_selector={"pool": "a100"}, tolerations=[])
        'taint nvidia.com/gpu:NoSchedule not tolerated by the pod template'
        >>> refusal(gpu, node_selector={}, tolerations=[{"key": "nvidia.com/gpu",
        ...                                               "operator": "Exists"}]) is None
        True
    """
    for key, value in node_selector.items():
        if node.labels.get(key) != value:
            return f"the pod template's nodeSelector {key}={value} does not match"
    for taint in node.taints:
        if not any(_tolerates(t, taint) for t in tolerations):
            shown = f"{taint.key}={taint.value}" if taint.value else taint.key
            return f"taint {shown}:{taint.effect} not tolerated by the pod template"
    return None


def _tolerates(toleration: Mapping[str, Any], taint: Taint) -> bool:
    """Kubernetes' rule: effect (empty: any), key (empty with Exists: any), then value."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.effect:
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if not key:
        return operator == "Exists"
    if key != taint.key:
        return False
    return operator == "Exists" or (toleration.get("value") or "") == taint.value


def pod_occupancy(pod: Mapping[str, Any]) -> Occupancy | None:
    """Where a pod holds GPUs, or None when it holds none anywhere (finished, or pending
    without netsched's nodeSelector).

    Example:
        >>> gang_pod = {"metadata": {"labels": {"netsched.io/job": "llm"}},
        ...             "spec": {"nodeSelector": {"kubernetes.io/hostname": "n1"},
        ...                      "containers": [{"name": "c", "resources":
        ...                                      {"limits": {"nvidia.com/gpu": 8}}}]}}
        >>> pod_occupancy(gang_pod)
        Occupancy(node='n1', gpus=8, bound=False)

    Raises:
        ObjectError: a container or resource field has the wrong shape.
    """
    spec = _mapping(pod, "spec")
    status = _mapping(pod, "status")
    if status.get("phase") in FINISHED_PHASES:
        return None
    bound = spec.get("nodeName")
    node = bound or reserved_node(pod)
    if not node:
        return None
    return Occupancy(node=str(node), gpus=pod_gpus(spec), bound=bool(bound))


def reserved_node(pod: Mapping[str, Any]) -> str | None:
    """The node netsched's nodeSelector promises a gang pod, or None (not ours, or no selector)."""
    labels = _mapping(_mapping(pod, "metadata"), "labels", parent="metadata")
    if JOB_LABEL not in labels:
        return None
    selector = _mapping(_mapping(pod, "spec"), "nodeSelector", parent="spec")
    node = selector.get(HOSTNAME_LABEL)
    return str(node) if node else None


def pod_gpus(spec: Mapping[str, Any]) -> int:
    """A pod spec's effective ``nvidia.com/gpu`` request (Kubernetes' rule, sidecars included)."""
    apps = sum(
        _container_gpus(c, where=f"spec.containers[{i}]")
        for i, c in enumerate(_list(spec, "containers"))
    )
    sidecars, init_peak = 0, 0
    for i, container in enumerate(_list(spec, "initContainers")):
        gpus = _container_gpus(container, where=f"spec.initContainers[{i}]")
        if isinstance(container, Mapping) and container.get("restartPolicy") == "Always":
            sidecars += gpus
        else:
            init_peak = max(init_peak, sidecars + gpus)
    return max(apps + sidecars, init_peak)


def _container_gpus(container: Any, *, where: str) -> int:
    """A container's GPUs: its limit, else its request (Kubernetes requires them equal)."""
    if not isinstance(container, Mapping):
        raise ObjectError(f"{where}: expected an object")
    resources = _mapping(container, "resources", parent=where)
    for key in ("limits", "requests"):
        amounts = _mapping(resources, key, parent=f"{where}.resources")
        if GPU_RESOURCE in amounts:
            return _gpu_count(amounts, where=f"{where}.resources.{key}")
    return 0


def _gpu_count(amounts: Mapping[str, Any], *, where: str) -> int:
    raw = amounts.get(GPU_RESOURCE, 0)
    try:
        return whole_gpus(raw if isinstance(raw, int) else str(raw))
    except ValueError:
        raise ObjectError(
            f"{where}[{GPU_RESOURCE!r}]: {raw!r} is not a whole number of GPUs"
        ) from None


def _mapping(obj: Mapping[str, Any], key: str, *, parent: str = "") -> Mapping[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        where = f"{parent}.{key}" if parent else key
        raise ObjectError(f"{where} must be an object, got {type(value).__name__}")
    return value


def _list(spec: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = spec.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ObjectError(f"spec.{key} must be a list")
    return value
