"""Every problem of a TrainingJob, each with its field path: the controller's InvalidSpec check.

The API server already rejects what the CRD schema and its CEL rules catch. What it
cannot see needs another object or arithmetic CEL cannot afford, and lives here:

- the tiers named in ``spec.topology`` must exist in the named NetworkTopology, in
  the right order;
- the named NetworkTopology must exist (``default`` falls back to netsched's labels);
- Hybrid degrees must multiply to replicas x GPUs per pod, and tensor parallelism
  must fit inside one pod;
- GPU limits must be whole numbers.

The CEL rules are re-checked too, with the same messages (constants shared with
:mod:`netsched.api.trainingjob`), so a job read from a file, or admitted before a
rule existed, is judged as the API server would judge it. The rules about the gang
itself (Hybrid degrees, tiers) are the domain's
(:mod:`netsched.domain.demand`), which placement applies too: they are called here,
never written again. The functions never raise on a parsed job: they return every
problem, not the first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from pydantic import ValidationError

from netsched.api.networkpolicy import CIDR_INVALID, OPERATOR_VALUES, NetworkPeer, SelectorOperator
from netsched.api.networktopology import (
    NetworkTopology,
)
from netsched.api.podtemplate import GPU_RESOURCE
from netsched.api.trainingjob import (
    BYTES_PER_STEP_REQUIRED,
    DEGREES_ONLY_FOR_HYBRID,
    MAX_NAME_LENGTH,
    NAME_TOO_LONG,
    PRIORITY_EXCLUSIVE,
    TrainingJob,
)
from netsched.domain.demand import Pattern, Problem, degree_problems, gpu_problems, tier_problems
from netsched.domain.scheme import (
    DEFAULT_SCHEME,
    DEFAULT_TOPOLOGY,
    TopologyScheme,
)

INVALID_SPEC = "InvalidSpec"
"""Reason of the Ready=False condition the controller sets when problems are found."""


def summary(problems: Sequence[Problem]) -> str:
    """All problems in one line-per-problem message, for a condition or an event."""
    return "\n".join(str(problem) for problem in problems)


def scheme_for(network_topology: str, topology: NetworkTopology | None) -> TopologyScheme | None:
    """The tiers a job refers to: ``topology``'s, else the default scheme for ``default``.

    Returns None when the job names a NetworkTopology other than ``default`` and none
    was found, because then no tier name can be checked.
    """
    if topology is not None:
        return topology.to_scheme()
    return DEFAULT_SCHEME if network_topology == DEFAULT_TOPOLOGY else None


def validate_training_job(
    job: TrainingJob,
    topology: NetworkTopology | None,
    *,
    priority_classes: Collection[str] | None = None,
) -> list[Problem]:
    """Every problem of ``job`` given the NetworkTopology it names (None if not found).

    ``priority_classes`` are the PriorityClasses that exist (None: not known, as for a
    job read from a file), to report a ``priorityClassName`` that names none.

    Example:
        >>> job = TrainingJob.model_validate({
        ...     "metadata": {"name": "llm", "namespace": "ml"},
        ...     "spec": {
        ...         "replicas": 2,
        ...         "template": {"spec": {"containers": [
        ...             {"name": "trainer", "resources": {"limits": {"nvidia.com/gpu": 8}}}]}},
        ...         "communication": {"pattern": "DataParallel", "bytesPerStep": "1Gi"},
        ...         "topology": {"maxTier": "rack"}}})
        >>> print(summary(validate_training_job(job, topology=None)))
        ... # doctest: +NORMALIZE_WHITESPACE
        spec.topology.maxTier: maxTier "rack" is not a tier of NetworkTopology "default"
        (its tiers, narrowest first: host, leaf, spine, core): use one of those
    """
    return [
        *_name_problems(job),
        *_communication_problems(job),
        *_gpu_problems(job),
        *_topology_problems(job, topology),
        *_priority_problems(job, priority_classes),
        *_isolation_problems(job),
    ]


def validate_manifest(manifest: Any, topology: NetworkTopology | None) -> list[Problem]:
    """Like :func:`validate_training_job` for a raw object, turning parse errors into problems."""
    try:
        job = TrainingJob.model_validate(manifest)
    except ValidationError as error:
        return parse_problems(error)
    return validate_training_job(job, topology)


def parse_problems(error: ValidationError) -> list[Problem]:
    """pydantic's errors as problems, at the camelCase field path the API server would name."""
    return [
        Problem(field_path=field_path(detail["loc"]), message=detail["msg"])
        for detail in error.errors(include_url=False)
    ]


def field_path(loc: Sequence[int | str]) -> str:
    """``("spec", "containers", 0, "name")`` -> ``spec.containers[0].name``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif "." in part or "/" in part:
            text += f"[{part!r}]"
        else:
            text += f".{part}" if text else part
    return text


def _name_problems(job: TrainingJob) -> Iterator[Problem]:
    name = job.metadata.name
    if name is None:
        return
    valid = (
        0 < len(name) <= MAX_NAME_LENGTH
        and name[0].isascii()
        and name[0].isalpha()
        and name[0].islower()
        and all(c.isascii() and (c.islower() or c.isdigit() or c == "-") for c in name)
        and not name.endswith("-")
    )
    if not valid:
        yield Problem("metadata.name", NAME_TOO_LONG)


def _communication_problems(job: TrainingJob) -> Iterator[Problem]:
    communication = job.spec.communication
    degrees = (
        communication.tensor_parallel,
        communication.pipeline_parallel,
        communication.data_parallel,
        communication.rank_order,
    )
    if communication.pattern != Pattern.HYBRID and any(d is not None for d in degrees):
        yield Problem("spec.communication.pattern", DEGREES_ONLY_FOR_HYBRID)
    if communication.pattern != Pattern.NONE and communication.bytes_per_step is None:
        yield Problem("spec.communication.bytesPerStep", BYTES_PER_STEP_REQUIRED)


def _gpu_problems(job: TrainingJob) -> Iterator[Problem]:
    gpus_per_pod = 0
    for index, container in enumerate(job.spec.template.spec.containers):
        try:
            gpus_per_pod += container.gpus()
        except ValueError as error:
            path = f"spec.template.spec.containers[{index}].resources.limits[{GPU_RESOURCE!r}]"
            yield Problem(path, str(error))
            return
    yield from gpu_problems(gpus_per_pod)
    communication = job.spec.communication
    yield from degree_problems(
        pattern=communication.pattern,
        degrees=communication.degrees,
        replicas=job.spec.replicas,
        gpus_per_pod=gpus_per_pod,
    )


def _topology_problems(job: TrainingJob, topology: NetworkTopology | None) -> Iterator[Problem]:
    constraints = job.spec.topology
    name = constraints.network_topology
    scheme = scheme_for(name, topology)
    if scheme is None:
        yield Problem(
            "spec.topology.networkTopology",
            f'NetworkTopology "{name}" does not exist: create it (kubectl get ntopo lists the '
            f'existing ones) or remove networkTopology to use "{DEFAULT_TOPOLOGY}"',
        )
        return
    yield from tier_problems(
        max_tier=constraints.max_tier,
        preferred_tier=constraints.preferred_tier,
        scheme=scheme,
        topology=name,
    )


def _priority_problems(
    job: TrainingJob, priority_classes: Collection[str] | None
) -> Iterator[Problem]:
    name = job.spec.priority_class_name
    if job.spec.priority is not None and name is not None:
        yield Problem("spec.priority", PRIORITY_EXCLUSIVE)
    elif name is not None and priority_classes is not None and name not in priority_classes:
        yield Problem(
            "spec.priorityClassName",
            f'PriorityClass "{name}" does not exist: create it (kubectl get priorityclasses '
            "lists the existing ones) or set spec.priority instead",
        )


def _isolation_problems(job: TrainingJob) -> Iterator[Problem]:
    isolation = job.spec.isolation
    for direction, peers in (("ingress", isolation.ingress), ("egress", isolation.egress)):
        for index, peer in enumerate(peers):
            yield from _peer_problems(f"spec.isolation.{direction}[{index}]", peer)


def _peer_problems(path: str, peer: NetworkPeer) -> Iterator[Problem]:
    verdict = peer.problem()
    if verdict is not None:
        yield Problem(path, verdict)
    if peer.ip_block is not None:
        cidrs = [("cidr", peer.ip_block.cidr)]
        cidrs += [(f"except[{i}]", c) for i, c in enumerate(peer.ip_block.except_ or [])]
        for field, cidr in cidrs:
            if not _is_cidr(cidr):
                yield Problem(f"{path}.ipBlock.{field}", f"{cidr!r} {CIDR_INVALID}")
    for selector_field, selector in (
        ("namespaceSelector", peer.namespace_selector),
        ("podSelector", peer.pod_selector),
    ):
        for index, requirement in enumerate(selector.match_expressions or [] if selector else []):
            needs_values = requirement.operator in (SelectorOperator.IN, SelectorOperator.NOT_IN)
            if needs_values != bool(requirement.values):
                yield Problem(
                    f"{path}.{selector_field}.matchExpressions[{index}].values", OPERATOR_VALUES
                )


def _is_cidr(text: str) -> bool:
    if "/" not in text:
        return False
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def validate_network_topology(manifest: Any) -> list[Problem]:
    """Every problem of a NetworkTopology manifest; empty when it parses.

    Its CEL rules (level names and labels) are checked by the model itself (see
    :class:`~netsched.api.networktopology.NetworkTopologySpec`), so a NetworkTopology
    that parses has none: this only turns the parse errors into problems.
    """
    try:
        NetworkTopology.model_validate(manifest)
    except ValidationError as error:
        return parse_problems(error)
    return []
