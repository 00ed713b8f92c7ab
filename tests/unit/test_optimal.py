"""The exact strategy: a yardstick no other strategy beats on predicted comm time."""

from __future__ import annotations

import dataclasses

import pytest
from builders import GB, degraded_leaf_1, demand, node, rack, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_gen import clusters, demands, running

from netsched.domain.cost import BYTES_PER_GBPS
from netsched.domain.demand import ParallelDegrees, Pattern
from netsched.domain.placement import (
    MAX_OPTIMAL_NODES,
    STRATEGIES,
    OptimalUnsupported,
    Placement,
    place,
)

OTHERS = [s for s in STRATEGIES if s != "optimal"]


class TestYardstick:
    @settings(max_examples=40, deadline=None)
    @given(clusters(), demands(hybrid=False))
    def test_no_strategy_predicts_less_comm_time_than_optimal(self, cluster, job):
        builders, measured = cluster
        snap = snapshot(*builders, measured=measured)
        best = place(job, snap, strategy="optimal")
        for name in OTHERS:
            other = place(job, snap, strategy=name)
            if name in ("netsched", "tas"):  # both place whenever some domain fits
                assert isinstance(other, Placement) == isinstance(best, Placement)
            if isinstance(other, Placement) and isinstance(best, Placement):
                assert best.cost.comm_seconds <= other.cost.comm_seconds * (1 + 1e-9), name

    @settings(max_examples=60, deadline=None)
    @given(clusters(), demands(hybrid=False), st.data())
    def test_netsched_is_within_5_percent_of_optimal(self, cluster, job, data):
        # Zero to four running gangs share some uplinks: the bound holds either way.
        builders, measured = cluster
        snap = data.draw(running(snapshot(*builders, measured=measured)))
        job = dataclasses.replace(job, preferred_tier=None)  # a wish optimal does not weigh
        ours, best = place(job, snap), place(job, snap, strategy="optimal")
        assert isinstance(ours, Placement) == isinstance(best, Placement)
        if isinstance(ours, Placement) and isinstance(best, Placement):
            assert ours.cost.comm_seconds <= best.cost.comm_seconds * 1.05 + 1e-12

    #            core-x
    #        /           \
    #    spine-a        spine-b
    #    leaf-1         leaf-1
    #    8 hosts        n02 (NIC measured at 1000 Gbps), n09
    @pytest.mark.parametrize("pattern", [Pattern.MODEL_PARALLEL, Pattern.PIPELINE_PARALLEL])
    def test_a_chain_passes_through_the_fast_host_even_across_spines(self, pattern):
        # Found by the property above. Five half-node pods: in spine-a's leaf alone some
        # host holds a middle of the chain at 400 Gbps (2 S / 400); passing through n02
        # instead halves the time, though the chain then crosses both spines.
        hosts = ["n00", "n01", *(f"n0{i}" for i in range(3, 9))]
        snap = snapshot(
            rack("spine-a", "leaf-1", *hosts),
            rack("spine-b", "leaf-1", "n02", "n09"),
            measured={"n02": 1000.0},
        )
        job = demand(5, gpus=4, pattern=pattern)
        ours, best = place(job, snap), place(job, snap, strategy="optimal")
        assert best.cost.comm_seconds == pytest.approx(GB / (400 * BYTES_PER_GBPS))
        assert ours.cost.comm_seconds == pytest.approx(best.cost.comm_seconds)
        assert "n02" in ours.nodes

    #          spine-a
    #     /       |       \
    # leaf-1   leaf-2   leaf-3
    # n1..n5   n6..n9   n10..n13       leaf-1 uplink measured at 400 Gbps
    @pytest.mark.parametrize("pattern", [Pattern.DATA_PARALLEL, Pattern.EXPERT_PARALLEL])
    def test_netsched_matches_optimal_around_a_degraded_leaf(self, pattern):
        snap = degraded_leaf_1()
        job = demand(8, pattern=pattern)
        ours, best = place(job, snap), place(job, snap, strategy="optimal")
        assert ours.cost.comm_seconds == pytest.approx(best.cost.comm_seconds)


class TestLimits:
    def test_too_many_nodes_is_a_clear_error(self):
        nodes = [node(f"n{i:02d}").leaf(f"leaf-{i // 8}") for i in range(MAX_OPTIMAL_NODES + 1)]
        with pytest.raises(
            OptimalUnsupported, match="at most 32 nodes with room; this snapshot has 33"
        ):
            place(demand(2), snapshot(*nodes), strategy="optimal")

    def test_full_nodes_do_not_count_towards_the_limit(self):
        nodes = [node(f"n{i:02d}").used(8) for i in range(40)] + [node("free-1"), node("free-2")]
        result = place(demand(2), snapshot(*nodes), strategy="optimal")
        assert set(result.nodes) == {"free-1", "free-2"}

    def test_hybrid_is_not_modelled(self):
        job = demand(2, pattern=Pattern.HYBRID, degrees=ParallelDegrees(8, 2, 1))
        with pytest.raises(OptimalUnsupported, match="Hybrid"):
            place(job, snapshot(node("n1"), node("n2")), strategy="optimal")

    def test_max_tier_holds(self):
        snap = snapshot(rack("spine-a", "leaf-1", "n1", "n2"), rack("spine-b", "leaf-1", "n3"))
        result = place(demand(2, max_tier="leaf"), snap, strategy="optimal")
        assert set(result.nodes) == {"n1", "n2"}
        unplaceable = place(demand(3, max_tier="spine"), snap, strategy="optimal")
        assert "under one spine (maxTier=spine)" in unplaceable.reason
