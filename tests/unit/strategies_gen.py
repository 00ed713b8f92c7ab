"""Hypothesis strategies: small random clusters and demands for invariant tests."""

from __future__ import annotations

from builders import NodeBuilder, demand, node
from hypothesis import strategies as st

from netsched.domain.demand import Demand, ParallelDegrees, Pattern
from netsched.domain.topology import ClusterSnapshot

TIERS = ["host", "leaf", "spine", "core"]


@st.composite
def clusters(draw: st.DrawFn, max_nodes: int = 12) -> tuple[list[NodeBuilder], dict[str, float]]:
    """Up to ``max_nodes`` nodes over 1-2 spines of 1-3 leaves, some busy, some measured."""
    count = draw(st.integers(min_value=1, max_value=max_nodes))
    builders = []
    for i in range(count):
        spine = draw(st.sampled_from(["spine-a", "spine-b"]))
        leaf = draw(st.sampled_from(["leaf-1", "leaf-2", "leaf-3"]))
        used = draw(st.sampled_from([0, 0, 0, 2, 4, 7, 8]))
        builders.append(node(f"n{i:02d}").spine(spine).leaf(leaf).used(used))
    links = sorted(
        {b.name for b in builders}
        | {f"{b.core_name}/{b.spine_name}" for b in builders}
        | {f"{b.core_name}/{b.spine_name}/{b.leaf_name}" for b in builders}
    )
    measured = {}
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        link = draw(st.sampled_from(links))
        measured[link] = draw(st.sampled_from([100.0, 400.0, 1000.0]))
    return builders, measured


@st.composite
def demands(draw: st.DrawFn, *, hybrid: bool = True) -> Demand:
    patterns = [p for p in Pattern if hybrid or p is not Pattern.HYBRID]
    pattern = draw(st.sampled_from(patterns))
    gpus = draw(st.sampled_from([1, 2, 4, 8]))
    replicas = draw(st.integers(min_value=1, max_value=8))
    degrees = None
    if pattern is Pattern.HYBRID:
        tensor = draw(st.sampled_from([d for d in (1, 2, 4, 8) if d <= gpus]))
        pipeline = draw(
            st.sampled_from([d for d in (1, 2, replicas) if (replicas * gpus // tensor) % d == 0])
        )
        degrees = ParallelDegrees(tensor, pipeline, replicas * gpus // tensor // pipeline)
    return demand(
        replicas,
        gpus=gpus,
        pattern=pattern,
        degrees=degrees,
        max_tier=draw(st.sampled_from([None, *TIERS])),
        preferred_tier=draw(st.sampled_from([None, *TIERS])),
        name=f"ml/job-{draw(st.integers(0, 99))}",
    )


@st.composite
def running(draw: st.DrawFn, snap: ClusterSnapshot) -> ClusterSnapshot:
    """``snap`` with 0-4 running gangs, each crossing 1-3 of its uplinks (GPUs untouched)."""
    uplinks = [d.id for d in snap.domains if d.parent is not None]
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        crossed = draw(st.lists(st.sampled_from(uplinks), min_size=1, max_size=3, unique=True))
        snap = snap.with_allocation({}, links=crossed)
    return snap
