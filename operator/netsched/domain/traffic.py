"""The traffic rule: how many bytes a gang of each pattern sends over which link, per step.

This module is the rule's one home; :mod:`netsched.domain.cost` routes the bytes
over the switch tree and times them, and the strategies bound and count with them.
With S the demand's ``bytes_per_step`` and N the ranks in a group, per step:

* **DataParallel**, ring all-reduce: every ring edge carries ``2(N-1)/N * S``
  (reduce-scatter then all-gather; NCCL's "bus bandwidth" factor for all-reduce,
  see NCCL's ``doc/PERFORMANCE.md`` in nccl-tests). Ranks are ordered so the ring
  leaves each domain once, so an uplink carries one edge each way.
* **ModelParallel / PipelineParallel**, a chain: rank i sends S (activations) to rank
  i+1 and rank i+1 sends S (their gradients) back, in the same step: with 1F1B
  scheduling the forward pass of one micro-batch and the backward pass of another
  overlap, so both directions carry traffic at once.
* **ExpertParallel**, all-to-all: every ordered pair exchanges ``S/N`` (NCCL's
  all-to-all factor ``(N-1)/N`` per rank). A domain holding k of the N ranks sends
  ``k * (N-k) * S/N`` up its uplink and receives as much. That per-domain count is
  used directly; no pair is ever enumerated.
* **Hybrid** with degrees (T, P, D): the global GPU index g of the GPU with tensor,
  pipeline and data ranks (t, p, d) follows the framework's rank order
  (:class:`~netsched.domain.demand.RankOrder`): ``g = t + T*(d + D*p)`` by default
  (Megatron-LM, torchtitan: the stage varies slowest), or ``g = t + T*(p + P*d)``.
  GPU g lives in pod ``g // gpus_per_pod``, so tensor groups sit inside a pod.
  Each group is costed with its own pattern on payload S (S is the per-GPU
  payload): tensor groups as rings over T GPUs, pipelines as chains over P stages
  (one per tensor and data rank), data parallel as rings over the D replicas (one
  per tensor rank and stage). Their link loads add up.
* **None**: no traffic.

**Duplex model.** Links are full duplex: each direction of an uplink has its whole
bandwidth, and the two directions never contend. A link's time is its busier
direction's bytes over its bandwidth (:mod:`netsched.domain.cost`). What that
implies for a chain: its forward and backward traffic at one boundary run in
opposite directions and cost nothing extra, but a domain the chain passes
through (enters and leaves) receives both the activations coming in and the
gradients coming back from its far side: S twice in each direction. A domain
holding one end of the chain carries S each way. Charging activations alone
would be right only for the ends.

With ranks in ring order (:func:`~netsched.domain.ring.ring_order`), the bytes on a
domain's uplink depend only on how many of the gang's pods sit under it (and, for a
chain, on whether it holds an end), for every pattern but Hybrid
(:func:`uplink_bytes`). That is what lets the bottleneck count and the ``optimal``
integer program work with pod counts alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from netsched.domain.demand import Demand, Pattern, degree_problems

Flows = dict[tuple[int, int], float]
"""(source host, target host) -> bytes per step, host indices of a snapshot."""

CHAIN_PATTERNS = (Pattern.MODEL_PARALLEL, Pattern.PIPELINE_PARALLEL)
"""Patterns whose ranks form a chain: rank i sends its payload to rank i+1."""

COUNTED_PATTERNS = (
    Pattern.DATA_PARALLEL,
    Pattern.MODEL_PARALLEL,
    Pattern.PIPELINE_PARALLEL,
    Pattern.EXPERT_PARALLEL,
)
"""Patterns with traffic whose uplink bytes depend only on the pods inside a domain.

Not Hybrid, whose bytes depend on which pipeline replicas a domain splits, nor None,
which sends nothing. A tuple, so that whoever iterates it (the benchmark) gets one order.
"""


def ring_edge_bytes(ranks: int, payload: float) -> float:
    """Bytes on each edge of a ring all-reduce of ``payload`` over ``ranks``: 2(N-1)/N*S."""
    return 2 * (ranks - 1) / ranks * payload if ranks > 1 else 0.0


def all_to_all_uplink_bytes(*, ranks: int, inside: int, payload: float) -> float:
    """Bytes each way on the uplink of a domain holding ``inside`` of an all-to-all's ``ranks``.

    Each of the ``inside * (ranks - inside)`` pairs across the uplink exchanges
    ``payload / ranks``.
    """
    return inside * (ranks - inside) * payload / ranks


def uplink_bytes(
    pattern: Pattern, *, ranks: int, inside: int, payload: float, ends: int = 0
) -> float:
    """Bytes on the uplink of a domain holding ``inside`` of a gang's ``ranks``, busier direction.

    Ranks are in ring order. Nothing crosses the uplink of a domain holding none or
    all of the gang; otherwise a ring crosses it once each way, whatever the split;
    a chain crosses it twice each way, or once when the domain holds one of its
    ``ends`` (0 or 1: a split domain in ring order never holds both); and an
    all-to-all by its pod count.

    Raises:
        ValueError: ``pattern`` is Hybrid, whose uplink bytes pod counts do not tell.
    """
    if pattern is Pattern.HYBRID:
        raise ValueError(
            "a Hybrid gang's uplink bytes depend on which pipeline replicas a domain "
            "splits, not on its pod count: cost it with netsched.domain.cost.predict"
        )
    if not 0 < inside < ranks:
        return 0.0
    if pattern is Pattern.EXPERT_PARALLEL:
        return all_to_all_uplink_bytes(ranks=ranks, inside=inside, payload=payload)
    if pattern in CHAIN_PATTERNS:
        return (2 - min(ends, 1)) * payload
    return least_uplink_bytes(pattern, ranks=ranks, payload=payload)


def least_uplink_bytes(pattern: Pattern, *, ranks: int, payload: float) -> float:
    """Least bytes any uplink a gang of ``pattern`` crosses carries, however it is split.

    A lower bound for every uplink the gang must cross: a ring edge, a chain link
    (at an end of the chain), or the all-to-all bytes of a domain holding one rank
    (or all but one). Zero for Hybrid, whose groups may all stay inside nodes, and
    for None.
    """
    if pattern is Pattern.DATA_PARALLEL:
        return ring_edge_bytes(ranks, payload)
    if pattern in CHAIN_PATTERNS:
        return payload
    if pattern is Pattern.EXPERT_PARALLEL:
        return all_to_all_uplink_bytes(ranks=ranks, inside=1, payload=payload)
    return 0.0


def host_flows(demand: Demand, hosts: Sequence[int]) -> Flows:
    """Bytes per step between hosts, rank i on host ``hosts[i]``, for rings and chains.

    Traffic between ranks on one host never reaches a link, so is left out. Empty
    for None, and for ExpertParallel, whose pairs are never enumerated: its bytes
    per uplink come from :func:`all_to_all_uplink_bytes`.

    Raises:
        ValueError: a Hybrid demand breaks a rule of
            :func:`~netsched.domain.demand.degree_problems`.
    """
    payload = float(demand.bytes_per_step)
    if demand.pattern is Pattern.DATA_PARALLEL:
        return _ring(hosts, payload, {})
    if demand.pattern in CHAIN_PATTERNS:
        return _chain(hosts, payload, {})
    if demand.pattern is Pattern.HYBRID:
        return _hybrid(demand, hosts, payload)
    return {}


def _ring(hosts: Sequence[int], payload: float, flows: Flows) -> Flows:
    edge = ring_edge_bytes(len(hosts), payload)
    for i, source in enumerate(hosts):
        target = hosts[(i + 1) % len(hosts)]
        if source != target:
            flows[source, target] = flows.get((source, target), 0.0) + edge
    return flows


def _chain(hosts: Sequence[int], payload: float, flows: Flows) -> Flows:
    """Activations forward along the chain and gradients back: both directions, S each."""
    for source, target in itertools.pairwise(hosts):
        if source != target:
            flows[source, target] = flows.get((source, target), 0.0) + payload
            flows[target, source] = flows.get((target, source), 0.0) + payload
    return flows


def _hybrid(demand: Demand, hosts: Sequence[int], payload: float) -> Flows:
    """Tensor rings, pipeline chains and data-parallel rings over GPUs; see module doc."""
    degrees = demand.degrees
    problems = degree_problems(
        pattern=demand.pattern,
        degrees=degrees,
        replicas=demand.replicas,
        gpus_per_pod=demand.gpus_per_pod,
    )
    if problems:
        raise ValueError(f"{demand.name}: {problems[0]}")
    assert degrees is not None  # degree_problems refuses Hybrid without degrees
    t_deg, p_deg, d_deg = degrees.tensor, degrees.pipeline, degrees.data
    per_pod = demand.gpus_per_pod

    def host(t: int, p: int, d: int) -> int:
        return hosts[degrees.gpu(t, p, d) // per_pod]

    flows: Flows = {}
    for d in range(d_deg):
        for p in range(p_deg):
            _ring([host(t, p, d) for t in range(t_deg)], payload, flows)
        for t in range(t_deg):
            _chain([host(t, p, d) for p in range(p_deg)], payload, flows)
    for t in range(t_deg):
        for p in range(p_deg):
            _ring([host(t, p, d) for d in range(d_deg)], payload, flows)
    return flows
