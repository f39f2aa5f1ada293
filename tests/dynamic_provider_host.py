"""Drive the MigNodepool's provider as `pulumi up` does: in the SDK's dynamic provider host, a
separate process spoken to over gRPC.

For a Python dynamic resource the CLI starts its `pulumi-resource-pulumi-python` plugin, which runs
`python -u -m pulumi.dynamic <engine address>` in the program's directory (pulumi/pulumi,
sdk/python/dist/pulumi-resource-pulumi-python). That host serves the ResourceProvider protocol on
127.0.0.1, prints its port on the first stdout line, and for every call unpickles the provider from
the `__provider` property (pulumi/dynamic/__main__.py, `get_provider`): the same code path an
existing state's nodepool goes through. The host never dials the engine address it is given
(its `main()` ignores its arguments).

Properties travel as `google.protobuf.Struct` in wire form (numbers as floats). The host answers
`Configure` with `acceptSecrets: false`, so the engine sends it plain values, as done here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

import contract
from tests.mig_nodepool_engine import from_struct, to_struct
from tests.plugin_process import PluginProcess

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Nothing listens here, and nothing needs to: the host does not call the engine.
ENGINE_PLACEHOLDER = "127.0.0.1:1"
URN = f"urn:pulumi:dev::{contract.PROJECT}::{contract.MIG_NODEPOOL}::gpu-rtx"


class DynamicProviderHost:
    """A running `python -m pulumi.dynamic` and a gRPC client to it (`with DynamicProviderHost(...)`).

    `env` is the host's whole environment (plus PATH): nothing of this process leaks in, so the
    program's modules resolve only the way the CLI's host resolves them, from the working directory.
    """

    def __init__(self, env: Mapping[str, str], cwd: Path = PROJECT_DIR, start_timeout: float = 30.0) -> None:
        self.plugin = PluginProcess(
            [sys.executable, "-u", "-m", "pulumi.dynamic", ENGINE_PLACEHOLDER],
            cwd,
            {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            start_timeout,
        )
        self.channel: grpc.Channel | None = None
        self.stub: provider_pb2_grpc.ResourceProviderStub | None = None

    def start(self) -> DynamicProviderHost:
        port = self.plugin.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            grpc.channel_ready_future(self.channel).result(timeout=self.plugin.start_timeout)
        except BaseException:
            self.stop()
            raise
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        return self

    @property
    def stderr(self) -> str:
        return self.plugin.stderr

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.stub = None
        self.plugin.stop()

    def __enter__(self) -> DynamicProviderHost:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _stub(self) -> provider_pb2_grpc.ResourceProviderStub:
        if self.stub is None:
            raise RuntimeError("the dynamic provider host is not running; use start()")
        return self.stub

    # -- the engine's calls -------------------------------------------------------------------

    def configure(self, config: Mapping[str, str]) -> None:
        self._stub().Configure(provider_pb2.ConfigureRequest(args=to_struct(config)), timeout=30)

    def check(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The checked inputs and the (property, reason) failures."""
        answer = self._stub().Check(
            provider_pb2.CheckRequest(urn=URN, olds=to_struct(olds), news=to_struct(news)), timeout=30
        )
        return from_struct(answer.inputs), [(f.property, f.reason) for f in answer.failures]

    def diff(self, id_: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> provider_pb2.DiffResponse:
        request = provider_pb2.DiffRequest(id=id_, urn=URN, olds=to_struct(olds), news=to_struct(news))
        response: provider_pb2.DiffResponse = self._stub().Diff(request, timeout=30)
        return response

    def read(self, id_: str, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """A refresh: the id (empty once gone) and the properties read back."""
        answer = self._stub().Read(provider_pb2.ReadRequest(id=id_, urn=URN, properties=to_struct(props)), timeout=60)
        return answer.id, from_struct(answer.properties)

    def delete(self, id_: str, props: Mapping[str, Any]) -> None:
        self._stub().Delete(provider_pb2.DeleteRequest(id=id_, urn=URN, properties=to_struct(props)), timeout=60)
