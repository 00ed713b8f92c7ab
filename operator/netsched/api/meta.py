"""Shapes every netsched resource shares: the model base classes, object metadata,
conditions, and the description of a resource that its CRD is generated from.

Two kinds of model live in this package:

- :class:`ApiModel` for our own fields: camelCase on the wire, unknown fields
  rejected (``extra="forbid"``), so a typo fails in Python exactly as it fails at
  the API server with ``--validate=strict``;
- :class:`OpenModel` for Kubernetes types we only read a few fields of (the pod
  template): unknown fields are kept and written back untouched, and the CRD marks
  them ``x-kubernetes-preserve-unknown-fields``.

CEL rules ride along in ``json_schema_extra`` (see :func:`cel`), so one class holds
a field, its bounds and its API-server validations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from netsched.domain.manifests import GROUP as GROUP

VERSION = "v1alpha1"
API_VERSION: Final = "netsched.io/v1alpha1"
assert f"{GROUP}/{VERSION}" == API_VERSION

DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)

Timestamp = Annotated[datetime, Field(strict=False)]
"""An RFC 3339 time; strings are parsed (strict mode would demand a datetime object)."""


def as_utc(moment: datetime) -> datetime:
    """``moment`` with a time zone: a time written without one is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


ENUM_FROM_STRING = Field(strict=False)
"""Marks an enum field: the wire carries its string value (strict mode wants the member)."""

DnsLabel = Annotated[str, Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)]
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN)]
LabelKey = Annotated[str, Field(min_length=1, max_length=317, pattern=LABEL_KEY_PATTERN)]
LabelValue = Annotated[str, Field(max_length=63)]
NodeName = Annotated[str, Field(min_length=1, max_length=253)]


class ApiModel(BaseModel):
    """Base of netsched's own API types: camelCase aliases, unknown fields rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
        frozen=True,
        use_attribute_docstrings=True,
    )


class OpenModel(ApiModel):
    """Base of Kubernetes types we read only part of: unknown fields are kept verbatim."""

    model_config = ConfigDict(extra="allow")


class KubernetesObject(ApiModel):
    """Base of the three resources: accepts any mapping (a kopf ``Body``, a ``MappingProxy``)
    as well as plain dicts, because strict mode alone would accept only ``dict``."""

    @model_validator(mode="before")
    @classmethod
    def _plain_data(cls, data: Any) -> Any:
        return plain(data)


def plain(data: Any) -> Any:
    """``data`` as plain dicts and lists (a kopf ``Body`` or a ``MappingProxy`` copied out)."""
    if isinstance(data, Mapping):
        return {key: plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [plain(value) for value in data]
    return data


def broken(rule: str, message: str) -> PydanticCustomError:
    """The error a model's validator raises for a broken rule, worded exactly as its CEL rule.

    pydantic prefixes a plain ``ValueError`` with "Value error, "; this keeps the
    message the API server shows, so a file and the cluster refuse an object alike.
    """
    return PydanticCustomError(rule, message)


def cel(
    rule: str, message: str, *, field_path: str | None = None, reason: str | None = None
) -> dict[str, str]:
    """One ``x-kubernetes-validations`` entry.

    ``field_path`` (relative to the schema node carrying the rule, e.g. ``.maxTier``)
    makes the API server report the error at that field instead of at the object.
    """
    entry = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, str]) -> dict[str, Any]:
    """``json_schema_extra`` carrying CEL rules."""
    return {"x-kubernetes-validations": list(rules)}


class ObjectMeta(OpenModel):
    """The subset of metav1.ObjectMeta netsched reads; every other field is kept as is."""

    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    generation: int | None = None
    uid: str | None = None
    resource_version: str | None = None


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """One observation of the object's state, in the shape of metav1.Condition."""

    type: Annotated[
        str,
        Field(
            max_length=316,
            pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
            r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
        ),
    ]
    """CamelCase kind of condition, e.g. ``Ready``, ``Placed``."""
    status: Annotated[ConditionStatus, ENUM_FROM_STRING]
    """``True``, ``False`` or ``Unknown``."""
    observed_generation: Annotated[int | None, Field(ge=0)] = None
    """The ``metadata.generation`` this condition was computed from."""
    last_transition_time: Timestamp
    """When ``status`` last changed."""
    reason: Annotated[
        str,
        Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
    ]
    """CamelCase machine-readable cause, e.g. ``InvalidSpec``."""
    message: Annotated[str, Field(max_length=32768)] = ""
    """Human-readable detail: what happened and what to do."""


def list_map(*keys: str, max_length: int) -> Any:
    """A list field merged by ``keys`` under server-side apply (``x-kubernetes-list-type: map``)."""
    return Field(
        default_factory=list,
        max_length=max_length,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [*keys]},
    )


def defaulted(factory: Callable[[], Any]) -> Any:
    """A sub-object that defaults to ``{}`` at the API server, so its fields' defaults apply."""
    return Field(default_factory=factory, json_schema_extra={"default": {}})


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry: a column of ``kubectl get``."""

    name: str
    type: Literal["integer", "number", "string", "boolean", "date"]
    json_path: str
    description: str = ""
    priority: int = 0
    """0 shows in ``kubectl get``; 1 only with ``-o wide``."""


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """What a CRD says besides the schema: names, scope, columns, root-level rules."""

    kind: str
    plural: str
    singular: str
    scope: Literal["Namespaced", "Cluster"]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ("netsched",)
    printer_columns: tuple[PrinterColumn, ...] = ()
    root_validations: tuple[dict[str, str], ...] = ()
    """CEL rules on the whole object (the only place ``self.metadata.name`` is visible)."""
    status: bool = True
    """Whether the CRD has a status subresource."""

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


def with_condition(
    conditions: list[dict[str, Any]],
    *,
    type: str,
    status: bool,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """``conditions`` (wire form) with one condition set, as metav1.Condition wants it.

    ``lastTransitionTime`` moves only when the status flips; reason, message and
    observedGeneration always follow the latest observation.

    Example:
        >>> t = datetime(2025, 1, 1, tzinfo=UTC)
        >>> [c["status"] for c in with_condition([], type="Placed", status=True, reason="Placed",
        ...                                      message="", generation=1, now=t)]
        ['True']
    """
    word = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    old = next((c for c in conditions if c.get("type") == type), None)
    since = old["lastTransitionTime"] if old and old.get("status") == word else rfc3339(now)
    entry: dict[str, Any] = {
        "type": type,
        "status": str(word),
        "reason": reason,
        "message": message[:32768],
        "lastTransitionTime": since,
    }
    if generation is not None:
        entry["observedGeneration"] = generation
    if old is None:
        return [*conditions, entry]
    return [entry if c.get("type") == type else c for c in conditions]  # keeps the order


def condition_since(
    conditions: list[dict[str, Any]], type: str, *, status: bool
) -> datetime | None:
    """When condition ``type`` last turned ``status``, or None if it is not so now."""
    word = str(ConditionStatus.TRUE if status else ConditionStatus.FALSE)
    for condition in conditions:
        if condition.get("type") == type and condition.get("status") == word:
            return parse_time(condition["lastTransitionTime"])
    return None


def parse_time(text: str) -> datetime:
    """An RFC 3339 time as the API server writes it (``2025-01-01T12:00:00Z``)."""
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))


def rfc3339(moment: datetime) -> str:
    """``moment`` as the API server writes times, to the second, in UTC."""
    return as_utc(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
