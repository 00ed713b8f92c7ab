"""NetworkTopology (cluster-scoped, short name ``ntopo``): the switch tiers of the cluster.

The spec names each tier, widest first, with the node label that says which switch
a node hangs off at that tier and the nominal bandwidth of that switch's uplink;
:meth:`NetworkTopology.to_scheme` turns it into the domain's
:class:`~netsched.domain.scheme.TopologyScheme`. The status holds what the probe
agents measured per domain. A TrainingJob picks one by name (``default`` if unset).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from netsched.api.meta import (
    API_VERSION,
    ENUM_FROM_STRING,
    ApiModel,
    Condition,
    DnsLabel,
    KubernetesObject,
    LabelKey,
    ObjectMeta,
    PrinterColumn,
    ResourceInfo,
    Timestamp,
    broken,
    cel,
    defaulted,
    list_map,
    validations,
)
from netsched.domain.bandwidth import DEFAULT_DEGRADED_FRACTION
from netsched.domain.scheme import HOST_TIER, HOSTNAME_LABEL, Level, TopologyScheme

MAX_LEVELS = 8
MAX_GBPS = 1_000_000.0

LEVEL_NAME_RESERVED = (
    f"level name '{HOST_TIER}' is reserved for the implicit per-node tier "
    f"(keyed by {HOSTNAME_LABEL}); name the level after its switches, e.g. leaf"
)
LEVEL_LABEL_RESERVED = (
    f"{HOSTNAME_LABEL} is the implicit host tier's label: list only switch tiers in levels"
)
LEVEL_LABELS_UNIQUE = "each level needs its own nodeLabel: two levels share one"
LEVEL_UPLINK_REQUIRED = (
    "every level but the widest needs uplinkGbps > 0, the nominal bandwidth of its switches' "
    "uplinks (the widest level's is the interconnect between its domains and may stay 0, "
    "meaning the next level's): set it"
)


_HOST_TIER_RESERVES = {
    "name": (HOST_TIER, "level_name_reserved", LEVEL_NAME_RESERVED),
    "node_label": (HOSTNAME_LABEL, "level_label_reserved", LEVEL_LABEL_RESERVED),
}
"""LevelSpec field -> (the value only the implicit host tier has, rule, message)."""


class ProbeTool(StrEnum):
    IPERF3 = "iperf3"


class LevelSpec(ApiModel):
    """One switch tier."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(f"self.name != '{HOST_TIER}'", LEVEL_NAME_RESERVED, field_path=".name"),
            cel(
                f"self.nodeLabel != '{HOSTNAME_LABEL}'",
                LEVEL_LABEL_RESERVED,
                field_path=".nodeLabel",
            ),
        )
    )

    name: DnsLabel
    """The tier's name as jobs write it in maxTier/preferredTier (``spine``)."""
    node_label: LabelKey
    """Node label whose value names the node's switch (domain) at this tier."""
    uplink_gbps: Annotated[float, Field(ge=0, le=MAX_GBPS)] = 0.0
    """Nominal Gbps from one domain of this tier to its parent; more than 0 for every tier but
    the widest. For the widest: the interconnect from one of its domains to the others (two
    zones, two blocks), which a gang too large for any one of them crosses when netsched
    splits it over several; 0 means the next tier's uplinkGbps."""

    @field_validator("name", "node_label")
    @classmethod
    def _not_the_host_tier(cls, value: str, info: ValidationInfo) -> str:
        """The CEL rules above, checked in Python too: a NetworkTopology read from a file,
        or admitted before a rule existed, is refused as the API server refuses it."""
        reserved, rule, message = _HOST_TIER_RESERVES[info.field_name or ""]
        if value == reserved:
            raise broken(rule, message)
        return value

    def to_level(self) -> Level:
        return Level(name=self.name, label_key=self.node_label, uplink_gbps=self.uplink_gbps)


class ProbeSettings(ApiModel):
    """How the probe agents measure links between nodes."""

    enabled: bool = True
    interval_seconds: Annotated[int, Field(ge=60, le=604_800)] = 3600
    """Time between two measurements of the same pair of nodes."""
    duration_seconds: Annotated[int, Field(ge=1, le=300)] = 10
    """Length of one measurement."""
    parallel_streams: Annotated[int, Field(ge=1, le=128)] = 4
    """TCP streams per measurement (iperf3 ``-P``); more streams fill fast links."""
    tool: Annotated[ProbeTool, ENUM_FROM_STRING] = ProbeTool.IPERF3


class NetworkTopologySpec(ApiModel):
    """Tiers, bandwidths and probe settings."""

    levels: Annotated[
        list[LevelSpec],
        Field(
            min_length=1,
            max_length=MAX_LEVELS,
            json_schema_extra={
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["name"],
                **validations(
                    cel(
                        "self.all(l, self.exists_one(m, m.nodeLabel == l.nodeLabel))",
                        LEVEL_LABELS_UNIQUE,
                    ),
                    cel(
                        "self.all(l, l.name == self[0].name || l.uplinkGbps > 0.0)",
                        LEVEL_UPLINK_REQUIRED,
                    ),
                ),
            },
        ),
    ]
    """Switch tiers, widest first (``core``, ``spine``, ``leaf``); the host tier is implicit."""
    host_gbps: Annotated[float, Field(gt=0, le=MAX_GBPS)] = 400.0
    """Nominal Gbps of one node's link to its leaf."""
    probe: ProbeSettings = defaulted(ProbeSettings)
    measurement_ttl_seconds: Annotated[
        int, Field(alias="measurementTTLSeconds", ge=60, le=31_536_000)
    ] = 86_400
    """A measurement older than this is stale: its link falls back to the nominal Gbps."""
    degraded_below_fraction: Annotated[float, Field(gt=0, le=1)] = DEFAULT_DEGRADED_FRACTION
    """A link measured below this share of its nominal Gbps is degraded: the topology gets a
    ``Degraded`` condition and an Event, and placements go around it where they can."""

    @field_validator("levels")
    @classmethod
    def _one_label_and_one_name_per_level(cls, levels: list[LevelSpec]) -> list[LevelSpec]:
        """The list-map key and the CEL rules on ``levels``, checked in Python too.

        Two levels on one label are one tier counted twice: every domain of the
        narrower level would sit alone under a parent of the same name, and a job's
        maxTier on either level would mean the same nodes.
        """
        by_name: dict[str, LevelSpec] = {}
        by_label: dict[str, LevelSpec] = {}
        for level in levels:
            if level.name in by_name:
                raise broken("level_name_unique", f'level "{level.name}" is listed twice: keep one')
            other = by_label.get(level.node_label)
            if other is not None:
                raise broken(
                    "level_labels_unique",
                    f'{LEVEL_LABELS_UNIQUE} (levels "{other.name}" and "{level.name}" both use '
                    f"{level.node_label}): give each level the label of its own switches",
                )
            by_name[level.name] = by_label[level.node_label] = level
        for level in levels[1:]:
            if not level.uplink_gbps > 0:
                raise broken(
                    "level_uplink_required",
                    f'{LEVEL_UPLINK_REQUIRED} (level "{level.name}" has {level.uplink_gbps:g})',
                )
        return levels


class DomainStatus(ApiModel):
    """Bandwidth of one domain's uplink, nominal and measured."""

    level: DnsLabel
    name: Annotated[str, Field(min_length=1, max_length=1024)]
    """The domain's path of label values, widest level first (``core-0/spine-1/leaf-3``): a
    leaf's label value alone may repeat under two spines."""
    nodes: Annotated[int, Field(ge=0)] = 0
    nominal_gbps: Annotated[float, Field(ge=0)] = 0.0
    measured_gbps: Annotated[float | None, Field(ge=0)] = None
    """The robust estimate from fresh measurements across this uplink (see docs/probe.md);
    unset when none is fresh."""
    samples: Annotated[int, Field(ge=0)] = 0
    """Fresh samples behind ``measuredGbps`` (outliers not counted)."""
    last_measured: Timestamp | None = None
    degraded: bool = False
    """``measuredGbps`` is below the topology's ``degradedBelowFraction`` of nominal."""


class NetworkTopologyStatus(ApiModel):
    """Written by the operator only."""

    observed_generation: Annotated[int | None, Field(ge=0)] = None
    conditions: list[Condition] = list_map("type", max_length=32)
    domains: list[DomainStatus] = list_map("level", "name", max_length=100_000)
    nodes: Annotated[int, Field(ge=0)] = 0
    """Nodes carrying every level's label."""
    last_measurement: Timestamp | None = None


class NetworkTopology(KubernetesObject):
    """The cluster's switch tiers and their bandwidth.

    Example:
        >>> from netsched.domain.scheme import DEFAULT_SCHEME
        >>> NetworkTopology.from_scheme(DEFAULT_SCHEME).to_scheme() == DEFAULT_SCHEME
        True
    """

    INFO: ClassVar[ResourceInfo] = ResourceInfo(
        kind="NetworkTopology",
        plural="networktopologies",
        singular="networktopology",
        scope="Cluster",
        short_names=("ntopo",),
        printer_columns=(
            PrinterColumn("Host Gbps", "number", ".spec.hostGbps"),
            PrinterColumn("Probe", "boolean", ".spec.probe.enabled"),
            PrinterColumn("Nodes", "integer", ".status.nodes"),
            PrinterColumn("Last measurement", "date", ".status.lastMeasurement"),
            PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
        ),
    )

    api_version: Literal["netsched.io/v1alpha1"] = API_VERSION
    kind: Literal["NetworkTopology"] = "NetworkTopology"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NetworkTopologySpec
    status: NetworkTopologyStatus | None = None

    def to_scheme(self) -> TopologyScheme:
        """The tiers in the placement engine's terms (levels widest first, host implicit)."""
        return TopologyScheme(
            levels=tuple(level.to_level() for level in self.spec.levels),
            host_gbps=self.spec.host_gbps,
        )

    @classmethod
    def from_scheme(cls, scheme: TopologyScheme, *, name: str = "default") -> NetworkTopology:
        """A NetworkTopology describing ``scheme`` (what ``default`` means when none exists)."""
        levels = [
            LevelSpec(name=level.name, node_label=level.label_key, uplink_gbps=level.uplink_gbps)
            for level in scheme.levels
        ]
        return cls(
            metadata=ObjectMeta(name=name),
            spec=NetworkTopologySpec(levels=levels, host_gbps=scheme.host_gbps),
        )
