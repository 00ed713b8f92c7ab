"""What a TrainingJob asks of the cluster, in the domain's terms, and the rules it must keep.

The API layer (``netsched.api``) turns a TrainingJob into a :class:`Demand`;
placement strategies only ever see a Demand.

The rules that are about the gang itself (Hybrid degrees against its GPUs, tier
names against its NetworkTopology) live here, once, each with the one message a
user reads wherever it is broken: :func:`netsched.api.validate_training_job`
reports them for a job (beside the rules only the API knows, such as which fields
were written), the CRD's CEL rules reuse the messages, every placement strategy
refuses a Demand that breaks them (:func:`demand_problems`), and the cost model
refuses to cost one. A :class:`Problem` names the TrainingJob field to change,
because that is what the user can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from netsched.domain.scheme import DEFAULT_TOPOLOGY, TopologyScheme

GPU_LIMITS_PATH = "spec.template.spec.containers[*].resources.limits['nvidia.com/gpu']"
"""Where a job's GPUs per pod come from: the sum of its containers' limits."""

# Shared with the CEL rules of netsched.api.trainingjob: one wording per rule.
NO_GPUS = (
    "every worker pod must ask for at least one nvidia.com/gpu: netsched places GPU gangs and "
    "counts only GPUs, so it cannot tell where a CPU-only pod fits; set nvidia.com/gpu in a "
    "container's resources.limits (Kubernetes takes extended resources from limits; requests "
    "alone do not count), or run CPU-only gangs with Kueue or Volcano"
)
HYBRID_NEEDS_DEGREES = (
    "pattern Hybrid needs tensorParallel, pipelineParallel and dataParallel: set all three "
    "(their product must equal replicas x GPUs per pod)"
)
DEGREES_MISMATCH = (
    "tensorParallel x pipelineParallel x dataParallel must equal replicas x nvidia.com/gpu "
    "per pod (the job's GPU count): change the degrees, replicas or the containers' GPU limits"
)
TIERS_INVERTED = (
    "preferredTier must not be wider than maxTier: lower preferredTier or raise maxTier"
)


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


class RankOrder(StrEnum):
    """How a Hybrid job's framework maps a global rank to its (tensor, data, pipeline) ranks.

    Written fastest-varying first, as Megatron Core names it
    (``parallel_state.initialize_model_parallel(order=...)``, default
    ``tp-cp-ep-dp-pp``); torchtitan's device mesh puts ``pp`` outermost and ``tp``
    innermost, the same order. Tensor parallelism always varies fastest, so a tensor group
    sits inside one pod; only data and pipeline may trade places.
    """

    TP_DP_PP = "tp-dp-pp"
    """Megatron-LM's and torchtitan's default: the pipeline stage varies slowest, so
    stage p is the contiguous block of ranks ``[p*T*D, (p+1)*T*D)``."""
    TP_PP_DP = "tp-pp-dp"
    """The data-parallel replica varies slowest: replica d (a whole pipeline) is the
    contiguous block ``[d*T*P, (d+1)*T*P)``."""


@dataclass(frozen=True, slots=True)
class ParallelDegrees:
    """Hybrid parallelism: ``tensor * pipeline * data`` equals the job's GPU count.

    ``order`` is the framework's rank order (:class:`RankOrder`); the operator hands
    out RANK, the framework splits it into groups in this order, and the cost model
    must split it the same way.
    """

    tensor: int
    pipeline: int
    data: int
    order: RankOrder = RankOrder.TP_DP_PP

    def gpu(self, tensor: int, pipeline: int, data: int) -> int:
        """The global rank (GPU index) of the GPU at these group ranks, in :attr:`order`."""
        if self.order is RankOrder.TP_DP_PP:
            return tensor + self.tensor * (data + self.data * pipeline)
        return tensor + self.tensor * (pipeline + self.pipeline * data)

    @property
    def total(self) -> int:
        return self.tensor * self.pipeline * self.data


@dataclass(frozen=True, slots=True)
class Demand:
    """A gang to place: ``replicas`` pods of ``gpus_per_pod`` GPUs each.

    Attributes:
        name: ``namespace/name`` of the job, for explanations.
        replicas: pods in the gang; all are placed or none.
        gpus_per_pod: ``nvidia.com/gpu`` each pod requests; at least 1 (see :data:`NO_GPUS`).
        pattern: the job's communication pattern.
        bytes_per_step: the payload S of one training step (gradients for data
            parallel, activations per stage boundary for pipeline, tokens for all-to-all).
        degrees: tensor/pipeline/data degrees, required for ``Pattern.HYBRID``.
        max_tier: hard limit: the gang never spans a tier wider than this.
        preferred_tier: soft wish: the gang should fit under one domain of this tier.
        network_topology: the NetworkTopology whose tiers ``max_tier`` and
            ``preferred_tier`` name (only messages use it; the snapshot holds its scheme).
    """

    name: str
    replicas: int
    gpus_per_pod: int
    pattern: Pattern
    bytes_per_step: int
    degrees: ParallelDegrees | None = None
    max_tier: str | None = None
    preferred_tier: str | None = None
    network_topology: str = DEFAULT_TOPOLOGY

    @property
    def total_gpus(self) -> int:
        return self.replicas * self.gpus_per_pod


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an object: where (``spec.topology.maxTier``) and what to do."""

    field_path: str
    message: str

    def __str__(self) -> str:
        return f"{self.field_path}: {self.message}"


def demand_problems(demand: Demand, scheme: TopologyScheme) -> list[Problem]:
    """Every rule ``demand`` breaks on a snapshot of ``scheme``; empty when it may be placed.

    The sizes are guarded too (a Demand built by hand may hold anything); a job read
    through :mod:`netsched.api` never breaks them, because its schema bounds them.
    """
    problems = []
    if demand.replicas < 1:
        problems.append(
            Problem("spec.replicas", f"replicas must be at least 1, got {demand.replicas}")
        )
    return [
        *problems,
        *gpu_problems(demand.gpus_per_pod),
        *degree_problems(
            pattern=demand.pattern,
            degrees=demand.degrees,
            replicas=demand.replicas,
            gpus_per_pod=demand.gpus_per_pod,
        ),
        *tier_problems(
            max_tier=demand.max_tier,
            preferred_tier=demand.preferred_tier,
            scheme=scheme,
            topology=demand.network_topology,
        ),
    ]


def gpu_problems(gpus_per_pod: int) -> list[Problem]:
    """What is wrong with a worker pod's GPU count: netsched places only GPU gangs.

    A CPU-only gang is refused, whatever its pattern, rather than placed one pod per
    node: GPUs are the only resource netsched counts, so it would put CPU pods on
    GPU nodes without knowing whether they fit.
    """
    if gpus_per_pod >= 1:
        return []
    return [Problem(GPU_LIMITS_PATH, f"{NO_GPUS} (here {gpus_per_pod} per pod)")]


def degree_problems(
    *, pattern: Pattern, degrees: ParallelDegrees | None, replicas: int, gpus_per_pod: int
) -> list[Problem]:
    """What is wrong with Hybrid parallelism degrees for a gang of this size.

    Tensor parallelism runs inside a pod, so ``tensor`` must divide a pod's GPUs;
    the three degrees together must cover every GPU of the gang exactly once.
    Other patterns have no degrees to check.
    """
    if pattern is not Pattern.HYBRID:
        return []
    if degrees is None:
        return [Problem("spec.communication.pattern", HYBRID_NEEDS_DEGREES)]
    total = replicas * gpus_per_pod
    if degrees.total != total:
        return [
            Problem(
                "spec.communication",
                f"{DEGREES_MISMATCH} (here {degrees.tensor} x {degrees.pipeline} x "
                f"{degrees.data} = {degrees.total}, but {replicas} replicas x {gpus_per_pod} GPUs"
                f" = {total})",
            )
        ]
    if gpus_per_pod % degrees.tensor != 0:
        return [
            Problem(
                "spec.communication.tensorParallel",
                f"tensorParallel {degrees.tensor} must divide the {gpus_per_pod} GPUs of one pod:"
                " tensor parallelism runs inside a pod; move the rest into pipelineParallel or "
                "dataParallel",
            )
        ]
    return []


def tier_problems(
    *, max_tier: str | None, preferred_tier: str | None, scheme: TopologyScheme, topology: str
) -> list[Problem]:
    """What is wrong with ``maxTier``/``preferredTier`` in NetworkTopology ``topology``.

    Each must be a tier of ``scheme`` (the topology's), and the soft wish may not be
    wider than the hard limit.
    """
    tiers = ", ".join(scheme.tier_names)
    problems = [
        Problem(
            f"spec.topology.{field}",
            f'{field} "{tier}" is not a tier of NetworkTopology "{topology}" (its tiers, '
            f"narrowest first: {tiers}): use one of those",
        )
        for field, tier in (("maxTier", max_tier), ("preferredTier", preferred_tier))
        if tier is not None and tier not in scheme.tier_names
    ]
    inverted = (
        not problems
        and preferred_tier is not None
        and max_tier is not None
        and scheme.tier_rank(preferred_tier) > scheme.tier_rank(max_tier)
    )
    if inverted:
        problems.append(
            Problem(
                "spec.topology.preferredTier",
                f'{TIERS_INVERTED} (NetworkTopology "{topology}" has, from narrowest: {tiers})',
            )
        )
    return problems
