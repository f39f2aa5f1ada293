"""Tests of the MigNodepool dynamic provider, driven the way the Pulumi engine drives it
(``tests/mig_nodepool_engine.py``): registration, offline check and diff, and create, read, update
and delete against a local fake Exoscale API that validates every request against the OpenAPI
document of the installed ``exoscale`` client (``tests/fake_exoscale/``).

Waits run on a virtual clock (the ``clock`` fixture), so polls, backoffs and timeouts are instant
and deterministic. Faults are in ``test_mig_nodepool_faults.py``, how the provider is pickled into
state in ``test_mig_nodepool_pickle.py``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, cast

import pulumi
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

import components.mig_nodepool
import contract
from components.mig_nodepool import INPUT_KEYS, MigNodepool, MigNodepoolError
from tests.dynamic_provider_host import DynamicProviderHost
from tests.fake_exoscale import TEST_KEY, FakeExoscaleAPI, stable_uuid
from tests.mig_nodepool_engine import (
    AAG_GPU,
    CLUSTER_ID,
    INPUTS,
    SG_EXTRA,
    SG_NODES,
    Engine,
    load_provider,
    no_credentials_in,
    register_nodepool,
    wire,
)
from tools.mock_run import StackRun, is_secret

pytestmark = pytest.mark.usefixtures("clock")
PACKAGE_LOGGER = components.mig_nodepool.__name__


def package_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The warnings the provider's own loggers emitted (pulumi.log's copies go to other loggers)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith(PACKAGE_LOGGER + ".")
    ]


# --------------------------------------------------------------------------------------------------
# Program side
# --------------------------------------------------------------------------------------------------


def test_registration_uses_the_type_token_and_fills_defaults() -> None:
    minimal = {k: INPUTS[k] for k in ("zone", "cluster_id", "name", "instance_type", "size")}
    resource = register_nodepool(minimal).one(contract.MIG_NODEPOOL)
    inputs = resource.inputs
    assert resource.name == "gpu-rtx"
    assert inputs["timeout_seconds"] == 1200
    assert inputs["disk_size"] == 50
    assert inputs["nvidia_mig_profiles"] == {}
    assert is_secret(inputs["__provider"]), "the provider travels as a secret"
    # A refusal with the message (pulumi.RunError), not a traceback: the argument and what it takes.
    with pytest.raises(pulumi.RunError, match=r"MigNodepool 'x': unknown argument\(s\) mig_profile; it takes .*nvidia_mig_profiles"):
        MigNodepool("x", cast(Any, {**minimal, "mig_profile": "1g.24gb"}))
    with pytest.raises(pulumi.RunError, match=r"MigNodepool 'x': missing argument\(s\) size; it requires "):
        MigNodepool("x", cast(Any, {k: v for k, v in minimal.items() if k != "size"}))


def test_the_nodepool_id_output_is_the_id_the_engine_answered(dev: StackRun) -> None:
    pool = dev.one(contract.MIG_NODEPOOL)
    assert pool.id
    assert dev.outputs[contract.OUTPUT_GPU_NODEPOOL_ID].value == pool.id


# --------------------------------------------------------------------------------------------------
# check / diff: offline
# --------------------------------------------------------------------------------------------------


def test_check_accepts_engine_floats_and_fills_defaults(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    minimal = {k: INPUTS[k] for k in ("zone", "cluster_id", "name", "instance_type", "size")}
    result = engine.check(minimal)
    assert result.failures == []
    assert result.inputs["size"] == 2.0
    assert result.inputs["timeout_seconds"] == 1200
    assert result.inputs["taints"] == {}
    assert engine.check(INPUTS).failures == []
    assert fake_api.requests == [], "check must not call the API"


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
    engine: Engine, fake_api: FakeExoscaleAPI, override: dict[str, Any], prop: str, fragment: str
) -> None:
    failures = engine.check({**INPUTS, **override}).failures
    assert [f.property for f in failures] == [prop], [(f.property, f.reason) for f in failures]
    assert fragment in failures[0].reason
    assert fake_api.requests == []


def test_preview_unknowns_are_not_validated_and_force_a_replace(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    unknown = {**INPUTS, "cluster_id": rpc.UNKNOWN, "labels": rpc.UNKNOWN}
    checked = engine.check(unknown)
    assert checked.failures == []
    wire(checked.inputs)  # what the host sends back must still serialize
    diff = engine.diff("np", INPUTS, unknown)
    assert diff.changes and diff.replaces == ["cluster_id"]
    assert fake_api.requests == []


@pytest.mark.parametrize(
    ("override", "replaces"),
    [
        ({}, None),
        ({"size": 2.0}, None),  # the engine's float is no change
        ({"security_group_ids": [SG_EXTRA, SG_NODES]}, []),
        ({"zone": "ch-gva-2"}, ["zone"]),
        ({"cluster_id": stable_uuid("cluster/other")}, ["cluster_id"]),
        (
            {"instance_type": "gpua30.small", "nvidia_mig_profiles": {"a30.24gb": "1g.6gb"}},
            ["instance_type", "nvidia_mig_profiles"],
        ),
        ({"nvidia_mig_profiles": {"rtxpro6000.96gb": "2g.48gb"}}, ["nvidia_mig_profiles"]),
        ({"nvidia_mig_profiles": {}}, ["nvidia_mig_profiles"]),  # MIG off: new nodes too
        ({"replace_strategy": "createFirst"}, []),  # never itself a cause of replacement
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
    engine: Engine, fake_api: FakeExoscaleAPI, override: dict[str, Any], replaces: list[str] | None
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
    assert fake_api.requests == [], "diff must not call the API"


def test_diff_replaces_on_a_mig_change_and_warns_that_the_gpu_nodes_are_recreated(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger=PACKAGE_LOGGER):
        result = engine.diff("np", INPUTS, {**INPUTS, "nvidia_mig_profiles": {"rtxpro6000.96gb": "2g.48gb"}})
    assert result.changes is True and result.replaces == ["nvidia_mig_profiles"]
    assert result.delete_before_replace is True, "deleteFirst is the default"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("recycles the GPU nodes" in w and "2g.48gb" in w for w in warnings), warnings
    [warning] = package_warnings(caplog)
    for fragment in ("'gpu-rtx' (np) is REPLACED", "GPU nodes are recreated", "model servers", "restart"):
        assert fragment in warning, warning
    assert "deleted first" in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=PACKAGE_LOGGER):
        engine.diff("np", INPUTS, {**INPUTS, "size": 4})
    assert not [r for r in caplog.records if "recycles" in r.getMessage()]


# --------------------------------------------------------------------------------------------------
# create / read / update / delete against the fake API
# --------------------------------------------------------------------------------------------------


def test_create_sends_the_mig_profile_and_the_resolved_instance_type(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)

    [body] = fake_api.bodies("create-sks-nodepool")
    assert body == {
        "name": "gpu-rtx",
        "instance-type": {"id": fake_api.instance_type_id("gpurtx6000pro.small")},
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
    assert outs["instance_pool_id"] == fake_api.nodepool(CLUSTER_ID, nodepool_id)["instance-pool"]["id"]
    assert outs["instance_type_id"] == fake_api.instance_type_id("gpurtx6000pro.small")
    for key in INPUT_KEYS:
        assert outs[key] == wire(INPUTS)[key], key
    assert [r.credential for r in fake_api.requests] == [TEST_KEY] * len(fake_api.requests)
    no_credentials_in(outs)
    fake_api.assert_no_violations()


def test_create_refuses_a_second_nodepool_with_the_same_name(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    first, _ = engine.create(INPUTS)
    with pytest.raises(MigNodepoolError, match=f"already has a nodepool with that name.*{first}"):
        engine.create(INPUTS)
    assert len(fake_api.requests_for("create-sks-nodepool")) == 1
    fake_api.assert_no_violations()


def test_config_credentials_win_over_the_environment(serialized_provider: str, fake_api: FakeExoscaleAPI) -> None:
    provider = load_provider(serialized_provider, {"exoscale:key": "EXOconfigured", "exoscale:secret": "s3"})
    Engine(provider, serialized_provider).create(INPUTS)
    assert {r.credential for r in fake_api.requests} == {"EXOconfigured"}
    fake_api.assert_no_violations()


def test_missing_credentials_fail_before_any_request(
    engine: Engine, fake_api: FakeExoscaleAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXOSCALE_API_KEY")
    monkeypatch.delenv("EXOSCALE_API_SECRET")
    with pytest.raises(MigNodepoolError, match=r"exoscale:key.*EXOSCALE_API_KEY"):
        engine.create(INPUTS)
    assert fake_api.requests == []


def test_read_reports_drift_and_update_repairs_it(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.update_nodepool_out_of_band(
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
    fake_api.clear_records()
    members = fake_api.members(CLUSTER_ID, nodepool_id)
    repaired = engine.update(nodepool_id, refreshed, INPUTS)
    # Back from 5 to 2 by evicting the 3 newest members (scale-down evicts; see test_scale_down_*).
    assert fake_api.bodies("evict-sks-nodepool-members") == [{"instances": [m["id"] for m in members[:1:-1]]}]
    assert fake_api.requests_for("scale-sks-nodepool") == []
    [put] = fake_api.bodies("update-sks-nodepool")
    assert set(put) == {"labels", "taints", "description"}
    assert put["taints"] == {"nvidia.com/gpu": {"value": "present", "effect": "NoSchedule"}}
    assert repaired["size"] == 2 and repaired["labels"] == INPUTS["labels"]
    fake_api.assert_no_violations()


def test_read_after_an_out_of_band_delete_returns_an_empty_id(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.delete_nodepool_out_of_band(CLUSTER_ID, nodepool_id)
    read = engine.read(nodepool_id, outs)
    assert read.id == ""
    assert read.outs == {}
    fake_api.assert_no_violations()


def test_update_in_place_sends_only_what_changed(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.clear_records()
    news = {
        **INPUTS,
        "size": 3,
        "disk_size": 150,
        "labels": {"sks-mig/mig-profile": "1g.24gb"},
        "taints": {"nvidia.com/gpu": "present:NoExecute", "dedicated": "inference:PreferNoSchedule"},
        "security_group_ids": [SG_NODES, SG_EXTRA],
    }
    assert engine.diff(nodepool_id, outs, news).replaces == []
    updated = engine.update(nodepool_id, outs, news)
    [put] = fake_api.bodies("update-sks-nodepool")
    assert put == {
        "disk-size": 150,
        "labels": {"sks-mig/mig-profile": "1g.24gb"},
        "taints": {
            "nvidia.com/gpu": {"value": "present", "effect": "NoExecute"},
            "dedicated": {"value": "inference", "effect": "PreferNoSchedule"},
        },
        "security-groups": [{"id": SG_NODES}, {"id": SG_EXTRA}],
    }
    assert fake_api.bodies("scale-sks-nodepool") == [{"size": 3}]
    assert updated["nvidia_mig_profiles"] == {"rtxpro6000.96gb": "1g.24gb"}
    assert updated["size"] == 3 and updated["disk_size"] == 150
    assert updated["security_group_ids"] == [SG_NODES, SG_EXTRA]
    assert updated["state"] == "running"
    no_credentials_in(updated)
    fake_api.assert_no_violations()


@pytest.mark.parametrize("profiles", [{"rtxpro6000.96gb": "2g.48gb"}, {}], ids=["other-profile", "mig-off"])
def test_update_never_changes_the_mig_profiles_in_place(
    engine: Engine, fake_api: FakeExoscaleAPI, profiles: dict[str, str]
) -> None:
    """The engine replaces on a MIG change (diff); an update that gets one anyway refuses it before
    any request, rather than leaving old GPU nodes under a new profile."""
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.clear_records()
    news = {**INPUTS, "nvidia_mig_profiles": profiles}
    assert engine.diff(nodepool_id, outs, news).replaces == ["nvidia_mig_profiles"]
    with pytest.raises(MigNodepoolError, match=f"{nodepool_id}.*nvidia_mig_profiles cannot change in place"):
        engine.update(nodepool_id, outs, news)
    assert fake_api.requests == []
    assert fake_api.nodepool(CLUSTER_ID, nodepool_id)["nvidia-mig-profiles"] == INPUTS["nvidia_mig_profiles"]


def test_delete_waits_until_the_nodepool_is_gone(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.clear_records()
    engine.delete(nodepool_id, outs)
    assert fake_api.nodepools[CLUSTER_ID] == {}
    assert fake_api.requests[0].operation_id == "delete-sks-nodepool"
    assert fake_api.requests[-1].operation_id == "get-sks-nodepool" and fake_api.requests[-1].status == 404
    fake_api.assert_no_violations()


# --------------------------------------------------------------------------------------------------
# Replacement: a MIG change needs new GPU nodes; replace_strategy orders delete and create
# --------------------------------------------------------------------------------------------------

CREATE_FIRST_INPUTS = {**INPUTS, "replace_strategy": "createFirst"}
OTHER_PROFILE = {"nvidia_mig_profiles": {"rtxpro6000.96gb": "2g.48gb"}, "labels": {"sks-mig/mig-profile": "2g.48gb"}}


@pytest.mark.parametrize("bad", ["createfirst", "blueGreen", "", 1])
def test_check_refuses_an_unknown_replace_strategy_naming_the_accepted_ones(engine: Engine, bad: object) -> None:
    failures = engine.check({**INPUTS, "replace_strategy": bad}).failures
    assert [f.property for f in failures] == ["replace_strategy"]
    assert repr(bad) in failures[0].reason
    assert "deleteFirst, createFirst" in failures[0].reason


def test_check_leaves_room_for_the_create_first_name_suffix(engine: Engine) -> None:
    assert engine.check({**CREATE_FIRST_INPUTS, "name": "p" * 246}).failures == []
    [failure] = engine.check({**CREATE_FIRST_INPUTS, "name": "p" * 247}).failures
    assert failure.property == "name" and "at most 246 characters" in failure.reason
    assert engine.check({**INPUTS, "name": "p" * 255}).failures == [], "deleteFirst keeps the name as it is"


def test_replace_strategy_is_stored_in_state_and_never_sent(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(CREATE_FIRST_INPUTS)
    [body] = fake_api.bodies("create-sks-nodepool")
    assert re.fullmatch(r"gpu-rtx-[0-9a-f]{8}", body["name"]), body["name"]
    assert not any("strategy" in field for field in body)
    assert outs["replace_strategy"] == "createFirst"
    assert (outs["name"], outs["nodepool_name"]) == ("gpu-rtx", body["name"])

    # A refresh finds no drift in the suffixed name, and the program's inputs diff clean.
    read = engine.read(nodepool_id, outs)
    assert read.outs is not None and read.inputs is not None and read.inputs["name"] == "gpu-rtx"
    refreshed = wire({**read.outs, "__provider": engine.serialized})
    assert engine.diff(nodepool_id, refreshed, CREATE_FIRST_INPUTS).changes is False

    # Changing only the strategy records it (an update without any request that changes the pool).
    diff = engine.diff(nodepool_id, outs, INPUTS)
    assert (diff.changes, diff.replaces, diff.delete_before_replace) == (True, [], False)
    fake_api.clear_records()
    updated = engine.update(nodepool_id, outs, INPUTS)
    assert {r.method for r in fake_api.requests} == {"GET"}
    assert updated["replace_strategy"] == "deleteFirst"
    assert updated["nodepool_name"] == body["name"], "the pool keeps its name until it is replaced"
    fake_api.assert_no_violations()


def test_a_mig_change_replaces_the_pool_deleting_the_old_one_first(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    """deleteFirst, as the engine runs it: Diff, Delete(old), Create(new); same name, new profile."""
    old_id, old_outs = engine.create(INPUTS)
    news = {**INPUTS, **OTHER_PROFILE}
    diff = engine.diff(old_id, old_outs, news)
    assert (diff.replaces, diff.delete_before_replace) == (["nvidia_mig_profiles"], True)
    engine.delete(old_id, old_outs)
    new_id, new_outs = engine.create(news)
    assert new_id != old_id
    [pool] = fake_api.nodepools[CLUSTER_ID].values()
    assert (pool["name"], pool["nvidia-mig-profiles"]) == ("gpu-rtx", {"rtxpro6000.96gb": "2g.48gb"})
    assert new_outs["nodepool_name"] == "gpu-rtx"
    fake_api.assert_no_violations()


def test_a_mig_change_with_create_first_creates_the_new_pool_under_another_name(
    engine: Engine, fake_api: FakeExoscaleAPI
) -> None:
    """createFirst, as the engine runs it: Diff, Create(new) while the old pool runs, Delete(old)."""
    old_id, old_outs = engine.create(CREATE_FIRST_INPUTS)
    news = {**CREATE_FIRST_INPUTS, **OTHER_PROFILE}
    diff = engine.diff(old_id, old_outs, news)
    assert (diff.replaces, diff.delete_before_replace) == (["nvidia_mig_profiles"], False)
    new_id, new_outs = engine.create(news)
    names = {p["name"] for p in fake_api.nodepools[CLUSTER_ID].values()}
    assert names == {old_outs["nodepool_name"], new_outs["nodepool_name"]} and len(names) == 2
    engine.delete(old_id, old_outs)
    [pool] = fake_api.nodepools[CLUSTER_ID].values()
    assert (pool["id"], pool["nvidia-mig-profiles"]) == (new_id, {"rtxpro6000.96gb": "2g.48gb"})
    assert new_outs["name"] == "gpu-rtx"
    fake_api.assert_no_violations()


def test_create_first_refuses_a_replacement_that_would_take_the_old_pools_name(
    engine: Engine, fake_api: FakeExoscaleAPI
) -> None:
    """A replacement forced without changing zone, cluster, instance type or MIG profiles (say
    `pulumi up --replace`) would get the same name: create refuses, naming the way out."""
    first, _ = engine.create(CREATE_FIRST_INPUTS)
    with pytest.raises(MigNodepoolError, match=f"(?s)already has a nodepool with that name.*{first}.*deleteFirst"):
        engine.create(CREATE_FIRST_INPUTS)
    assert len(fake_api.nodepools[CLUSTER_ID]) == 1


def test_the_dynamic_provider_host_answers_a_mig_change_with_a_replacement(serialized_provider: str) -> None:
    """The real `python -m pulumi.dynamic` host turns the DiffResult into the engine's DiffResponse:
    replaces and deleteBeforeReplace (pulumi/dynamic/__main__.py, `Diff`); the warning reaches its
    stderr, which the CLI shows. Diff makes no API call: no endpoint, no credentials."""
    olds = {**INPUTS, "nodepool_id": "np", "state": "running", "__provider": serialized_provider}
    with DynamicProviderHost({}) as host:
        default = host.diff("np", olds, {**olds, **OTHER_PROFILE})
        create_first = host.diff("np", olds, {**olds, **OTHER_PROFILE, "replace_strategy": "createFirst"})
        resize = host.diff("np", olds, {**olds, "size": 3})
        stderr = host.stderr
    assert default.changes == provider_pb2.DiffResponse.DIFF_SOME
    assert list(default.replaces) == ["nvidia_mig_profiles"] and default.deleteBeforeReplace is True
    assert list(create_first.replaces) == ["nvidia_mig_profiles"] and create_first.deleteBeforeReplace is False
    assert resize.changes == provider_pb2.DiffResponse.DIFF_SOME and list(resize.replaces) == []
    assert resize.deleteBeforeReplace is False
    assert "warning: MIG nodepool 'gpu-rtx' (np) is REPLACED" in stderr
    assert "GPU nodes are recreated" in stderr


# --------------------------------------------------------------------------------------------------
# Resizing: up through scale, down by evicting the members removed
# --------------------------------------------------------------------------------------------------


def test_scale_down_evicts_exactly_the_members_removed(
    engine: Engine, fake_api: FakeExoscaleAPI, caplog: pytest.LogCaptureFixture
) -> None:
    nodepool_id, outs = engine.create({**INPUTS, "size": 4})
    oldest, stopped, third, newest = fake_api.members(CLUSTER_ID, nodepool_id)
    fake_api.set_instance_state(stopped["id"], "stopped")
    fake_api.clear_records()
    with caplog.at_level(logging.WARNING, logger=PACKAGE_LOGGER):
        assert engine.diff(nodepool_id, outs, INPUTS).replaces == []
        updated = engine.update(nodepool_id, outs, INPUTS)
    # Not running first, then the newest: 4 - 2 = 2 members, in one evict request.
    assert fake_api.bodies("evict-sks-nodepool-members") == [{"instances": [stopped["id"], newest["id"]]}]
    assert fake_api.requests_for("scale-sks-nodepool") == []
    assert [m["id"] for m in fake_api.members(CLUSTER_ID, nodepool_id)] == [oldest["id"], third["id"]]
    assert fake_api.nodepool(CLUSTER_ID, nodepool_id)["size"] == updated["size"] == 2
    preview, evicting = package_warnings(caplog)
    assert "scales down from 4 to 2" in preview and "does not drain" in preview
    assert stopped["name"] in evicting and newest["name"] in evicting
    fake_api.assert_no_violations()


def test_scale_up_goes_through_scale(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.clear_records()
    engine.update(nodepool_id, outs, {**INPUTS, "size": 3})
    assert fake_api.bodies("scale-sks-nodepool") == [{"size": 3}]
    assert fake_api.requests_for("evict-sks-nodepool-members") == []
    assert len(fake_api.members(CLUSTER_ID, nodepool_id)) == 3
    fake_api.assert_no_violations()


def test_scale_down_survives_an_error_answer_after_the_eviction_took_effect(
    engine: Engine, fake_api: FakeExoscaleAPI
) -> None:
    """Eviction is not idempotent: a retry first checks whether the failed PUT did evict them."""
    nodepool_id, outs = engine.create({**INPUTS, "size": 3})
    fake_api.clear_records()
    fake_api.fail_requests("evict-sks-nodepool-members", 1, status=502, after_apply=True)
    engine.update(nodepool_id, outs, INPUTS)
    assert len(fake_api.requests_for("evict-sks-nodepool-members")) == 1
    assert fake_api.nodepool(CLUSTER_ID, nodepool_id)["size"] == 2
    fake_api.assert_no_violations()


def test_the_instance_pool_id_output_is_the_pools(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    """`instance_pool_id`: what the CCM's instance-pool annotation of a LoadBalancer Service needs."""
    nodepool_id, outs = engine.create(INPUTS)
    pool_id = fake_api.nodepool(CLUSTER_ID, nodepool_id)["instance-pool"]["id"]
    assert outs["instance_pool_id"] == pool_id
    assert fake_api.instance_pools[pool_id]["manager"] == {"id": nodepool_id, "type": "sks-nodepool"}


def test_state_recorded_before_replace_strategy_existed_diffs_clean(engine: Engine) -> None:
    """Upgrading the program changes nothing on an existing pool: its recorded inputs and outputs
    lack replace_strategy and nodepool_name, and stand for deleteFirst under its plain name."""
    recorded = {k: v for k, v in INPUTS.items() if k != "replace_strategy"}
    recorded |= {"nodepool_id": "np", "state": "running", "instance_pool_id": stable_uuid("ip"), "instance_type_id": ""}
    assert engine.diff("np", recorded, INPUTS).changes is False
    create_first = engine.diff("np", recorded, CREATE_FIRST_INPUTS)
    assert (create_first.changes, create_first.replaces) == (True, [])
