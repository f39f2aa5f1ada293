"""The end-to-end smoke check against small local servers speaking the chat-completions API."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tools import smoke_check

ROOT = Path(__file__).resolve().parents[1]
REVIEW = (ROOT / "tools" / "data" / "review.txt").read_text(encoding="utf-8")


@dataclass
class FakeServer:
    """A vLLM stand-in on 127.0.0.1; `mode` says how it behaves."""

    model: str
    mode: str = "ok"  # ok | error500 | slow | not_json | no_choices
    requests: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

        def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _record(self, body: Any) -> None:
            server.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )

        def do_GET(self) -> None:
            self._record(None)
            if self.path == "/v1/models":
                listing = {"object": "list", "data": [{"id": server.model, "object": "model"}]}
                self._reply(200, json.dumps(listing).encode())
            else:
                self._reply(404, b'{"detail": "Not Found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            self._record(body)
            if self.path != "/v1/chat/completions":
                self._reply(404, b'{"detail": "Not Found"}')
            elif server.mode == "error500":
                self._reply(500, b'{"object": "error", "message": "CUDA out of memory"}')
            elif server.mode == "slow":
                # Longer than the client's timeout; the fixture releases it at teardown.
                server.release.wait(5)
                self._reply(200, b"{}")
            elif server.mode == "not_json":
                self._reply(200, b"<html>gateway</html>", "text/html")
            elif server.mode == "no_choices":
                self._reply(200, b'{"id": "x", "choices": []}')
            else:
                system = body["messages"][0]["content"]
                answer = "- a point" if "Summarize" in system else "positive: the reader loved it"
                reply = {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": answer},
                            "finish_reason": "stop",
                        }
                    ],
                }
                self._reply(200, json.dumps(reply).encode())

    return Handler


@pytest.fixture
def serve() -> Iterator[Any]:
    started: list[tuple[ThreadingHTTPServer, FakeServer, threading.Thread]] = []

    def start(model: str, mode: str = "ok") -> FakeServer:
        fake = FakeServer(model=model, mode=mode)
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
        httpd.daemon_threads = True
        httpd.block_on_close = False
        thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
        started.append((httpd, fake, thread))
        return fake

    yield start
    for httpd, fake, thread in started:
        fake.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=2)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = smoke_check.main(["--timeout", "2", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_both_servers_answer(
    serve: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "s3cret-key")
    phi = serve("microsoft/Phi-4-mini-instruct")
    qwen = serve("Qwen/Qwen2.5-7B-Instruct")

    code, out, err = _run(capsys, "--summarize", phi.url, "--sentiment", qwen.url + "/v1/")

    assert code == 0, err
    assert "- a point" in out and "positive: the reader loved it" in out
    assert re.search(r"summarize: .* answered, latency \d+\.\d\d s", out)
    assert re.search(r"sentiment: .* answered, latency \d+\.\d\d s", out)
    assert "s3cret-key" not in out + err
    for fake, prompt in ((phi, smoke_check.SUMMARIZE_PROMPT), (qwen, smoke_check.SENTIMENT_PROMPT)):
        discovery, chat = fake.requests
        assert (discovery["method"], discovery["path"]) == ("GET", "/v1/models")
        assert (chat["method"], chat["path"]) == ("POST", "/v1/chat/completions")
        assert chat["body"]["model"] == fake.model
        assert chat["body"]["messages"] == [
            {"role": "system", "content": prompt},
            {"role": "user", "content": REVIEW},
        ]
        for request in fake.requests:
            assert request["headers"]["Authorization"] == "Bearer s3cret-key"
    assert smoke_check.SUMMARIZE_PROMPT == (
        "You are a summarization engine. Summarize the input in 5 bullet points."
    )
    assert "sentiment" in smoke_check.SENTIMENT_PROMPT


def test_given_model_names_skip_discovery_and_no_key_sends_no_header(
    serve: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    phi = serve("served-phi")
    qwen = serve("served-qwen")

    code, _, err = _run(
        capsys,
        "--summarize",
        phi.url,
        "--summarize-model",
        "phi",
        "--sentiment",
        qwen.url,
        "--sentiment-model",
        "qwen",
    )

    assert code == 0, err
    assert [r["path"] for r in phi.requests] == ["/v1/chat/completions"]
    assert phi.requests[0]["body"]["model"] == "phi"
    assert qwen.requests[0]["body"]["model"] == "qwen"
    assert "Authorization" not in phi.requests[0]["headers"]


def test_an_http_500_fails_naming_the_server(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    phi = serve("phi")
    broken = serve("qwen", mode="error500")

    code, out, err = _run(capsys, "--summarize", phi.url, "--sentiment", broken.url)

    assert code == 1
    assert "- a point" in out  # the healthy server is still reported
    assert "sentiment" in err and broken.url in err
    assert "HTTP 500" in err and "CUDA out of memory" in err
    assert "Traceback" not in out + err


def test_a_timeout_fails_with_a_message(serve: Any, capsys: pytest.CaptureFixture[str]) -> None:
    slow = serve("phi", mode="slow")
    qwen = serve("qwen")

    code = smoke_check.main(
        [
            "--timeout",
            "0.3",
            "--summarize",
            slow.url,
            "--summarize-model",
            "phi",
            "--sentiment",
            qwen.url,
        ]
    )
    out, err = capsys.readouterr()

    assert code == 1
    assert "summarize" in err and slow.url in err
    assert "timed out" in err and "0.3 s" in err
    assert "positive" in out


def test_connection_refused_fails_with_a_message(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    qwen = serve("qwen")
    down = f"http://127.0.0.1:{_free_port()}"

    code, _, err = _run(capsys, "--summarize", down, "--sentiment", qwen.url)

    assert code == 1
    assert "summarize" in err and down in err
    assert "connection refused" in err


@pytest.mark.parametrize(
    "mode, expected", [("not_json", "not JSON"), ("no_choices", "choices[0].message.content")]
)
def test_a_malformed_body_fails_with_a_message(
    serve: Any, capsys: pytest.CaptureFixture[str], mode: str, expected: str
) -> None:
    phi = serve("phi")
    odd = serve("qwen", mode=mode)

    code, _, err = _run(capsys, "--summarize", phi.url, "--sentiment", odd.url)

    assert code == 1
    assert "malformed response" in err and expected in err and odd.url in err


def test_an_invalid_url_is_reported_not_raised(
    serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    phi = serve("phi")

    code, _, err = _run(capsys, "--summarize", phi.url, "--sentiment", "localhost:8002")

    assert code == 1
    assert "invalid URL" in err


def test_the_module_runs_as_a_command_without_a_traceback() -> None:
    down = f"http://127.0.0.1:{_free_port()}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.smoke_check",
            "--summarize",
            down,
            "--sentiment",
            down,
            "--timeout",
            "2",
        ],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode == 1
    assert "connection refused" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_shipped_review_is_the_articles() -> None:
    assert REVIEW.startswith("Misery by Stephen King is an absolute masterpiece")
    assert "King’s prose is sharp and immediate" in REVIEW
    assert REVIEW.rstrip().endswith("anyone who loves great storytelling.")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--summarize", "http://127.0.0.1:1"],
        ["--base-url", "http://127.0.0.1:1", "--sentiment", "http://127.0.0.1:2"],
        ["--summarize", "http://127.0.0.1:1", "--sentiment", "http://127.0.0.1:2", "--expect-model", "x"],
    ],
)
def test_usage_errors_exit_2_with_a_message(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        smoke_check.main(args)
    assert stopped.value.code == 2
    assert "--base-url" in capsys.readouterr().err


def test_base_url_asks_for_the_articles_models_and_names_one_not_listed(
    serve: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    endpoint = serve("microsoft/Phi-4-mini-instruct")  # lists one model, answers any

    code, out, err = _run(capsys, "--base-url", endpoint.url)

    assert code == 1
    assert "Qwen/Qwen2.5-7B-Instruct not listed" in err and "microsoft/Phi-4-mini-instruct" in err
    models = [r["body"]["model"] for r in endpoint.requests if r["path"] == "/v1/chat/completions"]
    assert models == ["microsoft/Phi-4-mini-instruct", "Qwen/Qwen2.5-7B-Instruct"]
    assert "- a point" in out and "positive" in out  # both requests were still made and reported
    assert "Traceback" not in out + err
