"""How the MigNodepool's provider is pickled into state, and found again from old and new state.

`pulumi.dynamic.Resource` stores the provider in the resource's `__provider` property as
`_serialize(True, serialize_provider, provider)`: a base64 dill pickle, `dill.dumps(provider,
recurse=True)`, in which a class importable under its `__module__` is a reference by module and
name (pulumi/dynamic/dynamic.py). The dynamic provider host unpickles that string for every call
(pulumi/dynamic/__main__.py, `get_provider`: `_deserialize(lambda: dill.loads(b64decode(...)))`,
then `configure`). Read and Delete use the string recorded in the state's outputs, so every string
ever written must keep resolving:

* state written before `components/mig_nodepool/` existed names `components.mig_nodepool_provider`
  (now a re-export);
* new state names the class's real module, `components.mig_nodepool.provider`.
"""

from __future__ import annotations

import base64
import json
import pickletools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2

import components.mig_nodepool_provider
from components.mig_nodepool import MigNodepoolProvider
from tests.dynamic_provider_host import DynamicProviderHost
from tests.fake_exoscale import TEST_KEY, TEST_SECRET, FakeExoscaleAPI
from tests.mig_nodepool_engine import CLUSTER_ID, INPUTS, Engine, load_provider, no_credentials_in

ROOT = Path(__file__).resolve().parents[1]
OLD_MODULE = "components.mig_nodepool_provider"
NEW_MODULE = "components.mig_nodepool.provider"
# The `__provider` of every MigNodepool state written by the program before the package existed:
# serialized from components/mig_nodepool_provider.py, the same at every commit that had it
# (a07e806, c952e75, 15fe6ff), since the provider pickles no state.
OLD_STATE_PROVIDER = (
    "gASVQgAAAAAAAACMIGNvbXBvbmVudHMubWlnX25vZGVwb29sX3Byb3ZpZGVylIwTTWlnTm9kZXBvb2xQcm92aWRlcpSTlCmBlH2UYi4="
)


def serialized_as_if_defined_in(module: str) -> str:
    """The `__provider` string pulumi.dynamic makes of a MigNodepoolProvider whose class says it
    lives in `module` (`Resource.__init__` then wraps it as a secret, which the engine strips)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MigNodepoolProvider, "__module__", module)
        serialized, contains_secrets = _serialize(True, serialize_provider, MigNodepoolProvider())
    assert contains_secrets is False
    return serialized


def classes_named_in(serialized: str) -> list[tuple[str, str]]:
    """The (module, name) of every class the pickle refers to."""
    strings: list[str] = []
    named: list[tuple[str, str]] = []
    for opcode, arg, _ in pickletools.genops(base64.b64decode(serialized)):
        if isinstance(arg, str):
            strings.append(arg)
        if opcode.name == "STACK_GLOBAL":
            named.append((strings[-2], strings[-1]))
        elif opcode.name == "GLOBAL":
            module, _, name = str(arg).partition(" ")
            named.append((module, name))
    return named


def test_old_state_string_is_what_pulumi_dynamic_made_of_the_old_module() -> None:
    assert components.mig_nodepool_provider.MigNodepoolProvider is MigNodepoolProvider
    assert serialized_as_if_defined_in(OLD_MODULE) == OLD_STATE_PROVIDER
    assert classes_named_in(OLD_STATE_PROVIDER) == [(OLD_MODULE, "MigNodepoolProvider")]


def test_old_state_provider_loads_with_the_sdks_deserialization_and_checks_and_diffs(
    fake_api: FakeExoscaleAPI,
) -> None:
    provider = load_provider(OLD_STATE_PROVIDER)
    assert type(provider) is MigNodepoolProvider
    engine = Engine(provider, OLD_STATE_PROVIDER)
    assert engine.check(INPUTS).failures == []
    assert [f.property for f in engine.check({**INPUTS, "size": 0}).failures] == ["size"]
    assert engine.diff("np", INPUTS, INPUTS).changes is False
    resize = engine.diff("np", INPUTS, {**INPUTS, "size": 3})
    assert resize.changes is True and resize.replaces == []
    assert engine.diff("np", INPUTS, {**INPUTS, "zone": "ch-gva-2"}).replaces == ["zone"]
    assert fake_api.requests == []


def test_new_state_pickles_the_class_by_its_real_module_and_round_trips(serialized_provider: str) -> None:
    assert MigNodepoolProvider.__module__ == NEW_MODULE
    assert classes_named_in(serialized_provider) == [(NEW_MODULE, "MigNodepoolProvider")]
    assert serialized_provider == serialized_as_if_defined_in(NEW_MODULE)
    provider = load_provider(serialized_provider)
    assert type(provider) is MigNodepoolProvider
    # Deterministic: an unchanged program sends the same `__provider` on every run.
    assert _serialize(True, serialize_provider, provider)[0] == serialized_provider


def test_serialized_provider_is_a_class_reference_without_credentials(serialized_provider: str) -> None:
    raw = base64.b64decode(serialized_provider)
    assert NEW_MODULE.encode() in raw
    assert TEST_KEY.encode() not in raw
    assert TEST_SECRET.encode() not in raw

    provider = load_provider(serialized_provider, {"exoscale:key": TEST_KEY, "exoscale:secret": TEST_SECRET})
    assert vars(provider) == {}
    again = base64.b64decode(serialize_provider(provider))
    assert TEST_KEY.encode() not in again
    assert TEST_SECRET.encode() not in again
    assert TEST_KEY not in repr(provider)


@pytest.mark.parametrize("module", [OLD_MODULE, NEW_MODULE])
def test_module_imports_cleanly_and_the_provider_loads_by_reference(serialized_provider: str, module: str) -> None:
    """A fresh process, as the dynamic provider host is: unpickling imports the module the pickle
    names, silently and lazily (no HTTP client, no thread)."""
    serialized = OLD_STATE_PROVIDER if module == OLD_MODULE else serialized_provider
    code = (
        "import base64, importlib, json, sys, threading\n"
        "import dill\n"
        "provider = dill.loads(base64.b64decode(sys.argv[1]))\n"
        "m = importlib.import_module(sys.argv[3])\n"
        "assert 'exoscale.api.v2' not in sys.modules, 'the client is imported lazily'\n"
        "assert threading.active_count() == 1\n"
        "assert type(provider) is m.MigNodepoolProvider\n"
        "assert provider.check({}, json.loads(sys.argv[2])).failures == []\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code, serialized, json.dumps(INPUTS), module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert done.stderr == ""


@pytest.mark.usefixtures("clock")
def test_the_dynamic_provider_host_serves_a_nodepool_recorded_by_the_old_program(
    fake_api: FakeExoscaleAPI, serialized_provider: str
) -> None:
    """Refresh, preview and destroy of a nodepool whose state names the old module, through the
    SDK's own host process started as the CLI starts it (in the program's directory, no PYTHONPATH)."""
    nodepool_id, outs = Engine(load_provider(OLD_STATE_PROVIDER), OLD_STATE_PROVIDER).create(INPUTS)
    recorded: dict[str, Any] = {**outs, "__provider": OLD_STATE_PROVIDER}
    fake_api.clear_records()
    env = {"EXOSCALE_API_ENDPOINT": fake_api.url, "SKS_MIG_POLL_INTERVAL": "0.01"}
    with DynamicProviderHost(env) as host:
        host.configure({"exoscale:key": "EXOconfigured", "exoscale:secret": "s3"})

        read_id, refreshed = host.read(nodepool_id, recorded)
        assert read_id == nodepool_id
        assert (refreshed["size"], refreshed["state"]) == (2, "running")
        assert refreshed["__provider"] == OLD_STATE_PROVIDER, "state keeps naming the old module"

        for program_provider in (OLD_STATE_PROVIDER, serialized_provider):
            news = {**INPUTS, "__provider": program_provider}
            checked, failures = host.check(recorded, news)
            assert failures == []
            assert checked["__provider"] == program_provider
            # Moving the provider's module changes nothing on the nodepool.
            assert host.diff(nodepool_id, recorded, news).changes == provider_pb2.DiffResponse.DIFF_NONE
            resize = host.diff(nodepool_id, recorded, {**news, "size": 3})
            assert resize.changes == provider_pb2.DiffResponse.DIFF_SOME and list(resize.replaces) == []

        host.delete(nodepool_id, recorded)
        no_credentials_in(host.stderr)
    assert fake_api.nodepools[CLUSTER_ID] == {}
    assert {r.credential for r in fake_api.requests} == {"EXOconfigured"}
    assert [r.operation_id for r in fake_api.requests].count("delete-sks-nodepool") == 1
    fake_api.assert_no_violations()
