"""CustomResourceDefinitions generated from the pydantic models (the models are the truth).

``netsched crd`` prints them, ``netsched crd --write`` refreshes ``crds/``, and a unit
test fails when the committed files differ from :func:`render_all`.

Pydantic emits JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3
schema. :func:`structural` bridges the two in one pass over the tree:

1. inline every ``$ref`` (the API server knows no ``$defs``), keeping the field's own
   keys (description, default, CEL rules) over the referenced type's;
2. turn ``X | None`` (``anyOf`` with ``null``) into plain optional ``X``: absent, not null;
3. ``additionalProperties: true`` (an :class:`~netsched.api.meta.OpenModel`) becomes
   ``x-kubernetes-preserve-unknown-fields``; ``additionalProperties: false`` goes,
   since pruning already drops unknown fields;
4. numeric ``exclusiveMinimum`` becomes OpenAPI v3.0's ``minimum`` + boolean flag;
5. titles, ``default: null`` and other keys the API server rejects or ignores go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from netsched.api.linkmeasurement import LinkMeasurement
from netsched.api.meta import GROUP, VERSION, ResourceInfo
from netsched.api.networktopology import NetworkTopology
from netsched.api.trainingjob import TrainingJob

Resource = type[TrainingJob] | type[NetworkTopology] | type[LinkMeasurement]
RESOURCES: tuple[Resource, ...] = (
    TrainingJob,
    NetworkTopology,
    LinkMeasurement,
)
HEADER = (
    "# Generated from netsched.api by `netsched crd --write`; do not edit by hand.\n"
    "# A unit test (tests/unit/test_api_crds.py) fails when this file is stale.\n"
)
_DROPPED_KEYS = frozenset({"title", "$defs", "examples", "const"})
_FIRST_KEYS = ("type", "description")
_LAST_KEYS = ("properties", "additionalProperties", "items", "required")


class _Dumper(yaml.SafeDumper):
    """Writes repeated subtrees out in full, so every field reads on its own (no ``&id001``)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """A structural OpenAPI v3 schema from a pydantic ``model_json_schema()``."""
    definitions: dict[str, Any] = schema.get("$defs", {})
    return _convert(schema, definitions)


def _description(text: str) -> str:
    """Docstrings read as plain prose in ``kubectl explain``: one line per paragraph, `code`."""
    paragraphs = [" ".join(part.split()) for part in text.strip().split("\n\n")]
    return "\n\n".join(paragraphs).replace("``", "`")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """type and description first, nested schemas last, extensions at the very end."""

    def rank(key: str) -> tuple[int, int]:
        if key in _FIRST_KEYS:
            return (0, _FIRST_KEYS.index(key))
        if key in _LAST_KEYS:
            return (2, _LAST_KEYS.index(key))
        return (3, 0) if key.startswith("x-kubernetes") else (1, 0)

    return {key: node[key] for key in sorted(node, key=rank)}


def _convert(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = _flatten(node, definitions)
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS or (key == "default" and value is None):
            continue
        if key == "properties":
            result[key] = {name: _convert(sub, definitions) for name, sub in value.items()}
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            result[key] = _convert(value, definitions)
        elif key == "additionalProperties":
            if value is True:
                result["x-kubernetes-preserve-unknown-fields"] = True
        elif key == "anyOf":
            result[key] = [_convert(branch, definitions) for branch in value]
        elif key == "description":
            result[key] = _description(value)
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            result[bound] = value
            result[key] = True
        else:
            result[key] = value
    if "const" in node:
        result["enum"] = [node["const"]]
    if (
        result.get("type") == "object"
        and "additionalProperties" in result
        and ("properties" in result)
    ):
        del result["additionalProperties"]  # structural: properties and a value schema exclude
    return _ordered(result)


def _flatten(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``$ref``, single-branch ``allOf`` and ``anyOf [X, null]`` into one node."""
    while True:
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            node = {**target, **siblings}
        elif "allOf" in node and len(node["allOf"]) == 1:
            siblings = {key: value for key, value in node.items() if key != "allOf"}
            node = {**node["allOf"][0], **siblings}
        elif "anyOf" in node and any(branch == {"type": "null"} for branch in node["anyOf"]):
            branches = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
            siblings = {key: value for key, value in node.items() if key != "anyOf"}
            node = (
                {**branches[0], **siblings}
                if len(branches) == 1
                else {**siblings, "anyOf": branches}
            )
        else:
            return node


def openapi_schema(resource: type[BaseModel], info: ResourceInfo) -> dict[str, Any]:
    """The whole object's schema: apiVersion, kind, metadata, spec and (if any) status."""
    fields = resource.model_fields
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
    }
    for name in ("spec", "status"):
        if name not in fields:
            continue
        annotation = _model_of(fields[name].annotation)
        properties[name] = structural(annotation.model_json_schema(by_alias=True))
    schema: dict[str, Any] = {
        "type": "object",
        "description": _description((resource.__doc__ or "").strip().split("\n\n")[0]),
        "required": ["spec"],
        "properties": properties,
    }
    if info.root_validations:
        schema["x-kubernetes-validations"] = list(info.root_validations)
    return schema


def _model_of(annotation: Any) -> type[BaseModel]:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    raise TypeError(f"{annotation!r} is not a pydantic model")


def custom_resource_definition(resource: Resource) -> dict[str, Any]:
    """The CRD of one resource, as a plain dict ready for YAML."""
    info = resource.INFO
    version: dict[str, Any] = {
        "name": VERSION,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": openapi_schema(resource, info)},
    }
    if info.status:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [
        {
            "name": column.name,
            "type": column.type,
            "jsonPath": column.json_path,
            **({"description": column.description} if column.description else {}),
            **({"priority": column.priority} if column.priority else {}),
        }
        for column in info.printer_columns
    ]
    names: dict[str, Any] = {
        "kind": info.kind,
        "listKind": f"{info.kind}List",
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    if info.categories:
        names["categories"] = list(info.categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": info.crd_name},
        "spec": {"group": GROUP, "names": names, "scope": info.scope, "versions": [version]},
    }


def file_name(resource: Resource) -> str:
    return f"{resource.INFO.crd_name}.yaml"


def render(resource: Resource) -> str:
    """One CRD as the YAML committed in ``crds/``."""
    body = yaml.dump(
        custom_resource_definition(resource),
        Dumper=_Dumper,
        sort_keys=False,
        width=100,
        allow_unicode=True,
    )
    return HEADER + body


def render_all() -> dict[str, str]:
    """File name to YAML text, for every resource."""
    return {file_name(resource): render(resource) for resource in RESOURCES}


def write_all(directory: Path) -> list[Path]:
    """Write every CRD into ``directory``; returns the files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in render_all().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def stale_files(directory: Path) -> list[str]:
    """Names of CRD files in ``directory`` that are missing or differ from the models."""
    return [
        name
        for name, text in render_all().items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
