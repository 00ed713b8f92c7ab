"""Which contention price wins on the streams: the measurement behind netsched's rule.

    .venv/bin/python bench/contention_rules.py 0,1 2,0.8 2,0      # ~8 min a rule on 2 cores

Each argument is one rule, ``PRICE,CROWDED``: netsched charges a placement ``PRICE``
seconds per uplink-second it holds (each crossed uplink's bytes over its bandwidth) on
a cluster at least ``CROWDED`` busy (``0,1`` is no price; ``2,0`` prices always). For
each rule it prints, against tas in the same run, on the large stream (the replays'
shared-link case) over healthy and degraded Lingjun:

* mean comm/step of the shared-link replay (netsched choosing with the running gangs'
  shares, as the operator does), netsched / tas;
* mean JCT of the time-stepped simulation (netsched.domain.simulation), netsched / tas;
* the issue-4 optimality bar: instances within 5 % of ``optimal``.

The rule kept is the module constants of netsched.domain.placement_netsched;
docs/contention.md records the runs and the rules rejected.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

import clusters
import workloads
from netsched.domain import placement_netsched
from netsched.domain.simulation import simulate
from replay import ReplayResult, replay
from runs import LOAD, mean, run_optimal


def comm(result: ReplayResult) -> float:
    """Mean comm/step of the multi-pod gangs the replay placed."""
    return mean([p.cost.comm_seconds for p in result.placed if p.demand.replicas > 1])


def main(rules: list[str]) -> None:
    made = [make() for make in (clusters.lingjun, clusters.degraded)]
    cases = []
    for cluster in made:
        jobs, _ = workloads.compress(workloads.large_stream(), cluster_gpus=cluster.gpus, load=LOAD)
        simulated = [workloads.simulated_job(j) for j in jobs]
        tas_comm = comm(replay(cluster.snapshot, jobs, "tas", shared_links=True))
        tas_jct = simulate(cluster.snapshot, simulated, strategy="tas").jct()
        cases.append((cluster, jobs, simulated, tas_comm, tas_jct))
    for rule in rules:
        price, crowded = (float(x) for x in rule.split(","))
        placement_netsched.OCCUPANCY_PRICE, placement_netsched.CROWDED = price, crowded
        figures = []
        for cluster, jobs, simulated, tas_comm, tas_jct in cases:
            ours = replay(
                cluster.snapshot, jobs, "netsched", shared_links=True, choose_with_shares=True
            )
            jct = simulate(cluster.snapshot, simulated, strategy="netsched").jct()
            figures.append(
                f"{cluster.name}: comm {comm(ours) / tas_comm:.3f}x JCT {jct / tas_jct:.3f}x"
            )
        optimal = run_optimal(False, lambda _: None)
        print(
            f"price {price:g} crowded {crowded:g}  "
            + "   ".join(figures)
            + f"  optimal {optimal.within}/{optimal.instances}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["0,1", "2,0.8"])
