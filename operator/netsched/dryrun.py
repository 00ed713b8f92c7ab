"""Place a TrainingJob on a cluster saved to a file, without touching any cluster.

The face of ``netsched place``: :func:`plan` reads a cluster ``List`` (see
:mod:`netsched.clusterfile`) and a TrainingJob manifest, validates the job exactly
as the operator would, builds the snapshot and runs one strategy;
:func:`outcome_json` and :func:`outcome_table` render the result for programs and
for people. Every input problem is a :class:`~netsched.clusterfile.ClusterFileError`
naming the file and the field.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netsched.api import TrainingJob
from netsched.api.validation import validate_manifest
from netsched.clusterfile import (
    ClusterFileError,
    load_yaml,
    parse_cluster,
)
from netsched.domain.placement import STRATEGIES, OptimalUnsupported, Outcome, Placement, place
from netsched.domain.topology import ClusterSnapshot


@dataclass(frozen=True, slots=True)
class DryRun:
    """One placement decision on a saved cluster: the job, the snapshot and the outcome."""

    job: TrainingJob
    snapshot: ClusterSnapshot
    outcome: Outcome


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send file descriptor 1 to stderr for the block.

    HiGHS (the ``optimal`` strategy's solver) prints its banner from C++ straight to
    file descriptor 1, past ``sys.stdout``; without this, ``-o json`` would not parse.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def plan(*, cluster: Path, job: Path, strategy: str, now: datetime | None = None) -> DryRun:
    """Place the job in ``job`` on the cluster in ``cluster`` with ``strategy``.

    ``now`` decides which LinkMeasurements are fresh (default: the current time);
    pass the time the cluster was saved to replay an old file as it was.

    Raises:
        ClusterFileError: a file is missing or malformed, the job is invalid, the
            strategy is unknown, or ``optimal`` cannot take the instance.
    """
    if strategy not in STRATEGIES:
        raise ClusterFileError(
            f"--strategy: unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
        )
    state = parse_cluster(load_yaml(cluster), source=str(cluster))
    manifest = load_yaml(job)
    topology = state.topologies.get(_topology_name(manifest))
    problems = validate_manifest(manifest, topology)
    if problems:
        listed = "\n".join(f"  {p.field_path or '(top level)'}: {p.message}" for p in problems)
        raise ClusterFileError(f"{job}: not a valid TrainingJob:\n{listed}")
    training_job = TrainingJob.model_validate(manifest)
    try:
        snapshot = state.snapshot_for(training_job, now=now or datetime.now(UTC))
        with _stdout_to_stderr():
            outcome = place(training_job.to_demand(), snapshot, strategy=strategy)
    except OptimalUnsupported as error:
        raise ClusterFileError(f"--strategy optimal: {error}") from None
    except ValueError as error:
        raise ClusterFileError(f"{cluster}: {error}") from None
    return DryRun(training_job, snapshot, outcome)


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """The outcome as ``netsched place -o json`` prints it (see docs/placement-cli.md)."""
    if not isinstance(outcome, Placement):
        return {
            "strategy": outcome.strategy,
            "unschedulable": {"reason": outcome.reason, "explanation": outcome.explanation},
        }
    cost = outcome.cost
    return {
        "strategy": outcome.strategy,
        "placement": [{"rank": r.rank, "node": r.node, "gpus": r.gpus} for r in outcome.ranks],
        "predicted": {
            "commSecondsPerStep": cost.comm_seconds,
            "crossTierBytesPerStep": {
                tier: round(size) for tier, size in cost.cross_tier_bytes.items()
            },
            "tiersSpanned": cost.tier_spanned,
            "bottleneckGbps": cost.bottleneck_gbps,
        },
        "explanation": outcome.explanation,
    }


def outcome_table(run: DryRun) -> str:
    """The outcome for people: a header line, ranks grouped by leaf and node, the explanation."""
    outcome, demand = run.outcome, run.job.to_demand()
    head = f"job {demand.name}  strategy {outcome.strategy}"
    if not isinstance(outcome, Placement):
        return f"{head}  UNSCHEDULABLE\nreason: {outcome.reason}\n\n{outcome.explanation}\n"
    cost = outcome.cost
    bottleneck = "none"
    if cost.bottleneck is not None:
        link = run.snapshot.domains[run.snapshot.domain_index(cost.bottleneck)]
        how = "measured" if link.measured else "nominal"
        bottleneck = f"{link.uplink_gbps:g} Gbps {how} ({link.tier} uplink {link.id})"
    lines = [
        f"{head}  tier {cost.tier_spanned} {cost.domain}  "
        f"comm/step {cost.comm_seconds:.3g} s  bottleneck {bottleneck}",
        "cross-tier bytes/step: "
        + ", ".join(f"{tier} {_bytes(size)}" for tier, size in cost.cross_tier_bytes.items()),
        "",
    ]
    rows = _rows(run.snapshot, outcome)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append("  ".join(cells).rstrip())
    return "\n".join([*lines, "", outcome.explanation, ""])


def _rows(snapshot: ClusterSnapshot, placement: Placement) -> list[tuple[str, ...]]:
    """One row per node, nodes grouped under their leaf, both in order of their first rank."""
    ranks: dict[str, dict[str, list[int]]] = {}
    gpus: dict[str, int] = placement.gpus_by_node()
    for assignment in placement.ranks:
        leaf = _leaf(snapshot, assignment.node)
        ranks.setdefault(leaf, {}).setdefault(assignment.node, []).append(assignment.rank)
    leaf_title = snapshot.scheme.tier_names[1].upper()
    rows: list[tuple[str, ...]] = [(leaf_title, "NODE", "RANKS", "GPUS")]
    for leaf, nodes in ranks.items():
        for position, (node, node_ranks) in enumerate(nodes.items()):
            rows.append((leaf if position == 0 else "", node, _ranges(node_ranks), str(gpus[node])))
    return rows


def _leaf(snapshot: ClusterSnapshot, node: str) -> str:
    return snapshot.domains[snapshot.ancestors(snapshot.host_index(node))[1]].id


def _ranges(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``0-2,5``."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _bytes(size: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size:.0f} B"


def _topology_name(manifest: Any) -> str:
    """The NetworkTopology a raw manifest names (``default`` when it names none)."""
    try:
        name = manifest["spec"]["topology"]["networkTopology"]
    except (KeyError, TypeError):
        return "default"
    return name if isinstance(name, str) else "default"


__all__ = ["ClusterFileError", "DryRun", "outcome_json", "outcome_table", "plan"]
