"""A plugin process as the Pulumi CLI runs one: started with a command line, it serves gRPC on
127.0.0.1 and prints its port on the first line of stdout; stopped with SIGTERM (then SIGKILL).

Used by the dynamic provider host's client (`dynamic_provider_host.py`) and the policy pack's
(`analyzer_client.py`).
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


class PluginProcess:
    """`start()` returns the port; `stderr` is everything the process wrote there so far. `name`
    says what the process is in errors (default: the program's file name)."""

    def __init__(
        self,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        start_timeout: float = 30.0,
        *,
        name: str | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name or Path(self.argv[0]).name
        self.cwd = cwd
        self.env = dict(env)
        self.start_timeout = start_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._stderr: list[bytes] = []
        self._stderr_thread: threading.Thread | None = None

    def start(self) -> int:
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Drained all along, so that a chatty plugin never blocks on a full pipe.
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        try:
            return self._read_port()
        except BaseException:
            self.stop()
            raise

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=5)
        self.process = None

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in iter(self.process.stderr.readline, b""):
            self._stderr.append(line)

    def _read_port(self) -> int:
        assert self.process is not None and self.process.stdout is not None
        name = self.name
        deadline = time.monotonic() + self.start_timeout
        line = b""
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise RuntimeError(f"{name} printed no port in {self.start_timeout} s:\n{self.stderr}")
                # One byte at a time: nothing after the first line may be consumed with it.
                chunk = os.read(self.process.stdout.fileno(), 1)
                if not chunk:
                    raise RuntimeError(f"{name} exited before printing its port:\n{self.stderr}")
                line += chunk
        try:
            return int(line.strip())
        except ValueError:
            raise RuntimeError(f"{name}'s first line is not a port: {line!r}\n{self.stderr}") from None
