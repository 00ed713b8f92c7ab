"""The clusters the placement benchmark runs on, as snapshots with every assumption named.

* **lingjun**: the 847 real hosts of Alibaba's Lingjun 2023 cluster, 8 GPUs each, with
  netsched's default bandwidths (400 Gbps hosts, 2:1 leaves, 3.2 Tbps per spine).
* **superpod**: DGX-SuperPOD-like: 4 scalable units (SUs) of 32 nodes x 8 GPUs. Rail
  links are ignored: NCCL keeps traffic rail-aligned (PXN), so the 8 rails act as 8
  parallel copies of one tree; we model one tree at the aggregate bandwidth (8 x
  400 Gbps = 3.2 Tbps per node), non-blocking (1:1) as the reference architecture is.
  An SU is a spine domain; its 32 nodes form 4 leaf domains of 8 (a rack row each),
  so the leaf tier is a rack boundary more than a switch.
* **fattree-N**: the parametric three-level tree, 8 hosts per leaf, 64 leaves per
  spine (1024 nodes per spine), default bandwidths.
* **lingjun-degraded**: Lingjun where a quarter of one spine's leaf uplinks (every
  4th leaf in path order) run at 25 % of nominal. The spine is the one with the
  fewest GPUs, which best fit (tas, netsched alike) fills first on an empty cluster:
  the case where a labels-only scheduler keeps landing on the sick links. The
  degradation is as the probe measures it: every
  leaf of that spine is probed against its next three leaves (cyclic), each sample
  reporting the slower of the two uplinks; the snapshot takes the median per uplink.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from netsched.domain.bandwidth import BandwidthEstimate
from netsched.domain.fabric import LinkSample
from netsched.domain.scheme import DEFAULT_SCHEME, Level, TopologyScheme
from netsched.domain.topology import ClusterSnapshot, build_snapshot
from netsched.domain.topology_sources import fat_tree, load_lingjun

NOW = datetime(2025, 1, 1, tzinfo=UTC)
LINGJUN_CSV = Path(__file__).resolve().parents[2] / "shared/data/lingjun-2023/topo.csv"
DEGRADED_FRACTION = 0.25
PROBE_PARTNERS = 3

SUPERPOD_HOST_GBPS = 8 * 400.0
SUPERPOD_SCHEME = TopologyScheme(
    levels=(
        Level(name="core", label_key="netsched.io/core", uplink_gbps=0.0),
        Level(name="spine", label_key="netsched.io/spine", uplink_gbps=32 * SUPERPOD_HOST_GBPS),
        Level(name="leaf", label_key="netsched.io/leaf", uplink_gbps=8 * SUPERPOD_HOST_GBPS),
    ),
    host_gbps=SUPERPOD_HOST_GBPS,
)


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str
    snapshot: ClusterSnapshot
    note: str

    @property
    def gpus(self) -> int:
        top = self.snapshot.tier_domains(len(self.snapshot.scheme.tier_names) - 1)
        return sum(self.snapshot.free[d] for d in top)


def lingjun() -> Cluster:
    nodes = load_lingjun(LINGJUN_CSV)
    snap = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)
    return Cluster("lingjun", snap, "847 real hosts, 3 spines, 119 leaves, default bandwidths")


def superpod() -> Cluster:
    nodes = fat_tree(
        cores=1, spines_per_core=4, leaves_per_spine=4, hosts_per_leaf=8, scheme=SUPERPOD_SCHEME
    )
    snap = build_snapshot(nodes=nodes, scheme=SUPERPOD_SCHEME)
    return Cluster("superpod", snap, "4 SUs x 32 nodes x 8 GPUs, rails collapsed, 1:1")


def fattree(nodes: int) -> Cluster:
    spines = max(1, nodes // (64 * 8))
    leaves = min(64, nodes // 8)
    built = fat_tree(cores=1, spines_per_core=spines, leaves_per_spine=leaves, hosts_per_leaf=8)
    snap = build_snapshot(nodes=built, scheme=DEFAULT_SCHEME)
    return Cluster(f"fattree-{nodes}", snap, f"{spines} spines x {leaves} leaves x 8 hosts")


def degraded(base: Callable[[], Cluster] = lingjun) -> Cluster:
    healthy = base()
    snap = healthy.snapshot
    spine = min(snap.tier_domains(2), key=lambda d: (snap.free[d], d))
    samples = degraded_samples(snap, spine=spine)
    nodes = list(snap.nodes)
    rebuilt = build_snapshot(nodes=nodes, scheme=snap.scheme, bandwidth=measured(snap, samples))
    spine_id = snap.domains[spine].id
    slow = sum(1 for d in rebuilt.tier_domains(1) if (rebuilt.domains[d].uplink_gbps or 0) < 1600)
    note = f"{slow} leaf uplinks of spine {spine_id} measured at 25 % ({len(samples)} samples)"
    return Cluster(f"{healthy.name}-degraded", rebuilt, note)


def measured(snap: ClusterSnapshot, samples: list[LinkSample]) -> BandwidthEstimate:
    """The replays' model of what the probes measured: each leaf uplink at the median of
    the samples crossing it (what netsched's estimator did until December 2026; the
    replays keep it so that their figures stay comparable)."""
    values: dict[str, list[float]] = {}
    for sample in samples:
        for node in (sample.source, sample.target):
            leaf = snap.domains[snap.ancestors(snap.host_index(node))[1]].id
            values.setdefault(leaf, []).append(sample.gbps)
    return BandwidthEstimate.of(
        {leaf: statistics.median(gbps) for leaf, gbps in values.items()},
        snap.fabric,
        at=NOW,
        degraded_fraction=1.0,
    )


def degraded_samples(snap: ClusterSnapshot, *, spine: int) -> list[LinkSample]:
    """Probe results for one spine whose every 4th leaf uplink runs at 25 % of nominal."""
    leaves = list(snap.domains[spine].children)
    step = round(1 / DEGRADED_FRACTION)
    nominal = {leaf: snap.domains[leaf].uplink_gbps or 0.0 for leaf in leaves}
    actual = {
        leaf: nominal[leaf] * (DEGRADED_FRACTION if i % step == 0 else 1.0)
        for i, leaf in enumerate(leaves)
    }
    samples = []
    for i, leaf in enumerate(leaves):
        for offset in range(1, PROBE_PARTNERS + 1):
            other = leaves[(i + offset) % len(leaves)]
            if other == leaf:
                continue
            source = snap.nodes[snap.domains[leaf].hosts.start].name
            target = snap.nodes[snap.domains[other].hosts.start].name
            gbps = min(actual[leaf], actual[other])
            samples.append(LinkSample(source, target, "leaf", gbps, NOW))
    return samples
