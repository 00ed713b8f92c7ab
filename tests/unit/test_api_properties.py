"""Properties of the API models over generated input (hypothesis).

- a valid object survives dump -> parse unchanged (dict and JSON text);
- no input whatsoever makes parsing raise anything but pydantic's ValidationError;
- the pure validator never raises on a parsed job, whatever its topology.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from netsched.api import (
    LinkMeasurement,
    NetworkTopology,
    TrainingJob,
    validate_manifest,
    validate_network_topology,
    validate_training_job,
)
from netsched.domain.demand import Pattern

names = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
tiers = st.sampled_from(["host", "leaf", "spine", "core", "rack", "block"])
byte_quantities = st.one_of(
    st.integers(0, 2**60),
    st.builds(
        lambda number, suffix: f"{number}{suffix}",
        st.integers(0, 10**6),
        st.sampled_from(["", "Ki", "Mi", "Gi", "Ti", "Pi", "k", "M", "G", "T", "P"]),
    ),
)
gpu_counts = st.one_of(st.integers(0, 16), st.integers(0, 16).map(str))
label_keys = st.sampled_from(["app", "team", "kubernetes.io/metadata.name", "example.com/role"])
selectors = st.fixed_dictionaries(
    {}, optional={"matchLabels": st.dictionaries(label_keys, names, max_size=3)}
)
peers = st.one_of(
    st.fixed_dictionaries({"namespaceSelector": selectors}, optional={"podSelector": selectors}),
    st.fixed_dictionaries(
        {"ipBlock": st.fixed_dictionaries({"cidr": st.sampled_from(["10.0.0.0/8", "fd00::/64"])})},
        optional={"ports": st.lists(st.fixed_dictionaries({"port": st.integers(1, 65535)}),
                                    max_size=2)},
    ),
)  # fmt: skip


@st.composite
def communications(draw: st.DrawFn) -> dict[str, Any]:
    pattern = draw(st.sampled_from(list(Pattern)))
    result: dict[str, Any] = {"pattern": pattern.value}
    if pattern is not Pattern.NONE or draw(st.booleans()):
        result["bytesPerStep"] = draw(byte_quantities)
    if pattern is Pattern.HYBRID:
        for key in ("tensorParallel", "pipelineParallel", "dataParallel"):
            result[key] = draw(st.integers(1, 64))
    return result


@st.composite
def training_jobs(draw: st.DrawFn) -> dict[str, Any]:
    containers = draw(
        st.lists(
            st.fixed_dictionaries(
                {"name": names},
                optional={
                    "image": st.just("busybox"),
                    "resources": st.fixed_dictionaries(
                        {"limits": st.fixed_dictionaries({"nvidia.com/gpu": gpu_counts})}
                    ),
                    "env": st.just([{"name": "X", "value": "1"}]),
                },
            ),
            min_size=1,
            max_size=3,
        )
    )
    spec: dict[str, Any] = {
        "replicas": draw(st.integers(1, 100_000)),
        "template": {"spec": {"containers": containers}},
        "communication": draw(communications()),
    }
    optional = {
        "topology": st.fixed_dictionaries(
            {}, optional={"networkTopology": names, "maxTier": tiers, "preferredTier": tiers}
        ),
        "isolation": st.fixed_dictionaries(
            {},
            optional={
                "networkPolicy": st.booleans(),
                "ingress": st.lists(peers, max_size=2),
                "egress": st.lists(peers, max_size=2),
            },
        ),
        "runPolicy": st.fixed_dictionaries(
            {},
            optional={
                "backoffLimit": st.integers(0, 1000),
                "failurePolicy": st.sampled_from(["RestartGang", "FailJob"]),
                "activeDeadlineSeconds": st.integers(1, 31_536_000),
                "schedulingTimeoutSeconds": st.integers(1, 86_400),
            },
        ),
        "priority": st.integers(-(2**31), 10**9),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            spec[key] = draw(strategy)
    return {
        "apiVersion": "netsched.io/v1alpha1",
        "kind": "TrainingJob",
        "metadata": {"name": draw(names), "namespace": draw(names)},
        "spec": spec,
    }


@st.composite
def network_topologies(draw: st.DrawFn) -> dict[str, Any]:
    level_names = draw(st.lists(tiers.filter(lambda t: t != "host"), min_size=1, max_size=4,
                                unique=True))  # fmt: skip
    # The widest level's uplink may be 0 (the interconnect then runs at the next level's);
    # every other one carries bytes.
    levels = [
        {
            "name": name,
            "nodeLabel": f"example.com/{name}",
            "uplinkGbps": draw(st.floats(0, 1e5, exclude_min=index > 0)),
        }
        for index, name in enumerate(level_names)
    ]
    return {
        "metadata": {"name": draw(names)},
        "spec": {"levels": levels, "hostGbps": draw(st.floats(0.1, 1e5))},
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(training_jobs())
def test_trainingjob_round_trips(manifest: dict[str, Any]) -> None:
    job = TrainingJob.model_validate(manifest)
    assert TrainingJob.model_validate(job.model_dump(mode="json", exclude_none=True)) == job
    assert TrainingJob.model_validate_json(job.model_dump_json(exclude_none=True)) == job


@given(network_topologies())
def test_networktopology_round_trips(manifest: dict[str, Any]) -> None:
    topology = NetworkTopology.model_validate(manifest)
    dumped = topology.model_dump(mode="json", exclude_none=True)
    assert NetworkTopology.model_validate(dumped) == topology
    assert len(topology.to_scheme().tier_names) == len(manifest["spec"]["levels"]) + 1
    assert validate_network_topology(manifest) == []


@given(json_values)
def test_arbitrary_json_only_ever_fails_validation(value: Any) -> None:
    for model in (TrainingJob, NetworkTopology, LinkMeasurement):
        with contextlib.suppress(ValidationError):
            model.model_validate(value)


@st.composite
def damaged_training_jobs(draw: st.DrawFn) -> Any:
    """A valid job with one subtree replaced by arbitrary JSON: close to valid, so deep."""
    manifest = draw(training_jobs())
    node: Any = manifest
    while isinstance(node, dict | list) and node and draw(st.integers(0, 4)) > 0:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        if not isinstance(node[key], dict | list) or draw(st.booleans()):
            node[key] = draw(json_values)
            break
        node = node[key]
    return copy.deepcopy(manifest)


@settings(max_examples=300)
@given(damaged_training_jobs())
def test_damaged_jobs_give_problems_never_exceptions(manifest: Any) -> None:
    problems = validate_manifest(manifest, topology=None)
    assert all(problem.field_path and problem.message for problem in problems)


@given(training_jobs(), st.one_of(st.none(), network_topologies()))
def test_validator_never_raises_on_a_parsed_job(
    manifest: dict[str, Any], topology: dict[str, Any] | None
) -> None:
    job = TrainingJob.model_validate(manifest)
    parsed = None if topology is None else NetworkTopology.model_validate(topology)
    problems = validate_training_job(job, parsed)
    if not problems:
        demand = job.to_demand()  # a job without problems always converts
        assert demand.replicas == job.spec.replicas
