"""Which node probes which, and when: the probe agents' schedule.

Every probe agent computes the same schedule from the same inputs (the nodes, their tier
labels, the round's number), so the agents need no coordinator and no lock: each runs the
probes it is the source of, at its wave's time.

- **A round** every ``intervalSeconds`` (rounds are numbered from the Unix epoch). In a
  round each node probes **one peer per level** it has peers at: one under its own leaf
  (the path turns at the leaf: it measures the two host links), one under another leaf of
  its spine (it turns at the spine: the two leaf uplinks), one under another spine (the
  spine uplinks), and so on up the tiers. A round has at most ``nodes x levels`` probes:
  the cost grows linearly with the cluster.
- **Peers rotate.** The peer at a level is the k-th candidate, with k moving on by one
  every round (offset per node), so over rounds a node measures different paths and a
  link is seen through many pairs.
- **Waves.** A probe fills every link of its path, so two probes that share a link would
  each see half of it. The round's probes are packed first-fit into waves in which no two
  share any link (a host link or an uplink); waves run one after the other,
  ``durationSeconds`` plus :data:`GUARD_SECONDS` apart. The widest probes are packed
  first: they share the most. Probes that do not fit in the interval wait for a later
  round (:attr:`Round.deferred`).
- **Busy nodes are never probed.** A probe with an endpoint whose GPUs a running gang
  holds is dropped (the training's traffic must not share its links with a probe). The
  packing ignores who is busy, so that agents that see a gang start a moment apart still
  agree on every other probe's wave.

>>> from netsched.domain.scheme import DEFAULT_SCHEME
>>> from netsched.domain.topology_sources import fat_tree
>>> nodes = fat_tree(cores=1, spines_per_core=2, leaves_per_spine=2, hosts_per_leaf=2)
>>> plan = plan_round(nodes, DEFAULT_SCHEME, round_index=0, slots=100)
>>> len(plan.probes), plan.waves     # 8 nodes x 3 levels, no two on a link at once
(24, 12)
>>> sorted({p.level for p in plan.probes})
['core', 'leaf', 'spine']
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from netsched.domain.fabric import Fabric, build_fabric
from netsched.domain.nodes import NodeInfo
from netsched.domain.scheme import TopologyScheme

GUARD_SECONDS = 3.0
"""Added to a probe's duration for its wave: iperf3's connect, start-up and JSON report,
and the agents' clocks being a little apart."""


@dataclass(frozen=True, slots=True)
class Probe:
    """One measurement: ``source`` sends to ``target``'s iperf3 server in wave ``wave``.

    ``level`` is the widest tier the path reaches, as a LinkMeasurement's ``spec.level``
    says it (``leaf`` for two nodes of one leaf).
    """

    source: str
    target: str
    level: str
    wave: int


@dataclass(frozen=True, slots=True)
class Round:
    """One round's probes, in wave order.

    Attributes:
        index: the round's number (``now // interval``).
        probes: the probes to run.
        waves: how many waves they take.
        busy_skipped: probes dropped because an endpoint is busy.
        deferred: probes that did not fit in the interval's waves.
    """

    index: int
    probes: tuple[Probe, ...]
    waves: int
    busy_skipped: int = 0
    deferred: int = 0

    def of(self, source: str) -> tuple[Probe, ...]:
        """The probes ``source`` runs, in wave order."""
        return tuple(p for p in self.probes if p.source == source)


def slots_per_round(*, interval_seconds: float, duration_seconds: float) -> int:
    """How many waves fit in one interval."""
    return max(1, int(interval_seconds // (duration_seconds + GUARD_SECONDS)))


def wave_start(
    round_index: int, wave: int, *, interval_seconds: float, duration_seconds: float
) -> float:
    """When a wave starts, in seconds since the Unix epoch."""
    return round_index * interval_seconds + wave * (duration_seconds + GUARD_SECONDS)


def plan_round(
    nodes: Iterable[NodeInfo],
    scheme: TopologyScheme,
    *,
    round_index: int,
    slots: int,
    busy: Collection[str] = (),
) -> Round:
    """The probes of round ``round_index`` (see the module's docstring).

    Args:
        nodes: every node that runs an agent; those lacking a tier label are left out.
        scheme: the tiers.
        round_index: the round's number.
        slots: the waves one round has room for (:func:`slots_per_round`).
        busy: nodes whose GPUs a running gang holds.
    """
    labelled = [n for n in nodes if all(n.labels.get(lv.label_key) for lv in scheme.levels)]
    fabric = build_fabric(labelled, scheme)
    tiers = scheme.tier_names
    wanted: list[tuple[int, int, int]] = []  # (turn rank, source host, target host)
    for host, node in enumerate(fabric.nodes):
        offset = zlib.crc32(node.name.encode())
        for turn in range(1, len(tiers)):
            target = _peer(fabric, host, turn, round_index + offset)
            if target is not None:
                wanted.append((turn, host, target))
    wanted.sort(key=lambda w: (-w[0], w[1]))
    used: dict[int, set[int]] = defaultdict(set)  # link -> waves using it
    probes, deferred, skipped = [], 0, 0
    for turn, source, target in wanted:
        links = (*fabric.ancestors[source][:turn], *fabric.ancestors[target][:turn])
        wave = 0
        while any(wave in used[link] for link in links):
            wave += 1
        if wave >= slots:
            deferred += 1
            continue
        for link in links:
            used[link].add(wave)
        names = fabric.nodes[source].name, fabric.nodes[target].name
        if busy and (names[0] in busy or names[1] in busy):
            skipped += 1
            continue
        probes.append(Probe(names[0], names[1], tiers[turn], wave))
    probes.sort(key=lambda p: (p.wave, p.source))
    waves = 1 + max((p.wave for p in probes), default=-1)
    return Round(round_index, tuple(probes), waves, busy_skipped=skipped, deferred=deferred)


def _peer(fabric: Fabric, host: int, turn: int, k: int) -> int | None:
    """The k-th (mod their number) host whose path from ``host`` turns at tier ``turn``:
    under the same tier-``turn`` domain, not under the same tier-``turn - 1`` one."""
    outer = fabric.domains[fabric.ancestors[host][turn]].hosts
    inner = fabric.domains[fabric.ancestors[host][turn - 1]].hosts
    count = len(outer) - len(inner)
    if count == 0:
        return None
    k %= count
    before = inner.start - outer.start
    return outer.start + k if k < before else inner.stop + (k - before)
