"""A local fake of the Exoscale v2 API that checks every request against the real OpenAPI document.

The document is the one shipped in the installed ``exoscale`` client (``exoscale/openapi.json``).
Every request's method and path must be an operation of that document; its path parameters, query
and JSON body are validated with ``jsonschema`` (Draft 4 semantics, which is what OpenAPI 3.0's
``exclusiveMinimum: true`` means), ``$ref`` resolved, OpenAPI's ``nullable`` honoured, ``format: uuid``
checked, ``integer`` meaning a JSON integer (``1.0`` is rejected). A request the real API would reject
is answered with HTTP 400 (403 without an ``EXO2-HMAC-SHA256`` Authorization header) and recorded in
``violations``: tests assert that list is empty. The fake's own answers are validated against the
response schemas too (kind ``"response"``), so it cannot drift from the document unnoticed.

Strictness beyond the document: an object schema that declares ``properties`` but no
``additionalProperties`` is treated as closed (``strict=True``, the default), so an undeclared field,
a misspelt one, or an unknown GPU key in ``nvidia-mig-profiles`` is a violation. A few semantic checks
the document cannot express are violations of kind ``"semantic"`` too: an unknown instance-type id, MIG
profiles on an instance type whose GPU is not the profile's key.

State: instance types, SKS clusters and their nodepools in memory; async operations go
``pending -> success`` after ``pending_polls`` polls (a poll of the operation or a GET of the nodepool
it references both count as time passing).

Fault injection:
  * ``fail_requests(operation_id, count, status=500, message=..., after_apply=False)`` - the next
    ``count`` matching requests get ``status`` with an API-style body ``{"message": ...}``; with
    ``after_apply`` the request takes effect first (a 5xx after the commit).
  * ``fail_next_operation(operation_id, state="failure", reason="fault", message=...)`` - the next
    async operation started by ``operation_id`` ends in that state.
  * ``stall_next_operation(operation_id)`` - the next such operation stays pending forever.
  * ``delay_requests(operation_id, count, seconds)`` - answer late (real time), so a client with a
    shorter HTTP timeout gives up: HTTP timeouts.
  * ``delete_nodepool_out_of_band`` / ``update_nodepool_out_of_band`` - change the state behind the
    client's back (drift, a delete that answers 404).

Use: ``with running_fake_exoscale_api() as api: ...``, ``with FakeExoscaleAPI() as api: ...`` or the
pytest fixture ``fake_exoscale_api``; ``use_fake_exoscale_api(monkeypatch, api)`` points
``EXOSCALE_API_ENDPOINT`` at it and sets test credentials.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import exoscale
import jsonschema
import pytest

from config.mig_catalogue import MIG_KEY_BY_FAMILY

SPEC_PATH = Path(exoscale.__file__).parent / "openapi.json"
AUTH_SCHEME = "EXO2-HMAC-SHA256"
BASE_PATH = "/v2"
TEST_KEY = "EXOfake0000000000000000000000"
TEST_SECRET = "fake-secret-do-not-leak-0123456789"  # a test value

_NS = uuid.UUID("5b7a6f64-2d0e-4b9c-9d0b-7b3a4f9e2c11")
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


def stable_uuid(name: str) -> str:
    """A deterministic UUID for a name (instance types, clusters and nodepools of the fake)."""
    return str(uuid.uuid5(_NS, name))


@dataclass
class RecordedRequest:
    method: str
    path: str  # below the /v2 base, e.g. /sks-cluster/<id>/nodepool
    query: dict[str, list[str]]
    body: Any  # parsed JSON, or the raw text if it was not JSON, or None
    operation_id: str | None
    credential: str | None  # the API key named in the Authorization header
    status: int = 0


@dataclass
class Violation:
    kind: str  # route | auth | path | query | body | semantic | response | unimplemented
    method: str
    path: str
    operation_id: str | None
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.method} {self.path} ({self.operation_id}): {self.message}"


@dataclass
class _Fault:
    status: int
    message: str
    after_apply: bool


@dataclass
class _Operation:
    id: str
    reference: dict[str, str]
    final_state: str = "success"  # success | failure | timeout | stall
    reason: str = "fault"
    message: str = ""
    ticks_left: int = 1
    state: str = "pending"
    on_success: Callable[[], None] | None = None
    on_failure: Callable[[], None] | None = None

    def tick(self) -> None:
        if self.state != "pending" or self.final_state == "stall":
            return
        if self.ticks_left > 0:
            self.ticks_left -= 1
            return
        self.state = self.final_state
        callback = self.on_success if self.state == "success" else self.on_failure
        if callback is not None:
            callback()

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "state": self.state, "reference": dict(self.reference)}
        if self.state in ("failure", "timeout"):
            body["reason"] = self.reason
            body["message"] = self.message
        return body


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    params: dict[str, str]  # regex group -> parameter name
    operation_id: str
    operation: dict[str, Any]


class _ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def default_instance_types(zone: str = "de-fra-1") -> list[dict[str, Any]]:
    """A small catalogue: three MIG-capable GPU types and a CPU one, with stable UUIDs."""

    def item(family: str, size: str, cpus: int, memory: int, gpus: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": stable_uuid(f"instance-type/{family}.{size}"),
            "family": family,
            "size": size,
            "cpus": cpus,
            "memory": memory,
            "authorized": True,
            "zones": [zone],
        }
        if gpus is not None:
            entry["gpus"] = gpus
        return entry

    gib = 1024**3
    return [
        item("gpurtx6000pro", "small", 16, 128 * gib, 1),
        item("gpua30", "small", 12, 56 * gib, 1),
        item("gpub300", "small", 30, 240 * gib, 1),
        item("standard", "medium", 2, 4 * gib, None),
    ]


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

    def schema_enum(self, name: str) -> list[Any]:
        enum: list[Any] = self.spec["components"]["schemas"][name].get("enum", [])
        return enum


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


class FakeExoscaleAPI:
    """An in-memory Exoscale API on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        zone: str = "de-fra-1",
        pending_polls: int = 1,
        strict: bool = True,
        spec_path: Path = SPEC_PATH,
        instance_types: list[dict[str, Any]] | None = None,
    ) -> None:
        self.zone = zone
        self.pending_polls = pending_polls
        self.checker = openapi_checker(spec_path, strict)
        self.instance_types = instance_types if instance_types is not None else default_instance_types(zone)
        self.clusters: dict[str, dict[str, Any]] = {}
        self.nodepools: dict[str, dict[str, dict[str, Any]]] = {}
        self.operations: dict[str, _Operation] = {}
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, list[float]] = {}
        self._operation_outcomes: dict[str, list[tuple[str, str, str]]] = {}
        self._counter = 0
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeExoscaleAPI:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="fake-exoscale-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeExoscaleAPI:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake Exoscale API is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The endpoint, including /v2, for EXOSCALE_API_ENDPOINT or Client(url=...)."""
        return f"http://127.0.0.1:{self.port}{BASE_PATH}"

    # -- set-up and inspection -------------------------------------------------------------------

    def add_cluster(self, name: str = "sks-mig", cluster_id: str | None = None) -> str:
        with self._lock:
            cluster_id = cluster_id or stable_uuid(f"cluster/{name}")
            self.clusters[cluster_id] = {
                "id": cluster_id,
                "name": name,
                "state": "running",
                "level": "pro",
                "cni": "cilium",
                "version": "1.33.1",
                "addons": ["exoscale-cloud-controller", "exoscale-container-storage-interface"],
                "created-at": "2026-01-01T00:00:00Z",
                "endpoint": f"https://{cluster_id}.sks-{self.zone}.exo.io:443",
            }
            self.nodepools.setdefault(cluster_id, {})
            return cluster_id

    def instance_type_id(self, name: str) -> str:
        family, _, size = name.partition(".")
        for item in self.instance_types:
            if item["family"] == family and item["size"] == size:
                return str(item["id"])
        raise KeyError(name)

    def nodepool(self, cluster_id: str, nodepool_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.nodepools[cluster_id][nodepool_id])

    def requests_for(self, operation_id: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.operation_id == operation_id]

    def bodies(self, operation_id: str) -> list[Any]:
        return [r.body for r in self.requests_for(operation_id)]

    def clear_records(self) -> None:
        with self._lock:
            self.requests.clear()
            self.violations.clear()

    def assert_no_violations(self) -> None:
        if self.violations:
            raise AssertionError("OpenAPI violations:\n" + "\n".join(map(str, self.violations)))

    # -- faults -------------------------------------------------------------------------------

    def fail_requests(
        self,
        operation_id: str,
        count: int = 1,
        *,
        status: int = 500,
        message: str | None = None,
        after_apply: bool = False,
    ) -> None:
        self._check_operation_id(operation_id)
        text = message or ("Internal Server Error" if status >= 500 else f"HTTP {status}")
        with self._lock:
            self._faults.setdefault(operation_id, []).extend(_Fault(status, text, after_apply) for _ in range(count))

    def fail_next_operation(
        self, operation_id: str, *, state: str = "failure", reason: str = "fault", message: str = "operation failed"
    ) -> None:
        self._check_operation_id(operation_id)
        if state not in ("failure", "timeout"):
            raise ValueError(state)
        if reason not in self.checker.spec["components"]["schemas"]["operation"]["properties"]["reason"]["enum"]:
            raise ValueError(f"{reason!r} is not an operation reason of the API")
        with self._lock:
            self._operation_outcomes.setdefault(operation_id, []).append((state, reason, message))

    def delay_requests(self, operation_id: str, count: int = 1, seconds: float = 0.3) -> None:
        """The next ``count`` matching requests are answered only after ``seconds`` (real time), so a
        client with a shorter HTTP timeout gives up on them. Use it on reads: the request still takes
        effect after the delay, as a real server would."""
        self._check_operation_id(operation_id)
        with self._lock:
            self._delays.setdefault(operation_id, []).extend([seconds] * count)

    def stall_next_operation(self, operation_id: str) -> None:
        self._check_operation_id(operation_id)
        with self._lock:
            self._operation_outcomes.setdefault(operation_id, []).append(("stall", "", ""))

    def delete_nodepool_out_of_band(self, cluster_id: str, nodepool_id: str) -> None:
        with self._lock:
            del self.nodepools[cluster_id][nodepool_id]

    def update_nodepool_out_of_band(self, cluster_id: str, nodepool_id: str, **fields: Any) -> None:
        """Change a nodepool behind the client's back; field names in API form (``disk-size``) or
        with underscores (``disk_size``)."""
        with self._lock:
            nodepool = self.nodepools[cluster_id][nodepool_id]
            for name, value in fields.items():
                nodepool[name.replace("_", "-")] = value

    def _check_operation_id(self, operation_id: str) -> None:
        if operation_id not in self.checker.by_operation:
            raise KeyError(f"{operation_id!r} is not an operation of the OpenAPI document")

    # -- request handling ---------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Any]:
        with self._lock:
            route, _, _ = self.checker.route(method, urlsplit(raw_path).path.removeprefix(BASE_PATH))
            delays = self._delays.get(route.operation_id) if route is not None else None
            delay = delays.pop(0) if delays else 0.0
        if delay:
            time.sleep(delay)  # outside the lock: the client times out while the fake stays responsive
        with self._lock:
            return self._handle(method, raw_path, headers, raw_body)

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Any]:
        url = urlsplit(raw_path)
        path = url.path[len(BASE_PATH) :] if url.path.startswith(BASE_PATH + "/") else url.path
        query = parse_qs(url.query, keep_blank_values=True)
        text = raw_body.decode("utf-8", errors="replace") if raw_body else ""
        body: Any = None
        body_is_json = True
        if text:
            try:
                body = json.loads(text)
            except ValueError:
                body, body_is_json = text, False
        auth = _header(headers, "Authorization") or ""
        credential = re.search(r"credential=([^,\s]+)", auth)
        record = RecordedRequest(method, path, query, body, None, credential.group(1) if credential else None)
        self.requests.append(record)

        def reject(kind: str, status: int, message: str) -> tuple[int, Any]:
            self.violations.append(Violation(kind, method, path, record.operation_id, message))
            record.status = status
            return status, {"message": message}

        if not url.path.startswith(BASE_PATH + "/"):
            return reject("route", 404, f"not under {BASE_PATH}: {url.path}")
        route, params, path_known = self.checker.route(method, path)
        if route is None:
            if path_known:
                return reject("route", 405, f"method {method} not allowed on {path}")
            return reject("route", 404, f"no operation of the OpenAPI document matches {method} {path}")
        record.operation_id = route.operation_id
        if not auth.startswith(AUTH_SCHEME):
            return reject("auth", 403, f"missing or invalid Authorization header (expected {AUTH_SCHEME} ...)")
        if not body_is_json:
            return reject("body", 400, "request body is not valid JSON")
        if text and "json" not in (_header(headers, "Content-Type") or ""):
            return reject("body", 400, "request body must be sent as application/json")
        problems = self.checker.request_problems(route, params, query, body, bool(text))
        if problems:
            kind = problems[0][0]
            return reject(kind, 400, "Invalid request: " + "; ".join(msg for _, msg in problems))

        faults = self._faults.get(route.operation_id)
        fault = faults.pop(0) if faults else None
        if fault is not None and not fault.after_apply:
            record.status = fault.status
            return fault.status, {"message": fault.message}

        handler = getattr(self, "_op_" + route.operation_id.replace("-", "_"), None)
        if handler is None:
            return reject("unimplemented", 501, f"the fake does not implement {route.operation_id}")
        try:
            status, payload = handler(params, body or {})
        except _ApiError as exc:
            if exc.status == 400:
                return reject("semantic", 400, exc.message)
            status, payload = exc.status, {"message": exc.message}
        if status == 200:
            for problem in self.checker.response_problems(route, status, payload):
                self.violations.append(
                    Violation("response", method, path, route.operation_id, f"the fake's answer: {problem}")
                )
        if fault is not None:  # after_apply: the request took effect, the answer is an error
            status, payload = fault.status, {"message": fault.message}
        record.status = status
        return status, payload

    # -- operations of the API ------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        self._counter += 1
        return stable_uuid(f"{kind}/{self._counter}")

    def _start_operation(
        self,
        operation_id: str,
        reference: dict[str, str],
        on_success: Callable[[], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        outcomes = self._operation_outcomes.get(operation_id)
        state, reason, message = outcomes.pop(0) if outcomes else ("success", "", "")
        op = _Operation(
            id=self._new_id("operation"),
            reference=reference,
            final_state=state,
            reason=reason or "fault",
            message=message,
            ticks_left=self.pending_polls,
            on_success=on_success,
            on_failure=on_failure,
        )
        self.operations[op.id] = op
        return op.as_json()

    def _cluster(self, cluster_id: str) -> dict[str, Any]:
        if cluster_id not in self.clusters:
            raise _ApiError(404, f"SKS cluster {cluster_id} not found")
        return self.clusters[cluster_id]

    def _pool(self, cluster_id: str, nodepool_id: str) -> dict[str, Any]:
        self._cluster(cluster_id)
        pool = self.nodepools[cluster_id].get(nodepool_id)
        if pool is None:
            raise _ApiError(404, f"SKS nodepool {nodepool_id} not found")
        return pool

    def _instance_type(self, type_id: str) -> dict[str, Any]:
        for item in self.instance_types:
            if item["id"] == type_id:
                return item
        raise _ApiError(400, f"invalid instance-type: no instance type with id {type_id}")

    def _check_mig(self, instance_type: dict[str, Any], profiles: dict[str, str] | None) -> None:
        if not profiles:
            return
        expected = MIG_KEY_BY_FAMILY.get(instance_type["family"])
        if expected is None:
            raise _ApiError(400, f"nvidia-mig-profiles: instance type family {instance_type['family']} has no MIG GPU")
        for key in profiles:
            if key != expected:
                raise _ApiError(
                    400, f"nvidia-mig-profiles: key {key} does not match instance type family {instance_type['family']}"
                )

    def _reference(self, cluster_id: str, nodepool_id: str) -> dict[str, str]:
        return {
            "id": nodepool_id,
            "link": f"{BASE_PATH}/sks-cluster/{cluster_id}/nodepool/{nodepool_id}",
            "command": "get-sks-nodepool",
        }

    def _set_state(self, cluster_id: str, nodepool_id: str, state: str) -> Callable[[], None]:
        def apply() -> None:
            pool = self.nodepools.get(cluster_id, {}).get(nodepool_id)
            if pool is not None:
                pool["state"] = state

        return apply

    def _op_list_instance_types(self, _params: dict[str, str], _body: Any) -> tuple[int, Any]:
        return 200, {"instance-types": copy.deepcopy(self.instance_types)}

    def _op_get_instance_type(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        for item in self.instance_types:
            if item["id"] == params["id"]:
                return 200, copy.deepcopy(item)
        raise _ApiError(404, f"instance type {params['id']} not found")

    def _op_get_sks_cluster(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        cluster = copy.deepcopy(self._cluster(params["id"]))
        cluster["nodepools"] = copy.deepcopy(list(self.nodepools[params["id"]].values()))
        return 200, cluster

    def _op_get_operation(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        op = self.operations.get(params["id"])
        if op is None:
            raise _ApiError(404, f"operation {params['id']} not found")
        op.tick()
        return 200, op.as_json()

    def _op_create_sks_nodepool(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        cluster_id = params["id"]
        self._cluster(cluster_id)
        instance_type = self._instance_type(body["instance-type"]["id"])
        self._check_mig(instance_type, body.get("nvidia-mig-profiles"))
        nodepool_id = self._new_id("nodepool")
        pool: dict[str, Any] = {
            "id": nodepool_id,
            "name": body["name"],
            "description": body.get("description", ""),
            "instance-type": {"id": instance_type["id"]},
            "size": body["size"],
            "disk-size": body["disk-size"],
            "state": "creating",
            "instance-pool": {"id": self._new_id("instance-pool")},
            "template": {"id": stable_uuid("template/sks-1.33.1")},
            "version": "1.33.1",
            "instance-prefix": body.get("instance-prefix", "pool"),
            "public-ip-assignment": body.get("public-ip-assignment", "inet4"),
            "created-at": "2026-01-01T00:00:00Z",
        }
        for key in ("labels", "taints", "nvidia-mig-profiles", "security-groups", "anti-affinity-groups"):
            if body.get(key):
                pool[key] = copy.deepcopy(body[key])
        self.nodepools[cluster_id][nodepool_id] = pool
        return 200, self._start_operation(
            "create-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=self._set_state(cluster_id, nodepool_id, "running"),
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_get_sks_nodepool(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        nodepool_id = params["sks-nodepool-id"]
        for op in list(self.operations.values()):  # time passes for the pool's operations
            if op.reference.get("id") == nodepool_id:
                op.tick()
        return 200, copy.deepcopy(self._pool(params["id"], nodepool_id))

    def _op_update_sks_nodepool(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        cluster_id, nodepool_id = params["id"], params["sks-nodepool-id"]
        pool = self._pool(cluster_id, nodepool_id)
        type_id = (body.get("instance-type") or pool["instance-type"])["id"]
        profiles = body["nvidia-mig-profiles"] if "nvidia-mig-profiles" in body else pool.get("nvidia-mig-profiles")
        self._check_mig(self._instance_type(type_id), profiles)
        for key, value in body.items():
            if value is None or (value == {} and key == "nvidia-mig-profiles"):
                pool.pop(key, None)
            else:
                pool[key] = copy.deepcopy(value)
        pool["state"] = "updating"
        return 200, self._start_operation(
            "update-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=self._set_state(cluster_id, nodepool_id, "running"),
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_scale_sks_nodepool(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        cluster_id, nodepool_id = params["id"], params["sks-nodepool-id"]
        pool = self._pool(cluster_id, nodepool_id)
        pool["size"] = body["size"]
        pool["state"] = "scaling"
        return 200, self._start_operation(
            "scale-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=self._set_state(cluster_id, nodepool_id, "running"),
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_delete_sks_nodepool(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        cluster_id, nodepool_id = params["id"], params["sks-nodepool-id"]
        pool = self._pool(cluster_id, nodepool_id)
        pool["state"] = "deleting"

        def remove() -> None:
            self.nodepools.get(cluster_id, {}).pop(nodepool_id, None)

        return 200, self._start_operation(
            "delete-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=remove,
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (HTTP timeout) closed the socket: nothing to report


class _Handler(BaseHTTPRequestHandler):
    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        fake: FakeExoscaleAPI = self.server.fake  # type: ignore[attr-defined]
        try:
            status, payload = fake.handle(self.command, self.path, dict(self.headers.items()), raw)
        except Exception as exc:  # a bug in the fake must show, not hang the client
            status, payload = 599, {"message": f"fake Exoscale API crashed: {type(exc).__name__}: {exc}"}
            fake.violations.append(Violation("fake-crash", self.command, self.path, None, str(payload["message"])))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def running_fake_exoscale_api(**kwargs: Any) -> Iterator[FakeExoscaleAPI]:
    """Start a fake API (keyword arguments as for FakeExoscaleAPI) and stop it afterwards."""
    api = FakeExoscaleAPI(**kwargs)
    api.start()
    try:
        yield api
    finally:
        api.stop()


def use_fake_exoscale_api(
    monkeypatch: pytest.MonkeyPatch, api: FakeExoscaleAPI, key: str = TEST_KEY, secret: str = TEST_SECRET
) -> None:
    """Point EXOSCALE_API_ENDPOINT at the fake and set test credentials in the environment."""
    monkeypatch.setenv("EXOSCALE_API_ENDPOINT", api.url)
    monkeypatch.setenv("EXOSCALE_API_KEY", key)
    monkeypatch.setenv("EXOSCALE_API_SECRET", secret)


@pytest.fixture
def fake_exoscale_api() -> Iterator[FakeExoscaleAPI]:
    """A running fake API with one SKS cluster (``api.clusters``); not wired to the environment."""
    with running_fake_exoscale_api() as api:
        api.add_cluster()
        yield api
