"""Tests of the SksAddon dynamic resource (`components/sks_addons/`), its provider driven the way
the Pulumi engine drives it (wire-form properties, the `__provider` the program registers, unpickled
as the dynamic provider host does) against the fake Exoscale API, which validates every request and
answer against the OpenAPI document of the installed `exoscale` client. Waits run on a virtual clock.
"""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import dill
import pulumi
import pytest
from pulumi.dynamic import ConfigureRequest, dynamic
from pulumi.dynamic.config import Config
from pulumi.runtime._serialization import _deserialize
from pulumi.runtime.rpc import UNKNOWN  # a value not known yet, on the wire

import contract
from components.mig_nodepool import settings as mig_settings
from components.mig_nodepool.settings import ENV_KEY, ENV_SECRET
from components.sks_addons import (
    INPUT_KEYS,
    KARPENTER,
    SKS_ADDON,
    SksAddon,
    SksAddonError,
    SksAddonProvider,
    api_addons,
)
from components.sks_addons.spec import CLUSTER_FAILED, CLUSTER_READY, CLUSTER_SETTLING, api_cluster_states
from config.mig_catalogue import openapi_document
from tests.dynamic_provider_host import DynamicProviderHost
from tests.fake_exoscale import DEFAULT_CLUSTER_ID, TEST_KEY, TEST_SECRET, FakeExoscaleAPI, stable_uuid
from tests.mig_nodepool_engine import VirtualClock, no_credentials_in, wire
from tools.mock_run import is_secret, reveal, run_program

pytestmark = pytest.mark.usefixtures("clock")

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_ID = DEFAULT_CLUSTER_ID  # the fake_api fixture's cluster: ccm and csi, no karpenter
CCM, CSI, METRICS = "exoscale-cloud-controller", "exoscale-container-storage-interface", "metrics-server"
INPUTS: dict[str, Any] = {"zone": "de-fra-1", "cluster_id": CLUSTER_ID, "addon": KARPENTER, "timeout_seconds": 1200}


# --------------------------------------------------------------------------------------------------
# The engine's side: the program registers the resource, the host unpickles its provider
# --------------------------------------------------------------------------------------------------


def register(inputs: dict[str, Any]) -> Any:
    return run_program(lambda: SksAddon("karpenter", cast(Any, dict(inputs)))).one(SKS_ADDON)


@pytest.fixture(scope="module")
def serialized() -> str:
    """The `__provider` string the program sends, registered with credentials in the environment
    so that a leak would show."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENV_KEY, TEST_KEY)
        mp.setenv(ENV_SECRET, TEST_SECRET)
        value = reveal(register({k: INPUTS[k] for k in ("zone", "cluster_id", "addon")}).inputs["__provider"])
    assert isinstance(value, str)
    return value


def load(serialized: str, config: dict[str, Any] | None = None) -> SksAddonProvider:
    """What pulumi.dynamic.__main__.get_provider does with the string, then `configure`."""
    provider = _deserialize(lambda: dill.loads(base64.b64decode(serialized)))
    provider.configure(ConfigureRequest(Config(raw_config=config or {}, project_name=contract.PROJECT)))
    assert isinstance(provider, SksAddonProvider)
    return provider


class Engine:
    """Calls the provider as the dynamic provider host does, with wire-form properties."""

    def __init__(self, serialized: str, config: dict[str, Any] | None = None) -> None:
        self.provider = load(serialized, config)
        self.serialized = serialized

    def _in(self, props: dict[str, Any]) -> dict[str, Any]:
        return wire({**props, "__provider": self.serialized})

    def check(self, news: dict[str, Any]) -> dynamic.CheckResult:
        return self.provider.check({}, self._in(news))

    def diff(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        return self.provider.diff("id", self._in(olds), self._in(news))

    def create(self, inputs: dict[str, Any] = INPUTS) -> tuple[str, dict[str, Any]]:
        checked = self.check(inputs)
        assert checked.failures == [], [(f.property, f.reason) for f in checked.failures]
        result = self.provider.create(self._in(checked.inputs))
        assert result.outs is not None
        return result.id, self._in(result.outs)

    def read(self, id_: str, outs: dict[str, Any]) -> dynamic.ReadResult:
        return self.provider.read(id_, self._in(outs))

    def update(self, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        result = self.provider.update("id", self._in(olds), self._in(news))
        assert result.outs is not None
        return self._in(result.outs)

    def delete(self, id_: str, outs: dict[str, Any]) -> None:
        self.provider.delete(id_, self._in(outs))


@pytest.fixture
def engine(serialized: str) -> Engine:
    return Engine(serialized)


def puts(fake: FakeExoscaleAPI) -> list[Any]:
    return fake.bodies("update-sks-cluster")


# --------------------------------------------------------------------------------------------------
# Program side, and the API's vocabulary
# --------------------------------------------------------------------------------------------------


def test_registration_uses_the_type_token_fills_defaults_and_refuses_bad_arguments() -> None:
    resource = register({k: INPUTS[k] for k in ("zone", "cluster_id", "addon")})
    assert resource.type == "pulumi-python:dynamic/sks:SksAddon" == SKS_ADDON
    assert resource.inputs["timeout_seconds"] == 1200
    assert is_secret(resource.inputs["__provider"]), "the provider travels as a secret"
    # Refusals with the message (pulumi.RunError), not tracebacks.
    with pytest.raises(pulumi.RunError, match=r"SksAddon 'x': unknown argument\(s\) addons; it takes .*addon"):
        SksAddon("x", cast(Any, {**INPUTS, "addons": [KARPENTER]}))
    with pytest.raises(pulumi.RunError, match=r"addon 'karpentr' is not an SKS add-on; the API knows .*karpenter"):
        SksAddon("x", cast(Any, {**INPUTS, "addon": "karpentr"}))


def test_addons_and_cluster_states_are_the_api_documents() -> None:
    document = openapi_document()
    create = document["paths"]["/sks-cluster"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert api_addons() == tuple(create["properties"]["addons"]["items"]["enum"])
    assert set(api_addons()) == {CCM, CSI, KARPENTER, METRICS}
    # Every cluster state the API declares is classified exactly once (a new state is noticed).
    classified = [*CLUSTER_SETTLING, *CLUSTER_FAILED, CLUSTER_READY]
    assert sorted(classified) == sorted(api_cluster_states())


# --------------------------------------------------------------------------------------------------
# check / diff: offline
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "prop", "fragment"),
    [
        ({"addon": "karpentr"}, "addon", "'karpentr' is not an SKS add-on"),
        ({"cluster_id": "my-cluster"}, "cluster_id", "UUID"),
        ({"zone": "frankfurt"}, "zone", "'frankfurt'"),
        ({"timeout_seconds": 0}, "timeout_seconds", "positive"),
        ({"addon": ""}, "addon", "required"),
    ],
)
def test_check_names_the_property_at_fault_without_calling_the_api(
    engine: Engine, fake_api: FakeExoscaleAPI, override: dict[str, Any], prop: str, fragment: str
) -> None:
    failures = engine.check({**INPUTS, **override}).failures
    assert [f.property for f in failures] == [prop]
    assert fragment in failures[0].reason
    assert engine.check(INPUTS).failures == []
    assert fake_api.requests == []


def test_check_accepts_a_cluster_id_not_known_yet(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    """At preview a new cluster's id is unknown (the engine's sentinel on the wire)."""
    assert engine.check({**INPUTS, "cluster_id": UNKNOWN}).failures == []
    assert engine.diff(INPUTS, {**INPUTS, "cluster_id": UNKNOWN}).replaces == ["cluster_id"]
    assert fake_api.requests == []


def test_the_fake_api_rejects_an_addon_the_document_does_not_know(fake_api: FakeExoscaleAPI) -> None:
    from exoscale.api.exceptions import ExoscaleAPIClientException
    from exoscale.api.v2 import Client

    client = Client(TEST_KEY, TEST_SECRET, url=fake_api.url)
    with pytest.raises(ExoscaleAPIClientException):
        client.update_sks_cluster(id=CLUSTER_ID, addons=[CCM, "karpentr"])
    with pytest.raises(ExoscaleAPIClientException):
        client.update_sks_cluster(id=CLUSTER_ID, addons=[CCM, CCM])  # a set: uniqueItems
    assert [v.kind for v in fake_api.violations] == ["body", "body"]
    assert fake_api.cluster(CLUSTER_ID)["addons"] == [CCM, CSI]


def test_diff_replaces_on_zone_cluster_and_addon_and_repairs_drift_in_place(
    engine: Engine, fake_api: FakeExoscaleAPI
) -> None:
    recorded = {**INPUTS, "enabled": True, "addons": [CCM, CSI, KARPENTER]}
    assert engine.diff(recorded, INPUTS).changes is False
    timeout = engine.diff(recorded, {**INPUTS, "timeout_seconds": 600})
    assert (timeout.changes, timeout.replaces) == (True, [])
    other = engine.diff(recorded, {**INPUTS, "cluster_id": stable_uuid("cluster/other")})
    assert (other.replaces, other.delete_before_replace) == (["cluster_id"], True)
    assert engine.diff(recorded, {**INPUTS, "addon": METRICS}).replaces == ["addon"]
    drifted = engine.diff({**recorded, "enabled": False}, INPUTS)
    assert (drifted.changes, drifted.replaces) == (True, [])
    assert fake_api.requests == []


# --------------------------------------------------------------------------------------------------
# create
# --------------------------------------------------------------------------------------------------


def test_create_on_a_cluster_without_the_addon_puts_the_union_once(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    id_, outs = engine.create()
    assert id_ == f"{CLUSTER_ID}/karpenter"
    assert puts(fake_api) == [{"addons": [CCM, CSI, KARPENTER]}]
    assert fake_api.cluster(CLUSTER_ID)["addons"] == [CCM, CSI, KARPENTER]
    assert fake_api.cluster(CLUSTER_ID)["state"] == "running"
    assert (outs["enabled"], outs["addons"]) == (True, [CCM, CSI, KARPENTER])
    assert {k: reveal(outs[k]) for k in INPUT_KEYS} == INPUTS
    fake_api.assert_no_violations()  # the PUT's body and every answer match the OpenAPI document


def test_create_on_a_cluster_that_has_the_addon_sends_no_update(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    fake_api.update_cluster_out_of_band(CLUSTER_ID, addons=[CCM, KARPENTER, METRICS])
    _, outs = engine.create()
    assert puts(fake_api) == []
    assert [r.operation_id for r in fake_api.requests] == ["get-sks-cluster"]
    assert outs["enabled"] is True
    fake_api.assert_no_violations()


def test_create_waits_for_a_busy_cluster_before_the_put(
    engine: Engine, fake_api: FakeExoscaleAPI, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_api.update_cluster_out_of_band(CLUSTER_ID, state="upgrading")

    def sleep(seconds: float) -> None:  # the upgrade ends while the provider waits
        clock.sleep(seconds)
        fake_api.update_cluster_out_of_band(CLUSTER_ID, state="running")

    monkeypatch.setattr(mig_settings, "sleep", sleep)
    engine.create()
    calls = [r.operation_id for r in fake_api.requests]
    assert calls[:3] == ["get-sks-cluster", "get-sks-cluster", "update-sks-cluster"], "read, wait, read, PUT"
    assert calls.count("update-sks-cluster") == 1
    fake_api.assert_no_violations()


def test_karpenter_on_a_starter_cluster_is_refused_before_any_put(serialized: str, fake_api: FakeExoscaleAPI) -> None:
    starter = fake_api.add_cluster("starter", level="starter")
    with pytest.raises(SksAddonError) as failure:
        Engine(serialized).create({**INPUTS, "cluster_id": starter})
    assert f"needs the 'pro' service level, and cluster {starter} is 'starter'" in str(failure.value)
    assert puts(fake_api) == []


def test_a_4xx_names_the_cluster_and_quotes_the_api(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    message = "Karpenter is not available in this zone"
    fake_api.fail_requests("update-sks-cluster", status=422, message=message)
    with pytest.raises(SksAddonError) as failure:
        engine.create()
    text = str(failure.value)
    assert CLUSTER_ID in text
    assert repr(message) in text and "HTTP 422" in text
    assert len(puts(fake_api)) == 1, "a 4xx is not retried"


def test_a_5xx_after_the_update_applied_is_retried_with_the_same_set(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    fake_api.fail_requests("update-sks-cluster", status=503, after_apply=True)
    _, outs = engine.create()
    assert puts(fake_api) == [{"addons": [CCM, CSI, KARPENTER]}] * 2, "the whole set: a retry is harmless"
    assert fake_api.cluster(CLUSTER_ID)["addons"] == [CCM, CSI, KARPENTER]
    assert outs["enabled"] is True


def test_a_missing_cluster_is_named(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    gone = stable_uuid("cluster/gone")
    with pytest.raises(SksAddonError, match=rf"cluster_id '{gone}' was not found in zone 'de-fra-1'"):
        engine.create({**INPUTS, "cluster_id": gone})


def test_a_failed_operation_names_the_cluster_and_the_api_message(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    fake_api.fail_next_operation("update-sks-cluster", reason="conflict", message="another update is running")
    with pytest.raises(SksAddonError) as failure:
        engine.create()
    text = str(failure.value)
    assert CLUSTER_ID in text and "'failure'" in text and "conflict" in text and "another update is running" in text
    assert fake_api.cluster(CLUSTER_ID)["addons"] == [CCM, CSI]


def test_an_operation_stuck_pending_ends_when_the_cluster_has_updated(
    engine: Engine, fake_api: FakeExoscaleAPI, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """terraform-provider-exoscale v0.66.0 (`waitForClusterUpdateToSucceed`): the update operation
    may stay pending forever; a cluster that was `updating` and is `running` again is done."""
    fake_api.stall_next_operation("update-sks-cluster")

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if fake_api.cluster(CLUSTER_ID)["state"] == "updating":
            fake_api.update_cluster_out_of_band(CLUSTER_ID, state="running")

    monkeypatch.setattr(mig_settings, "sleep", sleep)
    _, outs = engine.create()
    assert outs["enabled"] is True
    assert len(puts(fake_api)) == 1
    assert [op.state for op in fake_api.operations.values()] == ["pending"], "done without the operation"


def test_an_update_that_never_ends_times_out_naming_the_cluster(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    fake_api.stall_next_operation("update-sks-cluster")
    with pytest.raises(SksAddonError, match=rf"timed out after 60s \(timeout_seconds\).*SKS cluster {CLUSTER_ID}"):
        engine.create({**INPUTS, "timeout_seconds": 60})


# --------------------------------------------------------------------------------------------------
# read (refresh) and update
# --------------------------------------------------------------------------------------------------


def test_refresh_reports_a_disabled_addon_and_up_enables_it_again(
    engine: Engine, fake_api: FakeExoscaleAPI, caplog: pytest.LogCaptureFixture
) -> None:
    id_, outs = engine.create()
    same = engine.read(id_, outs)
    assert same.outs is not None and (same.id, same.outs["enabled"]) == (id_, True)

    fake_api.update_cluster_out_of_band(CLUSTER_ID, addons=[CCM, CSI])
    with caplog.at_level(logging.WARNING):
        drifted = engine.read(id_, outs)
    assert drifted.outs is not None and drifted.id == id_ and drifted.outs["enabled"] is False
    assert any(f"no longer enabled on cluster {CLUSTER_ID}" in r.getMessage() for r in caplog.records)
    assert drifted.inputs is not None and {k: reveal(drifted.inputs[k]) for k in INPUT_KEYS} == INPUTS

    diff = engine.diff(drifted.outs, INPUTS)
    assert diff.changes is True and diff.replaces == []
    fake_api.clear_records()
    repaired = engine.update(drifted.outs, INPUTS)
    assert repaired["enabled"] is True
    assert puts(fake_api) == [{"addons": [CCM, CSI, KARPENTER]}]
    fake_api.assert_no_violations()


def test_refresh_of_a_deleted_cluster_drops_the_resource(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    id_, outs = engine.create()
    fake_api.delete_cluster_out_of_band(CLUSTER_ID)
    assert engine.read(id_, outs).id == ""


# --------------------------------------------------------------------------------------------------
# delete
# --------------------------------------------------------------------------------------------------


def test_delete_removes_only_the_addon(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    fake_api.update_cluster_out_of_band(CLUSTER_ID, addons=[CCM, METRICS, CSI])
    id_, outs = engine.create()
    fake_api.clear_records()
    engine.delete(id_, outs)
    assert puts(fake_api) == [{"addons": [CCM, METRICS, CSI]}]
    assert fake_api.cluster(CLUSTER_ID)["addons"] == [CCM, METRICS, CSI]
    fake_api.assert_no_violations()


def test_delete_on_a_gone_cluster_or_without_the_addon_sends_no_update(
    engine: Engine, fake_api: FakeExoscaleAPI
) -> None:
    id_, outs = engine.create()
    fake_api.update_cluster_out_of_band(CLUSTER_ID, addons=[CCM])
    fake_api.clear_records()
    engine.delete(id_, outs)
    assert puts(fake_api) == []

    fake_api.update_cluster_out_of_band(CLUSTER_ID, addons=[CCM, KARPENTER], state="deleting")
    engine.delete(id_, outs)  # the add-on goes with its cluster
    assert puts(fake_api) == []

    fake_api.delete_cluster_out_of_band(CLUSTER_ID)
    engine.delete(id_, outs)  # 404: gone already
    assert puts(fake_api) == []
    assert [r.status for r in fake_api.requests] == [200, 200, 404]


# --------------------------------------------------------------------------------------------------
# Credentials and pickling
# --------------------------------------------------------------------------------------------------


def test_the_pickled_provider_is_a_class_reference_without_credentials(
    serialized: str, fake_api: FakeExoscaleAPI
) -> None:
    raw = base64.b64decode(serialized)
    assert b"components.sks_addons.provider" in raw and b"SksAddonProvider" in raw
    assert TEST_KEY.encode() not in raw and TEST_SECRET.encode() not in raw

    configured = {"exoscale:key": "EXOconfigured", "exoscale:secret": "configured-secret"}
    engine = Engine(serialized, configured)
    assert vars(engine.provider) == {}
    assert b"EXOconfigured" not in dill.dumps(engine.provider, recurse=True)
    _, outs = engine.create()
    no_credentials_in(outs)
    assert {r.credential for r in fake_api.requests} == {"EXOconfigured"}, "stack config wins over the environment"


def test_missing_credentials_are_named(
    serialized: str, fake_api: FakeExoscaleAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_KEY)
    with pytest.raises(SksAddonError, match="exoscale:key and exoscale:secret"):
        Engine(serialized).create()
    assert fake_api.requests == []


def test_the_provider_module_imports_without_side_effects(serialized: str) -> None:
    """A fresh process, as the dynamic provider host is: unpickling imports the module silently,
    without the HTTP client and without starting a thread."""
    code = (
        "import base64, json, sys, threading\n"
        "import dill\n"
        "provider = dill.loads(base64.b64decode(sys.argv[1]))\n"
        "assert type(provider).__module__ == 'components.sks_addons.provider'\n"
        "assert 'exoscale.api.v2' not in sys.modules, 'the client is imported lazily'\n"
        "assert threading.active_count() == 1\n"
        "assert provider.check({}, json.loads(sys.argv[2])).failures == []\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, serialized, json.dumps(INPUTS)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == ("", "")


def test_the_dynamic_provider_host_refreshes_and_deletes_the_addon(serialized: str, fake_api: FakeExoscaleAPI) -> None:
    """Through the SDK's own host process (`python -m pulumi.dynamic`, started as the CLI starts
    it): the recorded `__provider` unpickles there and reaches the API with the configured key."""
    id_, outs = Engine(serialized).create()
    recorded = {**outs, "__provider": serialized}
    fake_api.clear_records()
    with DynamicProviderHost({"EXOSCALE_API_ENDPOINT": fake_api.url, "SKS_MIG_POLL_INTERVAL": "0.01"}) as host:
        host.configure({"exoscale:key": "EXOconfigured", "exoscale:secret": "s3"})
        read_id, refreshed = host.read(id_, recorded)
        assert (read_id, refreshed["enabled"]) == (id_, True)
        host.delete(id_, recorded)
        no_credentials_in(host.stderr)
    assert fake_api.cluster(CLUSTER_ID)["addons"] == [CCM, CSI]
    assert {r.credential for r in fake_api.requests} == {"EXOconfigured"}
    fake_api.assert_no_violations()
