"""The bandwidth estimator: from probe samples (paths) to each link's measured rate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from builders import LEAF, NOW, TTL, node, rack, sample, snapshot

from netsched.domain.bandwidth import (
    MAX_SKEW,
    NO_MEASUREMENTS,
    BandwidthEstimate,
    estimate_bandwidth,
)
from netsched.domain.scheme import DEFAULT_SCHEME, Level, TopologyScheme
from netsched.domain.topology import build_snapshot

#              spine-a
#      /          |          \
#  leaf-1      leaf-2      leaf-3        host links 400 Gbps, leaf uplinks 1600 Gbps
#  n1 n2        n3 n4       n5 n6
NODES = [
    b.build()
    for b in (
        *rack("spine-a", "leaf-1", "n1", "n2"),
        *rack("spine-a", "leaf-2", "n3", "n4"),
        *rack("spine-a", "leaf-3", "n5", "n6"),
    )
]

# The dev cluster's real-node fabric, as its NetworkTopology says: 1 Gbit/s host links,
# 200 Mbit/s leaf uplinks (leaf-1 holds two nodes, leaf-2 and leaf-3 one each).
SHAPED = TopologyScheme(
    levels=(
        Level("core", "netsched.io/core", 0.0),
        Level("spine", "netsched.io/spine", 0.2),
        Level("leaf", "netsched.io/leaf", 0.2),
    ),
    host_gbps=1.0,
)
REAL = [
    b.build()
    for b in (
        *rack("spine-a", "leaf-1", "r1", "r2"),
        *rack("spine-a", "leaf-2", "r3"),
        *rack("spine-a", "leaf-3", "r4"),
    )
]


def estimate(samples, *, nodes=NODES, scheme=DEFAULT_SCHEME, **options):
    return estimate_bandwidth(nodes, scheme, samples, now=NOW, ttl=TTL, **options)


def gbps(found):
    return {link: round(u.gbps, 3) for link, u in sorted(found.uplinks.items())}


class TestWhatAPathSays:
    def test_probes_at_their_hosts_rate_confirm_a_faster_uplink_at_nominal(self):
        # A 400 Gbps NIC cannot show a 1.6 Tbps uplink is slow, nor that it is fast.
        found = estimate([sample("n1", "n3", level="leaf", gbps=380.0)])
        assert gbps(found) == {LEAF % 1: 1600.0, LEAF % 2: 1600.0}
        assert not found.degraded

    def test_a_path_that_falls_short_blames_the_uplink_rated_lower_elsewhere(self):
        #  n1 -> n3 at 380 (leaf-1 and leaf-2 carry their hosts' rate), n1 -> n5 and
        #  n3 -> n5 at 100: leaf-3 is the link both short paths share.
        found = estimate(
            [
                sample("n1", "n3", level="leaf", gbps=380.0),
                sample("n1", "n5", level="leaf", gbps=100.0),
                sample("n3", "n5", level="leaf", gbps=90.0),
            ]
        )
        assert gbps(found) == {LEAF % 1: 1600.0, LEAF % 2: 1600.0, LEAF % 3: 95.0}
        assert found.degraded == (LEAF % 3,)

    def test_one_short_path_alone_blames_both_of_its_uplinks(self):
        found = estimate([sample("n1", "n3", level="leaf", gbps=100.0)])
        assert gbps(found) == {LEAF % 1: 100.0, LEAF % 2: 100.0}

    def test_a_host_link_is_measured_by_a_probe_inside_its_leaf(self):
        found = estimate([sample("n1", "n2", level="host", gbps=100.0)])
        assert gbps(found) == {"n1": 100.0, "n2": 100.0}

    def test_an_uplink_slower_than_the_hosts_is_measured_directly(self):
        # The shaped fabric: 0.19 Gbit/s of goodput through 0.2 Gbit/s uplinks,
        # 0.048 through the one degraded to 0.05.
        samples = [
            sample("r1", "r2", level="host", gbps=0.95),
            sample("r1", "r4", level="leaf", gbps=0.19),
            sample("r2", "r3", level="leaf", gbps=0.048),
            sample("r3", "r4", level="leaf", gbps=0.047),
            sample("r4", "r1", level="leaf", gbps=0.188),
        ]
        found = estimate(samples, nodes=REAL, scheme=SHAPED)
        assert gbps(found) == {
            LEAF % 1: 0.189,
            LEAF % 2: 0.048,
            LEAF % 3: 0.189,
            "r1": 0.95,
            "r2": 0.95,
        }
        assert found.degraded == (LEAF % 2,)

    def test_a_spine_uplink_is_judged_by_probes_across_spines_with_the_leaves_known(self):
        #          core-x
        #      /           \
        #  spine-a       spine-b         spine-b's uplink measured at 200 of 3200
        #  leaf-1        leaf-1
        #  n1 n2         n3 n4
        nodes = [
            b.build()
            for b in (
                *rack("spine-a", "leaf-1", "n1", "n2"),
                *rack("spine-b", "leaf-1", "n3", "n4"),
            )
        ]
        found = estimate([sample("n1", "n3", level="spine", gbps=200.0)], nodes=nodes)
        assert gbps(found) == {"core-x/spine-a": 200.0, "core-x/spine-b": 200.0}


class TestRobustness:
    def test_a_starved_probe_is_an_outlier_and_does_not_condemn_a_healthy_uplink(self):
        samples = [sample("r1", "r3", level="leaf", gbps=g) for g in (0.19, 0.188, 0.192, 0.05)]
        found = estimate(samples, nodes=REAL, scheme=SHAPED)
        link = found.uplinks[LEAF % 2]
        assert (link.gbps, link.samples, link.outliers, link.degraded) == (0.19, 3, 1, False)

    def test_stale_samples_are_counted_and_the_link_keeps_its_nominal_rate(self):
        old = sample("n1", "n3", level="leaf", gbps=100.0, age=TTL + timedelta(seconds=1))
        found = estimate([old])
        assert (found.uplinks, found.stale, found.fresh) == ({}, 1, 0)

    def test_a_sample_exactly_ttl_old_is_still_fresh(self):
        found = estimate([sample("n1", "n3", level="leaf", gbps=9.0, age=TTL)])
        assert found.uplinks[LEAF % 1].gbps == 9.0

    @pytest.mark.parametrize(
        "bad",
        [sample("n1", "ghost", level="leaf", gbps=1.0), sample("n1", "n3", level="rack", gbps=1.0)],
    )
    def test_samples_naming_unknown_nodes_or_tiers_are_unmatched(self, bad):
        found = estimate([bad])
        assert (found.uplinks, found.unmatched) == ({}, 1)

    @pytest.mark.parametrize(
        ("bad", "reason"),
        [
            (sample("n1", "n3", level="leaf", gbps=900.0), "faster than 1.1 x"),
            (sample("n1", "n2", level="leaf", gbps=100.0), "does not match where its nodes sit"),
            (sample("n1", "n1", level="host", gbps=100.0), "does not match where its nodes sit"),
            (
                sample(
                    "n1", "n3", level="leaf", gbps=100.0, age=-(MAX_SKEW + timedelta(seconds=1))
                ),
                "clock skew",
            ),
        ],
        ids=["above-the-nic-rate", "level-disagrees", "one-node", "from-the-future"],
    )
    def test_impossible_samples_are_refused_with_a_reason_and_change_nothing(self, bad, reason):
        found = estimate([bad, sample("n1", "n3", level="leaf", gbps=380.0)])
        assert gbps(found) == {LEAF % 1: 1600.0, LEAF % 2: 1600.0}
        [(refused, count)] = found.refused.items()
        assert reason in refused and count == 1

    def test_a_little_clock_skew_is_tolerated(self):
        ahead = sample("n1", "n3", level="leaf", gbps=100.0, age=-MAX_SKEW)
        assert estimate([ahead]).uplinks[LEAF % 1].gbps == 100.0

    def test_the_degraded_fraction_is_the_topologys_to_choose(self):
        samples = [sample("n1", "n3", level="leaf", gbps=100.0)]
        assert estimate(samples).degraded  # 100 of 1600
        assert not estimate(samples, degraded_fraction=0.05).degraded
        with pytest.raises(ValueError, match="degraded_fraction"):
            estimate(samples, degraded_fraction=0.0)


class TestSnapshots:
    def test_a_snapshot_takes_the_estimate_and_lists_degraded_links_slowest_first(self):
        found = estimate(
            [
                sample("n1", "n2", level="host", gbps=100.0),
                sample("n3", "n5", level="leaf", gbps=50.0),
            ]
        )
        snap = build_snapshot(nodes=NODES, scheme=DEFAULT_SCHEME, bandwidth=found)
        assert snap.domains[snap.domain_index(LEAF % 2)].uplink_gbps == 50.0
        assert snap.domains[snap.domain_index(LEAF % 2)].measured
        assert [snap.domains[d].id for d in snap.degraded] == [LEAF % 2, LEAF % 3, "n1", "n2"]

    def test_links_of_nodes_a_snapshot_excludes_are_skipped(self):
        found = estimate([sample("n1", "n2", level="host", gbps=100.0)])
        snap = snapshot(node("n3").leaf("leaf-2"))  # n1 and n2 are not in it
        rebuilt = build_snapshot(nodes=list(snap.nodes), scheme=DEFAULT_SCHEME, bandwidth=found)
        assert not rebuilt.degraded

    def test_no_measurements_leave_every_link_nominal(self):
        snap = build_snapshot(nodes=NODES, scheme=DEFAULT_SCHEME, bandwidth=NO_MEASUREMENTS)
        assert not any(d.measured for d in snap.domains)

    def test_an_outright_estimate_names_real_links_only(self):
        fabric = build_snapshot(nodes=NODES, scheme=DEFAULT_SCHEME).fabric
        with pytest.raises(KeyError):
            BandwidthEstimate.of({"core-x": 1.0}, fabric, at=NOW)
