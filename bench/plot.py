"""The benchmark's figure: sweep comm/step, Philly replays' cross-core bytes, a degraded CDF."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from netsched.domain.cost import Cost
from runs import STRATEGIES, ReplaySummary, is_issue_replay, mean

CDF_REPLAY = "lingjun-degraded large"


def plot(
    replays: dict[str, list[ReplaySummary]],
    sweep: dict[str, dict[str, list[Cost]]],
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(17, 4.8))
    width = 0.8 / len(STRATEGIES)

    def bars(axis: Any, names: list[str], value: Callable[[str, str], float]) -> None:
        for i, strategy in enumerate(STRATEGIES):
            xs = [x + (i - (len(STRATEGIES) - 1) / 2) * width for x in range(len(names))]
            axis.bar(xs, [value(n, strategy) for n in names], width, label=strategy)
        axis.set_xticks(range(len(names)), names, fontsize=8)
        axis.legend(fontsize=8)
        axis.grid(axis="y", alpha=0.3)

    bars(left, list(sweep), lambda n, s: mean([c.comm_seconds for c in sweep[n][s]]) * 1e3)
    left.set_ylabel("mean predicted comm/step (ms)")
    left.set_title("Large gangs (64-1024 GPUs), empty cluster\n(lower is better)")

    def cross_spine(name: str, strategy: str) -> float:
        by = {s.strategy: s for s in replays[name]}
        return by[strategy].cross.get("spine", 0.0) / 1e9

    philly = [n for n, runs in replays.items() if is_issue_replay(runs[0])]
    bars(middle, philly, cross_spine)
    middle.tick_params(axis="x", labelrotation=20)
    middle.set_ylabel("GB per step per multi-pod job")
    middle.set_title("Philly replays: bytes crossing the core (spine uplinks)\n(lower is better)")
    cdf = CDF_REPLAY
    for summary in replays[cdf]:
        values = sorted(c * 1e3 for c in summary.comm)
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            right.step(values, ys, where="post", label=summary.strategy)
    right.set_xscale("log")
    right.set_xlabel("predicted comm/step (ms, log)")
    right.set_ylabel("fraction of multi-pod jobs")
    right.set_title(f"{cdf} replay: CDF of comm/step\n(further left is better)")
    right.legend(fontsize=8, loc="lower right")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
