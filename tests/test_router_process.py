"""The real router (LiteLLM's proxy at the pinned version, from ./venv-router) in front of local
fake model servers, with the config, auth hook, command line and environment the component deploys.

Backends, all on 127.0.0.1: Phi with one replica; Qwen with two replicas of which the first is
down (nothing listens on its port); Llama with its only replica down. One alias: qwen → Qwen.
The router is started once for the module and stopped at its end.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from components.model_router import Backend
from tests.router.fake_openai import STREAM_PAUSE_S, STREAM_PIECES, FakeReplica, serving
from tests.router.router_process import RunningRouter, free_port, running_router
from tools import smoke_check

KEY = "sk-router-test-3f9a"
PHI, QWEN, LLAMA = "microsoft/Phi-4-mini-instruct", "Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.2-1B-Instruct"
ALIASES = {"qwen": QWEN}
# Generous for a loaded CI runner, and still far below the router's own request timeout
# (components/model_router.py, REQUEST_TIMEOUT_SECONDS = 600 s): a router that waited for it fails.
TIMEOUT_S = 60.0


@dataclass
class Stack:
    router: RunningRouter
    phi: FakeReplica
    qwen: FakeReplica
    qwen_down_url: str
    llama_down_url: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    phi = FakeReplica(PHI, KEY, "phi-0")
    qwen = FakeReplica(QWEN, KEY, "qwen-1")
    with serving([phi, qwen]):
        qwen_down = f"http://127.0.0.1:{free_port()}"
        llama_down = f"http://127.0.0.1:{free_port()}"
        backends = [
            Backend(PHI, (phi.url,)),
            Backend(QWEN, (qwen_down, qwen.url)),
            Backend(LLAMA, (llama_down,)),
        ]
        with running_router(backends, ALIASES, api_key=KEY, workdir=tmp_path_factory.mktemp("router")) as router:
            yield Stack(router, phi, qwen, qwen_down, llama_down)


def call(
    router: RunningRouter, method: str, path: str, body: Any = None, key: str | None = KEY
) -> tuple[int, dict[str, Any]]:
    """One request; the status and the decoded JSON body (errors included)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{router.url}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8, **extra}


def answer(body: dict[str, Any]) -> str:
    content: str = body["choices"][0]["message"]["content"]
    return content


# --- routing by model -----------------------------------------------------------------------------


def test_each_model_reaches_its_own_server(stack: Stack) -> None:
    status, phi = call(stack.router, "POST", "/v1/chat/completions", chat(PHI))
    assert status == 200, phi
    assert answer(phi) == stack.phi.answer
    status, qwen = call(stack.router, "POST", "/v1/chat/completions", chat(QWEN))
    assert status == 200, qwen
    assert answer(qwen) == stack.qwen.answer
    assert [r["body"]["model"] for r in stack.phi.chats()] == [PHI]
    assert QWEN in [r["body"]["model"] for r in stack.qwen.chats()]
    # The key is checked at the servers too: the router sends it (the fakes answer 401 without).
    assert {r["headers"]["authorization"] for r in stack.phi.chats()} == {f"Bearer {KEY}"}


def test_an_alias_reaches_the_server_under_its_served_name(stack: Stack) -> None:
    before = len(stack.qwen.chats())
    status, body = call(stack.router, "POST", "/v1/chat/completions", chat("qwen"))
    assert status == 200, body
    assert answer(body) == stack.qwen.answer
    assert stack.qwen.chats()[before]["body"]["model"] == QWEN


def test_models_lists_every_served_name_and_alias(stack: Stack) -> None:
    status, body = call(stack.router, "GET", "/v1/models")
    assert status == 200, body
    assert body["object"] == "list"
    assert sorted(entry["id"] for entry in body["data"]) == sorted([PHI, QWEN, LLAMA, "qwen"])


def test_an_unknown_model_gets_an_openai_error_not_a_hang(stack: Stack) -> None:
    started = time.monotonic()
    status, body = call(stack.router, "POST", "/v1/chat/completions", chat("gpt-4o"))
    assert time.monotonic() - started < 15  # fails fast: nothing like the 600 s request timeout
    assert status == 400
    assert "gpt-4o" in body["error"]["message"]
    assert body["error"]["type"] == "invalid_request_error"


# --- the API key ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "sk-wrong", ""])
def test_a_missing_or_wrong_key_is_refused_with_401(stack: Stack, key: str | None) -> None:
    for method, path, body in (("GET", "/v1/models", None), ("POST", "/v1/chat/completions", chat(PHI))):
        status, answer_body = call(stack.router, method, path, body, key=key)
        assert status == 401, (path, answer_body)
        assert answer_body["error"]["code"] == "401"
        assert KEY not in json.dumps(answer_body)


def test_admin_routes_are_refused_even_with_the_key(stack: Stack) -> None:
    status, body = call(stack.router, "POST", "/key/generate", {})
    assert status in (401, 403), body


# --- streaming ------------------------------------------------------------------------------------


def test_a_streamed_answer_arrives_chunk_by_chunk(stack: Stack) -> None:
    request = urllib.request.Request(
        f"{stack.router.url}/v1/chat/completions", data=json.dumps(chat(PHI, stream=True)).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {KEY}")
    arrivals: list[tuple[float, str]] = []
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for raw in response:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = json.loads(line.removeprefix("data: "))["choices"][0]["delta"]
            if delta.get("content"):
                arrivals.append((time.monotonic(), delta["content"]))
    assert "".join(piece for _, piece in arrivals) == "".join(STREAM_PIECES)
    # The server pauses between pieces: had the router buffered, they would arrive together.
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(arrivals)]
    assert len(gaps) == len(STREAM_PIECES) - 1
    assert all(gap > STREAM_PAUSE_S / 2 for gap in gaps), gaps


# --- servers that are down ------------------------------------------------------------------------


def test_a_down_replica_is_retried_on_another(stack: Stack) -> None:
    for _ in range(6):
        status, body = call(stack.router, "POST", "/v1/chat/completions", chat(QWEN))
        assert status == 200, body
        assert answer(body) == stack.qwen.answer


def test_a_model_whose_server_is_down_fails_fast_and_the_others_still_answer(stack: Stack) -> None:
    started = time.monotonic()
    status, body = call(stack.router, "POST", "/v1/chat/completions", chat(LLAMA))
    elapsed = time.monotonic() - started
    assert status >= 500, body
    assert elapsed < 30, f"took {elapsed:.1f} s"  # fails fast: nothing like the 600 s request timeout
    message = body["error"]["message"]
    assert "Cannot connect" in message and stack.llama_down_url.rsplit(":", 1)[1] in message
    assert LLAMA in message or "meta-llama" in message
    status, body = call(stack.router, "POST", "/v1/chat/completions", chat(PHI))
    assert status == 200 and answer(body) == stack.phi.answer


# --- health and metrics ---------------------------------------------------------------------------


def test_health_needs_no_key_and_metrics_are_on_their_own_port(stack: Stack) -> None:
    for path in ("/health/liveliness", "/health/readiness"):
        with urllib.request.urlopen(f"{stack.router.url}{path}", timeout=TIMEOUT_S) as response:
            assert response.status == 200
    status, _ = call(stack.router, "GET", "/metrics", key=None)
    assert status == 401  # on the clients' port, metrics need the key
    with urllib.request.urlopen(f"{stack.router.metrics_url}/metrics", timeout=TIMEOUT_S) as response:
        text = response.read().decode()
    assert "litellm_" in text


# --- the smoke check against the router -----------------------------------------------------------


def test_smoke_check_through_one_endpoint(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    code = smoke_check.main(
        ["--base-url", stack.router.url, "--summarize-model", PHI, "--sentiment-model", "qwen", "--timeout", "10"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert stack.phi.answer in out and stack.qwen.answer in out
    summarize = stack.phi.chats()[-1]["body"]["messages"][0]["content"]
    assert summarize == smoke_check.SUMMARIZE_PROMPT
    assert KEY not in out + err


def test_smoke_check_fails_when_a_configured_model_is_not_listed(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    code = smoke_check.main(
        ["--base-url", stack.router.url, "--summarize-model", PHI, "--sentiment-model", QWEN,
         "--expect-model", "mistralai/Mistral-7B-Instruct-v0.3", "--timeout", "10"]
    )
    _, err = capsys.readouterr()
    assert code == 1
    assert "mistralai/Mistral-7B-Instruct-v0.3" in err and "not listed" in err


def test_smoke_check_names_a_down_model(
    stack: Stack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    code = smoke_check.main(
        ["--base-url", stack.router.url, "--summarize-model", PHI, "--sentiment-model", LLAMA, "--timeout", "10"]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert stack.phi.answer in out
    assert "sentiment" in err and LLAMA in err and "HTTP 5" in err
