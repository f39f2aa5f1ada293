"""Check a custom resource against its CRD, offline, the way the API server checks it on create.

The CRDs are the schemas in `schemas/crds/` (their sources are in `schemas/crds/SOURCES.md`); any CRD
document in the `apiextensions.k8s.io/v1` form works. What is checked, for the served version:

- the object against the version's `openAPIV3Schema` (a structural schema: OpenAPI 3.0, which is JSON
  Schema draft 4 plus `nullable` and the `x-kubernetes-*` extensions), with `jsonschema`. Strict: a field
  the schema does not declare is an error, where the API server would prune it silently (or refuse it
  under strict field validation) — a pruned `userData` would leave GPU nodes without MIG;
- the schema's `x-kubernetes-validations` CEL rules, with the `common-expression-language` package and
  the one Kubernetes CEL library function the Karpenter CRDs use (`string.find(regex)`). Transition
  rules (those reading `oldSelf`) only apply to updates and are skipped;
- `metadata`: a name that is a DNS subdomain, no namespace on a cluster-scoped kind, valid labels.

No maintained Python package validates custom resources against a CRD (kubernetes-validate knows only
the built-in kinds), hence this small module.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cel
import jsonschema
import yaml

CRD_DIR = Path(__file__).resolve().parent.parent / "schemas" / "crds"

# Kubernetes' own name and label rules (apimachinery pkg/util/validation).
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# What of an OpenAPI schema node is JSON Schema draft 4, as is.
_PLAIN_KEYWORDS = (
    "type", "required", "enum", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "minProperties", "maxProperties",
    "multipleOf",
)  # fmt: skip


@dataclass(frozen=True)
class CrdVersion:
    """One served version of a CRD: what a custom resource of that apiVersion and kind must satisfy."""

    api_version: str
    kind: str
    cluster_scoped: bool
    schema: dict[str, Any]
    source: str


def load_crds(directory: Path = CRD_DIR) -> dict[tuple[str, str], CrdVersion]:
    """Every served version of every CRD in `directory`, by (apiVersion, kind)."""
    return dict(_load_crds(directory))


@cache
def _load_crds(directory: Path) -> tuple[tuple[tuple[str, str], CrdVersion], ...]:
    found: dict[tuple[str, str], CrdVersion] = {}
    for path in sorted(directory.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("kind") != "CustomResourceDefinition":
            continue
        spec = document["spec"]
        for version in spec["versions"]:
            if not version.get("served", False):
                continue
            api_version = f"{spec['group']}/{version['name']}"
            found[(api_version, spec["names"]["kind"])] = CrdVersion(
                api_version=api_version,
                kind=spec["names"]["kind"],
                cluster_scoped=spec["scope"] == "Cluster",
                schema=version["schema"]["openAPIV3Schema"],
                source=path.name,
            )
    return tuple(found.items())


def is_custom_resource(type_token: str, directory: Path = CRD_DIR) -> bool:
    """Whether a Pulumi type token `kubernetes:<group>/<version>:<Kind>` is a kind of the CRDs here (the
    plan checks those with this module, the built-in kinds with kubernetes-validate)."""
    _, _, rest = type_token.partition(":")
    api_version, _, kind = rest.rpartition(":")
    return (api_version, kind) in load_crds(directory)


def custom_resource_errors(obj: Mapping[str, Any], directory: Path = CRD_DIR) -> list[str]:
    """Why the API server would refuse to create `obj` (a whole object: apiVersion, kind, metadata,
    spec); empty when it would accept it."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    name = (obj.get("metadata") or {}).get("name", "<unnamed>")
    crds = load_crds(directory)
    crd = crds.get((str(api_version), str(kind)))
    if crd is None:
        known = ", ".join(f"{k} ({v})" for v, k in sorted(crds))
        return [f"{kind} {name}: no CRD schema for apiVersion {api_version!r} kind {kind!r}; known: {known}"]
    errors = _metadata_errors(obj.get("metadata"), crd.cluster_scoped)
    errors += schema_errors(obj, crd.schema)
    return [f"{kind} {name}: {error}" for error in errors]


def schema_errors(value: Any, openapi_schema: Mapping[str, Any]) -> list[str]:
    """`value` against one structural schema: first its shape, then (if the shape is right) its CEL rules."""
    validator = jsonschema.Draft4Validator(_json_schema(openapi_schema))
    shape = [
        f"{_path(error.absolute_path)}: {error.message}"
        for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if shape:
        return shape
    return [f"{path}: {message}" for path, message in _rule_errors(openapi_schema, value, ())]


def _json_schema(node: Mapping[str, Any]) -> dict[str, Any]:
    """A structural schema node as JSON Schema draft 4, unknown fields forbidden where the API server
    would prune them."""
    out: dict[str, Any] = {k: node[k] for k in _PLAIN_KEYWORDS if k in node}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    for key in ("anyOf", "allOf", "oneOf"):
        if key in node:
            out[key] = [_json_schema(sub) for sub in node[key]]
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "not" in node:
        out["not"] = _json_schema(node["not"])
    if "items" in node:
        out["items"] = _json_schema(node["items"])
    if "properties" in node:
        out["properties"] = {k: _json_schema(v) for k, v in node["properties"].items()}
    extra = node.get("additionalProperties")
    if isinstance(extra, Mapping):
        out["additionalProperties"] = _json_schema(extra)
    elif extra is not None:
        out["additionalProperties"] = bool(extra)
    elif "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def _rule_errors(node: Mapping[str, Any], value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str, str]]:
    """The `x-kubernetes-validations` rules that `value` (and what is inside it) breaks."""
    for rule in node.get("x-kubernetes-validations", ()):
        if "oldSelf" in rule["rule"]:
            continue  # a transition rule: only evaluated on update
        problem = _evaluate(rule["rule"], value)
        if problem is not None:
            yield _path(path), (rule.get("message") or f"failed rule {rule['rule']!r}") + problem
    if isinstance(value, Mapping):
        properties = node.get("properties", {})
        extra = node.get("additionalProperties")
        for key, item in value.items():
            child = properties.get(key, extra if isinstance(extra, Mapping) else None)
            if child is not None and item is not None:
                yield from _rule_errors(child, item, (*path, key))
    elif isinstance(value, list) and "items" in node:
        for index, item in enumerate(value):
            yield from _rule_errors(node["items"], item, (*path, index))


def _evaluate(rule: str, value: Any) -> str | None:
    """None when the rule holds for `self` = value; otherwise why not (empty when it is simply false)."""
    context = cel.Context()
    context.add_variable("self", value)
    context.add_function("find", _find)
    try:
        result = cel.evaluate(rule, context)
    except Exception as error:  # the API server refuses an object whose rule fails to evaluate, too
        return f" (evaluation error: {error})"
    return None if result is True else ""


def _find(text: str, pattern: str) -> str:
    """Kubernetes' CEL `string.find(regex)`: the first match, or "" (k8s.io/apiserver pkg/cel/library)."""
    match = re.search(pattern, text)
    return match.group(0) if match else ""


def _metadata_errors(metadata: Any, cluster_scoped: bool) -> list[str]:
    if not isinstance(metadata, Mapping):
        return ["metadata: required, with a name"]
    errors = []
    name = metadata.get("name")
    if not isinstance(name, str) or len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        errors.append(f"metadata.name: {name!r} is not a DNS subdomain (lowercase letters, digits, '-', '.')")
    if cluster_scoped and metadata.get("namespace"):
        errors.append(f"metadata.namespace: {metadata['namespace']!r} set on a cluster-scoped kind")
    for key, label in (metadata.get("labels") or {}).items():
        prefix, _, label_name = str(key).rpartition("/")
        if (prefix and not _DNS_SUBDOMAIN.match(prefix)) or len(label_name) > 63 or not _LABEL_NAME.match(label_name):
            errors.append(f"metadata.labels: {key!r} is not a valid label key")
        if not isinstance(label, str) or len(label) > 63 or not _LABEL_VALUE.match(label):
            errors.append(f"metadata.labels.{key}: {label!r} is not a valid label value")
    return errors


def _path(parts: Any) -> str:
    text = ".".join(str(part) for part in parts)
    return text or "object"
