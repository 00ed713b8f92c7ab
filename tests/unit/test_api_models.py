"""The API models: examples parse, round-trip and convert into the domain's terms."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any

import kopf
import pytest
import yaml
from pydantic import ValidationError

from netsched.api import (
    LinkMeasurement,
    NetworkTopology,
    TrainingJob,
    parse_quantity,
    quantity_bytes,
)
from netsched.domain.demand import ParallelDegrees, Pattern
from netsched.domain.scheme import DEFAULT_SCHEME, Level

EXAMPLES = Path(__file__).parents[2] / "deploy" / "examples"
MODELS: dict[str, type[TrainingJob] | type[NetworkTopology] | type[LinkMeasurement]] = {
    "TrainingJob": TrainingJob,
    "NetworkTopology": NetworkTopology,
    "LinkMeasurement": LinkMeasurement,
}


def example_files() -> list[Path]:
    """Every example of netsched's own kinds (the others are objects those examples name)."""
    return [path for path in all_example_files() if load(path)["kind"] in MODELS]


def all_example_files() -> list[Path]:
    return sorted(EXAMPLES.rglob("*.yaml"))


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def example(name: str) -> dict[str, Any]:
    return load(EXAMPLES / name)


# --- every example ---------------------------------------------------------------------------


def test_there_is_one_trainingjob_example_per_pattern() -> None:
    patterns = {
        load(path)["spec"]["communication"]["pattern"]
        for path in example_files()
        if load(path)["kind"] == "TrainingJob"
    }
    assert patterns == {pattern.value for pattern in Pattern}


def test_every_other_example_is_a_priority_class_a_job_example_names() -> None:
    others = [load(path) for path in all_example_files() if load(path)["kind"] not in MODELS]
    named = {
        load(path)["spec"].get("priorityClassName")
        for path in example_files()
        if load(path)["kind"] == "TrainingJob"
    }
    assert others, "the PriorityClass example is gone"
    for other in others:
        assert (other["apiVersion"], other["kind"]) == ("scheduling.k8s.io/v1", "PriorityClass")
        assert other["metadata"]["name"] in named


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_parses_and_round_trips(path: Path) -> None:
    manifest = load(path)
    model = MODELS[manifest["kind"]].model_validate(manifest)
    dumped = model.model_dump(mode="json", exclude_none=True)
    assert MODELS[manifest["kind"]].model_validate(dumped) == model
    assert MODELS[manifest["kind"]].model_validate_json(model.model_dump_json()) == model


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_keeps_what_it_says(path: Path) -> None:
    """Dumping adds defaults but never drops or changes a field the example wrote."""
    manifest = load(path)
    dumped = (
        MODELS[manifest["kind"]].model_validate(manifest).model_dump(mode="json", exclude_none=True)
    )
    assert _contains(dumped, manifest)


def _contains(big: Any, small: Any) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            key in big and _contains(big[key], value) for key, value in small.items()
        )
    if isinstance(small, list):
        return (
            isinstance(big, list)
            and len(big) == len(small)
            and all(_contains(b, s) for b, s in zip(big, small, strict=True))
        )
    return bool(big == small) or (isinstance(small, str) and str(big) == small)


# --- TrainingJob -> Demand -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "replicas", "gpus_per_pod", "pattern", "bytes_per_step", "degrees", "tiers"),
    [
        ("trainingjob-data-parallel.yaml", 8, 8, Pattern.DATA_PARALLEL, 14 * 2**30, None,
         ("spine", "leaf")),
        ("trainingjob-pipeline-parallel.yaml", 4, 8, Pattern.PIPELINE_PARALLEL, 512 * 2**20,
         None, (None, "leaf")),
        ("trainingjob-model-parallel.yaml", 2, 8, Pattern.MODEL_PARALLEL, 2**30, None,
         ("leaf", None)),
        ("trainingjob-expert-parallel.yaml", 16, 8, Pattern.EXPERT_PARALLEL, 2 * 10**9, None,
         ("spine", None)),
        ("trainingjob-hybrid.yaml", 8, 8, Pattern.HYBRID, 4 * 2**30, ParallelDegrees(8, 4, 2),
         ("core", "spine")),
        ("trainingjob-none.yaml", 4, 1, Pattern.NONE, 0, None, (None, None)),
    ],
)  # fmt: skip
def test_demand_of_example(
    file: str,
    replicas: int,
    gpus_per_pod: int,
    pattern: Pattern,
    bytes_per_step: int,
    degrees: ParallelDegrees | None,
    tiers: tuple[str | None, str | None],
) -> None:
    demand = TrainingJob.model_validate(example(file)).to_demand()
    assert demand.name == f"default/{example(file)['metadata']['name']}"
    assert (demand.replicas, demand.gpus_per_pod, demand.pattern) == (
        replicas, gpus_per_pod, pattern,
    )  # fmt: skip
    assert demand.bytes_per_step == bytes_per_step
    assert demand.degrees == degrees
    assert (demand.max_tier, demand.preferred_tier) == tiers


def test_gpus_add_up_over_containers_and_ignore_other_resources() -> None:
    manifest = example("trainingjob-data-parallel.yaml")
    manifest["spec"]["template"]["spec"]["containers"] = [
        {"name": "a", "resources": {"limits": {"nvidia.com/gpu": "4", "cpu": "500m"}}},
        {"name": "b", "resources": {"limits": {"nvidia.com/gpu": 2}}},
        {"name": "sidecar", "resources": {"requests": {"nvidia.com/gpu": 1}}},
        {"name": "plain"},
    ]
    assert TrainingJob.model_validate(manifest).spec.template.gpus_per_pod() == 6


def test_fractional_gpu_limit_parses_but_cannot_become_a_demand() -> None:
    manifest = example("trainingjob-data-parallel.yaml")
    manifest["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"][
        "nvidia.com/gpu"
    ] = "500m"
    job = TrainingJob.model_validate(manifest)
    with pytest.raises(ValueError, match="whole number"):
        job.to_demand()


def test_pod_template_keeps_fields_netsched_does_not_model() -> None:
    manifest = example("trainingjob-data-parallel.yaml")
    manifest["spec"]["template"]["spec"]["tolerations"] = [{"key": "gpu", "operator": "Exists"}]
    manifest["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    dumped = TrainingJob.model_validate(manifest).model_dump(mode="json", exclude_none=True)
    pod = dumped["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert pod["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert pod["containers"][0]["command"] == ["torchrun", "--nproc-per-node=8", "train.py"]


def test_defaults_match_what_a_newcomer_expects() -> None:
    job = TrainingJob.model_validate(example("trainingjob-hybrid.yaml"))
    assert job.spec.topology.network_topology == "default"
    assert job.spec.isolation.network_policy is True
    assert job.spec.run_policy.failure_policy == "RestartGang"
    assert job.spec.run_policy.backoff_limit == 3
    assert job.spec.run_policy.scheduling_timeout_seconds == 600
    assert job.status is None


@pytest.mark.parametrize(
    "change",
    [
        {"replicas": "8"},  # a string is not an integer, as at the API server
        {"replicas": 8.5},
        {"replica": 8},  # unknown field
        {"communication": {"pattern": "dataparallel", "bytesPerStep": 1}},
        {"communication": {"pattern": "DataParallel", "bytesPerStep": "1 GiB"}},
        {"communication": {"pattern": "DataParallel", "bytesPerStep": True}},
        {"isolation": {"networkPolicy": "true"}},
    ],
)
def test_wrong_types_are_refused_as_strictly_as_the_api_server(change: dict[str, Any]) -> None:
    manifest = example("trainingjob-data-parallel.yaml")
    manifest["spec"].update(change)
    with pytest.raises(ValidationError):
        TrainingJob.model_validate(manifest)


# --- NetworkTopology -> TopologyScheme ------------------------------------------------------


def test_default_topology_example_is_the_built_in_default() -> None:
    topology = NetworkTopology.model_validate(example("topologies/netsched-default.yaml"))
    assert topology.metadata.name == "default"
    assert topology.to_scheme() == DEFAULT_SCHEME


def test_scheme_round_trips_through_a_networktopology() -> None:
    assert NetworkTopology.from_scheme(DEFAULT_SCHEME).to_scheme() == DEFAULT_SCHEME


@pytest.mark.parametrize(
    ("file", "levels", "host_gbps"),
    [
        ("topologies/topograph.yaml", (
            Level("core", "network.topology.nvidia.com/core", 0.0),
            Level("spine", "network.topology.nvidia.com/spine", 12800.0),
            Level("leaf", "network.topology.nvidia.com/leaf", 6400.0),
        ), 400.0),
        ("topologies/topograph-network-level.yaml", (
            Level("core", "topology.kubernetes.io/network-level-3", 0.0),
            Level("spine", "topology.kubernetes.io/network-level-2", 3200.0),
            Level("leaf", "topology.kubernetes.io/network-level-1", 1600.0),
        ), 200.0),
        ("topologies/kueue-style.yaml", (
            Level("block", "cloud.provider.com/topology-block", 0.0),
            Level("rack", "cloud.provider.com/topology-rack", 800.0),
        ), 100.0),
    ],
)  # fmt: skip
def test_scheme_of_example_topology(file: str, levels: tuple[Level, ...], host_gbps: float) -> None:
    scheme = NetworkTopology.model_validate(example(file)).to_scheme()
    assert scheme.levels == levels
    assert scheme.host_gbps == host_gbps
    assert scheme.tier_names[0] == "host"


def test_topology_defaults() -> None:
    topology = NetworkTopology.model_validate(
        {"metadata": {"name": "t"}, "spec": {"levels": [{"name": "leaf", "nodeLabel": "a/b"}]}}
    )
    assert topology.spec.host_gbps == 400.0
    assert topology.spec.probe.enabled is True
    assert topology.spec.probe.tool == "iperf3"
    assert topology.spec.measurement_ttl_seconds == 86_400
    assert "measurementTTLSeconds" in topology.model_dump(mode="json")["spec"]


# --- quantities ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (0, Fraction(0)),
        (1024, Fraction(1024)),
        ("1024", Fraction(1024)),
        ("1Ki", Fraction(1024)),
        ("64Mi", Fraction(64 * 2**20)),
        ("1.5Gi", Fraction(3 * 2**29)),
        ("2Ti", Fraction(2 * 2**40)),
        ("1k", Fraction(1000)),
        ("1.5M", Fraction(1_500_000)),
        ("2G", Fraction(2 * 10**9)),
        ("1T", Fraction(10**12)),
        ("500m", Fraction(1, 2)),
        ("1e3", Fraction(1000)),
        ("-2", Fraction(-2)),
    ],
)
def test_parse_quantity(text: int | str, value: Fraction) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "1 Gi", "1GB", "1.2.3", "ten", "1e1.5", "1e99"])
def test_parse_quantity_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_quantity_bytes_rounds_up_like_kubernetes() -> None:
    assert quantity_bytes("1.0001k") == 1001
    assert quantity_bytes("14Gi") == 14 * 2**30


def test_any_mapping_parses_like_a_dict() -> None:
    """The controller hands over kopf's Body (a Mapping); strict mode alone would refuse it."""
    manifest = example("trainingjob-hybrid.yaml")
    wrapped = MappingProxyType({**manifest, "spec": MappingProxyType(manifest["spec"])})
    assert TrainingJob.model_validate(wrapped) == TrainingJob.model_validate(manifest)
    body = kopf.Body(example("topologies/kueue-style.yaml"))
    assert NetworkTopology.model_validate(body).to_scheme().tier_names == ("host", "rack", "block")


# --- LinkMeasurement -> LinkSample: the level is re-read from "reached" to "uplink crossed" ---


def _measurement(level: str, measured_at: str = "2026-11-24T10:00:00Z") -> LinkMeasurement:
    return LinkMeasurement.model_validate(
        {
            "apiVersion": "netsched.io/v1alpha1",
            "kind": "LinkMeasurement",
            "metadata": {"name": "a.b"},
            "spec": {
                "sourceNode": "a",
                "targetNode": "b",
                "level": level,
                "gbps": 100.0,
                "measuredAt": measured_at,
            },
        }
    )


@pytest.mark.parametrize(
    ("reached", "crossed"),
    [
        ("leaf", "host"),  # two nodes of one rack: only their host uplinks
        ("spine", "leaf"),  # two racks under one spine: the leaves' uplinks
        ("core", "spine"),  # two spines: the spines' uplinks
        ("host", "host"),  # kept, so the snapshot counts it as unmatched
        ("rail", "rail"),  # a level the scheme lacks: kept, unmatched
    ],
)
def test_measurement_level_becomes_the_tier_whose_uplinks_it_crosses(
    reached: str, crossed: str
) -> None:
    sample = _measurement(reached).to_sample(DEFAULT_SCHEME)

    assert (sample.source, sample.target, sample.gbps) == ("a", "b", 100.0)
    assert sample.level == crossed


def test_measurement_time_without_a_zone_is_utc() -> None:
    sample = _measurement("spine", "2026-11-24T10:00:00").to_sample(DEFAULT_SCHEME)

    assert sample.observed_at == datetime(2026, 11, 24, 10, tzinfo=UTC)
