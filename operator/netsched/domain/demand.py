"""What a TrainingJob asks of the cluster, in the domain's terms.

The API layer (``netsched.api``) turns a TrainingJob into a :class:`Demand`;
placement strategies only ever see a Demand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from netsched.domain.scheme import TopologyScheme


class Pattern(StrEnum):
    """How a job's ranks talk to each other in each training step."""

    DATA_PARALLEL = "DataParallel"
    """Ring all-reduce of gradients across every rank."""
    MODEL_PARALLEL = "ModelParallel"
    """Point-to-point exchange between consecutive shards."""
    PIPELINE_PARALLEL = "PipelineParallel"
    """Point-to-point activations between consecutive pipeline stages."""
    EXPERT_PARALLEL = "ExpertParallel"
    """Mixture of experts: all-to-all token exchange between every pair of ranks."""
    HYBRID = "Hybrid"
    """Tensor parallel inside a node, pipeline across nodes, data parallel across replicas."""
    NONE = "None"
    """No inter-pod traffic worth placing for (independent workers)."""


@dataclass(frozen=True, slots=True)
class ParallelDegrees:
    """Hybrid parallelism: ``tensor * pipeline * data`` equals the job's GPU count."""

    tensor: int
    pipeline: int
    data: int

    @property
    def total(self) -> int:
        return self.tensor * self.pipeline * self.data


@dataclass(frozen=True, slots=True)
class Demand:
    """A gang to place: ``replicas`` pods of ``gpus_per_pod`` GPUs each.

    Attributes:
        name: ``namespace/name`` of the job, for explanations.
        replicas: pods in the gang; all are placed or none.
        gpus_per_pod: ``nvidia.com/gpu`` each pod requests (0 for CPU-only pods).
        pattern: the job's communication pattern.
        bytes_per_step: the payload S of one training step (gradients for data
            parallel, activations per stage boundary for pipeline, tokens for all-to-all).
        degrees: tensor/pipeline/data degrees, required for ``Pattern.HYBRID``.
        max_tier: hard limit: the gang never spans a tier wider than this.
        preferred_tier: soft wish: the gang should fit under one domain of this tier.
    """

    name: str
    replicas: int
    gpus_per_pod: int
    pattern: Pattern
    bytes_per_step: int
    degrees: ParallelDegrees | None = None
    max_tier: str | None = None
    preferred_tier: str | None = None

    @property
    def total_gpus(self) -> int:
        return self.replicas * self.gpus_per_pod


def demand_problem(demand: Demand, scheme: TopologyScheme) -> str | None:
    """What is wrong with ``demand`` for this scheme, or None if nothing."""
    tiers = ", ".join(scheme.tier_names)
    if demand.replicas < 1:
        return f"replicas must be at least 1, got {demand.replicas}"
    if demand.gpus_per_pod < 0:
        return f"GPUs per pod must not be negative, got {demand.gpus_per_pod}"
    for field, tier in (("maxTier", demand.max_tier), ("preferredTier", demand.preferred_tier)):
        if tier is not None and tier not in scheme.tier_names:
            return f"{field} {tier!r} is not a tier of this topology; use one of {tiers}"
    degrees = demand.degrees
    if demand.pattern is Pattern.HYBRID and (
        degrees is None or degrees.total != demand.total_gpus or demand.gpus_per_pod < 1
    ):
        return (
            f"Hybrid needs parallelism degrees with tensor*pipeline*data = "
            f"{demand.total_gpus} (replicas * GPUs per pod), got {degrees}"
        )
    return None
