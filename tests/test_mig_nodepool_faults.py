"""Faults between the MigNodepool provider and the Exoscale API: each one either survives (bounded
retries) or fails with a message that names the nodepool (when one exists) or the input at fault.
Nothing is left behind silently. The fake API injects the faults; waits run on a virtual clock.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest

from components.mig_nodepool import MigNodepoolError
from components.mig_nodepool.states import FAILED_STATES, READY_STATE, SETTLING_STATES, api_states
from tests.fake_exoscale import FakeExoscaleAPI
from tests.mig_nodepool_engine import CLUSTER_ID, INPUTS, Engine, no_credentials_in

pytestmark = pytest.mark.usefixtures("clock")


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
    fault: Fault, engine: Engine, fake_api: FakeExoscaleAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = {**INPUTS, **dict(fault.inputs)}
    nodepool_id, outs = "", cast(dict[str, Any], {})
    if fault.stage != "create":
        nodepool_id, outs = engine.create(inputs)
        fake_api.clear_records()
    fault.inject(fake_api, monkeypatch)

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
            assert len(fake_api.nodepools[CLUSTER_ID]) == 1, "exactly one nodepool, no duplicate"
        if fault.gone:
            assert fake_api.nodepools[CLUSTER_ID] == {}
    else:
        with pytest.raises(MigNodepoolError) as caught:
            act()
        message = str(caught.value)
        existing = list(fake_api.nodepools.get(CLUSTER_ID, {}))
        for np_id in existing if fault.stage == "create" else [nodepool_id]:
            assert np_id in message, f"the error must name nodepool {np_id}: {message}"
        the_id = existing[0] if fault.stage == "create" and existing else nodepool_id
        for fragment in fault.expect:
            assert fragment.replace("{id}", the_id) in message, message
        no_credentials_in(message)
    for operation_id, count in fault.requests:
        assert len(fake_api.requests_for(operation_id)) == count, operation_id
    fake_api.assert_no_violations()


# --------------------------------------------------------------------------------------------------
# Failure states of the nodepool itself: degraded and error are failures, never "settled"
# --------------------------------------------------------------------------------------------------


def test_the_provider_knows_every_nodepool_state_of_the_api() -> None:
    """Each state of the document's sks-nodepool enum is either waited out, a failure or ready."""
    known = SETTLING_STATES | FAILED_STATES | {READY_STATE}
    assert set(api_states()) == known
    assert {"degraded", "error"} == FAILED_STATES


@pytest.mark.parametrize("state", ["degraded", "error"])
def test_create_that_settles_in_a_failure_state_fails_naming_the_pool_and_leaves_no_orphan(
    engine: Engine, fake_api: FakeExoscaleAPI, state: str
) -> None:
    fake_api.degrade_next_operation("create-sks-nodepool", state)
    with pytest.raises(MigNodepoolError) as caught:
        engine.create(INPUTS)
    message = str(caught.value)
    [created] = fake_api.requests_for("create-sks-nodepool")
    nodepool_id = fake_api.requests_for("delete-sks-nodepool")[0].path.rsplit("/", 1)[1]
    assert created.status == 200
    for fragment in (f"nodepool {nodepool_id} ('gpu-rtx')", f"state {state!r}", "deleted again"):
        assert fragment in message, message
    assert fake_api.nodepools[CLUSTER_ID] == {}, "nothing left outside the Pulumi state"
    assert fake_api.instances == {}
    no_credentials_in(message)
    fake_api.assert_no_violations()


def test_update_that_leaves_the_pool_degraded_fails_naming_it(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.degrade_next_operation("update-sks-nodepool")
    with pytest.raises(MigNodepoolError) as caught:
        engine.update(nodepool_id, outs, {**INPUTS, "labels": {"team": "ml"}})
    message = str(caught.value)
    for fragment in (f"nodepool {nodepool_id} ('gpu-rtx')", "state 'degraded'", "stays in the Pulumi state"):
        assert fragment in message, message
    assert nodepool_id in fake_api.nodepools[CLUSTER_ID], "a recorded pool is never deleted by an update"
    fake_api.assert_no_violations()


def test_scale_down_that_leaves_the_pool_degraded_fails_naming_it(engine: Engine, fake_api: FakeExoscaleAPI) -> None:
    nodepool_id, outs = engine.create({**INPUTS, "size": 3})
    fake_api.degrade_next_operation("evict-sks-nodepool-members")
    with pytest.raises(MigNodepoolError, match=f"nodepool {nodepool_id} \\('gpu-rtx'\\) is in state 'degraded'"):
        engine.update(nodepool_id, outs, INPUTS)
    assert len(fake_api.bodies("evict-sks-nodepool-members")[0]["instances"]) == 1
    fake_api.assert_no_violations()


def test_refresh_of_a_degraded_pool_records_the_state_and_warns(
    engine: Engine, fake_api: FakeExoscaleAPI, caplog: pytest.LogCaptureFixture
) -> None:
    nodepool_id, outs = engine.create(INPUTS)
    fake_api.update_nodepool_out_of_band(CLUSTER_ID, nodepool_id, state="degraded")
    with caplog.at_level(logging.WARNING, logger="components.mig_nodepool"):
        read = engine.read(nodepool_id, outs)
    assert read.id == nodepool_id
    assert read.outs is not None and read.outs["state"] == "degraded"
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("components.mig_nodepool.")]
    assert any(nodepool_id in w and "'gpu-rtx'" in w and "'degraded'" in w for w in warnings), warnings
    fake_api.assert_no_violations()
