"""The real router process (LiteLLM's proxy from ./venv-router) on 127.0.0.1, started with the
config, the auth hook, the command line and the environment that components/model_router.py
deploys, in front of whatever backends a test gives it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from components import model_router
from components.model_router import Backend

ROOT = Path(__file__).resolve().parents[2]
ROUTER_VENV = ROOT / "venv-router"
ROUTER_COMMAND = ROUTER_VENV / "bin" / "litellm"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class RunningRouter:
    url: str
    """Base URL, without /v1."""
    metrics_url: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def require_router_venv() -> None:
    """The router's virtualenv must exist: CI installs it. Missing, the test fails, never skips."""
    if not ROUTER_COMMAND.is_file():
        pytest.fail(
            f"{ROUTER_COMMAND} is missing: the router tests run the real LiteLLM proxy. "
            "Install it with `bash scripts/setup-router.sh` (pinned in requirements-router.txt)."
        )


@contextmanager
def running_router(
    backends: Sequence[Backend], aliases: Mapping[str, str], *, api_key: str | None, workdir: Path
) -> Iterator[RunningRouter]:
    require_router_venv()
    config_dir = workdir / "etc-litellm"
    config_dir.mkdir(parents=True)
    config_path = config_dir / model_router.CONFIG_FILE
    config_path.write_text(model_router.render_config(backends, aliases, api_key=api_key is not None), encoding="utf-8")
    if api_key is not None:
        (config_dir / model_router.KEY_AUTH_FILE).write_text(model_router.key_auth_source(), encoding="utf-8")
    multiproc = workdir / "prometheus"
    multiproc.mkdir()
    port, metrics_port = free_port(), free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        **model_router.PLAIN_ENV,
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),  # its own, not the pod's /tmp/prometheus
        # Nothing but loopback: a proxy setting of the machine must not capture the backends.
        "NO_PROXY": "*",
    }
    if api_key is not None:
        env[model_router.MASTER_KEY_ENV] = api_key
        env[model_router.BACKEND_KEY_ENV] = api_key
    log = workdir / "router.log"
    args = model_router.router_args(str(config_path), host="127.0.0.1", port=port, metrics_port=metrics_port)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(ROUTER_COMMAND), *args],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the metrics process goes with it
        )
    router = RunningRouter(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}", log)
    try:
        _wait_ready(process, router)
        yield router
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], router: RunningRouter) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the router exited with {process.returncode} while starting:\n{router.log_tail()}")
        try:
            with urllib.request.urlopen(f"{router.url}/health/readiness", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"the router did not become ready within {START_TIMEOUT_S:g} s:\n{router.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)
    # The metrics process may outlive the proxy by a moment; it is in the same group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
