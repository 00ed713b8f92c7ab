"""Job completion time on a shared fabric (netsched.domain.simulation): steps slow down while
another gang shares a link and speed up when it leaves; the queue, priorities and jobs that
never fit."""

from __future__ import annotations

import pytest

from netsched.domain.cost import predict
from netsched.domain.demand import Demand, Pattern
from netsched.domain.scheme import DEFAULT_SCHEME
from netsched.domain.simulation import SimulatedJob, simulate
from netsched.domain.topology import ClusterSnapshot, build_snapshot
from netsched.domain.topology_sources import fat_tree

GB = 10**9


def two_leaves() -> ClusterSnapshot:
    """Two 8-GPU hosts, one under each leaf of one spine."""
    nodes = fat_tree(cores=1, spines_per_core=1, leaves_per_spine=2, hosts_per_leaf=1)
    return build_snapshot(nodes=nodes, scheme=DEFAULT_SCHEME)


def gang(name: str, gpus_per_pod: int, *, replicas: int = 2, size: int = 10 * GB) -> Demand:
    return Demand(name=name, replicas=replicas, gpus_per_pod=gpus_per_pod,
                  pattern=Pattern.DATA_PARALLEL, bytes_per_step=size)  # fmt: skip


def test_a_gang_alone_takes_its_steps_times_compute_plus_communication() -> None:
    snap = two_leaves()
    job = SimulatedJob("a", 5.0, gang("a", 5), steps=100, compute_seconds=1.0)
    [done] = simulate(snap, [job]).jobs
    hosts = [n.name for n in snap.nodes]
    comm = predict(job.demand, hosts, snap).comm_seconds
    assert comm > 0 and done.tier == "spine"  # one pod a host (5 + 5 > 8): across the leaves
    assert done.start == 5.0 and done.wait == 0.0
    assert done.jct == pytest.approx(100 * (1.0 + comm))
    assert done.comm_seconds == pytest.approx(comm)


def test_a_gang_sharing_the_links_slows_the_first_down_until_it_leaves() -> None:
    snap = two_leaves()
    a = SimulatedJob("a", 0.0, gang("a", 5), steps=100, compute_seconds=1.0)
    b = SimulatedJob("b", 10.0, gang("b", 3), steps=10, compute_seconds=1.0)  # 3 GPUs left a host
    run = simulate(snap, [a, b])
    first, second = run.jobs
    hosts = [n.name for n in snap.nodes]
    alone = predict(a.demand, hosts, snap).comm_seconds
    links = predict(a.demand, hosts, snap).crossed_uplinks
    shared = predict(a.demand, hosts, snap.with_allocation({}, links=links)).comm_seconds
    assert shared > alone
    # b runs all its steps beside a, at the shared rate; a runs 10 s alone, 10 shared steps,
    # then the rest alone again.
    assert second.start == 10.0 and second.end == pytest.approx(10.0 + 10 * (1.0 + shared))
    remaining = 100 - 10 / (1.0 + alone) - 10
    assert first.end == pytest.approx(second.end + remaining * (1.0 + alone))
    assert alone < first.comm_seconds < shared
    assert first.end > 100 * (1.0 + alone)  # later than alone


def test_a_job_that_does_not_fit_waits_for_gpus_and_priority_goes_first() -> None:
    snap = two_leaves()
    big = SimulatedJob("big", 0.0, gang("big", 8), steps=10, compute_seconds=1.0)
    low = SimulatedJob("low", 1.0, gang("low", 8), steps=10, compute_seconds=1.0)
    high = SimulatedJob("high", 2.0, gang("high", 8), steps=10, compute_seconds=1.0, priority=5)
    run = simulate(snap, [big, low, high])
    by = {j.name: j for j in run.jobs}
    assert by["high"].start == pytest.approx(by["big"].end)
    assert by["low"].start == pytest.approx(by["high"].end)
    assert (by["low"].wait or 0) > (by["high"].wait or 0) > 0
    assert run.makespan == pytest.approx(by["low"].end)
    assert 0.99 < run.utilisation <= 1.0  # always one gang holding all 16 GPUs


def test_a_job_too_big_for_the_cluster_never_starts_and_the_others_go_on() -> None:
    snap = two_leaves()
    huge = SimulatedJob("huge", 0.0, gang("huge", 8, replicas=3), steps=10, compute_seconds=1.0)
    small = SimulatedJob("small", 1.0, gang("small", 8, replicas=1), steps=10, compute_seconds=1.0)
    run = simulate(snap, [huge, small])
    assert [j.name for j in run.never_started] == ["huge"]
    assert [j.name for j in run.finished] == ["small"]
    assert run.jct() == pytest.approx(10.0)  # one pod on one host: no network, 10 x 1 s


def test_stream_figures() -> None:
    snap = two_leaves()
    jobs = [SimulatedJob(f"j{i}", float(i), gang(f"j{i}", 8, replicas=1), steps=10,
                         compute_seconds=1.0) for i in range(4)]  # fmt: skip
    run = simulate(snap, jobs)
    # Two hosts: j0 and j1 run at once, j2 and j3 when they end (at 10 and 11).
    assert [j.end for j in run.jobs] == [10.0, 11.0, 20.0, 21.0]
    assert run.jct() == pytest.approx((10 + 10 + 18 + 18) / 4)
    assert run.jct(0.95) == pytest.approx(18.0)
    assert run.comm_share == 0.0
