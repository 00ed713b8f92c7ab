"""The chart's files agree with the rest of the tree (no helm needed)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from netsched.domain.placement import STRATEGIES

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "netsched"


def test_the_charts_crds_are_the_generated_ones() -> None:
    ours = {p.name: p.read_text() for p in (ROOT / "crds").glob("*.yaml")}
    charts = {p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml")}
    assert charts == ours, "run `make crds` (it copies crds/ into the chart)"


def test_the_values_schema_knows_every_strategy_and_accepts_the_defaults() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    strategies = schema["properties"]["operator"]["properties"]["strategy"]["enum"]
    assert set(strategies) == set(STRATEGIES)
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) == set(schema["properties"]), "a top-level value without a schema"
    for section, body in values.items():
        declared = schema["properties"][section].get("properties")
        if isinstance(body, dict) and declared is not None:
            assert set(body) <= set(declared), f"{section}: {set(body) - set(declared)}"


def test_every_value_is_documented_by_a_comment() -> None:
    """Each of the chart's own keys (those values.schema.json declares) has a comment above it;
    what is inside a value (a nodeSelector's labels, a resources block) is data."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    lines = (CHART / "values.yaml").read_text().splitlines()
    path: list[tuple[int, str]] = []  # (indent, key) of the enclosing keys
    checked = 0
    for number, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "- ")) or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        key = stripped.split(":", 1)[0]
        while path and path[-1][0] >= indent:
            path.pop()
        node: dict[str, object] | None = schema
        for _, parent in path:
            node = (node or {}).get("properties", {}).get(parent)  # type: ignore[union-attr]
        path.append((indent, key))
        declared = (node or {}).get("properties", {})  # type: ignore[union-attr]
        if key not in declared or key in {"requests", "limits"}:
            continue
        checked += 1
        assert lines[number - 1].strip().startswith("#"), (
            f"values.yaml line {number + 1} ({'.'.join(k for _, k in path)}): no comment above"
        )
    assert checked > 40


def test_the_kind_script_sets_only_values_the_chart_has() -> None:
    """hack/kind-e2e.sh cannot run here (no Docker): at least every value it sets exists, and
    the CI workflow runs it."""
    import re

    script = (ROOT / "hack" / "kind-e2e.sh").read_text()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    keys = re.findall(r"--set(?:-json)? '?([a-zA-Z.]+)=", script)
    assert keys
    for key in keys:
        node = values
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"hack/kind-e2e.sh sets {key}"
            node = node[part]
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "kind-e2e.yaml").read_text())
    steps = workflow["jobs"]["kind-e2e"]["steps"]
    assert any("hack/kind-e2e.sh" in step.get("run", "") for step in steps)
