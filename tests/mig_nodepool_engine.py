"""Drive the MigNodepool dynamic provider the way the Pulumi engine does, in this process.

The program side registers a ``MigNodepool`` under ``pulumi.runtime.set_mocks``; the recorded
``__provider`` string is deserialized like ``pulumi.dynamic.__main__.get_provider`` does (base64 +
dill under ``_deserialize``, then ``configure``), and check/diff/create/read/update/delete are called
with properties that went through the engine's wire form (``rpc.serialize_properties`` /
``deserialize_properties``: every number a float). Waits run on a ``VirtualClock``.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from typing import Any

import dill
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic import ConfigureRequest, dynamic
from pulumi.dynamic.config import Config
from pulumi.runtime import rpc
from pulumi.runtime._serialization import _deserialize

import contract
from components.mig_nodepool import MigNodepool, MigNodepoolProvider
from components.mig_nodepool.settings import ENV_KEY, ENV_SECRET
from tests.fake_exoscale import DEFAULT_CLUSTER_ID, TEST_KEY, TEST_SECRET, stable_uuid
from tools.mock_run import StackRun, reveal, run_program, run_stack

CLUSTER_ID = DEFAULT_CLUSTER_ID  # the cluster the fake_api fixture creates
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
    "replace_strategy": "deleteFirst",
}


def register_nodepool(inputs: dict[str, Any]) -> StackRun:
    """Register one MigNodepool through the shared recording mock engine."""
    return run_program(lambda: MigNodepool("gpu-rtx", dict(inputs)))  # type: ignore[arg-type]


def dev_serialized_provider() -> str:
    """The ``__provider`` string the real program (dev stack) sends to the engine for its GPU
    nodepool, registered with credentials in the environment so that a leak would show."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_KEY, TEST_KEY)
        mp.setenv(ENV_SECRET, TEST_SECRET)
        run = run_stack("dev")
    serialized = reveal(run.one(contract.MIG_NODEPOOL).inputs["__provider"])
    assert isinstance(serialized, str)
    return serialized


def load_provider(serialized: str, config: dict[str, Any] | None = None) -> MigNodepoolProvider:
    """What pulumi.dynamic.__main__.get_provider does with the string."""
    provider = _deserialize(lambda: dill.loads(base64.b64decode(serialized)))
    provider.configure(ConfigureRequest(Config(raw_config=config or {}, project_name=contract.PROJECT)))
    assert isinstance(provider, MigNodepoolProvider)
    return provider


def to_struct(props: Mapping[str, Any]) -> struct_pb2.Struct:
    """Properties in the engine's wire form (a protobuf Struct: every number a float)."""
    loop = asyncio.new_event_loop()
    try:
        struct: struct_pb2.Struct = loop.run_until_complete(rpc.serialize_properties(dict(props), {}))
    finally:
        loop.close()
    return struct


def from_struct(struct: struct_pb2.Struct) -> dict[str, Any]:
    """Properties as the dynamic provider host hands them to the provider (unknowns kept)."""
    props: dict[str, Any] = rpc.deserialize_properties(struct, True)
    return props


def wire(props: dict[str, Any]) -> dict[str, Any]:
    """Properties as they cross the gRPC boundary (protobuf Struct: numbers become floats)."""
    return from_struct(to_struct(props))


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
    """Stands in for the provider's clock: sleeping advances it at once, and is recorded."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def no_credentials_in(value: Any) -> None:
    text = json.dumps(value, default=str)
    assert TEST_KEY not in text
    assert TEST_SECRET not in text
