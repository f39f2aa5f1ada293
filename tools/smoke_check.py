"""The seed article's end-to-end test as one command: one review, two models, two answers.

    python -m tools.smoke_check --base-url http://localhost:4000
    python -m tools.smoke_check --summarize http://localhost:8001 --sentiment http://localhost:8002

sends the article's review of *Misery* (tools/data/review.txt) with the article's summarization
prompt to one model and with a sentiment-extraction prompt to another, through the
OpenAI-compatible `POST /v1/chat/completions`, and prints each answer with its latency.

With `--base-url` both requests go to one endpoint (the model router), each with its own `model`:
`--summarize-model` and `--sentiment-model`, by default the article's (Phi-4-mini and
Qwen2.5-7B). First `GET /v1/models` must list both, and every `--expect-model`; a model it does
not list is named. With `--summarize`/`--sentiment` each request goes to its own server, and a
model not given is discovered with that server's `GET /v1/models` (its first model).

A URL is the base (`http://host:port`; a trailing `/v1` is accepted). When the environment
variable named by `--api-key-env` (default VLLM_API_KEY) is set, its value is sent as a bearer
token; it is never printed.

Exit status: 0 when both answered, 1 when one did not (down, timed out, an HTTP error, a malformed
body, or a model the endpoint does not list; each reported with the task, its URL and what
happened), 2 for a usage error. Standard library only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REVIEW_PATH = Path(__file__).resolve().parent / "data" / "review.txt"

SUMMARIZE_PROMPT = "You are a summarization engine. Summarize the input in 5 bullet points."
SENTIMENT_PROMPT = (
    "You are a sentiment extraction engine. State the overall sentiment of the input as one word "
    "(positive, negative, neutral or mixed), then give one sentence explaining why."
)

# The article's two models, as the router serves them (their served names).
ARTICLE_SUMMARIZE_MODEL = "microsoft/Phi-4-mini-instruct"
ARTICLE_SENTIMENT_MODEL = "Qwen/Qwen2.5-7B-Instruct"

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_TOKENS = 512
DEFAULT_API_KEY_ENV = "VLLM_API_KEY"
_BODY_EXCERPT_CHARS = 300


class CheckFailed(Exception):
    """One server did not answer as it should; the message says what happened."""


@dataclass(frozen=True)
class Task:
    """One server of the check and what it is asked."""

    name: str  # "summarize" or "sentiment"
    url: str  # base URL as given
    system_prompt: str
    model: str | None = None  # None: discover it with GET /v1/models


@dataclass(frozen=True)
class Result:
    task: Task
    ok: bool
    model: str | None = None
    answer: str = ""
    latency_s: float = 0.0
    error: str = ""


def base_url(url: str) -> str:
    """`url` without a trailing slash or `/v1`, checked to be an http(s) URL with a host."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CheckFailed(f"invalid URL {url!r}; expected e.g. http://localhost:8001")
    path = parts.path.rstrip("/").removesuffix("/v1")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def request_json(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: Mapping[str, Any] | None,
    timeout: float,
    api_key_env: str,
) -> Any:
    """Send one request and return its decoded JSON body, or raise CheckFailed saying why not."""
    data = json.dumps(body).encode("utf-8") if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as error:
        detail = _excerpt(_read_quietly(error))
        message = f"{method} {url} answered HTTP {error.code} {error.reason}"
        if error.code in (401, 403):
            message += (
                f" (the server wants an API key: set {api_key_env}, or check its value)"
                if not os.environ.get(api_key_env)
                else f" (the key in {api_key_env} was refused)"
            )
        raise CheckFailed(f"{message}: {detail}" if detail else message) from None
    except urllib.error.URLError as error:
        raise CheckFailed(f"{method} {url}: {_describe_reason(error.reason, timeout)}") from None
    except TimeoutError:
        raise CheckFailed(f"{method} {url}: no answer within {timeout:g} s (timed out)") from None
    except (ConnectionError, http.client.HTTPException, OSError) as error:
        reason = _describe_reason(error, timeout)
        raise CheckFailed(f"{method} {url}: connection failed: {reason}") from None
    except ValueError as error:
        raise CheckFailed(f"{method} {url}: invalid request: {error}") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        text = raw.decode("utf-8", errors="replace")
        raise CheckFailed(
            f"{method} {url}: malformed response, the body is not JSON: {_excerpt(text)!r}"
        ) from None


def list_models(
    base: str, *, headers: Mapping[str, str], timeout: float, api_key_env: str
) -> list[str]:
    """The model names the endpoint lists at GET /v1/models (at least one)."""
    url = f"{base}/v1/models"
    listing = request_json(
        "GET", url, headers=headers, body=None, timeout=timeout, api_key_env=api_key_env
    )
    try:
        models = [entry["id"] for entry in listing["data"]]
    except (TypeError, KeyError):
        raise CheckFailed(f"GET {url}: malformed response, no data[].id list of models") from None
    if not models or not all(isinstance(model, str) for model in models):
        raise CheckFailed(f"GET {url}: the server lists no model")
    return models


def discover_model(
    base: str, *, headers: Mapping[str, str], timeout: float, api_key_env: str
) -> str:
    """The first model the server lists at GET /v1/models."""
    return list_models(base, headers=headers, timeout=timeout, api_key_env=api_key_env)[0]


def check_listed(
    url: str, expected: Sequence[str], *, api_key: str | None, api_key_env: str, timeout: float
) -> str | None:
    """None when GET /v1/models of `url` lists every `expected` model, else what is wrong."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        base = base_url(url)
        listed = list_models(base, headers=headers, timeout=timeout, api_key_env=api_key_env)
    except CheckFailed as error:
        return str(error)
    missing = [model for model in dict.fromkeys(expected) if model not in listed]
    if missing:
        return (
            f"GET {base}/v1/models: {', '.join(missing)} not listed; it lists {', '.join(listed)}"
        )
    return None


def chat(
    base: str,
    *,
    model: str,
    system_prompt: str,
    text: str,
    headers: Mapping[str, str],
    timeout: float,
    max_tokens: int,
    api_key_env: str,
) -> tuple[str, float]:
    """The assistant's answer to `text` under `system_prompt`, and the request's latency in s."""
    url = f"{base}/v1/chat/completions"
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": text},
        ],
        "max_tokens": max_tokens,
        "temperature": 0,
    }
    started = time.monotonic()
    reply = request_json(
        "POST", url, headers=headers, body=body, timeout=timeout, api_key_env=api_key_env
    )
    latency = time.monotonic() - started
    try:
        content = reply["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        raise CheckFailed(
            f"POST {url}: malformed response, no choices[0].message.content: "
            f"{_excerpt(json.dumps(reply))!r}"
        ) from None
    if not isinstance(content, str) or not content.strip():
        raise CheckFailed(f"POST {url}: the answer is empty")
    return content, latency


def run_task(
    task: Task, *, text: str, api_key: str | None, api_key_env: str, timeout: float, max_tokens: int
) -> Result:
    """Ask one server; a failure becomes a Result with the reason, never an exception."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    model = task.model
    try:
        base = base_url(task.url)
        if model is None:
            model = discover_model(base, headers=headers, timeout=timeout, api_key_env=api_key_env)
        answer, latency = chat(
            base,
            model=model,
            system_prompt=task.system_prompt,
            text=text,
            headers=headers,
            timeout=timeout,
            max_tokens=max_tokens,
            api_key_env=api_key_env,
        )
    except CheckFailed as error:
        return Result(task=task, ok=False, model=model, error=str(error))
    return Result(task=task, ok=True, model=model, answer=answer, latency_s=latency)


def _describe_reason(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s (timed out)"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: nothing listens there (is the server, or its port-forward, up?)"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name ({reason.strerror or reason})"
    if isinstance(reason, ConnectionResetError):
        return "the server closed the connection"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(reason, http.client.HTTPException):
        return f"malformed HTTP response ({type(reason).__name__})"
    if isinstance(reason, OSError) and reason.strerror:
        return f"cannot connect: {reason.strerror}"
    return f"cannot connect: {reason}"


def _read_quietly(error: urllib.error.HTTPError) -> str:
    try:
        return error.read().decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException):
        return ""


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _BODY_EXCERPT_CHARS else text[:_BODY_EXCERPT_CHARS] + "..."


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be above 0")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be above 0")
    return number


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.smoke_check",
        description="Send the article's review to a summarizing and a sentiment vLLM server "
        "(OpenAI-compatible API) and print both answers; exit 0 only if both answered.",
    )
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="one endpoint for both requests (the model router), e.g. http://localhost:4000",
    )
    parser.add_argument(
        "--summarize",
        metavar="URL",
        help="base URL of the summarizing server, e.g. http://localhost:8001 (without --base-url)",
    )
    parser.add_argument(
        "--sentiment",
        metavar="URL",
        help="base URL of the sentiment server, e.g. http://localhost:8002 (without --base-url)",
    )
    parser.add_argument(
        "--summarize-model",
        metavar="NAME",
        help=f"model name to ask for (default with --base-url: {ARTICLE_SUMMARIZE_MODEL}; "
        "otherwise the first of the server's GET /v1/models)",
    )
    parser.add_argument(
        "--sentiment-model",
        metavar="NAME",
        help=f"model name to ask for (default with --base-url: {ARTICLE_SENTIMENT_MODEL}; "
        "otherwise the first of the server's GET /v1/models)",
    )
    parser.add_argument(
        "--expect-model",
        action="append",
        default=[],
        metavar="NAME",
        help="with --base-url: another model GET /v1/models must list (repeatable)",
    )
    parser.add_argument(
        "--api-key-env",
        default=DEFAULT_API_KEY_ENV,
        metavar="VAR",
        help="environment variable holding the servers' API key, sent as a "
        f"bearer token when set (default {DEFAULT_API_KEY_ENV})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help=f"per-request timeout in seconds (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=DEFAULT_MAX_TOKENS,
        metavar="N",
        help=f"answer length cap (default {DEFAULT_MAX_TOKENS})",
    )
    parser.add_argument(
        "--input",
        type=Path,
        default=REVIEW_PATH,
        metavar="FILE",
        help="text to send (default: the article's review, tools/data/review.txt)",
    )
    args = parser.parse_args(argv)
    if args.base_url is not None:
        if args.summarize is not None or args.sentiment is not None:
            parser.error("give either --base-url or --summarize and --sentiment, not both")
        args.summarize = args.sentiment = args.base_url
        args.summarize_model = args.summarize_model or ARTICLE_SUMMARIZE_MODEL
        args.sentiment_model = args.sentiment_model or ARTICLE_SENTIMENT_MODEL
    elif args.summarize is None or args.sentiment is None:
        parser.error("give --base-url URL (one endpoint), or both --summarize URL and --sentiment URL")
    elif args.expect_model:
        parser.error("--expect-model checks the one endpoint of --base-url")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        text = args.input.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"smoke check: cannot read the input {args.input}: {error}", file=sys.stderr)
        return 2
    api_key = os.environ.get(args.api_key_env) or None
    tasks = (
        Task("summarize", args.summarize, SUMMARIZE_PROMPT, args.summarize_model),
        Task("sentiment", args.sentiment, SENTIMENT_PROMPT, args.sentiment_model),
    )
    failures: list[str] = []
    if args.base_url is not None:
        expected = [args.summarize_model, args.sentiment_model, *args.expect_model]
        problem = check_listed(
            args.base_url, expected, api_key=api_key, api_key_env=args.api_key_env, timeout=args.timeout
        )
        if problem is not None:
            print(f"== models: FAILED, endpoint {args.base_url}: {problem}", file=sys.stderr)
            failures.append("models")
        else:
            print(f"== models: {args.base_url} lists {', '.join(dict.fromkeys(expected))} ==")
    results = []
    for task in tasks:
        result = run_task(
            task,
            text=text,
            api_key=api_key,
            api_key_env=args.api_key_env,
            timeout=args.timeout,
            max_tokens=args.max_tokens,
        )
        results.append(result)
        if result.ok:
            print(
                f"== {task.name}: {task.url} (model {result.model}) answered, "
                f"latency {result.latency_s:.2f} s =="
            )
            print(result.answer.strip())
            print()
        else:
            print(f"== {task.name}: FAILED, server {task.url}: {result.error}", file=sys.stderr)
        sys.stdout.flush()
    failed = [result.task.name for result in results if not result.ok]
    if failed or failures:
        what = (
            f"{len(failed)} of {len(results)} requests did not answer ({', '.join(failed)})"
            if failed
            else "both requests answered"
        )
        listing = "; the endpoint does not list every model" if failures else ""
        print(f"smoke check failed: {what}{listing}", file=sys.stderr)
        return 1
    print(f"smoke check passed: {len(results)} of {len(results)} servers answered")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("smoke check interrupted", file=sys.stderr)
        sys.exit(130)
