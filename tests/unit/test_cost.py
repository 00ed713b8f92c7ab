"""The cost model: bytes per uplink per step, and the bottleneck time."""

from __future__ import annotations

import itertools

import pytest
from builders import GB, demand, node, rack, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from netsched.domain.cost import BYTES_PER_GBPS, predict
from netsched.domain.demand import ParallelDegrees, Pattern, RankOrder
from netsched.domain.ring import ring_order
from netsched.domain.traffic import host_flows, ring_edge_bytes

HOST = 400 * BYTES_PER_GBPS  # bytes/s of a nominal host uplink
LEAF = 1600 * BYTES_PER_GBPS

#                 core-x
#           /               \
#       spine-a            spine-b
#      /       \              |
#   leaf-1    leaf-2       leaf-3
#   n1 n2     n3 n4        n5 n6
TREE = (
    rack("spine-a", "leaf-1", "n1", "n2"),
    rack("spine-a", "leaf-2", "n3", "n4"),
    rack("spine-b", "leaf-3", "n5", "n6"),
)


class TestRing:
    def test_ring_edge_is_nccl_bus_factor(self):
        assert ring_edge_bytes(4, 100.0) == 150.0
        assert ring_edge_bytes(1, 100.0) == 0.0

    def test_ranks_on_one_node_cost_nothing(self):
        cost = predict(demand(3, gpus=2), ["n1"] * 3, snapshot(*TREE))
        assert cost.comm_seconds == 0.0
        assert (cost.tier_spanned, cost.domain, cost.bottleneck) == ("host", "n1", None)

    def test_ring_in_one_leaf_is_bound_by_host_uplinks(self):
        cost = predict(demand(2), ["n1", "n2"], snapshot(*TREE))
        assert cost.comm_seconds == pytest.approx(GB / HOST)
        assert (cost.tier_spanned, cost.domain) == ("leaf", "core-x/spine-a/leaf-1")
        assert cost.cross_tier_bytes["leaf"] == 0.0

    def test_ring_across_two_leaves_crosses_each_leaf_uplink_once_each_way(self):
        cost = predict(demand(4), ["n1", "n2", "n3", "n4"], snapshot(*TREE))
        edge = ring_edge_bytes(4, GB)
        assert cost.link_bytes["core-x/spine-a/leaf-1"] == edge
        assert cost.cross_tier_bytes["leaf"] == 2 * 2 * edge
        assert cost.tier_spanned == "spine"

    def test_interleaved_ring_order_costs_more_than_depth_first(self):
        snap = snapshot(*TREE)
        tidy = predict(demand(4), ["n1", "n2", "n3", "n4"], snap)
        messy = predict(demand(4), ["n1", "n3", "n2", "n4"], snap)
        assert messy.cross_tier_bytes["leaf"] == 2 * tidy.cross_tier_bytes["leaf"]

    def test_a_degraded_measured_uplink_becomes_the_bottleneck(self):
        leaves = ("core-x/spine-a/leaf-1", "core-x/spine-a/leaf-2")
        slow = snapshot(*TREE, measured=dict.fromkeys(leaves, 100.0))
        cost = predict(demand(4), ["n1", "n2", "n3", "n4"], slow)
        assert cost.bottleneck in {"core-x/spine-a/leaf-1", "core-x/spine-a/leaf-2"}
        assert cost.bottleneck_gbps == 100.0
        assert cost.comm_seconds == pytest.approx(ring_edge_bytes(4, GB) / (100 * BYTES_PER_GBPS))


class TestChain:
    @pytest.mark.parametrize("pattern", [Pattern.PIPELINE_PARALLEL, Pattern.MODEL_PARALLEL])
    def test_activations_go_forward_and_gradients_back(self, pattern):
        cost = predict(demand(3, pattern=pattern), ["n1", "n2", "n3"], snapshot(*TREE))
        # n2 is passed through: activations in from n1 and gradients in from n3, GB each.
        assert cost.link_bytes["n2"] == 2 * GB
        # n1 and leaf-2 (holding n3) hold an end: GB each way.
        assert cost.link_bytes["n1"] == GB
        assert cost.link_bytes["core-x/spine-a/leaf-2"] == GB
        assert cost.cross_tier_bytes["host"] == 8 * GB  # both directions summed
        assert cost.comm_seconds == pytest.approx(2 * GB / HOST)

    def test_the_chain_ends_under_the_slowest_uplinks(self):
        # Three leaves under one spine, leaf-2 measured slow: the chain should hold an
        # end there rather than pass through it.
        snap = snapshot(
            rack("spine-a", "leaf-1", "a1", "a2"),
            rack("spine-a", "leaf-2", "b1", "b2"),
            rack("spine-a", "leaf-3", "c1", "c2"),
            measured={"core-x/spine-a/leaf-2": 100.0},
        )
        job = demand(6, pattern=Pattern.PIPELINE_PARALLEL)
        shares = [(snap.host_index(n), 1) for n in ("a1", "a2", "b1", "b2", "c1", "c2")]
        order = ring_order(snap, shares, chain=True)
        assert order[0] in ("b1", "b2") and order[-1] not in ("b1", "b2")
        plain = predict(job, ring_order(snap, shares), snap)
        ended = predict(job, order, snap)
        assert ended.comm_seconds == pytest.approx(plain.comm_seconds / 2)
        assert ended.bottleneck == "core-x/spine-a/leaf-2"

    def test_given_ends_in_one_child_of_the_gang_domain_are_refused(self):
        snap = snapshot(*TREE)
        shares = [(snap.host_index(n), 1) for n in ("n1", "n2", "n3")]
        with pytest.raises(ValueError, match="one child of the gang's domain"):
            ring_order(snap, shares, chain=True, ends=(0, 1))


class TestAllToAll:
    def test_uplink_carries_inside_times_outside_over_n(self):
        order = ["n1", "n1", "n2", "n3", "n5", "n6"]
        cost = predict(demand(6, gpus=1, pattern=Pattern.EXPERT_PARALLEL), order, snapshot(*TREE))
        assert cost.link_bytes["n1"] == pytest.approx(2 * 4 * GB / 6)
        assert cost.link_bytes["core-x/spine-a"] == pytest.approx(4 * 2 * GB / 6)

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.sampled_from(["n1", "n2", "n3", "n4", "n5", "n6"]), min_size=2, max_size=12))
    def test_per_domain_formula_equals_summing_every_pair(self, order):
        snap = snapshot(*TREE)
        cost = predict(demand(len(order), gpus=1, pattern=Pattern.EXPERT_PARALLEL), order, snap)
        share = GB / len(order)
        for domain in snap.domains:
            if domain.parent is None:
                continue
            inside = [i for i, n in enumerate(order) if snap.host_index(n) in domain.hosts]
            pairs = sum(
                1
                for i, j in itertools.permutations(range(len(order)), 2)
                if (i in inside) != (j in inside) and i in inside
            )
            assert cost.link_bytes.get(domain.id, 0.0) == pytest.approx(pairs * share)


class TestHybrid:
    def test_tensor_parallel_inside_a_pod_costs_nothing_on_the_network(self):
        # 4 pods x 8 GPUs: tensor 8 (one pod), pipeline 2, data 2.
        job = demand(4, pattern=Pattern.HYBRID, degrees=ParallelDegrees(8, 2, 2))
        cost = predict(job, ["n1", "n2", "n3", "n4"], snapshot(*TREE))
        # pipeline n1->n2 and n3->n4: 8 tensor ranks x GB; data rings n1<->n3, n2<->n4.
        assert cost.link_bytes["n1"] == 8 * GB + 8 * ring_edge_bytes(2, GB)
        assert cost.tier_spanned == "spine"

    @pytest.mark.parametrize(
        ("order", "chain", "data_ring"),
        [
            # Megatron-LM's default: stage slowest, so stage 0 is pods 0-3, stage 1 pods 4-7.
            (RankOrder.TP_DP_PP, (0, 4), (0, 1)),
            # Each whole pipeline contiguous: replica d is pods 2d and 2d+1.
            (RankOrder.TP_PP_DP, (0, 1), (0, 2)),
        ],
    )
    def test_groups_follow_the_frameworks_rank_order(self, order, chain, data_ring):
        # 8 pods x 8 GPUs: tensor 8 (one pod), pipeline 2, data 4.
        degrees = ParallelDegrees(8, 2, 4, order=order)
        flows = host_flows(demand(8, pattern=Pattern.HYBRID, degrees=degrees), range(8))
        # A pipeline link: 8 tensor ranks x GB forward, and as much back.
        assert flows[chain] == flows[chain[::-1]] == 8 * GB
        # A data-parallel ring edge over 4 replicas: 8 tensor ranks x 1.5 GB.
        assert flows[data_ring] == 8 * ring_edge_bytes(4, GB)

    def test_hybrid_without_matching_degrees_is_refused(self):
        job = demand(4, pattern=Pattern.HYBRID, degrees=ParallelDegrees(8, 2, 1))
        with pytest.raises(ValueError, match="16, but 4 replicas x 8 GPUs = 32"):
            predict(job, ["n1", "n2", "n3", "n4"], snapshot(*TREE))


class TestEdges:
    def test_no_traffic_pattern_costs_nothing(self):
        cost = predict(demand(2, pattern=Pattern.NONE), ["n1", "n5"], snapshot(*TREE))
        assert cost.comm_seconds == 0.0 and cost.tier_spanned == "core"

    def test_ranks_under_two_cores_cross_the_interconnect(self):
        snap = snapshot(node("n1").core("core-x"), node("n2").core("core-y"))
        cost = predict(demand(2), ["n1", "n2"], snap)
        # One ring edge each way over each core's link to the other; the default
        # interconnect is the next level's (spine) uplink, 3.2 Tbps.
        assert cost.link_bytes["core-x"] == cost.link_bytes["core-y"] == GB
        assert snap.effective_gbps(snap.domain_index("core-x")) == 3200.0
        assert cost.split == ("core-x", "core-y") and cost.tier_spanned == "core"
        assert cost.domain == "core-x+core-y"
        assert cost.cross_tier_bytes["core"] == 4 * GB  # both cores, both directions

    def test_one_core_has_no_interconnect(self):
        snap = snapshot(*TREE)
        assert not snap.interconnected
        assert "core" not in predict(demand(2), ["n1", "n5"], snap).cross_tier_bytes

    def test_order_must_name_one_node_per_rank(self):
        with pytest.raises(ValueError, match="1 nodes for 2 ranks"):
            predict(demand(2), ["n1"], snapshot(*TREE))

    def test_ranking_prefers_less_time_then_fewer_wide_bytes(self):
        snap = snapshot(*TREE)
        in_leaf = predict(demand(2), ["n1", "n2"], snap)
        across = predict(demand(2), ["n1", "n5"], snap)
        assert in_leaf.comm_seconds == across.comm_seconds
        assert in_leaf.ranking() < across.ranking()
