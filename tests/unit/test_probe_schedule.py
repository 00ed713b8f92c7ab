"""The probe schedule: one peer per level per node, rotating, in waves that share no link."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsched.domain.fabric import build_fabric
from netsched.domain.probe_schedule import (
    GUARD_SECONDS,
    plan_round,
    slots_per_round,
    wave_start,
)
from netsched.domain.scheme import DEFAULT_SCHEME
from netsched.domain.topology_sources import fat_tree

TREE = fat_tree(cores=1, spines_per_core=2, leaves_per_spine=2, hosts_per_leaf=3)


def links_of(fabric, probe):
    tiers = DEFAULT_SCHEME.tier_names
    turn = tiers.index(probe.level)
    source = fabric.ancestors[fabric.host_index[probe.source]]
    target = fabric.ancestors[fabric.host_index[probe.target]]
    return {*source[:turn], *target[:turn]}, source, target, turn


@settings(max_examples=40, deadline=None)
@given(
    spines=st.integers(1, 3),
    leaves=st.integers(1, 3),
    hosts=st.integers(1, 4),
    round_index=st.integers(0, 10_000),
)
def test_every_probe_turns_at_its_level_and_no_two_in_a_wave_share_a_link(
    spines, leaves, hosts, round_index
):
    nodes = fat_tree(cores=1, spines_per_core=spines, leaves_per_spine=leaves, hosts_per_leaf=hosts)
    fabric = build_fabric(nodes, DEFAULT_SCHEME)
    plan = plan_round(nodes, DEFAULT_SCHEME, round_index=round_index, slots=10_000)
    seen: dict[int, set[int]] = {}
    for probe in plan.probes:
        links, source, target, turn = links_of(fabric, probe)
        assert source[turn] == target[turn] and source[turn - 1] != target[turn - 1]
        in_wave = seen.setdefault(probe.wave, set())
        assert not links & in_wave, f"{probe} shares a link with another probe of its wave"
        in_wave |= links
    per_source_level = Counter((p.source, p.level) for p in plan.probes)
    assert set(per_source_level.values()) <= {1}
    assert len(plan.probes) <= len(nodes) * len(DEFAULT_SCHEME.levels)
    assert plan.waves == 1 + max((p.wave for p in plan.probes), default=-1)


def test_each_node_probes_every_level_it_has_peers_at():
    plan = plan_round(TREE, DEFAULT_SCHEME, round_index=7, slots=1000)
    assert Counter(p.level for p in plan.probes) == {"leaf": 12, "spine": 12, "core": 12}
    lone = fat_tree(cores=1, spines_per_core=1, leaves_per_spine=2, hosts_per_leaf=1)
    assert {p.level for p in plan_round(lone, DEFAULT_SCHEME, round_index=0, slots=9).probes} == {
        "spine"
    }


def test_peers_rotate_from_round_to_round():
    rounds = [plan_round(TREE, DEFAULT_SCHEME, round_index=r, slots=1000) for r in range(6)]
    source = TREE[0].name
    targets = {p.target for plan in rounds for p in plan.of(source) if p.level == "core"}
    assert len(targets) == 6  # every host under the other spine, one per round


def test_the_schedule_is_the_same_for_every_agent():
    shuffled = list(reversed(TREE))
    assert plan_round(TREE, DEFAULT_SCHEME, round_index=3, slots=50) == plan_round(
        shuffled, DEFAULT_SCHEME, round_index=3, slots=50
    )


def test_busy_nodes_are_never_probed_and_the_others_keep_their_waves():
    idle = plan_round(TREE, DEFAULT_SCHEME, round_index=1, slots=1000)
    busy = {TREE[0].name, TREE[4].name}
    plan = plan_round(TREE, DEFAULT_SCHEME, round_index=1, slots=1000, busy=busy)
    assert not any(p.source in busy or p.target in busy for p in plan.probes)
    kept = [p for p in idle.probes if p.source not in busy and p.target not in busy]
    assert list(plan.probes) == kept
    assert plan.busy_skipped == len(idle.probes) - len(kept)


def test_probes_that_do_not_fit_the_interval_are_deferred():
    plan = plan_round(TREE, DEFAULT_SCHEME, round_index=1, slots=2)
    assert plan.waves == 2 and plan.deferred > 0
    assert len(plan.probes) + plan.deferred == 36


def test_nodes_without_tier_labels_take_no_part():
    unlabelled = [TREE[0].__class__(name="stray", allocatable_gpus=8, labels={})]
    plan = plan_round([*TREE, *unlabelled], DEFAULT_SCHEME, round_index=0, slots=100)
    assert "stray" not in {n for p in plan.probes for n in (p.source, p.target)}


@pytest.mark.parametrize(
    ("interval", "duration", "slots"), [(3600, 10, 276), (60, 5, 7), (5, 10, 1)]
)
def test_waves_per_round(interval, duration, slots):
    assert slots_per_round(interval_seconds=interval, duration_seconds=duration) == slots
    start = wave_start(2, 3, interval_seconds=interval, duration_seconds=duration)
    assert start == 2 * interval + 3 * (duration + GUARD_SECONDS)


def test_a_thousand_nodes_cost_three_probes_each_and_fit_an_hour():
    nodes = fat_tree(cores=1, spines_per_core=32, leaves_per_spine=4, hosts_per_leaf=8)[:1000]
    slots = slots_per_round(interval_seconds=3600, duration_seconds=10)
    plan = plan_round(nodes, DEFAULT_SCHEME, round_index=0, slots=slots)
    assert plan.deferred == 0 and len(plan.probes) <= 3 * len(nodes)
