"""The pure validators: every problem, with its field path, and the same verdicts as the
API server on the invalid-manifest corpus (tests/integration/invalid/cases.yaml)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from builders import node, snapshot
from pydantic import ValidationError

from integration.invalid.corpus import Case, load_cases
from netsched.api import (
    LinkMeasurement,
    NetworkTopology,
    Problem,
    TrainingJob,
    summary,
    validate_manifest,
    validate_network_topology,
    validate_training_job,
)
from netsched.api.validation import field_path, scheme_for
from netsched.domain.placement import STRATEGIES, Unschedulable, place
from netsched.domain.scheme import DEFAULT_SCHEME

EXAMPLES = Path(__file__).parents[2] / "deploy" / "examples"
CASES = load_cases()
MODELS: dict[str, type[TrainingJob] | type[NetworkTopology] | type[LinkMeasurement]] = {
    "TrainingJob": TrainingJob,
    "NetworkTopology": NetworkTopology,
    "LinkMeasurement": LinkMeasurement,
}


def topology_example(name: str) -> NetworkTopology:
    files = {
        yaml.safe_load(path.read_text())["metadata"]["name"]: path
        for path in (EXAMPLES / "topologies").glob("*.yaml")
    }
    return NetworkTopology.model_validate(yaml.safe_load(files[name].read_text()))


def job(**spec: Any) -> TrainingJob:
    """A valid 8 x 8-GPU DataParallel job with ``spec`` fields replaced."""
    manifest: dict[str, Any] = {
        "metadata": {"name": "job", "namespace": "ml"},
        "spec": {
            "replicas": 8,
            "template": {"spec": {"containers": [
                {"name": "t", "resources": {"limits": {"nvidia.com/gpu": 8}}}
            ]}},
            "communication": {"pattern": "DataParallel", "bytesPerStep": "1Gi"},
        },
    }  # fmt: skip
    manifest["spec"].update(copy.deepcopy(spec))
    return TrainingJob.model_validate(manifest)


GPUS = "spec.template.spec.containers[*].resources.limits['nvidia.com/gpu']"


def paths(problems: list[Problem]) -> list[str]:
    return [problem.field_path for problem in problems]


# --- the pure validator, case by case ---------------------------------------------------------


def test_a_valid_job_has_no_problem() -> None:
    assert validate_training_job(job(), topology=None) == []


@pytest.mark.parametrize(
    ("spec", "topology", "expected"),
    [
        # tiers are checked against the named topology, the default one without an object
        ({"topology": {"maxTier": "rack"}}, None, ["spec.topology.maxTier"]),
        ({"topology": {"preferredTier": "pod"}}, None, ["spec.topology.preferredTier"]),
        ({"topology": {"maxTier": "spine", "preferredTier": "leaf"}}, None, []),
        ({"topology": {"maxTier": "leaf", "preferredTier": "core"}}, None,
         ["spec.topology.preferredTier"]),
        ({"topology": {"networkTopology": "kueue-style", "maxTier": "block",
                       "preferredTier": "rack"}}, "kueue-style", []),
        ({"topology": {"networkTopology": "kueue-style", "maxTier": "rack",
                       "preferredTier": "block"}}, "kueue-style",
         ["spec.topology.preferredTier"]),
        ({"topology": {"networkTopology": "kueue-style", "maxTier": "spine"}}, "kueue-style",
         ["spec.topology.maxTier"]),
        ({"topology": {"networkTopology": "elsewhere", "maxTier": "spine"}}, None,
         ["spec.topology.networkTopology"]),
        # Hybrid degrees against replicas x GPUs per pod (8 x 8 = 64)
        ({"communication": {"pattern": "Hybrid", "bytesPerStep": 1, "tensorParallel": 8,
                            "pipelineParallel": 4, "dataParallel": 2}}, None, []),
        ({"communication": {"pattern": "Hybrid", "bytesPerStep": 1, "tensorParallel": 8,
                            "pipelineParallel": 4, "dataParallel": 4}}, None,
         ["spec.communication"]),
        ({"communication": {"pattern": "Hybrid", "bytesPerStep": 1, "tensorParallel": 16,
                            "pipelineParallel": 2, "dataParallel": 2}}, None,
         ["spec.communication.tensorParallel"]),
        ({"communication": {"pattern": "Hybrid", "bytesPerStep": 1}}, None,
         ["spec.communication.pattern"]),
        ({"communication": {"pattern": "ExpertParallel", "bytesPerStep": 1,
                            "dataParallel": 2}}, None, ["spec.communication.pattern"]),
        ({"communication": {"pattern": "PipelineParallel"}}, None,
         ["spec.communication.bytesPerStep"]),
        ({"communication": {"pattern": "None"}}, None, []),
        ({"priority": 5, "priorityClassName": "high"}, None, ["spec.priority"]),
        # a gang of CPU-only pods, whatever its pattern (GPUs in requests alone do not count)
        ({"template": {"spec": {"containers": [{"name": "t"}]}}}, None, [GPUS]),
        ({"template": {"spec": {"containers": [{"name": "t"}]}},
          "communication": {"pattern": "None"}}, None, [GPUS]),
        ({"template": {"spec": {"containers": [
            {"name": "t", "resources": {"requests": {"nvidia.com/gpu": 8}}}]}}}, None, [GPUS]),
        ({"template": {"spec": {"containers": [
            {"name": "t", "resources": {"limits": {"nvidia.com/gpu": 0}}}]}}}, None, [GPUS]),
        ({"isolation": {"egress": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                "except": ["10.1.0.0/16", "nope"]}}]}},
         None, ["spec.isolation.egress[0].ipBlock.except[1]"]),
    ],
)  # fmt: skip
def test_validator_finds(spec: dict[str, Any], topology: str | None, expected: list[str]) -> None:
    found = validate_training_job(job(**spec), topology_example(topology) if topology else None)
    assert paths(found) == expected


def test_every_problem_is_reported_not_just_the_first() -> None:
    bad = job(
        communication={"pattern": "Hybrid", "tensorParallel": 3, "pipelineParallel": 3,
                       "dataParallel": 3},
        topology={"maxTier": "rack", "preferredTier": "pod"},
        priority=1,
        priorityClassName="p",
        isolation={"ingress": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]},
    )  # fmt: skip
    assert paths(validate_training_job(bad, topology=None)) == [
        "spec.communication.bytesPerStep",
        "spec.communication",
        "spec.topology.maxTier",
        "spec.topology.preferredTier",
        "spec.priority",
        "spec.isolation.ingress[0]",
    ]


def test_messages_name_the_field_the_fault_and_the_fix() -> None:
    bad = job(communication={"pattern": "Hybrid", "bytesPerStep": 1, "tensorParallel": 2,
                             "pipelineParallel": 2, "dataParallel": 2})  # fmt: skip
    [problem] = validate_training_job(bad, topology=None)
    assert problem.message.startswith("tensorParallel x pipelineParallel x dataParallel")
    assert "2 x 2 x 2 = 8, but 8 replicas x 8 GPUs = 64" in problem.message
    assert "change the degrees" in problem.message
    [tier] = validate_training_job(job(topology={"maxTier": "rack"}), topology=None)
    assert tier.message == (
        'maxTier "rack" is not a tier of NetworkTopology "default" (its tiers, narrowest '
        "first: host, leaf, spine, core): use one of those"
    )
    assert str(tier).startswith("spec.topology.maxTier: maxTier")


@pytest.mark.parametrize(
    "spec",
    [
        {"communication": {"pattern": "Hybrid", "bytesPerStep": 1, "tensorParallel": 8,
                           "pipelineParallel": 4, "dataParallel": 4}},
        {"communication": {"pattern": "Hybrid", "bytesPerStep": 1, "tensorParallel": 16,
                           "pipelineParallel": 2, "dataParallel": 2}},
        {"topology": {"maxTier": "rack", "preferredTier": "pod"}},
        {"topology": {"maxTier": "leaf", "preferredTier": "spine"}},
    ],
)  # fmt: skip
@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_placement_refuses_an_invalid_job_in_the_validators_words(
    spec: dict[str, Any], strategy: str
) -> None:
    """One rule, one wording: what InvalidSpec says is what an Unschedulable says."""
    bad = job(**spec)
    problems = validate_training_job(bad, topology=None)

    outcome = place(bad.to_demand(), snapshot(node("n1")), strategy=strategy)

    assert problems
    assert isinstance(outcome, Unschedulable)
    assert outcome.reason == "; ".join(str(problem) for problem in problems)


def test_summary_lists_one_problem_per_line() -> None:
    problems = [Problem("spec.a", "first"), Problem("spec.b", "second")]
    assert summary(problems) == "spec.a: first\nspec.b: second"


def test_scheme_for() -> None:
    kueue = topology_example("kueue-style")
    assert scheme_for("default", None) == DEFAULT_SCHEME
    assert scheme_for("kueue-style", kueue) == kueue.to_scheme()
    assert scheme_for("missing", None) is None


def test_validate_manifest_turns_parse_errors_into_problems() -> None:
    problems = validate_manifest(
        {"spec": {"replicas": 0, "template": {"spec": {"containers": []}},
                  "communication": {"pattern": "Ring"}}},
        topology=None,
    )  # fmt: skip
    assert paths(problems) == [
        "spec.replicas",
        "spec.template.spec.containers",
        "spec.communication.pattern",
    ]


def test_example_topologies_have_no_problem() -> None:
    for path in (EXAMPLES / "topologies").glob("*.yaml"):
        assert validate_network_topology(yaml.safe_load(path.read_text())) == [], path.name


# --- the corpus: Python refuses what the API server refuses, at the same field ----------------


def _ids(case: Case) -> str:
    return case.name


@pytest.mark.parametrize("case", [c for c in CASES if c.layer == "schema"], ids=_ids)
def test_schema_cases_fail_to_parse_at_the_field(case: Case) -> None:
    model = MODELS[case.kind]
    with pytest.raises(ValidationError) as caught:
        model.model_validate(case.manifest)
    locations = [".".join(str(part) for part in error["loc"]) for error in caught.value.errors()]
    field = case.field.replace("[", ".").replace("]", "")
    assert any(field in location for location in locations), (field, locations)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.layer in ("cel", "cross") and c.kind != "LinkMeasurement"],
    ids=_ids,
)  # fmt: skip
def test_rule_cases_are_problems_at_the_field(case: Case) -> None:
    if case.kind == "NetworkTopology":
        problems = validate_network_topology(case.manifest)
    else:
        topology = topology_example(case.topology) if case.topology else None
        problems = validate_manifest(case.manifest, topology)
    assert any(case.field in problem.field_path for problem in problems), problems
    if case.says is not None and case.kind == "TrainingJob":
        assert any(case.says in problem.message for problem in problems), problems


@pytest.mark.parametrize(
    "case",
    [c for c in CASES if c.layer == "cel" and c.kind in ("LinkMeasurement", "NetworkTopology")],
    ids=_ids,
)
def test_rules_the_model_checks_fail_to_parse_at_the_field(case: Case) -> None:
    """Python refuses the object itself: no validator to forget, for any reader of it."""
    with pytest.raises(ValidationError) as caught:
        MODELS[case.kind].model_validate(case.manifest)
    errors = [(field_path(e["loc"]), e["msg"]) for e in caught.value.errors(include_url=False)]
    assert any(case.field in where for where, _ in errors), errors
    if case.kind == "LinkMeasurement":  # the API server words list-map keys of topologies itself
        assert case.says is not None and any(case.says in msg for _, msg in errors), errors


@pytest.mark.parametrize("case", [c for c in CASES if c.layer == "update"], ids=_ids)
def test_update_cases_are_valid_objects_on_their_own(case: Case) -> None:
    """Only the change is wrong, which only the API server sees (it knows the old object)."""
    assert validate_manifest(case.base, topology=None) == []
    assert validate_manifest(case.manifest, topology=None) == []


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)
