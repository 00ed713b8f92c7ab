"""Nodes as placement sees them, and the one mapping from a switch path to node labels.

Tests, benchmarks and the dev cluster (which turns :class:`NodeInfo`\\ s into real
Node objects) all label nodes through :func:`node_labels`, so the label rules live
here and nowhere else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from netsched.domain.scheme import HOSTNAME_LABEL, TopologyScheme

LABEL_VALUE_MAX = 63
_INVALID = re.compile(r"[^A-Za-z0-9._-]")
_EDGE = re.compile(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$")


@dataclass(frozen=True, slots=True)
class Taint:
    """A node taint; only ``NoSchedule`` and ``NoExecute`` keep untolerating pods off."""

    key: str
    value: str = ""
    effect: str = "NoSchedule"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What placement needs to know about one Kubernetes node.

    Attributes:
        name: the node's name (also its ``kubernetes.io/hostname``).
        labels: the node's labels; the scheme's label keys name its domains.
        allocatable_gpus: ``status.allocatable["nvidia.com/gpu"]``.
        ready: the node's ``Ready`` condition is ``True``.
        unschedulable: the node is cordoned (``spec.unschedulable``).
        taints: ``spec.taints``; a job whose pods do not tolerate one may not use the node.
    """

    name: str
    labels: Mapping[str, str]
    allocatable_gpus: int
    ready: bool = True
    unschedulable: bool = False
    taints: tuple[Taint, ...] = ()


def sanitize_label_value(raw: str) -> str:
    """Make ``raw`` a valid Kubernetes label value, deterministically.

    Valid values pass through unchanged. Anything else (bad characters, more than 63
    characters, empty) is cleaned and suffixed with a short hash of ``raw``, so two
    different raw values never collide after cleaning.

    >>> sanitize_label_value("S14")
    'S14'
    >>> sanitize_label_value("rack/7")
    'rack-7-f771159a'
    """
    cleaned = _EDGE.sub("", _INVALID.sub("-", raw))
    if raw and cleaned == raw and len(raw) <= LABEL_VALUE_MAX:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    head = cleaned[: LABEL_VALUE_MAX - len(digest) - 1]
    head = _EDGE.sub("", head)
    return f"{head}-{digest}" if head else f"x-{digest}"


def node_labels(*, hostname: str, path: Sequence[str], scheme: TopologyScheme) -> dict[str, str]:
    """The labels a node at ``path`` (one raw domain name per level, widest first) carries.

    Raises:
        ValueError: ``path`` does not have one entry per level of ``scheme``.
    """
    if len(path) != len(scheme.levels):
        raise ValueError(
            f"path {list(path)} has {len(path)} parts; the scheme has "
            f"{len(scheme.levels)} levels ({', '.join(lv.name for lv in scheme.levels)})"
        )
    labels = {
        level.label_key: sanitize_label_value(value)
        for level, value in zip(scheme.levels, path, strict=True)
    }
    labels[HOSTNAME_LABEL] = hostname
    return labels
