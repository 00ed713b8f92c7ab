"""Placement strategies: what goes where, why, and what never happens."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from builders import GB, LEAF, degraded_leaf_1, demand, node, rack, snapshot
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies_gen import TIERS, clusters, demands

from netsched.domain.capacity import count_capacity
from netsched.domain.cost import BYTES_PER_GBPS, predict
from netsched.domain.demand import ParallelDegrees, Pattern
from netsched.domain.placement import (
    STRATEGIES,
    OptimalUnsupported,
    Placement,
    Unschedulable,
    place,
)
from netsched.domain.placement_bottleneck import Bottleneck
from netsched.domain.ring import ring_order
from netsched.domain.scheme import DEFAULT_SCHEME

#            core-x
#       /             \
#    spine-a         spine-b
#    /     \            |
# leaf-1  leaf-2     leaf-3
# n1 n2   n3 n4 n5   n6 n7 n8 n9
TWO_SPINES = (
    rack("spine-a", "leaf-1", "n1", "n2"),
    rack("spine-a", "leaf-2", "n3", "n4", "n5"),
    rack("spine-b", "leaf-3", "n6", "n7", "n8", "n9"),
)
BLIND = ["spread", "binpack", "random"]


def leaves_of(result, snap):
    return {snap.domains[snap.ancestors(snap.host_index(n))[1]].id for n in result.nodes}


class TestNetsched:
    @pytest.mark.parametrize(
        ("replicas", "gpus", "domain"),
        [
            (1, 8, "n1"),  # best fit: first of the equally full nodes
            (2, 4, "n1"),  # two pods share a node
            (2, 8, "core-x/spine-a/leaf-1"),  # the leaf that fits exactly
            (3, 8, "core-x/spine-a/leaf-2"),
            (4, 8, "core-x/spine-b/leaf-3"),
            (5, 8, "core-x/spine-a"),
            (9, 8, "core-x"),
        ],
    )
    def test_gang_goes_to_the_lowest_fullest_domain_that_fits(self, replicas, gpus, domain):
        result = place(demand(replicas, gpus=gpus), snapshot(*TWO_SPINES))
        assert isinstance(result, Placement)
        assert result.cost.domain == domain

    def test_explanation_names_gpus_nodes_domain_ring_and_time(self):
        result = place(demand(4), snapshot(*TWO_SPINES))
        assert result.explanation.startswith(
            "32 GPUs on 4 nodes under leaf core-x/spine-b/leaf-3; ring leaves no leaf; "
            "bottleneck host uplink"
        )
        assert result.explanation.endswith("n6 at 400 Gbps (nominal); 0.03 s comm/step")

    def test_ranks_follow_the_ring_order_of_the_tree(self):
        result = place(demand(5), snapshot(*TWO_SPINES))
        assert result.nodes == ("n1", "n2", "n3", "n4", "n5")
        assert [r.rank for r in result.ranks] == [0, 1, 2, 3, 4]
        assert {r.gpus for r in result.ranks} == {8}

    def test_a_busy_node_hosts_only_what_fits(self):
        snap = snapshot(node("n1").used(5), node("n2"))
        result = place(demand(2, gpus=4), snap)
        assert result.nodes == ("n2", "n2")

    #          spine-a
    #     /       |       \
    # leaf-1   leaf-2   leaf-3
    # n1..n5   n6..n9   n10..n13       leaf-1 uplink measured at 400 Gbps (25% of 1600)
    #
    # At 25% a leaf uplink is as fast as one host's NIC, so a ring never notices; an
    # all-to-all gang with several pods behind it does.
    def test_a_degraded_leaf_uplink_is_avoided_by_netsched_but_not_by_tas(self):
        snap = degraded_leaf_1()
        assert [snap.domains[d].id for d in snap.degraded] == ["core-x/spine-a/leaf-1"]
        job = demand(8, pattern=Pattern.EXPERT_PARALLEL)
        ours, kueue = place(job, snap), place(job, snap, strategy="tas")
        assert "core-x/spine-a/leaf-1" not in leaves_of(ours, snap)
        assert "core-x/spine-a/leaf-1" in leaves_of(kueue, snap)
        assert ours.cost.comm_seconds < kueue.cost.comm_seconds
        assert "around degraded leaf uplink core-x/spine-a/leaf-1 (400 of 1600 Gbps)" in (
            ours.explanation
        )
        assert "around degraded" not in kueue.explanation  # it crosses the link

    #               core-x
    #     /           |           \
    # spine-a      spine-b      spine-c     spine-a uplink measured at 320 Gbps (10%)
    #  n1 n2 n3     n4 n5        n6 n7
    def test_a_degraded_spine_uplink_is_avoided_by_a_ring(self):
        nodes = (
            rack("spine-a", "leaf-1", "n1", "n2", "n3"),
            rack("spine-b", "leaf-1", "n4", "n5"),
            rack("spine-c", "leaf-1", "n6", "n7"),
        )
        measured = {"core-x/spine-a": 320.0, "core-x/spine-b": 3200.0, "core-x/spine-c": 3200.0}
        snap = snapshot(*nodes, measured=measured)
        result = place(demand(4), snap)
        assert set(result.nodes) == {"n4", "n5", "n6", "n7"}
        assert "n1" in place(demand(4), snap, strategy="tas").nodes

    @pytest.mark.parametrize(
        ("nodes", "measured", "job", "slow", "spanned"),
        [
            #               core-x
            #          /             \
            #      spine-a          spine-b
            #         |                |
            #      leaf-1           leaf-1
            #    n1 n2 n3            n4 n5        n3's NIC measured at 100 Gbps
            #
            # Five 4-GPU pods fit under spine-a's leaf only by using n3; a ring over
            # n3 takes 0.128 s, one that crosses the spines at 400 Gbps takes 0.032 s.
            pytest.param(
                (
                    rack("spine-a", "leaf-1", "n1", "n2", "n3"),
                    rack("spine-b", "leaf-1", "n4", "n5"),
                ),
                {"n3": 100.0},
                demand(5, gpus=4),
                "n3",
                "core",
                id="slow-host-avoided-across-spines",
            ),
            #                 core-x
            #            /              \
            #        spine-a           spine-b
            #       /       \             |
            #   leaf-1     leaf-2       leaf-3
            #   n1..n4     n5 n6        n7 n8      leaf-2 uplink measured at 100 Gbps
            #
            # Six pods fill spine-a exactly, so the detour inside it has no room;
            # crossing to spine-b instead keeps every link at 400 Gbps or more.
            pytest.param(
                (
                    rack("spine-a", "leaf-1", "n1", "n2", "n3", "n4"),
                    rack("spine-a", "leaf-2", "n5", "n6"),
                    rack("spine-b", "leaf-3", "n7", "n8"),
                ),
                {LEAF % 2: 100.0},
                demand(6),
                "n5",
                "core",
                id="degraded-leaf-uplink-avoided-across-spines",
            ),
            #          spine-a
            #       /          \
            #   leaf-1        leaf-2
            #   n1 n2 n3        n4           n1's NIC measured at 200 Gbps
            #
            # All-to-all over six 8-GPU pods: leaving n1 out costs nothing anywhere else.
            pytest.param(
                (rack("spine-a", "leaf-1", "n1", "n2", "n3"), rack("spine-a", "leaf-2", "n4")),
                {"n1": 200.0},
                demand(3, pattern=Pattern.EXPERT_PARALLEL),
                "n1",
                "spine",
                id="slow-host-avoided-by-all-to-all",
            ),
        ],
    )
    def test_a_wider_tier_wins_when_the_natural_one_needs_a_slow_link(
        self, nodes, measured, job, slow, spanned
    ):
        snap = snapshot(*nodes, measured=measured)
        ours, kueue = place(job, snap), place(job, snap, strategy="tas")
        best = place(job, snap, strategy="optimal")
        assert slow not in ours.nodes and slow in kueue.nodes
        assert ours.cost.tier_spanned == spanned
        assert ours.cost.comm_seconds == pytest.approx(best.cost.comm_seconds)
        assert ours.cost.comm_seconds < kueue.cost.comm_seconds

    #       spine-a
    #      /       \
    #  leaf-1     leaf-2
    #  n1 n2        n3        n2's NIC measured at 399 Gbps (0.25 % slow)
    #
    # Crossing to leaf-2 with n1 and n3 would save 0.25 %: too little to leave the leaf.
    def test_a_wider_tier_does_not_win_on_a_sliver_of_time(self):
        nodes = (rack("spine-a", "leaf-1", "n1", "n2"), rack("spine-a", "leaf-2", "n3"))
        snap = snapshot(*nodes, measured={"n2": 399.0})
        result = place(demand(2), snap)
        assert set(result.nodes) == {"n1", "n2"}

    def test_all_to_all_spreads_over_more_uplinks_when_that_is_faster(self):
        # 8 two-GPU pods: packed four to a node, each NIC carries 4 x 4 x S/8.
        snap = snapshot(rack("spine-a", "leaf-1", "n1", "n2", "n3", "n4"))
        job = demand(8, gpus=2, pattern=Pattern.EXPERT_PARALLEL)
        result, packed = place(job, snap), place(job, snap, strategy="tas")
        assert len(set(result.nodes)) == 4
        assert result.cost.comm_seconds < packed.cost.comm_seconds

    def test_preferred_tier_is_soft(self):
        result = place(demand(5, preferred_tier="leaf"), snapshot(*TWO_SPINES))
        assert isinstance(result, Placement) and result.cost.tier_spanned == "spine"


class TestUnschedulable:
    def test_max_tier_is_hard_and_the_reason_has_the_numbers(self):
        result = place(demand(5, max_tier="leaf"), snapshot(*TWO_SPINES))
        assert isinstance(result, Unschedulable)
        assert result.reason == (
            "needs 5 pods of 8 GPUs (40 GPUs) under one leaf (maxTier=leaf); the best leaf, "
            "core-x/spine-b/leaf-3, has room for 4 (32 GPUs free)"
        )
        assert "Cluster-wide there is room for 9 such pods" in result.explanation

    def test_full_domains_are_counted(self):
        snap = snapshot(rack("spine-a", "leaf-1", "n1"), node("n2").leaf("leaf-2").used(8))
        assert place(demand(2), snap).reason.endswith("has room for 1 (8 GPUs free)")
        assert place(demand(2, max_tier="leaf"), snap).reason.endswith("1 of 2 hosts are full")

    def test_scattered_free_gpus_are_called_out(self):
        snap = snapshot(node("n1").used(4), node("n2").used(4))
        result = place(demand(1), snap)
        assert "scattered over nodes with fewer than 8 free" in result.reason

    def test_excluded_nodes_are_mentioned(self):
        result = place(demand(2), snapshot(node("n1"), node("n2").not_ready()))
        assert "1 nodes are excluded (e.g. n2: not Ready)" in result.explanation

    # When the cluster itself must change, the reason says what is wrong and the
    # advice that cannot help (wait, fewer GPUs, wider maxTier) is left out.
    @pytest.mark.parametrize(
        ("nodes", "says"),
        [
            (
                [node("n1").gpus(0), node("n2").gpus(0)],
                "no schedulable node advertises nvidia.com/gpu in status.allocatable: install the "
                "NVIDIA device plugin",
            ),
            (
                [node("n1").gpus(4), node("n2").gpus(4)],
                "no schedulable node has 8 GPUs (the largest has 4): ask for at most 4 GPUs",
            ),
            (
                [
                    node("n1").without_label("netsched.io/leaf"),
                    node("n2").without_label("netsched.io/leaf"),
                ],
                "every node lacks the tier label netsched.io/leaf: label the nodes, or name a "
                "NetworkTopology whose levels match their labels",
            ),
            (
                [
                    node("n1").without_label("netsched.io/leaf"),
                    node("n2").without_label("netsched.io/spine"),
                ],
                "every node lacks tier labels netsched.io/leaf, netsched.io/spine",
            ),
            (
                [
                    node("n1").without_label("netsched.io/leaf"),
                    node("n2").not_ready(),
                    node("n3").not_ready(),
                ],
                "no node is schedulable (2 not Ready, 1 missing tier labels)",
            ),
            ([], "the cluster has no nodes"),
        ],
    )
    @pytest.mark.parametrize("strategy", list(STRATEGIES))
    def test_a_cluster_no_gang_fits_says_what_is_wrong(self, nodes, says, strategy):
        result = place(demand(2, max_tier="leaf"), snapshot(*nodes), strategy=strategy)
        assert isinstance(result, Unschedulable)
        assert says in result.reason
        assert result.explanation.startswith(result.reason)
        for useless in ("wait", "Wait", "fewer GPUs", "widen maxTier"):
            assert useless not in result.explanation

    @pytest.mark.parametrize(
        ("nodes", "job", "advice"),
        [
            ([node("n1").used(8), node("n2")], demand(2, max_tier="leaf"),
             "Wait for running jobs to finish, ask for fewer GPUs, or widen maxTier."),
            ([node("n1"), node("n2")], demand(3, max_tier="leaf"),
             "Ask for fewer GPUs, or widen maxTier."),
            ([node("n1").used(8), node("n2")], demand(2),
             "Wait for running jobs to finish, or ask for fewer GPUs."),
            ([node("n1"), node("n2")], demand(3), "Ask for fewer GPUs."),
        ],
    )  # fmt: skip
    def test_the_advice_holds_only_what_could_help(self, nodes, job, advice):
        result = place(job, snapshot(*nodes))
        assert isinstance(result, Unschedulable)
        assert result.explanation.endswith(advice)

    @pytest.mark.parametrize(
        ("job", "message"),
        [
            (
                demand(2, max_tier="rack"),
                'spec.topology.maxTier: maxTier "rack" is not a tier of NetworkTopology "default"',
            ),
            (demand(2, preferred_tier="pod"), 'preferredTier "pod" is not a tier'),
            (
                demand(2, max_tier="leaf", preferred_tier="spine"),
                "spec.topology.preferredTier: preferredTier must not be wider than maxTier",
            ),
            (demand(0), "spec.replicas: replicas must be at least 1"),
            (demand(2, gpus=0), "at least one nvidia.com/gpu"),
            (demand(2, pattern=Pattern.HYBRID), "spec.communication.pattern: pattern Hybrid needs"),
            (
                demand(2, pattern=Pattern.HYBRID, degrees=ParallelDegrees(8, 1, 1)),
                "spec.communication: tensorParallel x pipelineParallel x dataParallel must equal",
            ),
            (
                demand(2, pattern=Pattern.HYBRID, degrees=ParallelDegrees(16, 1, 1)),
                "spec.communication.tensorParallel: tensorParallel 16 must divide the 8 GPUs",
            ),
        ],
    )
    @pytest.mark.parametrize("strategy", list(STRATEGIES))
    def test_malformed_demands_become_reasons_never_exceptions(self, job, message, strategy):
        result = place(job, snapshot(*TWO_SPINES), strategy=strategy)
        assert isinstance(result, Unschedulable) and message in result.reason

    def test_unknown_strategy_is_a_programming_error(self):
        with pytest.raises(ValueError, match="choose one of netsched, tas"):
            place(demand(1), snapshot(node("n1")), strategy="magic")


class TestBaselines:
    def test_spread_takes_the_least_allocated_nodes_in_rank_order(self):
        snap = snapshot(node("n1").used(4), node("n2"), node("n3").used(2))
        assert place(demand(3, gpus=2), snap, strategy="spread").nodes == ("n2", "n2", "n3")

    def test_binpack_takes_the_most_allocated_node_that_fits(self):
        snap = snapshot(node("n1").used(4), node("n2"), node("n3").used(2))
        assert place(demand(3, gpus=2), snap, strategy="binpack").nodes == ("n1", "n1", "n3")

    def test_random_is_repeatable_per_job_name(self):
        snap = snapshot(*TWO_SPINES)
        first = place(demand(4, gpus=2, name="a/b"), snap, strategy="random")
        assert first == place(demand(4, gpus=2, name="a/b"), snap, strategy="random")

    def test_tas_picks_the_best_fit_domain_and_packs(self):
        result = place(demand(3), snapshot(*TWO_SPINES), strategy="tas")
        assert result.cost.domain == "core-x/spine-a/leaf-2"


class TestSplitOverDomains:
    """A gang no widest-level domain holds is split over several, largest first."""

    # core-x: x1 x2 x3 free; core-y: y1 y2 free; core-z: z1 free (each 8 GPUs)
    CORES = (
        [node(f"x{i}").core("core-x") for i in (1, 2, 3)],
        [node(f"y{i}").core("core-y") for i in (1, 2)],
        [node("z1").core("core-z")],
    )

    @pytest.mark.parametrize("strategy", list(STRATEGIES))
    def test_every_strategy_takes_the_largest_domains_first(self, strategy):
        result = place(demand(4), snapshot(*self.CORES), strategy=strategy)
        assert isinstance(result, Placement), result
        # core-x holds 3 pods, core-y 2, core-z 1: take core-x whole, then one from core-y.
        assert sorted(n[0] for n in result.nodes) == ["x", "x", "x", "y"]
        assert result.cost.split == ("core-x", "core-y")
        assert "split over 2 cores (core-x, core-y: no one holds the gang)" in result.explanation

    def test_a_gang_one_domain_holds_is_never_split(self):
        result = place(demand(3), snapshot(*self.CORES))
        assert set(result.nodes) == {"x1", "x2", "x3"} and not result.cost.split

    def test_a_max_tier_forbids_the_split(self):
        result = place(demand(4, max_tier="core"), snapshot(*self.CORES))
        assert isinstance(result, Unschedulable)

    def test_more_pods_than_every_domain_holds_is_still_unschedulable(self):
        assert isinstance(place(demand(7), snapshot(*self.CORES)), Unschedulable)

    def test_the_interconnect_is_the_widest_levels_uplink_when_set(self):
        levels = (replace(DEFAULT_SCHEME.levels[0], uplink_gbps=100.0), *DEFAULT_SCHEME.levels[1:])
        slow = replace(DEFAULT_SCHEME, levels=levels)
        result = place(demand(4), snapshot(*self.CORES, scheme=slow))
        # A ring edge of 4 ranks, 1.5 GB, over 100 Gbps: the interconnect is the bottleneck.
        assert result.cost.bottleneck in ("core-x", "core-y")
        assert result.cost.bottleneck_gbps == 100.0
        assert result.cost.comm_seconds == pytest.approx(1.5 * GB / (100 * 1e9 / 8))

    def test_a_hybrid_gang_is_split_and_costed_as_hybrid(self):
        job = demand(4, pattern=Pattern.HYBRID, degrees=ParallelDegrees(8, 2, 2))
        result = place(job, snapshot(*self.CORES))
        assert isinstance(result, Placement) and result.cost.split == ("core-x", "core-y")
        assert result.cost == predict(job, result.nodes, snapshot(*self.CORES))


class TestRingOrder:
    def test_hosts_sort_by_path_and_pods_of_a_host_stay_adjacent(self):
        snap = snapshot(*TWO_SPINES)
        shares = [
            (snap.host_index("n6"), 1),
            (snap.host_index("n1"), 2),
            (snap.host_index("n3"), 1),
        ]
        assert ring_order(snap, shares) == ["n1", "n1", "n3", "n6"]


class TestBottleneckFloor:
    """Phase 5 is skipped once a placement reaches the floor; the floor must be a true
    lower bound, and for chains over three hosts or more it counts the pass-through host."""

    def floor(self, job, snap):
        capacity = count_capacity(snap, job.gpus_per_pod)
        return Bottleneck(job, snap, capacity).floor(snap.tier_domains(3))

    @pytest.mark.parametrize("pattern", [Pattern.PIPELINE_PARALLEL, Pattern.MODEL_PARALLEL])
    def test_a_chain_over_three_hosts_or_more_passes_through_one(self, pattern):
        snap = snapshot(*TWO_SPINES)
        nic = 400 * BYTES_PER_GBPS
        assert self.floor(demand(2, pattern=pattern), snap) == pytest.approx(GB / nic)
        assert self.floor(demand(4, pattern=pattern), snap) == pytest.approx(2 * GB / nic)
        # half-node pods: two hosts hold four of them, so one pass-through is not certain
        assert self.floor(demand(4, gpus=4, pattern=pattern), snap) == pytest.approx(GB / nic)

    @pytest.mark.parametrize("replicas", [3, 4, 5])
    def test_the_floor_is_never_above_the_best_placement(self, replicas):
        snap = snapshot(*TWO_SPINES)
        job = demand(replicas, pattern=Pattern.PIPELINE_PARALLEL)
        best = place(job, snap, strategy="optimal")
        assert isinstance(best, Placement)
        assert self.floor(job, snap) <= best.cost.comm_seconds * (1 + 1e-9)


def check_invariants(job, snap, result):
    assert isinstance(result, Placement | Unschedulable)
    if isinstance(result, Unschedulable):
        assert result.reason and result.explanation
        return
    assert len(result.ranks) == job.replicas
    assert [r.rank for r in result.ranks] == list(range(job.replicas))
    for name, gpus in result.gpus_by_node().items():
        assert gpus <= snap.free_gpus(name), f"{name} over-committed"
    snap.with_allocation(result.gpus_by_node())  # raises if any node is over-committed
    assert math.isfinite(result.cost.comm_seconds)  # JSON and the status hold no Infinity
    if job.max_tier:
        tiers = snap.scheme
        assert tiers.tier_rank(result.cost.tier_spanned) <= tiers.tier_rank(job.max_tier)


class TestInvariants:
    @settings(max_examples=60, deadline=None)
    @given(clusters(), demands(), st.sampled_from([s for s in STRATEGIES if s != "optimal"]))
    def test_every_strategy_places_within_limits_or_says_why(self, cluster, job, strategy):
        builders, measured = cluster
        snap = snapshot(*builders, measured=measured)
        result = place(job, snap, strategy=strategy)
        check_invariants(job, snap, result)
        assert place(job, snap, strategy=strategy) == result  # same input, same output

    @settings(max_examples=60, deadline=None)
    @given(clusters(), demands())
    def test_netsched_and_tas_agree_on_whether_the_gang_fits(self, cluster, job):
        builders, measured = cluster
        snap = snapshot(*builders, measured=measured)
        ours, kueue = place(job, snap), place(job, snap, strategy="tas")
        assert isinstance(ours, Placement) == isinstance(kueue, Placement)

    @settings(max_examples=30, deadline=None)
    @given(clusters(), demands())
    def test_optimal_keeps_the_invariants_too(self, cluster, job):
        builders, measured = cluster
        snap = snapshot(*builders, measured=measured)
        try:
            result = place(job, snap, strategy="optimal")
        except OptimalUnsupported:
            assert job.pattern is Pattern.HYBRID
            return
        check_invariants(job, snap, result)

    def test_tiers_listed_for_generation_match_the_default_scheme(self):
        assert tuple(TIERS) == snapshot(node("n1")).scheme.tier_names
