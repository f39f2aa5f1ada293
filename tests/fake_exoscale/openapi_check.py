"""The Exoscale OpenAPI document as a request and response checker for the fake API.

The document is the one shipped in the installed ``exoscale`` client (``exoscale/openapi.json``).
A request's method and path must be an operation of that document; its path parameters, query
and JSON body are validated with ``jsonschema`` (Draft 4 semantics, which is what OpenAPI 3.0's
``exclusiveMinimum: true`` means), ``$ref`` resolved, OpenAPI's ``nullable`` honoured, ``format: uuid``
checked, ``integer`` meaning a JSON integer (``1.0`` is rejected).

Strictness beyond the document: an object schema that declares ``properties`` but no
``additionalProperties`` is treated as closed (``strict=True``, the default), so an undeclared field,
a misspelt one, or an unknown GPU key in ``nvidia-mig-profiles`` is a problem.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import exoscale
import jsonschema

SPEC_PATH = Path(exoscale.__file__).parent / "openapi.json"
# The document's server URL is https://api-{zone}.exoscale.com/v2: its paths sit below /v2.
BASE_PATH = "/v2"

_OPENAPI_ONLY = {
    "nullable",
    "readOnly",
    "writeOnly",
    "example",
    "examples",
    "discriminator",
    "xml",
    "externalDocs",
    "deprecated",
}


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    params: dict[str, str]  # regex group -> parameter name
    operation_id: str
    operation: dict[str, Any]


def _to_json_schema(node: Any, strict: bool) -> Any:
    """Translate an OpenAPI 3.0 schema object into Draft 4 JSON Schema."""
    if isinstance(node, list):
        return [_to_json_schema(item, strict) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = {"$ref": node["$ref"]}
        return {"anyOf": [{"type": "null"}, ref]} if node.get("nullable") else ref
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: _to_json_schema(prop, strict) for name, prop in value.items()}
        elif key in ("items", "not", "allOf", "anyOf", "oneOf") or (
            key == "additionalProperties" and isinstance(value, dict)
        ):
            out[key] = _to_json_schema(value, strict)
        else:
            out[key] = copy.deepcopy(value)
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else [*out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if strict and "properties" in out and "additionalProperties" not in node:
        out["additionalProperties"] = False
    return out


class OpenAPIChecker:
    """Validates requests and responses against the OpenAPI document."""

    def __init__(self, spec_path: Path = SPEC_PATH, strict: bool = True) -> None:
        with spec_path.open(encoding="utf-8") as handle:
            self.spec: dict[str, Any] = json.load(handle)
        self.strict = strict
        schemas = self.spec.get("components", {}).get("schemas", {})
        self._components = {"schemas": {n: _to_json_schema(s, strict) for n, s in schemas.items()}}
        self._validators: dict[str, jsonschema.Draft4Validator] = {}
        self.routes: list[_Route] = []
        for template, item in self.spec["paths"].items():
            for method, operation in item.items():
                params: dict[str, str] = {}
                pattern = ""
                for index, piece in enumerate(re.split(r"\{([^}]+)\}", template)):
                    if index % 2 == 0:
                        pattern += re.escape(piece)
                    else:
                        params[f"p{len(params)}"] = piece
                        pattern += f"(?P<p{len(params) - 1}>[^/:]+)"
                self.routes.append(
                    _Route(
                        method.upper(),
                        template,
                        re.compile(f"^{pattern}$"),
                        params,
                        operation["operationId"],
                        operation,
                    )
                )
        self.by_operation = {route.operation_id: route for route in self.routes}

    def validator(self, key: str, schema: dict[str, Any]) -> jsonschema.Draft4Validator:
        if key not in self._validators:
            root = dict(_to_json_schema(schema, self.strict))
            root["components"] = self._components
            self._validators[key] = jsonschema.Draft4Validator(root, format_checker=jsonschema.FormatChecker())
        return self._validators[key]

    def errors(self, key: str, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = self.validator(key, schema)
        found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [f"{_where(e.absolute_path)}: {e.message}" for e in found]

    def route(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """(route, path parameters, whether the path exists for another method)."""
        path_known = False
        for route in self.routes:
            match = route.regex.match(path)
            if match is None:
                continue
            if route.method != method:
                path_known = True
                continue
            return route, {route.params[g]: v for g, v in match.groupdict().items()}, True
        return None, {}, path_known

    def request_problems(
        self, route: _Route, path_params: dict[str, str], query: dict[str, list[str]], body: Any, has_body: bool
    ) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        op = route.operation
        declared_query = set()
        for param in op.get("parameters", []):
            name, where, schema = param["name"], param["in"], param.get("schema", {})
            key = f"{route.operation_id}/{where}/{name}"
            if where == "path":
                problems += [("path", f"{name} {msg}") for msg in self.errors(key, schema, path_params.get(name))]
            elif where == "query":
                declared_query.add(name)
                if name not in query:
                    if param.get("required"):
                        problems.append(("query", f"missing required query parameter {name!r}"))
                    continue
                for raw in query[name]:
                    value = _coerce_query(raw, schema)
                    problems += [("query", f"{name}={raw!r} {msg}") for msg in self.errors(key, schema, value)]
        for name in sorted(set(query) - declared_query):
            problems.append(("query", f"undeclared query parameter {name!r}"))
        request_body = op.get("requestBody")
        if request_body is None:
            if has_body:
                problems.append(("body", "this operation takes no request body"))
            return problems
        if not has_body:
            if request_body.get("required"):
                problems.append(("body", "a JSON request body is required"))
            return problems
        schema = request_body["content"]["application/json"]["schema"]
        problems += [("body", msg) for msg in self.errors(f"{route.operation_id}/body", schema, body)]
        return problems

    def response_problems(self, route: _Route, status: int, payload: Any) -> list[str]:
        response = route.operation.get("responses", {}).get(str(status))
        if response is None or "content" not in response:
            return []
        schema = response["content"]["application/json"]["schema"]
        return self.errors(f"{route.operation_id}/response/{status}", schema, payload)


_CHECKERS: dict[tuple[Path, bool], OpenAPIChecker] = {}
_CHECKERS_LOCK = threading.Lock()


def openapi_checker(spec_path: Path = SPEC_PATH, strict: bool = True) -> OpenAPIChecker:
    """A shared checker per document (loading and translating the document is the slow part)."""
    with _CHECKERS_LOCK:
        key = (spec_path, strict)
        if key not in _CHECKERS:
            _CHECKERS[key] = OpenAPIChecker(spec_path, strict=strict)
        return _CHECKERS[key]


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return "/".join(parts) if parts else "(root)"


def _coerce_query(raw: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw
