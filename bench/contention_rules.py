"""Which contention price wins on the streams: the measurement behind netsched's rule.

    .venv/bin/python bench/contention_rules.py 0,1 2,0.8 2,0.8,Hybrid   # ~8 min a rule
    .venv/bin/python bench/contention_rules.py --seeds 10 2,0.8 2,0.8,Hybrid  # ~40 s a rule

Each argument is one rule, ``PRICE,CROWDED[,PATTERNS]``: netsched charges a placement
``PRICE`` seconds per uplink-second it holds (each crossed uplink's bytes over its
bandwidth) where running gangs share links, on a cluster at least ``CROWDED`` busy, and
for the patterns named in ``PATTERNS`` (joined by ``+``) however busy it is (``0,1`` is
no price; ``2,0`` prices always; ``2,0.8,Hybrid`` is the rule kept). For each rule it
prints, against tas in the same run, on the large stream (the replays' shared-link case)
over healthy and degraded Lingjun:

* mean comm/step of the shared-link replay (netsched choosing with the running gangs'
  shares, as the operator does), netsched / tas;
* mean JCT of the time-stepped simulation (netsched.domain.simulation), netsched / tas;
* the issue-4 optimality bar: instances within 5 % of ``optimal``.

With ``--own`` it prints, per pattern, what each rule costs the gangs themselves: every
gang of the large stream placed while running gangs share links, its own predicted time
under the rule over its time chosen without a price on the same snapshot.

With ``--seeds N`` it prints instead the comm/step ratio on N other draws of the large
stream (seeds 1..N; arrivals, sizes, patterns and durations all change): the geometric
mean, the range and every draw. One stream's ratio moves by 10-20 % between
neighbouring rules, so a rule is chosen on many draws, never on the benchmark's own.

The rule kept is the module constants of netsched.domain.placement_netsched;
docs/contention.md records the runs and the rules rejected.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "operator"))

import clusters
import workloads
from netsched.domain import placement_netsched
from netsched.domain.demand import Pattern
from netsched.domain.outcome import Outcome
from netsched.domain.placement import Placement, place
from netsched.domain.simulation import simulate
from netsched.domain.topology import ClusterSnapshot
from replay import ReplayResult, replay
from runs import LOAD, mean, run_optimal
from workloads import TraceJob


def comm(result: ReplayResult) -> float:
    """Mean comm/step of the multi-pod gangs the replay placed."""
    return mean([p.cost.comm_seconds for p in result.placed if p.demand.replicas > 1])


def install(rule: str) -> str:
    """Set netsched's price to ``rule`` (``PRICE,CROWDED[,PATTERNS]``); returns its label."""
    price, crowded, *always = rule.split(",")
    patterns = frozenset(Pattern(p) for p in "".join(always).split("+") if p)
    placement_netsched.OCCUPANCY_PRICE, placement_netsched.CROWDED = float(price), float(crowded)
    placement_netsched.ALWAYS_PRICED = patterns
    named = f", always for {'+'.join(sorted(patterns))}" if patterns else ""
    return f"price {float(price):g} crowded {float(crowded):g}{named}"


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
        label = install(rule)
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
            f"{label}  " + "   ".join(figures) + f"  optimal {optimal.within}/{optimal.instances}",
            flush=True,
        )


def draw(task: tuple[str, str, int]) -> tuple[str, float]:
    """One seed of the large stream on one cluster: (cluster, comm/step netsched / tas)."""
    rule, kind, seed = task
    install(rule)
    cluster = clusters.degraded() if kind == "degraded" else clusters.lingjun()
    stream = workloads.large_stream(seed=seed)
    jobs, _ = workloads.compress(stream, cluster_gpus=cluster.gpus, load=LOAD)
    tas = comm(replay(cluster.snapshot, jobs, "tas", shared_links=True))
    ours = replay(cluster.snapshot, jobs, "netsched", shared_links=True, choose_with_shares=True)
    return cluster.name, comm(ours) / tas


def over_seeds(rules: list[str], seeds: int) -> None:
    with Pool(2) as pool:
        for rule in rules:
            kinds = ("healthy", "degraded")
            tasks = [(rule, kind, s) for kind in kinds for s in range(1, seeds + 1)]
            rows = pool.map(draw, tasks)
            figures = []
            for name in dict.fromkeys(name for name, _ in rows):
                ratios = [r for n, r in rows if n == name]
                geo = math.exp(statistics.mean(math.log(r) for r in ratios))
                every = " ".join(f"{r:.2f}" for r in ratios)
                figures.append(
                    f"{name}: comm {geo:.3f}x ({min(ratios):.2f}-{max(ratios):.2f}: {every})"
                )
            print(f"{install(rule)}, {seeds} seeds  " + "   ".join(figures), flush=True)


def own_time(rules: list[str]) -> None:
    """Per pattern: the gang's own time under each rule / without a price, same snapshots."""
    for rule in rules:
        label = install(rule)
        for make in (clusters.lingjun, clusters.degraded):
            cluster = make()
            for pattern, got in sorted(_own_ratios(cluster).items()):
                worse = sum(r > 1.05 for r in got)
                print(
                    f"{label}  {cluster.name} {pattern}: own time {mean(got):.3f}x of unpriced "
                    f"(max {max(got):.2f}x; {worse}/{len(got)} gangs over 5 % slower)",
                    flush=True,
                )


def _own_ratios(cluster: clusters.Cluster) -> dict[str, list[float]]:
    """Each gang placed while running gangs share links: own time chosen / chosen unpriced."""
    price = placement_netsched.OCCUPANCY_PRICE
    jobs, _ = workloads.compress(workloads.large_stream(), cluster_gpus=cluster.gpus, load=LOAD)
    ratios: dict[str, list[float]] = {}

    def observe(job: TraceJob, snapshot: ClusterSnapshot, chosen: Outcome) -> None:
        if not snapshot.flows or not isinstance(chosen, Placement):
            return
        placement_netsched.OCCUPANCY_PRICE = 0.0
        alone = place(job.demand, snapshot, strategy="netsched")
        placement_netsched.OCCUPANCY_PRICE = price
        if isinstance(alone, Placement) and alone.cost.comm_seconds > 0:
            ratio = chosen.cost.comm_seconds / alone.cost.comm_seconds
            ratios.setdefault(job.demand.pattern.value, []).append(ratio)

    replay(
        cluster.snapshot, jobs, "netsched", shared_links=True, choose_with_shares=True,
        observe=observe,
    )  # fmt: skip
    return ratios


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rules", nargs="*", default=["0,1", "2,0.8,Hybrid"])
    parser.add_argument("--seeds", type=int, help="comm/step over this many draws of the stream")
    parser.add_argument("--own", action="store_true", help="what each rule costs the gangs")
    args = parser.parse_args()
    if args.own:
        own_time(args.rules)
    elif args.seeds:
        over_seeds(args.rules, args.seeds)
    else:
        main(args.rules)
