"""Small builders for topologies, demands and measurements in unit tests.

node("n1").leaf("leaf-1").gpus(8)          # under spine-a, core-x by default
snapshot(node("n1"), node("n2").used(4))   # frozen ClusterSnapshot at NOW
snapshot(..., flows={"n1": 1})             # one running gang crosses n1's uplink
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from netsched.domain.bandwidth import NO_MEASUREMENTS, BandwidthEstimate
from netsched.domain.demand import Demand, ParallelDegrees, Pattern
from netsched.domain.fabric import LinkSample
from netsched.domain.nodes import NodeInfo, node_labels
from netsched.domain.scheme import DEFAULT_SCHEME, TopologyScheme
from netsched.domain.topology import ClusterSnapshot, build_snapshot

NOW = datetime(2024, 5, 1, 12, 0, 0)
TTL = timedelta(minutes=10)
GB = 10**9
LEAF = "core-x/spine-a/leaf-%d"
"""The id of leaf n under the default spine."""


@dataclass(frozen=True)
class NodeBuilder:
    name: str
    core_name: str = "core-x"
    spine_name: str = "spine-a"
    leaf_name: str = "leaf-1"
    gpu_count: int = 8
    used_gpus: int = 0
    is_ready: bool = True
    is_cordoned: bool = False
    drop_label: str | None = None

    def core(self, name: str) -> NodeBuilder:
        return replace(self, core_name=name)

    def spine(self, name: str) -> NodeBuilder:
        return replace(self, spine_name=name)

    def leaf(self, name: str) -> NodeBuilder:
        return replace(self, leaf_name=name)

    def gpus(self, count: int) -> NodeBuilder:
        return replace(self, gpu_count=count)

    def used(self, count: int) -> NodeBuilder:
        return replace(self, used_gpus=count)

    def not_ready(self) -> NodeBuilder:
        return replace(self, is_ready=False)

    def cordoned(self) -> NodeBuilder:
        return replace(self, is_cordoned=True)

    def without_label(self, key: str) -> NodeBuilder:
        return replace(self, drop_label=key)

    def build(self) -> NodeInfo:
        path = (self.core_name, self.spine_name, self.leaf_name)
        labels = node_labels(hostname=self.name, path=path, scheme=DEFAULT_SCHEME)
        labels.pop(self.drop_label or "", None)
        return NodeInfo(
            name=self.name,
            labels=labels,
            allocatable_gpus=self.gpu_count,
            ready=self.is_ready,
            unschedulable=self.is_cordoned,
        )


def node(name: str) -> NodeBuilder:
    return NodeBuilder(name)


def rack(spine: str, leaf: str, *names: str, gpus: int = 8) -> list[NodeBuilder]:
    """Several nodes under one leaf."""
    return [node(n).spine(spine).leaf(leaf).gpus(gpus) for n in names]


def snapshot(
    *builders: NodeBuilder | list[NodeBuilder],
    measured: Mapping[str, float] | None = None,
    reserved: dict[str, int] | None = None,
    flows: dict[str, int] | None = None,
    scheme: TopologyScheme = DEFAULT_SCHEME,
) -> ClusterSnapshot:
    """``measured`` says what the probes measured outright: domain id (a host's is its node
    name) -> Gbps (the estimator that gets there from samples is tested on its own)."""
    flat: list[NodeBuilder] = []
    for item in builders:
        flat.extend(item if isinstance(item, list) else [item])
    nodes = [b.build() for b in flat]
    bandwidth = NO_MEASUREMENTS
    if measured:
        fabric = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME).fabric
        bandwidth = BandwidthEstimate.of(measured, fabric, at=NOW)
    return build_snapshot(
        nodes=nodes,
        scheme=scheme,
        used_gpus={b.name: b.used_gpus for b in flat},
        reserved=reserved or {},
        bandwidth=bandwidth,
        flows=flows or {},
    )


def sample(
    source: str, target: str, *, level: str, gbps: float, age: timedelta = timedelta(0)
) -> LinkSample:
    return LinkSample(source, target, level, gbps, NOW - age)


def demand(
    replicas: int,
    *,
    gpus: int = 8,
    pattern: Pattern = Pattern.DATA_PARALLEL,
    size: int = GB,
    max_tier: str | None = None,
    preferred_tier: str | None = None,
    degrees: ParallelDegrees | None = None,
    name: str = "ml/job",
) -> Demand:
    return Demand(
        name=name,
        replicas=replicas,
        gpus_per_pod=gpus,
        pattern=pattern,
        bytes_per_step=size,
        degrees=degrees,
        max_tier=max_tier,
        preferred_tier=preferred_tier,
    )


def degraded_leaf_1() -> ClusterSnapshot:
    """Three leaves under one spine; leaf-1's uplink measured at 25 % of nominal.

    ::

                 spine-a
            /       |       \\
        leaf-1   leaf-2   leaf-3
        n1..n5   n6..n9   n10..n13       leaf-1 uplink measured at 400 Gbps (of 1600)
    """
    nodes = (
        rack("spine-a", "leaf-1", "n1", "n2", "n3", "n4", "n5"),
        rack("spine-a", "leaf-2", "n6", "n7", "n8", "n9"),
        rack("spine-a", "leaf-3", "n10", "n11", "n12", "n13"),
    )
    measured = {LEAF % 1: 400.0, LEAF % 2: 1600.0, LEAF % 3: 1600.0}
    return snapshot(*nodes, measured=measured)
