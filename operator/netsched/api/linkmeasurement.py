"""LinkMeasurement (cluster-scoped, short name ``lm``): one bandwidth/latency sample between nodes.

Written by the probe agent, read by the operator into the NetworkTopology status and
each placement snapshot.

Why cluster-scoped: a measurement describes two Nodes and the fabric between them,
all cluster-scoped; no namespace is its natural home. Being cluster-scoped also lets
the agent give it an ownerReference to its source Node (a namespaced owner would not
be allowed), so the garbage collector deletes a node's measurements with the node.
The agent keeps three objects per source node and level (``<source>.<level>.<round mod 3>``,
see :mod:`netsched.probe.agent`) instead of creating one per sample, so the number of
objects stays bounded at ``3 x nodes x levels``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from netsched.api.meta import (
    API_VERSION,
    ENUM_FROM_STRING,
    ApiModel,
    DnsLabel,
    KubernetesObject,
    NodeName,
    ObjectMeta,
    PrinterColumn,
    ResourceInfo,
    Timestamp,
    as_utc,
    broken,
    cel,
    validations,
)
from netsched.api.networktopology import ProbeTool
from netsched.domain.fabric import LinkSample
from netsched.domain.scheme import TopologyScheme

SAME_NODE = "sourceNode and targetNode must differ: a link joins two nodes"


class LinkMeasurementSpec(ApiModel):
    """The sample."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self.sourceNode != self.targetNode", SAME_NODE, field_path=".targetNode")
        )
    )

    source_node: NodeName
    """Node that sent the traffic (the iperf3 client)."""
    target_node: NodeName
    """Node that received it (the iperf3 server)."""
    level: DnsLabel
    """Widest tier the path crosses (``leaf`` for two nodes in one rack, ``spine``, ...)."""
    gbps: Annotated[float, Field(gt=0, le=1_000_000)]
    """Measured throughput in gigabits per second. Never 0: a probe that moved no traffic
    failed, and writes no sample (the link keeps its nominal or last fresh bandwidth)."""
    rtt_microseconds: Annotated[float | None, Field(ge=0, le=60_000_000)] = None
    """Round-trip time; unset when the tool did not report one."""
    measured_at: Timestamp
    """When the sample was taken (its end)."""
    tool: Annotated[ProbeTool, ENUM_FROM_STRING] = ProbeTool.IPERF3
    duration_seconds: Annotated[float | None, Field(ge=0, le=3600)] = None
    parallel_streams: Annotated[int | None, Field(ge=1, le=128)] = None

    @field_validator("target_node")
    @classmethod
    def _joins_two_nodes(cls, target: str, info: ValidationInfo) -> str:
        """The CEL rule SAME_NODE, checked in Python too: a file, or an object admitted
        before the rule existed, is refused as the API server refuses it."""
        if target == info.data.get("source_node"):
            raise broken("same_node", SAME_NODE)
        return target


class LinkMeasurement(KubernetesObject):
    """A measured link between two nodes."""

    INFO: ClassVar[ResourceInfo] = ResourceInfo(
        kind="LinkMeasurement",
        plural="linkmeasurements",
        singular="linkmeasurement",
        scope="Cluster",
        short_names=("lm",),
        status=False,
        printer_columns=(
            PrinterColumn("Source", "string", ".spec.sourceNode"),
            PrinterColumn("Target", "string", ".spec.targetNode"),
            PrinterColumn("Level", "string", ".spec.level"),
            PrinterColumn("Gbps", "number", ".spec.gbps"),
            PrinterColumn("RTT(us)", "number", ".spec.rttMicroseconds"),
            PrinterColumn("Measured", "date", ".spec.measuredAt"),
            PrinterColumn("Tool", "string", ".spec.tool", priority=1),
        ),
    )

    api_version: Literal["netsched.io/v1alpha1"] = API_VERSION
    kind: Literal["LinkMeasurement"] = "LinkMeasurement"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: LinkMeasurementSpec

    def measured(self) -> MeasuredLink:
        """What a snapshot needs of this measurement, in a few fields (the operator's cache
        keeps this, not the object: a few hundred bytes a measurement)."""
        spec = self.spec
        return MeasuredLink(
            source=spec.source_node,
            target=spec.target_node,
            level=spec.level,
            gbps=spec.gbps,
            measured_at=as_utc(spec.measured_at),
        )

    def to_sample(self, scheme: TopologyScheme) -> LinkSample:
        """This measurement as a snapshot reads it (see :meth:`MeasuredLink.to_sample`)."""
        return self.measured().to_sample(scheme)


@dataclass(frozen=True, slots=True)
class MeasuredLink:
    """The fields of a LinkMeasurement a bandwidth estimate reads."""

    source: str
    target: str
    level: str
    """``spec.level``: the widest tier the path reaches."""
    gbps: float
    measured_at: datetime
    """In UTC (a time written without a zone is taken as UTC)."""

    def to_sample(self, scheme: TopologyScheme) -> LinkSample:
        """The sample a snapshot reads.

        ``spec.level`` names the widest tier the path *reaches* (``spine`` for two
        nodes in different leaves of one spine: the path turns at the spine), while a
        :class:`~netsched.domain.fabric.LinkSample`'s ``level`` is the tier whose
        *uplinks* the path crosses (``leaf`` for the same pair): one tier narrower. A
        level the scheme lacks, or ``host``, is kept as it is, so the estimate counts
        the sample as unmatched instead of applying it to the wrong links.
        """
        level = self.level
        tiers = scheme.tier_names
        if level in tiers[1:]:
            level = tiers[tiers.index(level) - 1]
        return LinkSample(
            source=self.source,
            target=self.target,
            level=level,
            gbps=self.gbps,
            observed_at=self.measured_at,
        )
