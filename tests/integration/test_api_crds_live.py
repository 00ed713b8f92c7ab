"""The CRDs against the REAL API server: examples accepted with defaults, the invalid
corpus refused at the right field, status and printer columns as kubectl shows them.

Cross-object cases pass the API server on purpose; for them the object read back
from the server goes through ``validate_training_job``, which must name the field.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import Cluster
from integration.invalid.corpus import Case, load_cases
from netsched.api import (
    LinkMeasurement,
    NetworkTopology,
    TrainingJob,
    validate_training_job,
)
from netsched.api.crd import RESOURCES

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "deploy" / "examples"
CASES = load_cases()
PREFIX = "apitest-"  # cluster-scoped objects of this module, so they never clash with others'
MODELS: dict[str, type[TrainingJob] | type[NetworkTopology] | type[LinkMeasurement]] = {
    "TrainingJob": TrainingJob,
    "NetworkTopology": NetworkTopology,
    "LinkMeasurement": LinkMeasurement,
}


@pytest.fixture(scope="module")
def ns(api: Cluster) -> Iterator[str]:
    name = f"apitest-{uuid.uuid4().hex[:8]}"
    api.kubectl("create", "namespace", name)
    yield name
    api.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def cluster_objects(api: Cluster) -> Iterator[list[str]]:
    """Names (``kind/name``) of cluster-scoped objects to delete after the module."""
    created: list[str] = []
    yield created
    for reference in created:
        api.kubectl("delete", reference, "--ignore-not-found", "--wait=false", check=False)


def place(manifest: dict[str, Any], namespace: str, created: list[str]) -> dict[str, Any]:
    """The manifest made to live in ``namespace`` (namespaced) or under PREFIX (cluster-scoped)."""
    placed = copy.deepcopy(manifest)
    if MODELS[placed["kind"]].INFO.scope == "Namespaced":
        placed["metadata"]["namespace"] = namespace
    else:
        placed["metadata"]["name"] = PREFIX + placed["metadata"]["name"]
        created.append(f"{placed['kind'].lower()}/{placed['metadata']['name']}")
    return placed


def apply(api: Cluster, manifest: dict[str, Any]) -> Any:
    """Server-side apply with strict field validation; the finished process, never raising."""
    return api.kubectl(
        "apply", "--server-side", "--validate=strict", "--field-manager=apitest", "-f", "-",
        input=yaml.safe_dump(manifest), check=False,
    )  # fmt: skip


def read_back(api: Cluster, manifest: dict[str, Any]) -> dict[str, Any]:
    args = [manifest["kind"].lower(), manifest["metadata"]["name"], "-o", "json"]
    if "namespace" in manifest["metadata"]:
        args += ["-n", manifest["metadata"]["namespace"]]
    result: dict[str, Any] = json.loads(api.kubectl("get", *args).stdout)
    return result


def example_files() -> list[Path]:
    """Every example of netsched's own kinds (not the PriorityClass one names)."""
    paths = sorted(EXAMPLES.rglob("*.yaml"))
    return [path for path in paths if yaml.safe_load(path.read_text())["kind"] in MODELS]


# --- the CRDs themselves ----------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.INFO.kind)
def test_crd_is_established_and_structural(api: Cluster, resource: type[Any]) -> None:
    definition = json.loads(api.kubectl("get", "crd", resource.INFO.crd_name, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in definition["status"]["conditions"]}
    assert conditions["Established"] == "True"
    assert conditions["NamesAccepted"] == "True"
    assert conditions.get("NonStructuralSchema", "False") == "False"


def test_kubectl_knows_the_short_names_and_category(api: Cluster, ns: str) -> None:
    resources = api.kubectl("api-resources", "--api-group=netsched.io", "-o", "wide").stdout
    for short in ("tj", "ntopo", "lm"):
        assert f" {short} " in resources
    assert api.kubectl("get", "netsched", "-n", ns).returncode == 0


# --- examples -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.name)
def test_example_is_accepted_and_reads_back_with_defaults(
    api: Cluster, ns: str, cluster_objects: list[str], path: Path
) -> None:
    manifest = place(yaml.safe_load(path.read_text()), ns, cluster_objects)
    result = apply(api, manifest)
    assert result.returncode == 0, result.stderr
    stored = read_back(api, manifest)
    model = MODELS[manifest["kind"]]
    # The API server's defaults are the models' defaults: the object read back parses to
    # exactly what parsing the file gives, and carries every defaulted field explicitly.
    from_server = model.model_validate(stored)
    from_file = model.model_validate(manifest)
    assert from_server.model_dump(exclude={"metadata"}) == from_file.model_dump(
        exclude={"metadata"}
    )
    defaulted = from_file.model_dump(mode="json", exclude_none=True, exclude={"metadata"})
    assert _without_empty(stored["spec"]) == _without_empty(defaulted["spec"])


def _without_empty(value: Any) -> Any:
    """Lists defaulted to [] by pydantic are simply absent at the API server."""
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v not in ([], {})}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


# --- the invalid corpus -----------------------------------------------------------------------


def _ids(case: Case) -> str:
    return case.name


@pytest.mark.parametrize("case", [c for c in CASES if c.layer in ("schema", "cel")], ids=_ids)
def test_invalid_manifest_is_refused_at_its_field(
    api: Cluster, ns: str, cluster_objects: list[str], case: Case
) -> None:
    result = apply(api, place(case.manifest, ns, cluster_objects))
    assert result.returncode != 0, f"{case.name} was accepted"
    assert case.field in result.stderr, result.stderr
    if case.says is not None:
        assert case.says in result.stderr, result.stderr


@pytest.mark.parametrize("case", [c for c in CASES if c.layer == "update"], ids=_ids)
def test_immutable_field_cannot_change(
    api: Cluster, ns: str, cluster_objects: list[str], case: Case
) -> None:
    created = apply(api, place(case.base, ns, cluster_objects))
    assert created.returncode == 0, created.stderr
    result = apply(api, place(case.manifest, ns, cluster_objects))
    assert result.returncode != 0, f"{case.name}: the change was accepted"
    assert case.field in result.stderr, result.stderr
    assert case.says is not None and case.says in result.stderr, result.stderr


def test_mutable_fields_can_change(api: Cluster, ns: str, cluster_objects: list[str]) -> None:
    [base] = [c.base for c in CASES if c.name == "replicas-changed"]
    base = copy.deepcopy(base)
    base["metadata"]["name"] = "mutable-fields"
    assert apply(api, place(base, ns, cluster_objects)).returncode == 0
    base["spec"]["runPolicy"] = {"backoffLimit": 7, "ttlSecondsAfterFinished": 60}
    base["spec"]["isolation"] = {"networkPolicy": False}
    base["spec"]["priority"] = 5
    result = apply(api, place(base, ns, cluster_objects))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", [c for c in CASES if c.layer == "cross"], ids=_ids)
def test_cross_object_problem_is_accepted_then_named_by_the_validator(
    api: Cluster, ns: str, cluster_objects: list[str], case: Case
) -> None:
    topology = None
    if case.topology is not None:
        [path] = [
            p for p in (EXAMPLES / "topologies").glob("*.yaml")
            if yaml.safe_load(p.read_text())["metadata"]["name"] == case.topology
        ]  # fmt: skip
        placed_topology = place(yaml.safe_load(path.read_text()), ns, cluster_objects)
        assert apply(api, placed_topology).returncode == 0
        topology = NetworkTopology.model_validate(read_back(api, placed_topology))
    manifest = place(case.manifest, ns, cluster_objects)
    result = apply(api, manifest)
    assert result.returncode == 0, result.stderr
    job = TrainingJob.model_validate(read_back(api, manifest))
    problems = validate_training_job(job, topology)
    assert [p.field_path for p in problems] == [case.field], problems
    assert case.says is not None and case.says in problems[0].message


# --- status and printer columns ---------------------------------------------------------------


def test_status_is_a_subresource_and_feeds_the_columns(
    api: Cluster, ns: str, cluster_objects: list[str]
) -> None:
    manifest = place(yaml.safe_load((EXAMPLES / "trainingjob-hybrid.yaml").read_text()), ns,
                     cluster_objects)  # fmt: skip
    assert apply(api, manifest).returncode == 0
    name = manifest["metadata"]["name"]
    status = {
        "phase": "Running",
        "gpus": 64,
        "observedGeneration": 1,
        "restarts": 0,
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Placed", "message": "all ranks bound",
            "lastTransitionTime": "2025-01-01T00:00:00Z", "observedGeneration": 1,
        }],
        "placement": {
            "ranks": [{"rank": r, "node": f"n{r // 2}", "gpus": 8} for r in range(8)],
            "tiersSpanned": "spine",
            "lowestCommonDomain": "spine-a",
            "predictedCommSecondsPerStep": 0.125,
            "crossTierBytesPerStep": {"host": 1.5e9, "leaf": 2.5e8},
            "bottleneckGbps": 400,
            "explanation": "ranks ring through 2 leaves of spine-a",
        },
    }  # fmt: skip
    api.kubectl(
        "patch", "trainingjob", name, "-n", ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    stored = TrainingJob.model_validate(read_back(api, manifest))
    assert stored.status is not None and stored.status.phase == "Running"
    assert stored.status.placement is not None
    assert [r.rank for r in stored.status.placement.ranks] == list(range(8))
    table = api.kubectl("get", "tj", name, "-n", ns).stdout.split("\n")
    header, row = table[0].split(), table[1].split()
    assert header == ["NAME", "PHASE", "REPLICAS", "GPUS", "TIER", "COMM/STEP", "QUEUE", "AGE"]
    assert row[:6] == [name, "Running", "8", "64", "spine", "0.125"]
    # A status written through the main resource is ignored (status is a subresource).
    api.kubectl(
        "patch", "trainingjob", name, "-n", ns, "--type=merge",
        "-p", json.dumps({"status": {"phase": "Failed"}}),
    )  # fmt: skip
    assert read_back(api, manifest)["status"]["phase"] == "Running"


def test_bad_status_is_refused_too(api: Cluster, ns: str, cluster_objects: list[str]) -> None:
    manifest = place(yaml.safe_load((EXAMPLES / "trainingjob-none.yaml").read_text()), ns,
                     cluster_objects)  # fmt: skip
    assert apply(api, manifest).returncode == 0
    result = api.kubectl(
        "patch", "trainingjob", manifest["metadata"]["name"], "-n", ns, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"phase": "Exploded"}}), check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "status.phase" in result.stderr


def test_linkmeasurement_columns(api: Cluster, ns: str, cluster_objects: list[str]) -> None:
    manifest = place(yaml.safe_load((EXAMPLES / "linkmeasurement.yaml").read_text()), ns,
                     cluster_objects)  # fmt: skip
    assert apply(api, manifest).returncode == 0
    table = api.kubectl("get", "lm", manifest["metadata"]["name"]).stdout.split("\n")
    assert table[0].split()[:6] == ["NAME", "SOURCE", "TARGET", "LEVEL", "GBPS", "RTT(US)"]
    assert table[1].split()[1:6] == ["gpu-node-001", "gpu-node-009", "spine", "187.5", "21.4"]
