"""A tiny OpenAI-compatible server on 127.0.0.1, as a vLLM replica looks to the router.

It serves one model name, wants the API key vLLM would want (401 otherwise, as vLLM answers),
answers chat completions with a text naming itself, and streams them as SSE chunks with a pause
between chunks so a test can see whether they arrive one by one. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STREAM_PIECES = ("one ", "two ", "three")
STREAM_PAUSE_S = 0.4


@dataclass
class FakeReplica:
    model: str
    api_key: str | None
    label: str
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def answer(self) -> str:
        return f"answer from {self.label}"

    def chats(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"] == "/v1/chat/completions"]


def _handler(replica: FakeReplica) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if replica.api_key is None or self.headers.get("Authorization") == f"Bearer {replica.api_key}":
                return True
            self._reply(401, {"error": "Unauthorized"})  # vLLM's answer to a missing or wrong key
            return False

        def do_GET(self) -> None:
            replica.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": None})
            if self.path == "/health":
                self._reply(200, {})
            elif not self._authorized():
                return
            elif self.path == "/v1/models":
                self._reply(200, {"object": "list", "data": [{"id": replica.model, "object": "model"}]})
            else:
                self._reply(404, {"detail": "Not Found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            replica.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
            if not self._authorized():
                return
            if self.path != "/v1/chat/completions":
                self._reply(404, {"detail": "Not Found"})
            elif body.get("model") != replica.model:
                self._reply(404, {"object": "error", "message": f"The model `{body.get('model')}` does not exist."})
            elif body.get("stream"):
                self._stream(body)
            else:
                self._reply(200, _completion(body["model"], replica.answer))

        def _stream(self, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            events = [_chunk(body["model"], {"content": piece}, None) for piece in STREAM_PIECES]
            events.append(_chunk(body["model"], {}, "stop"))
            for index, event in enumerate(events):
                self._send_chunk(f"data: {json.dumps(event)}\n\n".encode())
                if index < len(STREAM_PIECES) - 1:
                    time.sleep(STREAM_PAUSE_S)
            self._send_chunk(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _send_chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    return Handler


def _completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
    }


def _chunk(model: str, delta: dict[str, str], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@contextmanager
def serving(replicas: list[FakeReplica]) -> Iterator[list[FakeReplica]]:
    """Start each replica on its own free port of 127.0.0.1 (sets `url`); stop all on exit."""
    started: list[tuple[ThreadingHTTPServer, threading.Thread]] = []
    try:
        for replica in replicas:
            httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(replica))
            httpd.daemon_threads = True
            thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            replica.url = f"http://127.0.0.1:{httpd.server_address[1]}"
            started.append((httpd, thread))
        yield replicas
    finally:
        for httpd, thread in started:
            httpd.shutdown()
            httpd.server_close()
            thread.join(timeout=2)
