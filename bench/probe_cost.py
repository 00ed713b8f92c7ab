"""What the probe schedule costs: probes, waves and traffic per hour, by cluster size.

The schedule is the one every agent computes (netsched.domain.probe_schedule.plan_round), on
netsched's default fat tree (8 hosts a leaf, 4 leaves a spine, one core) with the default
NetworkTopology probe settings (a round an hour, 10-second probes, 4 streams).

    python bench/probe_cost.py [--nodes 100 1000 5000]
"""

from __future__ import annotations

import argparse
import math

from netsched.api.networktopology import ProbeSettings
from netsched.domain.probe_schedule import GUARD_SECONDS, plan_round, slots_per_round
from netsched.domain.scheme import DEFAULT_SCHEME
from netsched.domain.topology_sources import fat_tree
from netsched.probe.iperf3 import OMIT_SECONDS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[100, 1000, 5000])
    args = parser.parse_args()
    settings = ProbeSettings()
    interval, duration = settings.interval_seconds, settings.duration_seconds
    slots = slots_per_round(interval_seconds=interval, duration_seconds=duration)
    print(f"interval {interval} s, probes of {duration} s (+{OMIT_SECONDS} s not counted, "
          f"+{GUARD_SECONDS:g} s guard), {slots} waves fit a round; host links "
          f"{DEFAULT_SCHEME.host_gbps:g} Gbit/s")  # fmt: skip
    print(
        "| nodes | probes a round | waves | round length (s) | deferred | probes / hour | "
        "probe-seconds a node an hour | share of a NIC's hour | TB / hour at the host rate |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for count in args.nodes:
        spines = math.ceil(count / 32)
        nodes = fat_tree(cores=1, spines_per_core=spines, leaves_per_spine=4, hosts_per_leaf=8)
        nodes = nodes[:count]
        plan = plan_round(nodes, DEFAULT_SCHEME, round_index=0, slots=slots)
        per_hour = len(plan.probes) * 3600 / interval
        # Each probe occupies two NICs (source and target) for its run.
        busy = per_hour * (duration + OMIT_SECONDS) * 2 / count
        terabytes = per_hour * duration * DEFAULT_SCHEME.host_gbps / 8 / 1000
        print(f"| {count} | {len(plan.probes)} | {plan.waves} | "
              f"{plan.waves * (duration + GUARD_SECONDS):.0f} | {plan.deferred} | {per_hour:.0f} | "
              f"{busy:.0f} | {busy / 3600:.2%} | {terabytes:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
