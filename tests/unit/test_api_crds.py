"""The CRDs in crds/ are generated from the models, are structural, and are up to date."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from netsched.api import crd
from netsched.cli import app
from netsched.domain.scheme import DEFAULT_SCHEME

CRDS = Path(__file__).parents[2] / "crds"


@functools.cache
def generated() -> dict[str, dict[str, Any]]:
    """CRD name to the CRD, freshly generated."""
    documents = [yaml.safe_load(text) for text in crd.render_all().values()]
    return {document["metadata"]["name"]: document for document in documents}


NAMES = sorted(generated())


def schema_of(name: str) -> dict[str, Any]:
    version = generated()[name]["spec"]["versions"][0]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path (``.spec.communication.pattern``, ``[]`` for items)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


# --- staleness --------------------------------------------------------------------------------


def test_committed_crds_equal_freshly_generated_ones() -> None:
    stale = crd.stale_files(CRDS)
    assert not stale, f"{stale} are stale: run `netsched crd --write` and commit crds/"


def test_crds_directory_holds_nothing_else() -> None:
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(crd.render_all())


# --- structural schema ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_node_is_typed(name: str) -> None:
    for path, node in walk(schema_of(name)):
        typed = "type" in node or node.get("x-kubernetes-int-or-string") is True
        assert typed, f"{name}: {path or '<root>'} has no type"


@pytest.mark.parametrize("name", NAMES)
def test_no_json_schema_leftovers(name: str) -> None:
    for path, node in walk(schema_of(name)):
        for key in ("$ref", "$defs", "title", "allOf", "oneOf", "const", "examples"):
            assert key not in node, f"{name}: {path} still has {key}"
        assert node.get("additionalProperties") is not False, f"{name}: {path}"
        assert not ("properties" in node and "additionalProperties" in node), f"{name}: {path}"
        if "anyOf" in node:
            assert node.get("x-kubernetes-int-or-string") is True, f"{name}: {path}"
        if "default" in node:
            assert node["default"] is not None, f"{name}: {path}"


def preserved(name: str) -> set[str]:
    return {
        path
        for path, node in walk(schema_of(name))
        if node.get("x-kubernetes-preserve-unknown-fields")
    }


def test_unknown_fields_are_kept_only_inside_the_pod_template() -> None:
    assert preserved("trainingjobs.netsched.io") == {
        ".spec.template",
        ".spec.template.metadata",
        ".spec.template.spec",
        ".spec.template.spec.containers[]",
        ".spec.template.spec.containers[].resources",
    }
    assert preserved("networktopologies.netsched.io") == set()
    assert preserved("linkmeasurements.netsched.io") == set()


@pytest.mark.parametrize("name", NAMES)
def test_lists_maps_and_strings_under_cel_are_bounded(name: str) -> None:
    """CEL's cost estimate needs bounds; every list and map of ours has one."""
    for path, node in walk(schema_of(name)):
        if node.get("type") == "array":
            assert "maxItems" in node, f"{name}: {path} has no maxItems"


def test_conditions_are_a_map_keyed_by_type() -> None:
    for name in ("trainingjobs.netsched.io", "networktopologies.netsched.io"):
        conditions = schema_of(name)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert set(conditions["items"]["required"]) == {
            "type", "status", "lastTransitionTime", "reason",
        }  # fmt: skip


def test_bytes_per_step_is_an_int_or_string_quantity() -> None:
    communication = schema_of("trainingjobs.netsched.io")["properties"]["spec"]["properties"][
        "communication"
    ]
    field = communication["properties"]["bytesPerStep"]
    assert field["x-kubernetes-int-or-string"] is True
    assert field["anyOf"] == [{"type": "integer"}, {"type": "string"}]
    assert field["pattern"].startswith("^")
    assert communication["properties"]["pattern"]["enum"] == [
        "DataParallel", "ModelParallel", "PipelineParallel", "ExpertParallel", "Hybrid", "None",
    ]  # fmt: skip


def test_sub_objects_default_to_empty_so_their_defaults_apply() -> None:
    spec = schema_of("trainingjobs.netsched.io")["properties"]["spec"]["properties"]
    for name in ("topology", "isolation", "runPolicy"):
        assert spec[name]["default"] == {}
    assert spec["topology"]["properties"]["networkTopology"]["default"] == "default"


def test_tier_order_rule_uses_the_default_scheme() -> None:
    topology = schema_of("trainingjobs.netsched.io")["properties"]["spec"]["properties"]["topology"]
    rule = topology["x-kubernetes-validations"][0]["rule"]
    for rank, tier in enumerate(DEFAULT_SCHEME.tier_names):
        assert f"'{tier}': {rank}" in rule


def test_immutable_fields_have_transition_rules() -> None:
    rules = schema_of("trainingjobs.netsched.io")["properties"]["spec"]["x-kubernetes-validations"]
    immutable = {r["fieldPath"] for r in rules if "oldSelf" in r["rule"]}
    assert immutable == {".replicas", ".template", ".communication", ".topology"}


# --- names, scope, columns --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "scope", "short", "status"),
    [
        ("trainingjobs.netsched.io", "TrainingJob", "Namespaced", ["tj"], True),
        ("networktopologies.netsched.io", "NetworkTopology", "Cluster", ["ntopo"], True),
        ("linkmeasurements.netsched.io", "LinkMeasurement", "Cluster", ["lm"], False),
    ],
)
def test_names_and_scope(name: str, kind: str, scope: str, short: list[str], status: bool) -> None:
    definition = generated()[name]
    assert definition["metadata"]["name"] == name
    assert definition["spec"]["group"] == "netsched.io"
    assert definition["spec"]["scope"] == scope
    assert definition["spec"]["names"]["kind"] == kind
    assert definition["spec"]["names"]["shortNames"] == short
    assert definition["spec"]["names"]["categories"] == ["netsched"]
    version = definition["spec"]["versions"][0]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert ("status" in version.get("subresources", {})) is status


def test_trainingjob_printer_columns() -> None:
    version = generated()["trainingjobs.netsched.io"]["spec"]["versions"][0]
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Replicas": ".spec.replicas",
        "GPUs": ".status.gpus",
        "Tier": ".status.placement.tiersSpanned",
        "Comm/step": ".status.placement.predictedCommSecondsPerStep",
        "Queue": ".status.queuePosition",
        "Pattern": ".spec.communication.pattern",
        "Age": ".metadata.creationTimestamp",
    }


@pytest.mark.parametrize("name", NAMES)
def test_printer_columns_point_at_real_fields(name: str) -> None:
    paths = {path for path, _ in walk(schema_of(name))}
    version = generated()[name]["spec"]["versions"][0]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"] != ".metadata.creationTimestamp":
            assert column["jsonPath"] in paths, column


# --- the command line -------------------------------------------------------------------------


def test_cli_prints_every_crd() -> None:
    result = CliRunner().invoke(app, ["crd"])
    assert result.exit_code == 0, result.output
    names = [doc["metadata"]["name"] for doc in yaml.safe_load_all(result.stdout)]
    assert names == [
        "trainingjobs.netsched.io", "networktopologies.netsched.io", "linkmeasurements.netsched.io",
    ]  # fmt: skip


def test_cli_write_then_check(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["crd", "--check", "--dir", str(tmp_path)]).exit_code == 1
    assert runner.invoke(app, ["crd", "--write", "--dir", str(tmp_path)]).exit_code == 0
    assert runner.invoke(app, ["crd", "--check", "--dir", str(tmp_path)]).exit_code == 0
    (tmp_path / "trainingjobs.netsched.io.yaml").write_text("stale\n")
    result = runner.invoke(app, ["crd", "--check", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "trainingjobs.netsched.io.yaml" in result.output
