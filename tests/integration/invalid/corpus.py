"""The invalid-manifest corpus (``cases.yaml`` beside this file), loaded for the tests.

Shared by ``tests/unit/test_api_invalid.py`` (Python refuses each case, at the same
field) and ``tests/integration/test_api_crds_live.py`` (the real API server does).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

CASES_FILE = Path(__file__).with_name("cases.yaml")

Layer = Literal["schema", "cel", "update", "cross"]


@dataclass(frozen=True)
class Case:
    name: str
    kind: str
    layer: Layer
    field: str
    says: str | None
    base: dict[str, Any]
    manifest: dict[str, Any]
    topology: str | None
    """Example NetworkTopology (deploy/examples/topologies/<name>.yaml) the case needs."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: mappings merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def load_cases() -> list[Case]:
    document = yaml.safe_load(CASES_FILE.read_text())
    cases = []
    for entry in document["cases"]:
        base = copy.deepcopy(document["bases"][entry["kind"]])
        base["metadata"]["name"] = entry["name"]
        cases.append(
            Case(
                name=entry["name"],
                kind=entry["kind"],
                layer=entry["layer"],
                field=entry["field"],
                says=entry.get("says"),
                base=base,
                manifest=merge_patch(base, entry["patch"]),
                topology=entry.get("topology"),
            )
        )
    return cases
