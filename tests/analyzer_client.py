"""Drive the policy pack as the Pulumi CLI drives it: a separate process, spoken to over gRPC.

The CLI starts a Python pack as `python -u -m pulumi.policy <engine-address> <pack-dir>`; that runs
the pack's `__main__.py`, whose `PolicyPack(...)` starts an Analyzer server on 127.0.0.1, prints
the port on its first stdout line and serves until killed. The CLI then calls `Handshake`
(pulumi_policy does not implement it: UNIMPLEMENTED is fine), `ConfigureStack`, `GetAnalyzerInfo`,
`Configure` (with an enforcement level for every policy: a `PolicyConfig` without one is read as
ADVISORY), `Analyze` for each resource and `AnalyzeStack` once with all of them.

The pack never calls the engine: pulumi_policy only logs through it when the Pulumi runtime has
been configured with an engine address, which `pulumi.policy` never does (it passes the address
to nobody). So the address given here is a placeholder and no fake Engine server is needed.

Properties go on the wire as the engine sends them: a `google.protobuf.Struct` in wire form
(camelCase keys for provider resources, numbers as floats, a secret as
`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": ...}`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

import contract
from tests.plugin_process import PluginProcess

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACK_DIR = PROJECT_DIR / "policy"
# Nothing listens here, and nothing is meant to: see the module docstring.
ENGINE_PLACEHOLDER = "127.0.0.1:1"


LEVELS = {
    "advisory": analyzer_pb2.ADVISORY,
    "mandatory": analyzer_pb2.MANDATORY,
    "disabled": analyzer_pb2.DISABLED,
    "remediate": analyzer_pb2.REMEDIATE,
}
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}


def secret(value: Any) -> dict[str, Any]:
    """`value` marked secret, as the engine encodes it."""
    return {contract.SECRET_SIG: contract.SECRET_VALUE, "value": value}


def to_struct(properties: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(properties))
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(struct)
    return result


@dataclass
class WireResource:
    """One resource as the engine shows it to an analyzer."""

    urn: str
    type: str
    name: str
    properties: struct_pb2.Struct
    parent: str = ""
    protect: bool = False
    provider: str = ""  # the provider's URN
    dependencies: list[str] = field(default_factory=list)
    additional_secret_outputs: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        type_: str,
        name: str,
        properties: Mapping[str, Any],
        *,
        stack: str = "dev",
        parent: str = "",
        protect: bool = False,
        provider: str = "",
    ) -> WireResource:
        """A resource built by hand, with a URN like the engine's."""
        return cls(
            urn=f"urn:pulumi:{stack}::sks-mig::{type_}::{name}",
            type=type_,
            name=name,
            properties=to_struct(properties),
            parent=parent,
            protect=protect,
            provider=provider,
        )

    @property
    def props(self) -> dict[str, Any]:
        """The properties as plain data (secrets still wrapped); edit and `replace` them."""
        return from_struct(self.properties)

    def replace(self, properties: Mapping[str, Any]) -> None:
        self.properties = to_struct(properties)


class RegisteredLike(Protocol):
    """What tools/mock_run.py's RegisteredResource offers."""

    urn: str
    type: str
    name: str
    parent: str
    protect: bool
    provider: str
    wire: struct_pb2.Struct
    dependencies: list[str]


def from_registered(resources: Iterable[RegisteredLike]) -> list[WireResource]:
    """The resources a (mock) program run registered, as the engine would pass them on."""
    result = []
    for resource in resources:
        properties = struct_pb2.Struct()
        properties.CopyFrom(resource.wire)
        # A provider reference is "<provider URN>::<provider id>"; URNs contain "::" themselves.
        provider = resource.provider.rpartition("::")[0] if resource.provider else ""
        result.append(
            WireResource(
                urn=resource.urn,
                type=resource.type,
                name=resource.name,
                properties=properties,
                parent=resource.parent,
                protect=resource.protect,
                provider=provider,
                dependencies=list(resource.dependencies),
            )
        )
    return result


@dataclass(frozen=True)
class Diagnostic:
    policy: str
    level: str  # advisory, mandatory, remediate, disabled
    urn: str
    message: str


@dataclass
class Verdict:
    """Everything the pack said about a stack."""

    diagnostics: list[Diagnostic]

    def mandatory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "mandatory"]

    def advisory(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.level == "advisory"]

    def policies(self, level: str | None = "mandatory") -> set[str]:
        return {d.policy for d in self.diagnostics if level is None or d.level == level}

    def of(self, policy: str) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.policy == policy]

    def __str__(self) -> str:
        return "\n".join(f"[{d.level}] {d.policy} {d.urn}\n    {d.message}" for d in self.diagnostics) or "(clean)"


@dataclass(frozen=True)
class PolicyDefault:
    name: str
    level: str
    schema: dict[str, Any]


class AnalyzerClient:
    """A running policy pack and a gRPC client to it (`with AnalyzerClient() as pack: ...`)."""

    def __init__(
        self,
        pack_dir: Path = PACK_DIR,
        *,
        stack: str = "dev",
        project: str = "sks-mig",
        python: str = sys.executable,
        start_timeout: float = 30.0,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """`environment`: the pack process's environment before the CLI's PULUMI_* variables
        (default: this process's)."""
        self.pack_dir = pack_dir
        self.environment = dict(os.environ if environment is None else environment)
        self.stack = stack
        self.project = project
        self.python = python
        self.start_timeout = start_timeout
        self.plugin: PluginProcess | None = None
        self.channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.policies: list[PolicyDefault] = []
        self.startup_seconds = 0.0

    # -- process ----------------------------------------------------------------------------

    def start(self) -> AnalyzerClient:
        began = time.monotonic()
        env = {
            **self.environment,
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true",
        }
        self.plugin = PluginProcess(
            [self.python, "-u", "-m", "pulumi.policy", ENGINE_PLACEHOLDER, str(self.pack_dir)],
            self.pack_dir,
            env,
            self.start_timeout,
            name="the policy pack",
        )
        port = self.plugin.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            grpc.channel_ready_future(self.channel).result(timeout=self.start_timeout)
        except BaseException:
            self.stop()
            raise
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.startup_seconds = time.monotonic() - began
        return self

    @property
    def stderr(self) -> str:
        return "" if self.plugin is None else self.plugin.stderr

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.plugin is not None:
            self.plugin.stop()

    def __enter__(self) -> AnalyzerClient:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def stub(self) -> analyzer_pb2_grpc.AnalyzerStub:
        if self._stub is None:
            raise RuntimeError("the policy pack is not running; call start()")
        return self._stub

    # -- the CLI's calls ----------------------------------------------------------------------

    def handshake(self) -> bool:
        """Handshake as the CLI does; False when the pack does not implement it (pulumi_policy)."""
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=ENGINE_PLACEHOLDER,
            root_directory=str(self.pack_dir),
            program_directory=str(self.pack_dir),
        )
        try:
            self.stub.Handshake(request, timeout=10)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                return False
            raise
        return True

    def configure_stack(
        self, config: Mapping[str, str] | None = None, tags: Mapping[str, str] | None = None
    ) -> None:
        self.stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=self.stack,
                project=self.project,
                organization="organization",
                dry_run=True,
                config=dict(config or {}),
                tags=dict(tags or {}),
            ),
            timeout=10,
        )

    def info(self) -> analyzer_pb2.AnalyzerInfo:
        info: analyzer_pb2.AnalyzerInfo = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=10)
        self.policies = [
            PolicyDefault(
                name=policy.name,
                level=LEVEL_NAMES[policy.enforcementLevel],
                schema=json_format.MessageToDict(policy.configSchema.properties),
            )
            for policy in info.policies
        ]
        return info

    def configure(self, config: Mapping[str, Any] | None = None) -> None:
        """Configure every policy as the engine does: schema defaults, then `config` on top.

        `config` is a policy-pack config file's content: {policy: level} or
        {policy: {"enforcementLevel": level, property: value}}. Every policy gets an explicit
        enforcement level (its default unless `config` says otherwise).
        """
        if not self.policies:
            self.info()
        config = dict(config or {})
        unknown = set(config) - {policy.name for policy in self.policies}
        if unknown:
            raise ValueError(f"config for policies the pack does not have: {sorted(unknown)}")
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for policy in self.policies:
            given = config.get(policy.name, {})
            given = {"enforcementLevel": given} if isinstance(given, str) else dict(given)
            properties = {
                key: schema["default"] for key, schema in policy.schema.items() if "default" in schema
            }
            properties.update({k: v for k, v in given.items() if k != "enforcementLevel"})
            level = given.get("enforcementLevel", policy.level)
            request.policyConfig[policy.name].CopyFrom(
                analyzer_pb2.PolicyConfig(enforcementLevel=LEVELS[level], properties=to_struct(properties))
            )
        self.stub.Configure(request, timeout=10)

    def analyze(self, resource: WireResource, providers: Mapping[str, WireResource] | None = None) -> list[Diagnostic]:
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type,
            properties=resource.properties,
            urn=resource.urn,
            name=resource.name,
            options=self._options(resource),
        )
        provider = (providers or {}).get(resource.provider)
        if provider is not None:
            request.provider.CopyFrom(self._provider(provider))
        response = self.stub.Analyze(request, timeout=30)
        return self._diagnostics(response, resource.urn)

    def analyze_stack(self, resources: Sequence[WireResource]) -> list[Diagnostic]:
        providers = {r.urn: r for r in resources if r.type.startswith("pulumi:providers:")}
        request = analyzer_pb2.AnalyzeStackRequest()
        for resource in resources:
            entry = analyzer_pb2.AnalyzerResource(
                type=resource.type,
                properties=resource.properties,
                urn=resource.urn,
                name=resource.name,
                options=self._options(resource),
                parent=resource.parent,
                dependencies=resource.dependencies,
            )
            provider = providers.get(resource.provider)
            if provider is not None:
                entry.provider.CopyFrom(self._provider(provider))
            request.resources.append(entry)
        response = self.stub.AnalyzeStack(request, timeout=60)
        return self._diagnostics(response, "")

    def run(self, resources: Sequence[WireResource], config: Mapping[str, Any] | None = None) -> Verdict:
        """Configure, then Analyze every resource and AnalyzeStack them all, as a preview does."""
        self.configure(config)
        providers = {r.urn: r for r in resources if r.type.startswith("pulumi:providers:")}
        diagnostics: list[Diagnostic] = []
        for resource in resources:
            diagnostics += self.analyze(resource, providers)
        diagnostics += self.analyze_stack(resources)
        return Verdict(diagnostics)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _options(resource: WireResource) -> analyzer_pb2.AnalyzerResourceOptions:
        return analyzer_pb2.AnalyzerResourceOptions(
            protect=resource.protect,
            parent=resource.parent,
            additionalSecretOutputs=resource.additional_secret_outputs,
        )

    @staticmethod
    def _provider(provider: WireResource) -> analyzer_pb2.AnalyzerProviderResource:
        return analyzer_pb2.AnalyzerProviderResource(
            type=provider.type, properties=provider.properties, urn=provider.urn, name=provider.name
        )

    @staticmethod
    def _diagnostics(response: analyzer_pb2.AnalyzeResponse, default_urn: str) -> list[Diagnostic]:
        return [
            Diagnostic(
                policy=d.policyName,
                level=LEVEL_NAMES[d.enforcementLevel],
                urn=d.urn or default_urn,
                message=d.message,
            )
            for d in response.diagnostics
        ]
