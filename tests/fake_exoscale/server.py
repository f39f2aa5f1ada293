"""The fake Exoscale v2 API served over HTTP on 127.0.0.1, checking every request against the
real OpenAPI document (``openapi_check.py``) before the simulated state (``state.py``) answers it.

A request the real API would reject is answered with HTTP 400 (403 without an ``EXO2-HMAC-SHA256``
Authorization header) and recorded in ``violations``: tests assert that list is empty. The fake's
own answers are validated against the response schemas too (kind ``"response"``), so it cannot drift
from the document unnoticed. Unknown instance-type ids and MIG profiles on the wrong GPU are
violations of kind ``"semantic"``.

Faults on requests (those on operations are the state's):
  * ``fail_requests(operation_id, count, status=500, message=..., after_apply=False)`` - the next
    ``count`` matching requests get ``status`` with an API-style body ``{"message": ...}``; with
    ``after_apply`` the request takes effect first (a 5xx after the commit).
  * ``delay_requests(operation_id, count, seconds)`` - answer late (real time), so a client with a
    shorter HTTP timeout gives up: HTTP timeouts.

Use: ``with running_fake_exoscale_api() as api: ...`` or ``with FakeExoscaleAPI() as api: ...``;
``use_fake_exoscale_api(monkeypatch, api)`` points ``EXOSCALE_API_ENDPOINT`` at it and sets test
credentials. The ``fake_api`` fixture in ``tests/conftest.py`` does all three with one cluster.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from components.mig_nodepool.settings import ENV_ENDPOINT, ENV_KEY, ENV_SECRET
from tests.fake_exoscale.openapi_check import BASE_PATH, SPEC_PATH, openapi_checker
from tests.fake_exoscale.state import ApiError, SimulatedExoscale

AUTH_SCHEME = "EXO2-HMAC-SHA256"
TEST_KEY = "EXOfake0000000000000000000000"
TEST_SECRET = "fake-secret-do-not-leak-0123456789"  # a test value


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


class FakeExoscaleAPI(SimulatedExoscale):
    """The simulated Exoscale as an HTTP API on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        *,
        zone: str = "de-fra-1",
        pending_polls: int = 1,
        strict: bool = True,
        spec_path: Path = SPEC_PATH,
        instance_types: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(
            openapi_checker(spec_path, strict), zone=zone, pending_polls=pending_polls, instance_types=instance_types
        )
        self.requests: list[RecordedRequest] = []
        self.violations: list[Violation] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, list[float]] = {}
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

    # -- records ---------------------------------------------------------------------------------

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

    def delay_requests(self, operation_id: str, count: int = 1, seconds: float = 0.3) -> None:
        """The next ``count`` matching requests are answered only after ``seconds`` (real time), so a
        client with a shorter HTTP timeout gives up on them. Use it on reads: the request still takes
        effect after the delay, as a real server would."""
        self._check_operation_id(operation_id)
        with self._lock:
            self._delays.setdefault(operation_id, []).extend([seconds] * count)

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

        handler = self.handler(route.operation_id)
        if handler is None:
            return reject("unimplemented", 501, f"the fake does not implement {route.operation_id}")
        try:
            status, payload = handler(params, body or {})
        except ApiError as exc:
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
    monkeypatch.setenv(ENV_ENDPOINT, api.url)
    monkeypatch.setenv(ENV_KEY, key)
    monkeypatch.setenv(ENV_SECRET, secret)
