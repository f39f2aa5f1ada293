"""Run the real `__main__.py` with a real stack file under Pulumi's mock engine.

No account, no network, no CLI: the program registers its resources with a recording mock
monitor, which answers as a provider would (ids and the computed outputs the program reads).
The offline plan and the tests share this one runner.
"""

from __future__ import annotations

import hashlib
import json
import runpy
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

import contract
from config.stack_file import StackFileLoader

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = contract.PROJECT
SECRET_SIG, SECRET_VALUE = contract.SECRET_SIG, contract.SECRET_VALUE
# Stack-file secrets are encrypted with a passphrase we do not have; the plan treats them as set.
SECRET_PLACEHOLDER = "secret-placeholder-from-offline-plan"


@dataclass
class RegisteredResource:
    """One resource as the program registered it with the engine."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    protect: bool
    provider: str
    inputs: dict[str, Any]  # deserialized; secrets keep the wire wrapper (see is_secret)
    wire: struct_pb2.Struct  # exactly what the engine received
    dependencies: list[str] = field(default_factory=list)
    id: str = ""
    """The id the mock engine answered with (what the program's `resource.id` resolves to)."""
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    """The `customTimeouts` resource option as the engine received it ("create": "30m", ...)."""
    delete_before_replace: bool = False


@dataclass
class StackOutput:
    value: Any
    secret: bool


@dataclass
class StackRun:
    stack: str
    resources: list[RegisteredResource]
    outputs: dict[str, StackOutput]

    def of_type(self, type_: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> RegisteredResource:
        found = self.of_type(type_)
        if len(found) != 1:
            raise AssertionError(f"expected one {type_}, found {[r.name for r in found]}")
        return found[0]

    def by_urn(self, urn: str) -> RegisteredResource | None:
        return next((r for r in self.resources if r.urn == urn), None)


class ProgramFailed(Exception):
    """The program stopped with an error; `registered` is what it had registered by then."""

    def __init__(self, message: str, registered: list[RegisteredResource]) -> None:
        super().__init__(message)
        self.registered = registered


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE


def reveal(value: Any) -> Any:
    """The value with every secret wrapper replaced by what it wraps, and whole numbers as ints
    (the wire carries every number as a float)."""
    if is_secret(value):
        return reveal(value.get("value"))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


class StackFileError(Exception):
    """The stack file is missing or is not a valid stack file; the message says where and why."""


def stack_file_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The `config:` of Pulumi.<stack>.yaml; `secure:` values become a placeholder marked secret."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        stacks = sorted(p.name.split(".")[1] for p in project_dir.glob("Pulumi.*.yaml"))
        raise StackFileError(f"no stack file {path.name}; stacks here: {', '.join(stacks)}")
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=StackFileLoader) or {}
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path.name}, line {mark.line + 1}, column {mark.column + 1}" if mark else path.name
        raise StackFileError(f"{where}: not valid YAML: {error.problem or error}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise StackFileError(f"{path.name}: not valid YAML: {error}") from None
    except RecursionError:
        raise StackFileError(f"{path.name}: not valid YAML: nested too deeply") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config or {}, dict):
        raise StackFileError(f"{path.name}: `config:` must be a mapping of keys to values")
    for key, value in (config or {}).items():
        if not isinstance(key, str):
            raise StackFileError(f"{path.name}: the config key {key!r} is not text; keys are `<namespace>:<name>`")
        try:
            json.dumps(value, allow_nan=True)
        except ValueError:
            # A YAML alias inside its own anchor (`&a {self: *a}`): the Pulumi CLI refuses it too.
            raise StackFileError(
                f"{path.name}: `{key}` refers to itself (a YAML alias inside its own anchor); write the value out"
            ) from None
        except RecursionError:
            raise StackFileError(f"{path.name}: `{key}` is nested too deeply") from None
        except TypeError as error:  # a tagged value: !!binary, !!set
            raise StackFileError(
                f"{path.name}: `{key}` holds a value that is not text, a number, true/false, null, a list or "
                f"a mapping ({error})"
            ) from None
    return dict(config or {})


def _as_go_json(value: Any) -> Any:
    """`value` with its numbers as the CLI writes them (Go's encoding/json): a whole float below
    1e21 has no decimal point, so `size: 2.0` reaches the program as 2 and `maxModelLen: 1e4` as
    10000."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {key: _as_go_json(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_as_go_json(child) for child in value]
    return value


def decrypted(value: Any) -> tuple[Any, bool]:
    """(`value` as the CLI hands it to the program, whether it held a `secure:` value).

    As the CLI does (pulumi sdk/go/common/resource/config/object.go, isSecureValue and decrypt):
    a mapping of the single key `secure` with a text value is a secret at any depth; each is
    decrypted in place (here: to the placeholder, we have no passphrase), and the whole top-level
    key is marked secret when any value inside it is (object.go, Secure)."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("secure"), str):
            return SECRET_PLACEHOLDER, True
        items = {key: decrypted(child) for key, child in value.items()}
        return {key: plain for key, (plain, _) in items.items()}, any(secure for _, secure in items.values())
    if isinstance(value, list):
        children = [decrypted(child) for child in value]
        return [plain for plain, _ in children], any(secure for _, secure in children)
    return value, False


class _Mocks(pulumi_mocks.Mocks):
    """Answers like the providers would: an id, the inputs, and the computed outputs read later."""

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        resource_id = str(uuid.UUID(bytes=hashlib.sha256(args.name.encode()).digest()[:16]))
        outputs = dict(args.inputs)
        if args.typ == contract.EXOSCALE_SKS_CLUSTER:
            zone = args.inputs.get("zone", "zone")
            outputs["endpoint"] = f"https://{resource_id}.sks-{zone}.exo.io:443"
            outputs.setdefault("version", "1.36.0")
        if args.typ == contract.EXOSCALE_SKS_KUBECONFIG:
            outputs["kubeconfig"] = _fake_kubeconfig(resource_id)
        if args.typ in (contract.MIG_NODEPOOL, contract.EXOSCALE_SKS_NODEPOOL):
            # What the provider reads back: the nodepool's instance pool, its name at the API, its state.
            outputs["instance_pool_id" if args.typ == contract.MIG_NODEPOOL else "instancePoolId"] = str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"instance-pool/{args.name}")
            )
        if args.typ == contract.SKS_ADDON:
            # What create reports: the add-on listed among a new cluster's three.
            outputs["enabled"] = True
            outputs["addons"] = ["exoscale-cloud-controller", "metrics-server",
                                 "exoscale-container-storage-interface", args.inputs.get("addon")]
        if args.typ == contract.MIG_NODEPOOL:
            outputs["nodepool_name"] = args.inputs.get("name")
            outputs["state"] = "running"
        return resource_id, outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The SDK's mock monitor, also keeping what each registration carried (parent, protect, wire)."""

    def __init__(self, mocks: pulumi_mocks.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[RegisteredResource] = []

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the gRPC method name
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            wire = struct_pb2.Struct()
            wire.CopyFrom(request.object)
            self.registered.append(
                RegisteredResource(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    custom=request.custom,
                    parent=request.parent,
                    protect=request.protect,
                    provider=request.provider,
                    inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                    wire=wire,
                    dependencies=list(request.dependencies),
                    id=response.id,
                    custom_timeouts={
                        kind: getattr(request.customTimeouts, kind)
                        for kind in ("create", "update", "delete")
                        if getattr(request.customTimeouts, kind)
                    },
                    delete_before_replace=request.deleteBeforeReplace,
                )
            )
        return response


def run_stack(
    stack: str = "dev",
    config: Mapping[str, Any] | None = None,
    project_dir: Path = PROJECT_DIR,
) -> StackRun:
    """Run the program for `stack` (its stack file, or `config` instead) and return what it did.

    A program error (invalid config among them) raises `ProgramFailed` with the user's message.
    """
    values = stack_file_config(stack, project_dir) if config is None else config
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    return run_program(
        lambda: runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__"), stack, values
    )


def run_program(program: Callable[[], object], stack: str = "test", config: Mapping[str, Any] | None = None) -> StackRun:
    """Run any Pulumi program function (a whole stack, or one component in a test) under the
    recording mock engine, with `config` as the stack config (`{"secure": ...}` values as secrets)."""
    flat: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (config or {}).items():
        plain, secure = decrypted(value)
        if secure:
            secret_keys.append(key)
        flat[key] = plain if isinstance(plain, str) else json.dumps(_as_go_json(plain))

    pulumi_settings.ROOT.set(None)
    # A run that failed part-way leaves its queued registrations and outputs behind; the SDK's own
    # `pulumi.runtime.test` clears them before each run (pulumi/runtime/mocks.py).
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    monitor = _RecordingMonitor(_Mocks())
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    set_all_config(flat, secret_keys=secret_keys)
    root = pulumi_settings.get_root_resource()
    outputs: dict[str, StackOutput] = {}

    async def run_and_collect_outputs() -> None:
        program()
        for name, value in getattr(root, "outputs", {}).items():
            output = pulumi.Output.from_input(value)
            outputs[name] = StackOutput(await output.future(), await output.is_secret())

    try:
        _sync_await(run_pulumi_func(run_and_collect_outputs))
    except pulumi.RunError as error:
        raise ProgramFailed(str(error), monitor.registered) from None
    return StackRun(stack=stack, resources=monitor.registered, outputs=outputs)


def _fake_kubeconfig(cluster_id: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {cluster_id}\n  cluster:\n"
        f"    server: https://{cluster_id}.sks.exo.io:443\n"
        "    certificate-authority-data: b2ZmbGluZS1wbGFu\n"
        f"users:\n- name: kubernetes-admin\n  user:\n"
        "    client-certificate-data: b2ZmbGluZS1wbGFu\n    client-key-data: b2ZmbGluZS1wbGFu\n"
        f"contexts:\n- name: admin\n  context: {{cluster: {cluster_id}, user: kubernetes-admin}}\n"
        "current-context: admin\n"
    )
