"""The issue's bars, as PASS/FAIL lines: printed, never asserted."""

from __future__ import annotations

import workloads
from docs_sections import bar
from netsched.domain.cost import Cost
from runs import LARGE, OptimalResult, ReplaySummary, is_issue_replay, mean, percentile, ratio

DEGRADED = "lingjun-degraded"
HEALTHY = "lingjun"


def sweep_label(name: str, costs: dict[str, list[Cost]]) -> str:
    gangs = len(costs["netsched"])
    return f"sweep {name} ({gangs} gangs of {workloads.SWEEP_GPUS[0]}+ GPUs, empty cluster)"


def check_bars(
    replays: dict[str, list[ReplaySummary]],
    sweep: dict[str, dict[str, list[Cost]]],
    optimal: OptimalResult,
    big: list[float],
) -> list[str]:
    lines = []
    replays = {name: runs for name, runs in replays.items() if is_issue_replay(runs[0])}
    for summaries in replays.values():
        by = {s.strategy: s for s in summaries}
        run = by["netsched"].run
        if run.cluster not in ("lingjun", "superpod"):
            continue
        ours, spread = by["netsched"].cross.get("spine", 0.0), by["spread"].cross.get("spine", 0.0)
        lines.append(
            bar(
                ours <= 0.5 * spread,
                f"{run.label}: cross-spine bytes/job {ours / 1e9:.3f} GB <= 0.5 x "
                f"spread's {spread / 1e9:.3f} GB (ratio {ratio(ours, spread)})",
            )
        )
    for summaries in replays.values():
        by = {s.strategy: s for s in summaries}
        ours, tas = by["netsched"].mean_comm, by["tas"].mean_comm
        lines.append(
            bar(
                ours <= tas * (1 + 1e-9),
                f"{by['netsched'].run.label}: mean comm/step {ours * 1e3:.2f} ms <= "
                f"tas {tas * 1e3:.2f} ms",
            )
        )
    for name, costs in sweep.items():
        ours = mean([c.comm_seconds for c in costs["netsched"]])
        tas = mean([c.comm_seconds for c in costs["tas"]])
        lines.append(
            bar(
                ours <= tas * (1 + 1e-9),
                f"{sweep_label(name, costs)}: mean comm/step {ours * 1e3:.1f} ms <= "
                f"tas {tas * 1e3:.1f} ms",
            )
        )
    name = DEGRADED
    costs = sweep[name]
    ours = mean([c.comm_seconds for c in costs["netsched"]])
    tas = mean([c.comm_seconds for c in costs["tas"]])
    lines.append(
        bar(
            ours <= 0.8 * tas,
            f"{sweep_label(name, costs)}: mean comm/step {ours * 1e3:.1f} ms at least 20 % "
            f"below tas {tas * 1e3:.1f} ms (netsched/tas {ratio(ours, tas)})",
        )
    )
    finite = [g for g in optimal.gaps if g != float("inf")]
    lines.append(
        bar(
            optimal.instances >= 200 and optimal.within == optimal.instances,
            f"optimality: within 5 % of optimal on {optimal.within}/{optimal.instances} "
            f"random instances (<= 32 nodes); mean gap {mean(finite) * 100:.2f} %, "
            f"worst {max(finite, default=0.0) * 100:.1f} %",
        )
    )
    lingjun = next(s for s in replays["lingjun"] if s.strategy == "netsched")
    small = [t for g, t in lingjun.result.latencies_by_gpus if g <= 64]
    lines.append(
        bar(
            percentile(small, 0.95) <= 0.050,
            f"latency, netsched in {lingjun.run.label}: p95 {percentile(small, 0.95) * 1e3:.1f} "
            f"ms <= 50 ms for jobs <= 64 GPUs ({len(small)} placements)",
        )
    )
    lines.append(
        bar(
            percentile(big, 0.95) <= 0.250,
            f"latency: p95 {percentile(big, 0.95) * 1e3:.0f} ms <= 250 ms for a 1024-GPU "
            f"job on the empty 8192-node fat tree ({len(big)} placements, every pattern)",
        )
    )
    return lines


def beside_the_bars(replays: dict[str, list[ReplaySummary]], *, shared: bool) -> list[str]:
    """netsched against tas on the replays the bars do not read, one line each.

    ``shared=False``: the large stream, gangs costed alone; ``shared=True``: every
    stream with links shared by running gangs. Printed like the bars so they read
    side by side.
    """
    lines = []
    for summaries in replays.values():
        by = {s.strategy: s for s in summaries}
        run = by["netsched"].run
        if is_issue_replay(by["netsched"]) or run.shared != shared:
            continue
        ours, tas = by["netsched"].mean_comm, by["tas"].mean_comm
        lines.append(
            f"{run.label}: mean comm/step netsched {ours * 1e3:.2f} ms, tas {tas * 1e3:.2f} ms "
            f"(netsched/tas {ratio(ours, tas)}){head_to_head(by['netsched'])}"
            f"{chose_with_shares(by['netsched'])}"
        )
    return lines


def contention_bars(replays: dict[str, list[ReplaySummary]]) -> list[str]:
    """Issue 12's comm/step bars on the replays with links shared by running gangs.

    Read on netsched as the operator runs it: choosing with the running gangs' shares
    (and the occupancy price), against tas costed on the same shared links. Every shared
    replay: at most tas's mean; the large stream's: at most 0.90 x tas's.
    """
    lines = []
    for summaries in replays.values():
        by = {s.strategy: s for s in summaries}
        ours, run = by["netsched"], by["netsched"].run
        if not run.shared or ours.chose_with_shares is None:
            continue
        chosen, alone, tas = ours.chose_with_shares, ours.mean_comm, by["tas"].mean_comm
        figures = (
            f"netsched choosing with the shares {chosen * 1e3:.2f} ms (choosing alone "
            f"{alone * 1e3:.2f} ms), tas {tas * 1e3:.2f} ms: netsched/tas {ratio(chosen, tas)}"
        )
        lines.append(bar(chosen <= tas * (1 + 1e-9), f"{run.label}: {figures} <= 1.00"))
        if run.stream.key == LARGE.key:
            lines.append(bar(chosen <= 0.9 * tas, f"{run.label}: {figures} <= 0.90"))
    return lines


def head_to_head(summary: ReplaySummary) -> str:
    """How often tas, on the snapshot netsched saw, would have placed the gang faster."""
    duel = summary.head_to_head
    if duel is None:
        return ""
    return f"; tas faster on netsched's snapshot at {duel.rival_faster}/{duel.decisions} gangs"


def chose_with_shares(summary: ReplaySummary) -> str:
    """netsched's figure had it chosen with the running gangs' shares (the extension)."""
    if summary.chose_with_shares is None:
        return ""
    return f"; choosing with the shares, netsched {summary.chose_with_shares * 1e3:.2f} ms"


def degraded_under_load(replays: dict[str, list[ReplaySummary]]) -> list[str]:
    """netsched against tas on every replay of the degraded cluster, beside the healthy twin.

    Not a bar: the degraded bar is read on the sweep (:func:`check_bars`). Under load a
    strategy can win on the degraded cluster only what the slow uplinks cost there, so
    each line says how much slower each strategy ran than on healthy Lingjun with the
    same stream, and where netsched would stand against tas had they cost it nothing.
    """
    lines = []
    runs = {name: {s.strategy: s for s in summaries} for name, summaries in replays.items()}
    for by in runs.values():
        run = by["netsched"].run
        if run.cluster != DEGRADED:
            continue
        twin = runs[run.name.replace(DEGRADED, HEALTHY, 1)]
        costs = []
        for strategy in ("tas", "netsched"):
            sick, well = by[strategy].mean_comm, twin[strategy].mean_comm
            slower = sick / well - 1 if well else 0.0
            costs.append(f"{strategy} {slower:+.1%} ({well * 1e3:.2f} -> {sick * 1e3:.2f} ms)")
        ours, tas = by["netsched"].mean_comm, by["tas"].mean_comm
        unharmed = twin["netsched"].mean_comm
        lines.append(
            f"{run.label}: netsched/tas {ratio(ours, tas)}; against {HEALTHY}, the slow "
            f"uplinks cost {', '.join(costs)}; losing nothing to them, netsched would be "
            f"{ratio(unharmed, tas)}x tas{head_to_head(by['netsched'])}"
        )
    return lines
