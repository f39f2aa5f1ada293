"""Checks of what the program registers against the real schemas, shared by the plan and the tests.

- Exoscale resources: inputs against the bridged provider's Pulumi schema (required present, no
  unknown input, types right): the input part of pulumiverse-exoscale 0.66.1's schema, kept in
  `schemas/` with its source and licence (a test ties it to the installed package's version and
  its generated `*Args` classes, so it is the schema `pulumi up` will use).
- Kubernetes objects: against the official OpenAPI-derived JSON schemas of the cluster's version,
  in strict mode (unknown fields fail), with `kubernetes-validate`.
- `Pulumi.yaml`: against Pulumi's project schema (also in `schemas/`).

Everything these checks read is in the repository or installed: the project stands alone.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tools.mock_run import PROJECT_DIR, RegisteredResource, reveal

SCHEMAS_DIR = PROJECT_DIR / "schemas"
EXOSCALE_PROVIDER_VERSION = "0.66.1"
EXOSCALE_SCHEMA = SCHEMAS_DIR / f"pulumiverse-exoscale-{EXOSCALE_PROVIDER_VERSION}.inputs.json"
PROJECT_SCHEMA = SCHEMAS_DIR / "pulumi-project.schema.json"


class SchemasMissing(RuntimeError):
    """A schema file of `schemas/` is missing: that check cannot run (the others still do)."""


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise SchemasMissing(f"{path.relative_to(PROJECT_DIR)} not found: the checks need the repository's schemas/")
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


@cache
def _exoscale_schema() -> dict[str, Any]:
    return _load(EXOSCALE_SCHEMA)


def _to_json_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """A Pulumi schema property as a JSON schema fragment ($refs to `#/types/...` kept resolvable)."""
    if "$ref" in spec:
        # Pulumi writes `#/types/pkg:mod/Name:Name`; as a JSON pointer the "/" must be "~1".
        token = spec["$ref"].removeprefix("#/types/")
        return {"$ref": "#/types/" + token.replace("~", "~0").replace("/", "~1")}
    schema: dict[str, Any] = {}
    if "type" in spec:
        schema["type"] = spec["type"]  # Pulumi schema types are JSON schema's
    if "items" in spec:
        schema["items"] = _to_json_schema(spec["items"])
    if "additionalProperties" in spec:
        schema["additionalProperties"] = _to_json_schema(spec["additionalProperties"])
    if "properties" in spec:
        schema["properties"] = {k: _to_json_schema(v) for k, v in spec["properties"].items()}
        schema["additionalProperties"] = False
    if spec.get("required"):
        schema["required"] = spec["required"]
    return schema


def exoscale_input_errors(resource: RegisteredResource) -> list[str]:
    """Why the bridged provider would refuse these inputs; empty when it would accept them."""
    schema = _exoscale_schema()
    spec = schema["resources"].get(resource.type)
    if spec is None:
        return [f"{resource.type} is not a resource of pulumiverse-exoscale {EXOSCALE_PROVIDER_VERSION}"]
    document = {
        "type": "object",
        "properties": {k: _to_json_schema(v) for k, v in spec.get("inputProperties", {}).items()},
        "required": spec.get("requiredInputs", []),
        "additionalProperties": False,
        "types": {k: _to_json_schema(v) for k, v in schema["types"].items()},
    }
    validator = jsonschema.Draft202012Validator(document)
    inputs = {k: v for k, v in reveal(resource.inputs).items() if v is not None}
    return [
        f"{resource.name} ({resource.type}): {'.'.join(map(str, e.absolute_path)) or 'inputs'}: {e.message}"
        for e in validator.iter_errors(inputs)
    ]


def kubernetes_manifest(resource: RegisteredResource) -> dict[str, Any]:
    """The object as it would be applied (secrets revealed only for validation, never printed)."""
    manifest: dict[str, Any] = _drop_nones(reveal(resource.inputs))
    return manifest


def _drop_nones(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nones(v) for v in value]
    return value


def checkable_kubernetes_versions() -> list[str]:
    """The Kubernetes minor versions the installed `kubernetes-validate` has schemas for."""
    return sorted({kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()},
                  key=lambda v: tuple(int(p) for p in v.split(".")))


class VersionNotCheckable(RuntimeError):
    """The cluster's Kubernetes version has no schemas in the installed `kubernetes-validate`."""


def kubernetes_errors(resource: RegisteredResource, version: str) -> list[str]:
    """Why the API server of Kubernetes `version` would refuse this object (strict: unknown fields fail)."""
    try:
        kubernetes_validate.validate(kubernetes_manifest(resource), version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(map(str, error.path)) or "object"
        return [f"{resource.name} ({resource.type}): {where}: {error.message}"]
    except kubernetes_validate.utils.SchemaNotFoundError as error:
        return [f"{resource.name} ({resource.type}): {error}"]
    except kubernetes_validate.utils.VersionNotSupportedError:
        raise VersionNotCheckable(
            f"Kubernetes {version} has no schemas in the installed kubernetes-validate; "
            f"versions that can be checked: {', '.join(checkable_kubernetes_versions())}"
        ) from None
    return []


def project_file_errors(path: Path = PROJECT_DIR / "Pulumi.yaml") -> list[str]:
    schema = _load(PROJECT_SCHEMA)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{path.name}: {'.'.join(map(str, e.absolute_path)) or 'file'}: {e.message}"
        for e in validator.iter_errors(document)
    ]
