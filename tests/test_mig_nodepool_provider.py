"""Tests of the MigNodepool dynamic provider, driven the way the Pulumi engine drives it.

The program side registers a ``MigNodepool`` under ``pulumi.runtime.set_mocks``; the recorded
``__provider`` string is deserialized like ``pulumi.dynamic.__main__`` does (base64 + dill under
``_deserialize``, then ``configure``), and check/diff/create/read/update/delete are called with
properties that went through the engine's wire form (``rpc.serialize_properties`` /
``deserialize_properties``: every number a float) against a local fake Exoscale API that validates
every request against the OpenAPI document of the installed ``exoscale`` client.

Waits run on a virtual clock (the provider's ``_sleep``/``_monotonic`` are patched), so polls,
backoffs and timeouts are instant and deterministic.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import dill
import pytest
from pulumi.dynamic import ConfigureRequest, dynamic
from pulumi.dynamic.config import Config
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _deserialize

from tools.mock_run import StackRun, run_program, run_stack

ROOT = Path(__file__).resolve().parents[1]

from components import mig_nodepool_provider as mod  # noqa: E402
from components.mig_nodepool_provider import (  # noqa: E402
    MigNodepool,
    MigNodepoolError,
    MigNodepoolProvider,
)
from tests.fake_exoscale_api import (  # noqa: E402
    TEST_KEY,
    TEST_SECRET,
    FakeExoscaleAPI,
    running_fake_exoscale_api,
    stable_uuid,
    use_fake_exoscale_api,
)

TYPE_TOKEN = "pulumi-python:dynamic/nodepool:MigNodepool"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270"
CLUSTER_ID = stable_uuid("cluster/sks-mig")  # the cluster FakeExoscaleAPI.add_cluster() creates
SG_NODES = stable_uuid("security-group/nodes")
SG_EXTRA = stable_uuid("security-group/extra")
AAG_GPU = stable_uuid("anti-affinity-group/gpu")

INPUTS: dict[str, Any] = {
    "zone": "de-fra-1",
    "cluster_id": CLUSTER_ID,
    "name": "gpu-rtx",
    "instance_type": "gpurtx6000pro.small",
    "size": 2,
    "disk_size": 100,
    "nvidia_mig_profiles": {"rtxpro6000.96gb": "1g.24gb"},
    "labels": {"sks-mig/gpu": "rtxpro6000.96gb", "sks-mig/mig-profile": "1g.24gb"},
    "taints": {"nvidia.com/gpu": "present:NoSchedule"},
    "security_group_ids": [SG_NODES],
    "anti_affinity_group_ids": [AAG_GPU],
    "description": "RTX PRO 6000 cut into 1g.24gb slices",
    "timeout_seconds": 1200,
}


# --------------------------------------------------------------------------------------------------
# The engine's side
# --------------------------------------------------------------------------------------------------


def unwrap_secret(value: Any) -> Any:
    if isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE:
        return value["value"]
    return value


def register(inputs: dict[str, Any]) -> StackRun:
    """Register one MigNodepool through the shared recording mock engine."""
    return run_program(lambda: MigNodepool("gpu-rtx", dict(inputs)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def serialized_provider() -> str:
    """The ``__provider`` string the real program (dev stack) sends to the engine for its GPU
    nodepool, registered with credentials in the environment so that a leak would show."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXOSCALE_API_KEY", TEST_KEY)
        mp.setenv("EXOSCALE_API_SECRET", TEST_SECRET)
        run = run_stack("dev")
    resource = run.one(TYPE_TOKEN)
    serialized = unwrap_secret(resource.inputs["__provider"])
    assert isinstance(serialized, str)
    return serialized


def load_provider(serialized: str, config: dict[str, Any] | None = None) -> MigNodepoolProvider:
    """What pulumi.dynamic.__main__.get_provider does with the string."""
    provider = _deserialize(lambda: dill.loads(base64.b64decode(serialized)))
    provider.configure(ConfigureRequest(Config(raw_config=config or {}, project_name="sks-mig")))
    assert isinstance(provider, MigNodepoolProvider)
    return provider


def wire(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as they cross the gRPC boundary (protobuf Struct: numbers become floats)."""
    loop = asyncio.new_event_loop()
    try:
        struct = loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()
    result: dict[str, Any] = rpc.deserialize_properties(struct, True)
    return result


class Engine:
    """Calls the provider as the dynamic provider host does, with wire-form properties."""

    def __init__(self, provider: MigNodepoolProvider, serialized: str) -> None:
        self.provider = provider
        self.serialized = serialized

    def _in(self, props: dict[str, Any]) -> dict[str, Any]:
        return wire({**props, "__provider": self.serialized})

    def check(self, news: dict[str, Any], olds: dict[str, Any] | None = None) -> dynamic.CheckResult:
        return self.provider.check(self._in(olds or {}), self._in(news))

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        return self.provider.diff(id_, self._in(olds), self._in(news))

    def create(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        checked = self.check(inputs)
        assert not checked.failures, [(f.property, f.reason) for f in checked.failures]
        result = self.provider.create(self._in(checked.inputs))
        assert result.outs is not None
        return result.id, self._in(result.outs)

    def read(self, id_: str, outs: dict[str, Any]) -> dynamic.ReadResult:
        return self.provider.read(id_, self._in(outs))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        result = self.provider.update(id_, self._in(olds), self._in(news))
        assert result.outs is not None
        return self._in(result.outs)

    def delete(self, id_: str, outs: dict[str, Any]) -> None:
        self.provider.delete(id_, self._in(outs))


class VirtualClock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    virtual = VirtualClock()
    monkeypatch.setattr(mod, "_sleep", virtual.sleep)
    monkeypatch.setattr(mod, "_monotonic", virtual.monotonic)
    for name in ("SKS_MIG_POLL_INTERVAL", "SKS_MIG_RETRY_ATTEMPTS", "SKS_MIG_RETRY_BASE_DELAY", "SKS_MIG_HTTP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKS_MIG_HTTP_TIMEOUT", "5")
    return virtual


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExoscaleAPI]:
    with running_fake_exoscale_api() as fake:
        fake.add_cluster()
        use_fake_exoscale_api(monkeypatch, fake)
        yield fake


@pytest.fixture
def engine(serialized_provider: str) -> Engine:
    return Engine(load_provider(serialized_provider), serialized_provider)


def no_credentials_in(value: Any) -> None:
    text = json.dumps(value, default=str)
    assert TEST_KEY not in text
    assert TEST_SECRET not in text


# --------------------------------------------------------------------------------------------------
# Program side and serialization
# --------------------------------------------------------------------------------------------------


def test_registration_uses_the_type_token_and_fills_defaults() -> None:
    minimal = {k: INPUTS[k] for k in ("zone", "cluster_id", "name", "instance_type", "size")}
    resource = register(minimal).one(TYPE_TOKEN)
    inputs = resource.inputs
    assert resource.name == "gpu-rtx"
    assert inputs["timeout_seconds"] == 1200
    assert inputs["disk_size"] == 50
    assert inputs["nvidia_mig_profiles"] == {}
    assert unwrap_secret(inputs["__provider"]) != inputs["__provider"], "the provider travels as a secret"
    with pytest.raises(TypeError, match="unknown argument"):
        MigNodepool("x", cast(Any, {**minimal, "mig_profile": "1g.24gb"}))


def test_serialized_provider_is_a_class_reference_without_credentials(serialized_provider: str) -> None:
    raw = base64.b64decode(serialized_provider)
    assert b"components.mig_nodepool_provider" in raw
    assert TEST_KEY.encode() not in raw
    assert TEST_SECRET.encode() not in raw

    provider = load_provider(serialized_provider, {"exoscale:key": TEST_KEY, "exoscale:secret": TEST_SECRET})
    assert vars(provider) == {}
    again = base64.b64decode(dynamic.serialize_provider(provider))
    assert TEST_KEY.encode() not in again
    assert TEST_SECRET.encode() not in again
    assert TEST_KEY not in repr(provider)


def test_module_imports_cleanly_and_the_provider_loads_by_reference(serialized_provider: str) -> None:
    """A fresh process, as the dynamic provider host is: import is silent and lazy, and the
    serialized provider unpickles by re-importing the module."""
    code = (
        "import base64, json, sys, threading\n"
        "import dill\n"
        "import components.mig_nodepool_provider as m\n"
        "assert 'exoscale.api.v2' not in sys.modules, 'the client is imported lazily'\n"
        "assert threading.active_count() == 1\n"
        "provider = dill.loads(base64.b64decode(sys.argv[1]))\n"
        "assert type(provider) is m.MigNodepoolProvider\n"
        "assert provider.check({}, json.loads(sys.argv[2])).failures == []\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code, serialized_provider, json.dumps(INPUTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""


# --------------------------------------------------------------------------------------------------
# check / diff: offline
# --------------------------------------------------------------------------------------------------


def test_check_accepts_engine_floats_and_fills_defaults(engine: Engine, api: FakeExoscaleAPI) -> None:
    minimal = {k: INPUTS[k] for k in ("zone", "cluster_id", "name", "instance_type", "size")}
    result = engine.check(minimal)
    assert result.failures == []
    assert result.inputs["size"] == 2.0
    assert result.inputs["timeout_seconds"] == 1200
    assert result.inputs["taints"] == {}
    assert engine.check(INPUTS).failures == []
    assert api.requests == [], "check must not call the API"


@pytest.mark.parametrize(
    ("override", "prop", "fragment"),
    [
        ({"size": 0}, "size", "at least 1"),
        ({"size": 2.5}, "size", "whole number"),
        ({"disk_size": 10}, "disk_size", "between 20 and 51200"),
        ({"taints": {"nvidia.com/gpu": "present"}}, "taints", "value:Effect"),
        ({"taints": {"nvidia.com/gpu": "present:NoSchedul"}}, "taints", "NoSchedul"),
        ({"nvidia_mig_profiles": {"rtxpro6000.96gb": "1g.99gb"}}, "nvidia_mig_profiles", "1g.99gb"),
        ({"nvidia_mig_profiles": {"h100.80gb": "1g.10gb"}}, "nvidia_mig_profiles", "unknown GPU key"),
        ({"nvidia_mig_profiles": {"a30.24gb": "1g.6gb"}}, "nvidia_mig_profiles", "does not match"),
        ({"instance_type": "standard.medium"}, "nvidia_mig_profiles", "no MIG-capable GPU"),
        ({"instance_type": "gpurtx6000pro"}, "instance_type", "family.size"),
        ({"cluster_id": "my-cluster"}, "cluster_id", "UUID"),
        ({"security_group_ids": ["sg-nodes"]}, "security_group_ids", "UUID"),
        ({"name": "GPU-RTX"}, "name", "lowercase"),
        ({"timeout_seconds": 0}, "timeout_seconds", "positive"),
        ({"zone": "frankfurt"}, "zone", "zone"),
    ],
)
def test_check_names_the_property_at_fault(
    engine: Engine, api: FakeExoscaleAPI, override: dict[str, Any], prop: str, fragment: str
) -> None:
    failures = engine.check({**INPUTS, **override}).failures
    assert [f.property for f in failures] == [prop], [(f.property, f.reason) for f in failures]
    assert fragment in failures[0].reason
    assert api.requests == []


def test_preview_unknowns_are_not_validated_and_force_a_replace(engine: Engine, api: FakeExoscaleAPI) -> None:
    unknown = {**INPUTS, "cluster_id": rpc.UNKNOWN, "labels": rpc.UNKNOWN}
    checked = engine.check(unknown)
    assert checked.failures == []
    wire(checked.inputs)  # what the host sends back must still serialize
    diff = engine.diff("np", INPUTS, unknown)
    assert diff.changes and diff.replaces == ["cluster_id"]
    assert api.requests == []


@pytest.mark.parametrize(
    ("override", "replaces"),
    [
        ({}, None),
        ({"size": 2.0}, None),  # the engine's float is no change
        ({"security_group_ids": [SG_EXTRA, SG_NODES]}, []),
        ({"zone": "ch-gva-2"}, ["zone"]),
        ({"cluster_id": stable_uuid("cluster/other")}, ["cluster_id"]),
        ({"instance_type": "gpua30.small", "nvidia_mig_profiles": {"a30.24gb": "1g.6gb"}}, ["instance_type"]),
        ({"size": 3}, []),
        ({"disk_size": 200}, []),
        ({"name": "gpu-rtx-2"}, []),
        ({"labels": {"team": "ml"}}, []),
        ({"taints": {}}, []),
        ({"description": "other"}, []),
        ({"anti_affinity_group_ids": []}, []),
        ({"timeout_seconds": 1800}, []),
    ],
)
def test_diff_replaces_or_updates_in_place(
    engine: Engine, api: FakeExoscaleAPI, override: dict[str, Any], replaces: list[str] | None
) -> None:
    olds = {**INPUTS, "nodepool_id": "np", "state": "running"}
    result = engine.diff("np", olds, {**INPUTS, **override})
    if replaces is None:
        assert result.changes is False
        assert not result.replaces
    else:
        assert result.changes is True
        assert result.replaces == replaces
        assert result.delete_before_replace is bool(replaces)
    assert api.requests == [], "diff must not call the API"


def test_diff_warns_that_a_mig_change_recycles_the_gpu_nodes(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=mod.__name__):
        result = engine.diff("np", INPUTS, {**INPUTS, "nvidia_mig_profiles": {"rtxpro6000.96gb": "2g.48gb"}})
    assert result.changes is True and result.replaces == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("recycles the GPU nodes" in w and "2g.48gb" in w for w in warnings), warnings
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=mod.__name__):
        engine.diff("np", INPUTS, {**INPUTS, "size": 4})
    assert not [r for r in caplog.records if "recycles" in r.getMessage()]


# --------------------------------------------------------------------------------------------------
# create / read / update / delete against the fake API
# --------------------------------------------------------------------------------------------------


def test_create_sends_the_mig_profile_and_the_resolved_instance_type(engine: Engine, api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)

    [body] = api.bodies("create-sks-nodepool")
    assert body == {
        "name": "gpu-rtx",
        "instance-type": {"id": api.instance_type_id("gpurtx6000pro.small")},
        "size": 2,
        "disk-size": 100,
        "nvidia-mig-profiles": {"rtxpro6000.96gb": "1g.24gb"},
        "labels": {"sks-mig/gpu": "rtxpro6000.96gb", "sks-mig/mig-profile": "1g.24gb"},
        "taints": {"nvidia.com/gpu": {"value": "present", "effect": "NoSchedule"}},
        "security-groups": [{"id": SG_NODES}],
        "anti-affinity-groups": [{"id": AAG_GPU}],
        "description": "RTX PRO 6000 cut into 1g.24gb slices",
    }
    assert isinstance(body["size"], int) and isinstance(body["disk-size"], int)
    assert nodepool_id == outs["nodepool_id"]
    assert outs["state"] == "running"
    assert outs["instance_pool_id"] == api.nodepool(CLUSTER_ID, nodepool_id)["instance-pool"]["id"]
    assert outs["instance_type_id"] == api.instance_type_id("gpurtx6000pro.small")
    for key in mod.INPUT_KEYS:
        assert outs[key] == wire(INPUTS)[key], key
    assert [r.credential for r in api.requests] == [TEST_KEY] * len(api.requests)
    no_credentials_in(outs)
    api.assert_no_violations()


def test_create_refuses_a_second_nodepool_with_the_same_name(engine: Engine, api: FakeExoscaleAPI) -> None:
    first, _ = engine.create(INPUTS)
    with pytest.raises(MigNodepoolError, match=f"already has a nodepool with that name.*{first}"):
        engine.create(INPUTS)
    assert len(api.requests_for("create-sks-nodepool")) == 1
    api.assert_no_violations()


def test_config_credentials_win_over_the_environment(serialized_provider: str, api: FakeExoscaleAPI) -> None:
    provider = load_provider(serialized_provider, {"exoscale:key": "EXOconfigured", "exoscale:secret": "s3"})
    Engine(provider, serialized_provider).create(INPUTS)
    assert {r.credential for r in api.requests} == {"EXOconfigured"}
    api.assert_no_violations()


def test_missing_credentials_fail_before_any_request(
    engine: Engine, api: FakeExoscaleAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXOSCALE_API_KEY")
    monkeypatch.delenv("EXOSCALE_API_SECRET")
    with pytest.raises(MigNodepoolError, match=r"exoscale:key.*EXOSCALE_API_KEY"):
        engine.create(INPUTS)
    assert api.requests == []


def test_read_reports_drift_and_update_repairs_it(engine: Engine, api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    api.update_nodepool_out_of_band(
        CLUSTER_ID, nodepool_id, size=5, labels={"edited": "by-hand"}, taints={}, description="hand"
    )
    read = engine.read(nodepool_id, outs)
    assert read.id == nodepool_id
    assert read.outs is not None and read.inputs is not None
    assert (read.outs["size"], read.outs["labels"], read.outs["taints"]) == (5, {"edited": "by-hand"}, {})
    assert read.inputs["size"] == 5
    no_credentials_in(read.outs)

    refreshed = wire({**read.outs, "__provider": engine.serialized})
    diff = engine.diff(nodepool_id, refreshed, INPUTS)
    assert diff.changes is True and diff.replaces == []
    api.clear_records()
    repaired = engine.update(nodepool_id, refreshed, INPUTS)
    assert api.bodies("scale-sks-nodepool") == [{"size": 2}]
    [put] = api.bodies("update-sks-nodepool")
    assert set(put) == {"labels", "taints", "description"}
    assert put["taints"] == {"nvidia.com/gpu": {"value": "present", "effect": "NoSchedule"}}
    assert repaired["size"] == 2 and repaired["labels"] == INPUTS["labels"]
    api.assert_no_violations()


def test_read_after_an_out_of_band_delete_returns_an_empty_id(engine: Engine, api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    api.delete_nodepool_out_of_band(CLUSTER_ID, nodepool_id)
    read = engine.read(nodepool_id, outs)
    assert read.id == ""
    assert read.outs == {}
    api.assert_no_violations()


def test_update_in_place_sends_only_what_changed(engine: Engine, api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    api.clear_records()
    news = {
        **INPUTS,
        "size": 3,
        "disk_size": 150,
        "nvidia_mig_profiles": {"rtxpro6000.96gb": "2g.48gb"},
        "labels": {"sks-mig/mig-profile": "2g.48gb"},
        "taints": {"nvidia.com/gpu": "present:NoExecute", "dedicated": "inference:PreferNoSchedule"},
        "security_group_ids": [SG_NODES, SG_EXTRA],
    }
    assert engine.diff(nodepool_id, outs, news).replaces == []
    updated = engine.update(nodepool_id, outs, news)
    [put] = api.bodies("update-sks-nodepool")
    assert put == {
        "disk-size": 150,
        "nvidia-mig-profiles": {"rtxpro6000.96gb": "2g.48gb"},
        "labels": {"sks-mig/mig-profile": "2g.48gb"},
        "taints": {
            "nvidia.com/gpu": {"value": "present", "effect": "NoExecute"},
            "dedicated": {"value": "inference", "effect": "PreferNoSchedule"},
        },
        "security-groups": [{"id": SG_NODES}, {"id": SG_EXTRA}],
    }
    assert api.bodies("scale-sks-nodepool") == [{"size": 3}]
    assert updated["nvidia_mig_profiles"] == {"rtxpro6000.96gb": "2g.48gb"}
    assert updated["size"] == 3 and updated["disk_size"] == 150
    assert updated["security_group_ids"] == [SG_NODES, SG_EXTRA]
    assert updated["state"] == "running"
    no_credentials_in(updated)
    api.assert_no_violations()


def test_update_turning_mig_off_sends_null(engine: Engine, api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    api.clear_records()
    updated = engine.update(nodepool_id, outs, {**INPUTS, "nvidia_mig_profiles": {}})
    assert api.bodies("update-sks-nodepool") == [{"nvidia-mig-profiles": None}]
    assert updated["nvidia_mig_profiles"] == {}
    assert api.requests_for("scale-sks-nodepool") == []
    api.assert_no_violations()


def test_delete_waits_until_the_nodepool_is_gone(engine: Engine, api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    api.clear_records()
    engine.delete(nodepool_id, outs)
    assert api.nodepools[CLUSTER_ID] == {}
    assert api.requests[0].operation_id == "delete-sks-nodepool"
    assert api.requests[-1].operation_id == "get-sks-nodepool" and api.requests[-1].status == 404
    api.assert_no_violations()


# --------------------------------------------------------------------------------------------------
# Faults: each one either survives (bounded retries) or fails with a message that names the
# nodepool (when one exists) or the input at fault. Nothing is left behind silently.
# --------------------------------------------------------------------------------------------------


def _closed_port_endpoint(_api: FakeExoscaleAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("EXOSCALE_API_ENDPOINT", f"http://127.0.0.1:{port}/v2")


def _slow_reads(api: FakeExoscaleAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKS_MIG_HTTP_TIMEOUT", "0.08")
    api.delay_requests("get-sks-nodepool", 2, 0.4)


@dataclass(frozen=True)
class Fault:
    name: str
    stage: str  # the provider call that meets the fault: create | read | update | delete
    inject: Callable[[FakeExoscaleAPI, pytest.MonkeyPatch], None]
    survives: bool
    expect: tuple[str, ...] = ()  # fragments of the error; "{id}" is the nodepool id
    inputs: tuple[tuple[str, Any], ...] = ()
    requests: tuple[tuple[str, int], ...] = ()  # (operation id, expected request count)
    gone: bool = False  # the nodepool must no longer exist in the fake afterwards


FAULTS = [
    Fault(
        "create: burst of 3 HTTP 500",
        "create",
        lambda api, _: api.fail_requests("create-sks-nodepool", 3),
        survives=True,
        requests=(("create-sks-nodepool", 4),),
    ),
    Fault(
        "create: HTTP 500 after the nodepool was created (adopted, not duplicated)",
        "create",
        lambda api, _: api.fail_requests("create-sks-nodepool", 1, after_apply=True),
        survives=True,
        requests=(("create-sks-nodepool", 1),),
    ),
    Fault(
        "create: HTTP 429 twice",
        "create",
        lambda api, _: api.fail_requests("create-sks-nodepool", 2, status=429, message="Too many requests"),
        survives=True,
        requests=(("create-sks-nodepool", 3),),
    ),
    Fault(
        "create: burst of 3 HTTP 500 while polling the operation",
        "create",
        lambda api, _: api.fail_requests("get-operation", 3, status=503),
        survives=True,
    ),
    Fault(
        "create: HTTP 500 beyond the retry budget",
        "create",
        lambda api, _: api.fail_requests("create-sks-nodepool", 10),
        survives=False,
        expect=("gave up after 5 attempt(s)", "HTTP 500", "No nodepool was created"),
        requests=(("create-sks-nodepool", 5),),
    ),
    Fault(
        "create: connection refused",
        "create",
        _closed_port_endpoint,
        survives=False,
        expect=("gave up after 5 attempt(s)", "ConnectionError"),
    ),
    Fault(
        "create: HTTP 400 with the API's message",
        "create",
        lambda api, _: api.fail_requests(
            "create-sks-nodepool",
            status=400,
            message="Invalid parameter nvidia-mig-profiles: profile not available in zone",
        ),
        survives=False,
        expect=(
            "HTTP 400",
            "'Invalid parameter nvidia-mig-profiles: profile not available in zone'",
            'Input at fault: nvidia_mig_profiles={"rtxpro6000.96gb": "1g.24gb"}',
        ),
        requests=(("create-sks-nodepool", 1),),
    ),
    Fault(
        "create: HTTP 403",
        "create",
        lambda api, _: api.fail_requests("get-sks-cluster", status=403, message="Forbidden"),
        survives=False,
        expect=("refused the credentials", "EXOSCALE_API_KEY"),
    ),
    Fault(
        "create: cluster not found",
        "create",
        lambda api, _: api.clusters.clear(),
        survives=False,
        expect=("cluster_id", "was not found"),
    ),
    Fault(
        "create: operation ends in failure",
        "create",
        lambda api, _: api.fail_next_operation("create-sks-nodepool", message="no GPU capacity"),
        survives=False,
        expect=("nodepool {id}", "'failure'", "no GPU capacity", "NOT recorded in the Pulumi state"),
    ),
    Fault(
        "create: operation ends in timeout state",
        "create",
        lambda api, _: api.fail_next_operation("create-sks-nodepool", state="timeout", reason="unavailable"),
        survives=False,
        expect=("nodepool {id}", "'timeout'", "unavailable"),
    ),
    Fault(
        "create: operation stays pending past timeout_seconds",
        "create",
        lambda api, _: api.stall_next_operation("create-sks-nodepool"),
        survives=False,
        expect=("timed out after 60s", "nodepool {id}", "NOT recorded in the Pulumi state"),
        inputs=(("timeout_seconds", 60),),
    ),
    Fault(
        "read: HTTP read timeout twice",
        "read",
        lambda api, mp: _slow_reads(api, mp),
        survives=True,
    ),
    Fault(
        "read: burst of 3 HTTP 502",
        "read",
        lambda api, _: api.fail_requests("get-sks-nodepool", 3, status=502),
        survives=True,
    ),
    Fault(
        "update: burst of 3 HTTP 500 on scale",
        "update",
        lambda api, _: api.fail_requests("scale-sks-nodepool", 3),
        survives=True,
        requests=(("scale-sks-nodepool", 4),),
    ),
    Fault(
        "update: HTTP 400 with the API's message",
        "update",
        lambda api, _: api.fail_requests("update-sks-nodepool", status=400, message="labels: key too long"),
        survives=False,
        expect=("nodepool {id}", "'labels: key too long'", 'Input at fault: labels={"team": "ml"}'),
        requests=(("update-sks-nodepool", 1),),
    ),
    Fault(
        "update: operation ends in failure",
        "update",
        lambda api, _: api.fail_next_operation("update-sks-nodepool", reason="conflict", message="busy"),
        survives=False,
        expect=("nodepool {id}", "'failure'", "conflict", "pulumi refresh"),
    ),
    Fault(
        "delete: nodepool already gone (HTTP 404)",
        "delete",
        lambda api, _: api.nodepools[CLUSTER_ID].clear(),
        survives=True,
        requests=(("delete-sks-nodepool", 1),),
        gone=True,
    ),
    Fault(
        "delete: HTTP 404 while the deletion is still under way (waits until gone)",
        "delete",
        lambda api, _: api.fail_requests("delete-sks-nodepool", status=404, message="Not found", after_apply=True),
        survives=True,
        gone=True,
    ),
    Fault(
        "delete: burst of 3 HTTP 500",
        "delete",
        lambda api, _: api.fail_requests("delete-sks-nodepool", 3),
        survives=True,
        requests=(("delete-sks-nodepool", 4),),
        gone=True,
    ),
    Fault(
        "delete: operation ends in failure",
        "delete",
        lambda api, _: api.fail_next_operation("delete-sks-nodepool"),
        survives=False,
        expect=("nodepool {id}", "'failure'", "stays in the Pulumi state"),
    ),
    Fault(
        "delete: operation stays pending past timeout_seconds",
        "delete",
        lambda api, _: api.stall_next_operation("delete-sks-nodepool"),
        survives=False,
        expect=("timed out after 60s", "nodepool {id}"),
        inputs=(("timeout_seconds", 60),),
    ),
]


def test_fault_scenarios_are_counted() -> None:
    assert len(FAULTS) == 22
    assert len({f.name for f in FAULTS}) == len(FAULTS)
    assert sum(f.survives for f in FAULTS) == 10


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_survived_or_reported_naming_the_nodepool(
    fault: Fault, engine: Engine, api: FakeExoscaleAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = {**INPUTS, **dict(fault.inputs)}
    nodepool_id, outs = "", cast(dict[str, Any], {})
    if fault.stage != "create":
        nodepool_id, outs = engine.create(inputs)
        api.clear_records()
    fault.inject(api, monkeypatch)

    def act() -> None:
        if fault.stage == "create":
            engine.create(inputs)
        elif fault.stage == "read":
            assert engine.read(nodepool_id, outs).id == nodepool_id
        elif fault.stage == "update":
            engine.update(nodepool_id, outs, {**inputs, "size": 3, "labels": {"team": "ml"}})
        else:
            engine.delete(nodepool_id, outs)

    if fault.survives:
        act()
        if fault.stage == "create":
            assert len(api.nodepools[CLUSTER_ID]) == 1, "exactly one nodepool, no duplicate"
        if fault.gone:
            assert api.nodepools[CLUSTER_ID] == {}
    else:
        with pytest.raises(MigNodepoolError) as caught:
            act()
        message = str(caught.value)
        existing = list(api.nodepools.get(CLUSTER_ID, {}))
        for np_id in existing if fault.stage == "create" else [nodepool_id]:
            assert np_id in message, f"the error must name nodepool {np_id}: {message}"
        the_id = existing[0] if fault.stage == "create" and existing else nodepool_id
        for fragment in fault.expect:
            assert fragment.replace("{id}", the_id) in message, message
        no_credentials_in(message)
    for operation_id, count in fault.requests:
        assert len(api.requests_for(operation_id)) == count, operation_id
    api.assert_no_violations()


# --------------------------------------------------------------------------------------------------
# The fake API itself: it must reject what the real API rejects, or the suite proves nothing
# --------------------------------------------------------------------------------------------------


def _raw_create(api: FakeExoscaleAPI, **overrides: Any) -> tuple[int, Any]:
    from exoscale.api.exceptions import ExoscaleAPIException
    from exoscale.api.v2 import Client

    kwargs: dict[str, Any] = {
        "id": CLUSTER_ID,
        "name": "probe",
        "instance_type": {"id": api.instance_type_id("gpurtx6000pro.small")},
        "size": 1,
        "disk_size": 50,
        "nvidia_mig_profiles": {"rtxpro6000.96gb": "1g.24gb"},
    }
    kwargs.update(overrides)
    try:
        return 200, Client(TEST_KEY, TEST_SECRET, url=api.url).create_sks_nodepool(**kwargs)
    except ExoscaleAPIException as exc:
        return exc.response.status_code, exc.response.json()


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"size": 1.0}, "body"),
        ({"size": 0}, "body"),
        ({"disk_size": "50"}, "body"),
        ({"nvidia_mig_profiles": {"rtxpro6000.96gb": "1g.99gb"}}, "body"),
        ({"nvidia_mig_profiles": {"h100.80gb": "1g.10gb"}}, "body"),
        ({"taints": {"k": {"value": "v", "effect": "NoSchedul"}}}, "body"),
        ({"taints": {"k": "v:NoSchedule"}}, "body"),
        ({"security_groups": ["sg"]}, "body"),
        ({"instance_type": {"id": "gpurtx6000pro.small"}}, "body"),
        ({"instance_type": {"id": stable_uuid("nope")}}, "semantic"),
        ({"nvidia_mig_profiles": {"a30.24gb": "1g.6gb"}}, "semantic"),
        ({"id": "not-a-uuid"}, "path"),
    ],
)
def test_fake_api_rejects_what_the_api_would_reject(api: FakeExoscaleAPI, overrides: dict[str, Any], kind: str) -> None:
    status, payload = _raw_create(api, **overrides)
    assert status == 400, payload
    assert "message" in payload
    assert [v.kind for v in api.violations] == [kind], [str(v) for v in api.violations]


def test_fake_api_accepts_a_valid_request_and_checks_auth_and_routes(api: FakeExoscaleAPI) -> None:
    import requests

    status, operation = _raw_create(api)
    assert status == 200 and operation["state"] == "pending"
    api.assert_no_violations()

    assert requests.get(f"{api.url}/instance-type", timeout=5).status_code == 403
    assert (
        requests.get(f"{api.url}/no-such-thing", headers={"Authorization": "EXO2-HMAC-SHA256 x"}, timeout=5).status_code
        == 404
    )
    assert [v.kind for v in api.violations] == ["auth", "route"]
