"""TrainingJob (``trainingjobs.netsched.io``, short name ``tj``): a gang of worker pods to place.

The spec says what to run (``replicas`` copies of ``template``), how the ranks talk
(``communication``), where they may go (``topology``), who else may talk to them
(``isolation``) and what happens when things go wrong (``runPolicy``). The status
is written by the operator only.

Rules live next to the fields they guard: bounds as pydantic constraints (they become
the CRD's OpenAPI bounds), cross-field rules as CEL (checked by the API server).
Rules that need another object (the NetworkTopology) are in
:mod:`netsched.api.validation`, which also re-checks every CEL rule in Python so a
job read from a file is judged the same way; the message constants below are shared
by both so the two never drift apart in wording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from netsched.api.meta import (
    API_VERSION,
    ENUM_FROM_STRING,
    ApiModel,
    Condition,
    DnsLabel,
    DnsSubdomain,
    KubernetesObject,
    NodeName,
    ObjectMeta,
    PrinterColumn,
    ResourceInfo,
    Timestamp,
    cel,
    defaulted,
    list_map,
    validations,
)
from netsched.api.networkpolicy import NetworkPeer
from netsched.api.podtemplate import GPUS_PER_POD_CEL, PodTemplateSpec
from netsched.api.quantity import ByteQuantity, quantity_bytes
from netsched.domain.cost import RunningGang
from netsched.domain.demand import (
    DEGREES_MISMATCH,
    HYBRID_NEEDS_DEGREES,
    NO_GPUS,
    TIERS_INVERTED,
    Demand,
    ParallelDegrees,
    Pattern,
    RankOrder,
)
from netsched.domain.lifecycle import FailurePolicy as FailurePolicy
from netsched.domain.lifecycle import Phase as Phase
from netsched.domain.scheme import DEFAULT_SCHEME, DEFAULT_TOPOLOGY

if TYPE_CHECKING:
    from netsched.domain.placement import Placement

RUNNING_PHASES = frozenset({Phase.PLACING, Phase.RUNNING})
"""Phases in which a job's pods stand where ``status.placement`` says (or are bound to)."""

MAX_REPLICAS = 100_000
MAX_DEGREE = 1_000_000
MAX_NAME_LENGTH = 50
_TIER_RANKS = (
    "{"
    + ", ".join(f"'{tier}': {rank}" for rank, tier in enumerate(DEFAULT_SCHEME.tier_names))
    + "}"
)

# Messages shared by the CEL rules and the pure validator (one wording per rule). The rules
# about the gang itself (Hybrid degrees, tiers) and their messages live in netsched.domain.demand.
NAME_TOO_LONG = (
    f"metadata.name must be at most {MAX_NAME_LENGTH} characters, start with a letter and hold "
    "only lowercase letters, digits and '-': it names the pods (<name>-<rank>) and their "
    "headless Service; choose a shorter name"
)
DEGREES_ONLY_FOR_HYBRID = (
    "tensorParallel, pipelineParallel, dataParallel and rankOrder apply only to pattern Hybrid: "
    "remove them or set pattern: Hybrid"
)
BYTES_PER_STEP_REQUIRED = (
    "bytesPerStep is required for every pattern but None: set the payload one step exchanges "
    "(e.g. the gradient size for DataParallel), as bytes or a quantity such as 512Mi"
)
PRIORITY_EXCLUSIVE = (
    "set either priority or priorityClassName, not both: priorityClassName is resolved to a "
    "priority by Kubernetes"
)


def _immutable(field: str, what_to_do: str) -> dict[str, str]:
    return cel(
        f"self.{field} == oldSelf.{field}",
        f"spec.{field} is immutable once the job exists: {what_to_do}",
        field_path=f".{field}",
        reason="FieldValueForbidden",
    )


RECREATE = "delete the TrainingJob and create it again"


class Communication(ApiModel):
    """How the ranks talk in each training step; drives the cost model."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.pattern != 'Hybrid' || (has(self.tensorParallel) && "
                "has(self.pipelineParallel) && has(self.dataParallel))",
                HYBRID_NEEDS_DEGREES,
                field_path=".pattern",
            ),
            cel(
                "self.pattern == 'Hybrid' || !(has(self.tensorParallel) || "
                "has(self.pipelineParallel) || has(self.dataParallel) || has(self.rankOrder))",
                DEGREES_ONLY_FOR_HYBRID,
                field_path=".pattern",
            ),
            cel(
                "self.pattern == 'None' || has(self.bytesPerStep)",
                BYTES_PER_STEP_REQUIRED,
                field_path=".bytesPerStep",
            ),
        )
    )

    pattern: Annotated[Pattern, ENUM_FROM_STRING]
    """DataParallel (ring all-reduce), PipelineParallel or ModelParallel (neighbour
    exchange), ExpertParallel (all-to-all), Hybrid (tensor x pipeline x data), None."""
    bytes_per_step: ByteQuantity | None = None
    """Payload S of one step: gradients for DataParallel, activations per stage boundary
    for PipelineParallel, tokens for ExpertParallel. Bytes, or a quantity like 512Mi."""
    tensor_parallel: Annotated[int | None, Field(ge=1, le=MAX_DEGREE)] = None
    """Hybrid only: GPUs that split each layer (inside one pod)."""
    pipeline_parallel: Annotated[int | None, Field(ge=1, le=MAX_DEGREE)] = None
    """Hybrid only: pipeline stages."""
    data_parallel: Annotated[int | None, Field(ge=1, le=MAX_DEGREE)] = None
    """Hybrid only: data-parallel replicas of the whole pipeline."""
    rank_order: Annotated[RankOrder | None, ENUM_FROM_STRING] = None
    """Hybrid only: how the framework splits RANK into (tensor, data, pipeline) ranks,
    fastest-varying first. ``tp-dp-pp`` (the default) is Megatron-LM's and torchtitan's
    order: the pipeline stage varies slowest; ``tp-pp-dp`` puts each whole pipeline on
    a contiguous block of ranks. netsched costs the placement in this order."""

    @property
    def payload_bytes(self) -> int:
        """``bytesPerStep`` in bytes (0 when unset, as for pattern None)."""
        return 0 if self.bytes_per_step is None else quantity_bytes(self.bytes_per_step)

    @property
    def degrees(self) -> ParallelDegrees | None:
        if self.tensor_parallel is None or self.pipeline_parallel is None:
            return None
        if self.data_parallel is None:
            return None
        return ParallelDegrees(
            tensor=self.tensor_parallel,
            pipeline=self.pipeline_parallel,
            data=self.data_parallel,
            order=self.rank_order or RankOrder.TP_DP_PP,
        )


class TopologyConstraints(ApiModel):
    """Where the gang may be placed, in tiers of the named NetworkTopology."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.maxTier) || !has(self.preferredTier) || "
                f"!(self.maxTier in {_TIER_RANKS}) || !(self.preferredTier in {_TIER_RANKS})"
                f" || {_TIER_RANKS}[self.preferredTier] <= {_TIER_RANKS}[self.maxTier]",
                f"{TIERS_INVERTED} (tiers from narrowest: {', '.join(DEFAULT_SCHEME.tier_names)})",
                field_path=".preferredTier",
            )
        )
    )

    network_topology: DnsSubdomain = DEFAULT_TOPOLOGY
    """Name of the NetworkTopology whose tiers and labels apply (``default`` falls back to
    netsched's own labels netsched.io/core, spine, leaf when no such object exists)."""
    max_tier: DnsLabel | None = None
    """Hard limit: the gang never spans a domain wider than this tier (e.g. ``spine``)."""
    preferred_tier: DnsLabel | None = None
    """Soft wish: try to fit the whole gang under one domain of this tier (e.g. ``leaf``)."""


class Isolation(ApiModel):
    """The NetworkPolicy netsched creates for the job."""

    network_policy: bool = True
    """Create a NetworkPolicy that lets the gang talk to itself (and DNS) and nothing else."""
    ingress: list[NetworkPeer] = Field(default_factory=list, max_length=32)
    """Extra peers allowed to reach the pods (e.g. the monitoring namespace)."""
    egress: list[NetworkPeer] = Field(default_factory=list, max_length=32)
    """Extra peers the pods may reach (e.g. the storage CIDR or an object-store namespace)."""


class RunPolicy(ApiModel):
    """Retries, deadlines and clean-up."""

    backoff_limit: Annotated[int, Field(ge=0, le=1000)] = 3
    """Gang restarts allowed before the job is Failed."""
    failure_policy: Annotated[FailurePolicy, ENUM_FROM_STRING] = FailurePolicy.RESTART_GANG
    """What a failed pod or a lost node does: RestartGang or FailJob."""
    active_deadline_seconds: Annotated[int | None, Field(ge=1, le=31_536_000)] = None
    """Fail the job after this long running, restarts included."""
    ttl_seconds_after_finished: Annotated[int | None, Field(ge=0, le=31_536_000)] = None
    """Delete the job this long after it Succeeded or Failed."""
    scheduling_timeout_seconds: Annotated[int, Field(ge=1, le=86_400)] = 600
    """Fail the job (reason SchedulingTimeout) if it is not placed this long after it entered
    the queue, where it waits as Unschedulable; pods that do not bind within this, or 120 s if
    shorter, are un-reserved and placed again."""


class TrainingJobSpec(ApiModel):
    """What to run and how to place it."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "self.communication.pattern != 'Hybrid' || "
                "!has(self.communication.tensorParallel) || "
                "!has(self.communication.pipelineParallel) || "
                "!has(self.communication.dataParallel) || "
                "self.communication.tensorParallel * self.communication.pipelineParallel * "
                f"self.communication.dataParallel == self.replicas * {GPUS_PER_POD_CEL}",
                DEGREES_MISMATCH,
                field_path=".communication",
            ),
            cel(f"({GPUS_PER_POD_CEL}) >= 1", NO_GPUS, field_path=".template.spec.containers"),
            cel(
                "!(has(self.priority) && has(self.priorityClassName))",
                PRIORITY_EXCLUSIVE,
                field_path=".priority",
            ),
            _immutable("replicas", f"{RECREATE} with the new size"),
            _immutable("template", RECREATE),
            _immutable("communication", RECREATE),
            _immutable("topology", RECREATE),
        )
    )

    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)]
    """Worker pods in the gang; all are placed together or none is."""
    template: PodTemplateSpec
    """Template of every worker pod; GPUs come from its containers' nvidia.com/gpu limits."""
    communication: Communication
    topology: TopologyConstraints = defaulted(TopologyConstraints)
    isolation: Isolation = defaulted(Isolation)
    run_policy: RunPolicy = defaulted(RunPolicy)
    priority: Annotated[int | None, Field(ge=-2_147_483_648, le=1_000_000_000)] = None
    """Pod priority given to every worker (higher places first)."""
    priority_class_name: DnsSubdomain | None = None
    """PriorityClass given to every worker (instead of ``priority``)."""


class RankAssignment(ApiModel):
    """One rank of the gang and the node it runs on."""

    rank: Annotated[int, Field(ge=0, le=MAX_REPLICAS)]
    node: NodeName
    gpus: Annotated[int | None, Field(ge=0)] = None
    """GPUs the rank's pod takes on that node."""


class PlacementStatus(ApiModel):
    """The placement netsched chose, with its predicted cost and why."""

    ranks: list[RankAssignment] = list_map("rank", max_length=MAX_REPLICAS)
    """Rank to node, in ring order."""
    tiers_spanned: DnsLabel | None = None
    """The widest tier the gang spans: the tier of its lowest common domain (``host`` when
    every rank shares one node, ``leaf`` within one rack, ...)."""
    lowest_common_domain: Annotated[str | None, Field(max_length=253)] = None
    """The smallest domain holding every rank: its path of label values, widest first
    (``core-a/spine-1/leaf-3`` for a leaf), or a node name when one node holds the gang.
    A gang split over several widest-level domains names them joined by ``+``
    (``zone-a+zone-b``), cut to 253 characters."""
    predicted_comm_seconds_per_step: Annotated[float | None, Field(ge=0)] = None
    """Predicted communication time of one step: the bottleneck link's bytes / bandwidth."""
    cross_tier_bytes_per_step: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, max_length=16
    )
    """Bytes per step crossing each tier's uplinks, keyed by tier name."""
    bottleneck_gbps: Annotated[float | None, Field(ge=0)] = None
    """Bandwidth of the bottleneck link (measured when fresh, else nominal)."""
    explanation: Annotated[str, Field(max_length=8192)] = ""
    """Why this placement, in words."""
    strategy: Annotated[str | None, Field(max_length=63)] = None
    """The placement strategy that chose it."""

    @classmethod
    def from_placement(cls, placement: Placement) -> PlacementStatus:
        """The one conversion of an engine :class:`~netsched.domain.placement.Placement`."""
        cost = placement.cost
        return cls(
            ranks=[RankAssignment(rank=r.rank, node=r.node, gpus=r.gpus) for r in placement.ranks],
            tiers_spanned=cost.tier_spanned,
            lowest_common_domain=cost.domain[:253],
            predicted_comm_seconds_per_step=cost.comm_seconds,
            cross_tier_bytes_per_step={
                tier: float(round(size)) for tier, size in cost.cross_tier_bytes.items()
            },
            bottleneck_gbps=cost.bottleneck_gbps,
            explanation=placement.explanation[:8192],
            strategy=placement.strategy,
        )


class TrainingJobStatus(ApiModel):
    """Written by the operator only."""

    phase: Annotated[Phase, ENUM_FROM_STRING] = Phase.PENDING
    conditions: list[Condition] = list_map("type", max_length=32)
    """Ready, Placed, ...; Ready=False with reason InvalidSpec names every invalid field."""
    observed_generation: Annotated[int | None, Field(ge=0)] = None
    """The ``metadata.generation`` the status describes."""
    gpus: Annotated[int | None, Field(ge=0)] = None
    """GPUs of the whole gang (replicas x GPUs per pod)."""
    placement: PlacementStatus | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    restarts: Annotated[int, Field(ge=0)] = 0
    """Gang restarts so far."""
    queue_position: Annotated[int | None, Field(ge=1)] = None
    """1 for the next job netsched will try to place, while the job waits; unset once placed."""


class TrainingJob(KubernetesObject):
    """A gang of worker pods placed together, network-aware.

    Example:
        >>> import yaml
        >>> job = TrainingJob.model_validate(yaml.safe_load('''
        ... apiVersion: netsched.io/v1alpha1
        ... kind: TrainingJob
        ... metadata: {name: llama-7b-ddp, namespace: team-a}
        ... spec:
        ...   replicas: 8
        ...   template:
        ...     spec:
        ...       containers:
        ...         - name: trainer
        ...           resources: {limits: {nvidia.com/gpu: 8}}
        ...   communication: {pattern: DataParallel, bytesPerStep: 14Gi}
        ... '''))
        >>> demand = job.to_demand()
        >>> demand.name, demand.total_gpus, demand.bytes_per_step
        ('team-a/llama-7b-ddp', 64, 15032385536)
    """

    INFO: ClassVar[ResourceInfo] = ResourceInfo(
        kind="TrainingJob",
        plural="trainingjobs",
        singular="trainingjob",
        scope="Namespaced",
        short_names=("tj",),
        printer_columns=(
            PrinterColumn("Phase", "string", ".status.phase"),
            PrinterColumn("Replicas", "integer", ".spec.replicas"),
            PrinterColumn("GPUs", "integer", ".status.gpus"),
            PrinterColumn(
                "Tier", "string", ".status.placement.tiersSpanned", "Widest tier the gang spans"
            ),
            PrinterColumn(
                "Comm/step",
                "number",
                ".status.placement.predictedCommSecondsPerStep",
                "Predicted communication seconds per step",
            ),
            PrinterColumn("Queue", "integer", ".status.queuePosition", "Position in the queue"),
            PrinterColumn("Pattern", "string", ".spec.communication.pattern", priority=1),
            PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
        ),
        root_validations=(
            cel(
                f"size(self.metadata.name) <= {MAX_NAME_LENGTH} && "
                "self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",
                NAME_TOO_LONG,
            ),
        ),
    )

    api_version: Literal["netsched.io/v1alpha1"] = API_VERSION
    kind: Literal["TrainingJob"] = "TrainingJob"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TrainingJobSpec
    status: TrainingJobStatus | None = None

    @property
    def key(self) -> str:
        """``namespace/name``, as Demands and explanations name the job."""
        return f"{self.metadata.namespace or 'default'}/{self.metadata.name or ''}"

    def to_demand(self) -> Demand:
        """The job in the placement engine's terms.

        Call :func:`netsched.api.validation.validate_training_job` first: this only
        converts, and trusts what that function checks.

        Raises:
            ValueError: a container's GPU limit is not a whole number.
        """
        spec = self.spec
        return Demand(
            name=self.key,
            replicas=spec.replicas,
            gpus_per_pod=spec.template.gpus_per_pod(),
            pattern=spec.communication.pattern,
            bytes_per_step=spec.communication.payload_bytes,
            degrees=spec.communication.degrees,
            max_tier=spec.topology.max_tier,
            preferred_tier=spec.topology.preferred_tier,
            network_topology=spec.topology.network_topology,
        )

    def running_gang(self) -> RunningGang | None:
        """The gang's ranks as they run, or None unless the job is Placing or Running.

        Read from ``status.placement``, which the operator writes before it creates a
        pod, so a gang counts from the moment its nodes are chosen.

        Raises:
            ValueError: a container's GPU limit is not a whole number.
        """
        status = self.status
        if status is None or status.placement is None or status.phase not in RUNNING_PHASES:
            return None
        ranks = sorted(status.placement.ranks, key=lambda r: r.rank)
        return RunningGang(self.to_demand(), tuple(r.node for r in ranks))
