"""Snapshots: domains by path, free GPUs, exclusions, node sources (links: test_bandwidth)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from builders import node, rack, sample, snapshot

from netsched.domain.nodes import sanitize_label_value
from netsched.domain.scheme import DEFAULT_SCHEME, Level, TopologyScheme
from netsched.domain.topology import build_snapshot
from netsched.domain.topology_sources import fat_tree, load_lingjun

LINGJUN = Path("/work/shared/data/lingjun-2023/topo.csv")
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def ids(snap, tier_rank):
    return [snap.domains[d].id for d in snap.tier_domains(tier_rank)]


class TestDomains:
    #            core-x
    #        /           \
    #    spine-a        spine-b
    #       |              |
    #    leaf-1         leaf-1      <- same label value, two racks
    #    n1 n2          n3
    def test_a_leaf_name_under_two_spines_is_two_domains(self):
        snap = snapshot(rack("spine-a", "leaf-1", "n1", "n2"), rack("spine-b", "leaf-1", "n3"))
        assert ids(snap, 1) == ["core-x/spine-a/leaf-1", "core-x/spine-b/leaf-1"]
        assert ids(snap, 2) == ["core-x/spine-a", "core-x/spine-b"]
        assert ids(snap, 3) == ["core-x"]

    def test_hosts_are_numbered_depth_first_so_every_domain_is_one_range(self):
        snap = snapshot(
            node("z").leaf("leaf-1"), node("a").leaf("leaf-2"), node("m").leaf("leaf-1")
        )
        assert [n.name for n in snap.nodes] == ["m", "z", "a"]
        leaf_1 = snap.domains[snap.tier_domains(1)[0]]
        assert list(leaf_1.hosts) == [0, 1]

    def test_uplinks_default_to_nominal_and_the_widest_level_has_none(self):
        snap = snapshot(node("n1"))
        by_tier = {d.tier: d.uplink_gbps for d in snap.domains}
        assert by_tier == {"host": 400.0, "leaf": 1600.0, "spine": 3200.0, "core": None}

    def test_to_networkx_has_one_edge_per_uplink(self):
        graph = snapshot(rack("spine-a", "leaf-1", "n1", "n2")).to_networkx()
        assert graph.number_of_nodes() == 5
        assert graph.edges["n1", "core-x/spine-a/leaf-1"]["gbps"] == 400.0


class TestFabricReuse:
    """The operator rebuilds its snapshot every cycle; the fabric is built again only
    when a node's row differs, not when a heartbeat brings an equal one."""

    def rows(self, leaf_of_n2: str = "leaf-1"):
        return [node("n1").leaf("leaf-1").build(), node("n2").leaf(leaf_of_n2).build()]

    def test_equal_rows_that_are_new_objects_reuse_the_fabric(self):
        first = build_snapshot(nodes=self.rows(), scheme=DEFAULT_SCHEME)
        again = build_snapshot(nodes=self.rows(), scheme=DEFAULT_SCHEME, used_gpus={"n1": 8})
        assert again._fabric is first._fabric
        assert again.free_gpus("n1") == 0 and first.free_gpus("n1") == 8

    def test_a_changed_row_builds_a_new_fabric(self):
        first = build_snapshot(nodes=self.rows(), scheme=DEFAULT_SCHEME)
        moved = build_snapshot(nodes=self.rows(leaf_of_n2="leaf-2"), scheme=DEFAULT_SCHEME)
        assert moved._fabric is not first._fabric
        assert ids(moved, 1) == ["core-x/spine-a/leaf-1", "core-x/spine-a/leaf-2"]


class TestFreeGpus:
    @pytest.mark.parametrize(
        ("allocatable", "used", "reserved", "free"),
        [(8, 0, 0, 8), (8, 3, 0, 5), (8, 3, 2, 3), (8, 8, 0, 0), (8, 6, 6, 0), (4, 9, 0, 0)],
    )
    def test_free_is_allocatable_minus_used_minus_reserved_never_negative(
        self, allocatable, used, reserved, free
    ):
        snap = snapshot(node("n1").gpus(allocatable).used(used), reserved={"n1": reserved})
        assert snap.free_gpus("n1") == free

    def test_switches_count_the_free_gpus_of_their_hosts(self):
        snap = snapshot(rack("spine-a", "leaf-1", "n1", "n2"), node("n3").leaf("leaf-2").used(5))
        assert [snap.free[d] for d in snap.tier_domains(1)] == [16, 3]
        assert snap.free[snap.tier_domains(3)[0]] == 19

    def test_with_and_without_allocation_round_trip(self):
        snap = snapshot(rack("spine-a", "leaf-1", "n1", "n2"))
        taken = snap.with_allocation({"n1": 8, "n2": 3})
        assert (taken.free_gpus("n1"), taken.free_gpus("n2"), taken.free[-1]) == (0, 5, 5)
        assert snap.free_gpus("n1") == 8  # the original is untouched
        assert taken.without_allocation({"n1": 8, "n2": 3}).free == snap.free

    @pytest.mark.parametrize(
        ("method", "gpus"), [("with_allocation", 9), ("without_allocation", 1)]
    )
    def test_allocation_beyond_the_node_raises(self, method, gpus):
        snap = snapshot(node("n1"))
        with pytest.raises(ValueError, match="node n1 has 8 free GPUs"):
            getattr(snap, method)({"n1": gpus})


class TestExclusions:
    @pytest.mark.parametrize(
        ("builder", "reason"),
        [
            (node("bad").not_ready(), "not Ready"),
            (node("bad").cordoned(), "cordoned (spec.unschedulable)"),
            (node("bad").without_label("netsched.io/leaf"), "missing tier label netsched.io/leaf"),
        ],
    )
    def test_unusable_nodes_are_excluded_with_a_reason(self, builder, reason):
        snap = snapshot(node("ok"), builder)
        assert dict(snap.excluded) == {"bad": reason}
        assert [n.name for n in snap.nodes] == ["ok"]
        with pytest.raises(KeyError):
            snap.host_index("bad")

    def test_missing_labels_are_named_per_node(self):
        snap = snapshot(
            node("ok"), node("bad").without_label("netsched.io/leaf"), node("sick").not_ready()
        )
        assert dict(snap.missing_labels) == {"bad": ("netsched.io/leaf",)}
        assert snap.with_allocation({"ok": 8}).missing_labels == snap.missing_labels

    def test_duplicate_node_names_are_refused(self):
        with pytest.raises(ValueError, match="repeated: n1"):
            snapshot(node("n1"), node("n1"))


class TestBandwidthIsNeverZero:
    """Every link that carries bytes has bandwidth, so every predicted time is finite."""

    @pytest.mark.parametrize(
        ("levels", "host_gbps", "message"),
        [
            ((Level("spine", "s", 0.0), Level("leaf", "l", 0.0)), 400.0, "level leaf"),
            ((Level("spine", "s", 0.0), Level("leaf", "l", -1.0)), 400.0, "level leaf"),
            ((Level("spine", "s", 0.0), Level("leaf", "l", 100.0)), 0.0, "host_gbps"),
        ],
    )
    def test_a_scheme_refuses_a_link_without_bandwidth(self, levels, host_gbps, message):
        with pytest.raises(ValueError, match=message):
            TopologyScheme(levels=levels, host_gbps=host_gbps)

    def test_the_widest_level_needs_no_bandwidth(self):
        scheme = TopologyScheme((Level("spine", "s", 0.0), Level("leaf", "l", 1.0)), host_gbps=1.0)
        assert scheme.levels[0].uplink_gbps == 0.0

    @pytest.mark.parametrize("gbps", [0.0, -5.0, float("nan")])
    def test_a_sample_refuses_no_bandwidth(self, gbps):
        with pytest.raises(ValueError, match="gbps must be positive"):
            sample("n1", "n2", level="host", gbps=gbps)


class TestSources:
    def test_fat_tree_shape_and_names(self):
        nodes = fat_tree(cores=2, spines_per_core=2, leaves_per_spine=3, hosts_per_leaf=4)
        snap = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)
        assert [len(snap.tier_domains(r)) for r in range(4)] == [48, 12, 4, 2]
        assert nodes[0].name == "node-c0-s0-l0-h0" and nodes[-1].name == "node-c1-s1-l2-h3"
        assert snap.free[snap.tier_domains(3)[0]] == 24 * 8

    def test_fat_tree_refuses_a_scheme_of_another_depth(self):
        with pytest.raises(ValueError, match="three-level"):
            fat_tree(cores=0, spines_per_core=1, leaves_per_spine=1, hosts_per_leaf=1)

    def test_lingjun_loads_847_hosts_with_valid_labels(self):
        nodes = load_lingjun(LINGJUN)
        snap = build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)
        assert len(nodes) == 847 == snap.host_count and not snap.excluded
        assert [len(snap.tier_domains(r)) for r in range(1, 4)] == [119, 3, 1]
        assert {n.allocatable_gpus for n in nodes} == {8}
        for info in nodes:
            assert all(LABEL_VALUE.match(v) for v in info.labels.values())

    @pytest.mark.parametrize(
        ("raw", "clean"),
        [
            ("S14", "S14"),
            ("rack/7", "rack-7-f771159a"),
            ("", "x-e3b0c442"),
            ("-edge-", "edge-8074bfea"),
        ],
    )
    def test_label_values_are_sanitised_deterministically(self, raw, clean):
        assert sanitize_label_value(raw) == clean

    def test_long_label_values_are_shortened_to_63_with_a_hash(self):
        value = sanitize_label_value("a" * 80)
        assert len(value) == 63 and LABEL_VALUE.match(value)
        assert value != sanitize_label_value("a" * 81)
