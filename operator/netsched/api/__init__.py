"""netsched's custom resources as pydantic models: the single source of truth of the API.

The CRDs in ``crds/`` are generated from these models (:mod:`netsched.api.crd`).
The two conversions into the placement engine's terms live on the models:

- :meth:`TrainingJob.to_demand` gives a :class:`~netsched.domain.demand.Demand`;
- :meth:`NetworkTopology.to_scheme` gives a :class:`~netsched.domain.scheme.TopologyScheme`.

:func:`validate_training_job` lists every problem of a job, with its field path.
"""

from netsched.api.linkmeasurement import LinkMeasurement, LinkMeasurementSpec
from netsched.api.meta import API_VERSION, GROUP, VERSION, Condition, ObjectMeta, as_utc
from netsched.api.networkpolicy import IPBlock, LabelSelector, NetworkPeer, NetworkPolicyPort
from netsched.api.networktopology import (
    DomainStatus,
    LevelSpec,
    NetworkTopology,
    NetworkTopologySpec,
    NetworkTopologyStatus,
    ProbeSettings,
)
from netsched.api.podtemplate import GPU_RESOURCE, PodTemplateSpec, whole_gpus
from netsched.api.quantity import parse_quantity, quantity_bytes
from netsched.api.trainingjob import (
    Communication,
    FailurePolicy,
    Isolation,
    Phase,
    PlacementStatus,
    RankAssignment,
    RunPolicy,
    TopologyConstraints,
    TrainingJob,
    TrainingJobSpec,
    TrainingJobStatus,
)
from netsched.api.validation import (
    INVALID_SPEC,
    scheme_for,
    summary,
    validate_manifest,
    validate_network_topology,
    validate_training_job,
)
from netsched.domain.demand import Problem

__all__ = [
    "API_VERSION",
    "GPU_RESOURCE",
    "GROUP",
    "INVALID_SPEC",
    "VERSION",
    "Communication",
    "Condition",
    "DomainStatus",
    "FailurePolicy",
    "IPBlock",
    "Isolation",
    "LabelSelector",
    "LevelSpec",
    "LinkMeasurement",
    "LinkMeasurementSpec",
    "NetworkPeer",
    "NetworkPolicyPort",
    "NetworkTopology",
    "NetworkTopologySpec",
    "NetworkTopologyStatus",
    "ObjectMeta",
    "Phase",
    "PlacementStatus",
    "PodTemplateSpec",
    "ProbeSettings",
    "Problem",
    "RankAssignment",
    "RunPolicy",
    "TopologyConstraints",
    "TrainingJob",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "as_utc",
    "parse_quantity",
    "quantity_bytes",
    "scheme_for",
    "summary",
    "validate_manifest",
    "validate_network_topology",
    "validate_training_job",
    "whole_gpus",
]
