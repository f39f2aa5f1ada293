"""The fake Exoscale API itself: it must reject what the real API rejects, or the suite proves nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_exoscale import TEST_KEY, TEST_SECRET, FakeExoscaleAPI, stable_uuid
from tests.mig_nodepool_engine import CLUSTER_ID


def _raw_create(fake_api: FakeExoscaleAPI, **overrides: Any) -> tuple[int, Any]:
    from exoscale.api.exceptions import ExoscaleAPIException
    from exoscale.api.v2 import Client

    kwargs: dict[str, Any] = {
        "id": CLUSTER_ID,
        "name": "probe",
        "instance_type": {"id": fake_api.instance_type_id("gpurtx6000pro.small")},
        "size": 1,
        "disk_size": 50,
        "nvidia_mig_profiles": {"rtxpro6000.96gb": "1g.24gb"},
    }
    kwargs.update(overrides)
    try:
        return 200, Client(TEST_KEY, TEST_SECRET, url=fake_api.url).create_sks_nodepool(**kwargs)
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
def test_fake_api_rejects_what_the_api_would_reject(
    fake_api: FakeExoscaleAPI, overrides: dict[str, Any], kind: str
) -> None:
    status, payload = _raw_create(fake_api, **overrides)
    assert status == 400, payload
    assert "message" in payload
    assert [v.kind for v in fake_api.violations] == [kind], [str(v) for v in fake_api.violations]


def test_fake_api_accepts_a_valid_request_and_checks_auth_and_routes(fake_api: FakeExoscaleAPI) -> None:
    import requests

    status, operation = _raw_create(fake_api)
    assert status == 200 and operation["state"] == "pending"
    fake_api.assert_no_violations()

    assert requests.get(f"{fake_api.url}/instance-type", timeout=5).status_code == 403
    assert (
        requests.get(
            f"{fake_api.url}/no-such-thing", headers={"Authorization": "EXO2-HMAC-SHA256 x"}, timeout=5
        ).status_code
        == 404
    )
    assert [v.kind for v in fake_api.violations] == ["auth", "route"]


def _raw_evict(fake_api: FakeExoscaleAPI, nodepool_id: str, instances: Any) -> tuple[int, Any]:
    from exoscale.api.exceptions import ExoscaleAPIException
    from exoscale.api.v2 import Client

    client = Client(TEST_KEY, TEST_SECRET, url=fake_api.url)
    try:
        return 200, client.evict_sks_nodepool_members(id=CLUSTER_ID, sks_nodepool_id=nodepool_id, instances=instances)
    except ExoscaleAPIException as exc:
        return exc.response.status_code, exc.response.json()


def _created_pool(fake_api: FakeExoscaleAPI, size: int) -> str:
    status, operation = _raw_create(fake_api, size=size)
    assert status == 200
    return str(operation["reference"]["id"])


@pytest.mark.parametrize(
    ("instances", "kind"),
    [
        (["not-a-uuid"], "body"),
        ("one", "body"),
        ([stable_uuid("stranger")], "semantic"),
        ([], "semantic"),
    ],
)
def test_fake_api_validates_evict_requests(fake_api: FakeExoscaleAPI, instances: Any, kind: str) -> None:
    nodepool_id = _created_pool(fake_api, size=2)
    status, payload = _raw_evict(fake_api, nodepool_id, instances)
    assert status == 400, payload
    assert [v.kind for v in fake_api.violations] == [kind], [str(v) for v in fake_api.violations]
    assert len(fake_api.members(CLUSTER_ID, nodepool_id)) == 2


def test_fake_api_rejects_evicting_the_same_member_twice_in_one_request(fake_api: FakeExoscaleAPI) -> None:
    nodepool_id = _created_pool(fake_api, size=2)
    member = fake_api.members(CLUSTER_ID, nodepool_id)[0]["id"]
    status, _ = _raw_evict(fake_api, nodepool_id, [member, member])
    assert status == 400
    assert [v.kind for v in fake_api.violations] == ["body"], "the document says uniqueItems"


def test_fake_api_evicts_exactly_the_members_named_and_shrinks_the_pool(fake_api: FakeExoscaleAPI) -> None:
    from exoscale.api.v2 import Client

    nodepool_id = _created_pool(fake_api, size=3)
    first, second, third = fake_api.members(CLUSTER_ID, nodepool_id)
    status, operation = _raw_evict(fake_api, nodepool_id, [second["id"]])
    assert status == 200 and operation["state"] == "pending"
    assert [m["id"] for m in fake_api.members(CLUSTER_ID, nodepool_id)] == [first["id"], third["id"]]
    assert fake_api.nodepool(CLUSTER_ID, nodepool_id)["size"] == 2

    client = Client(TEST_KEY, TEST_SECRET, url=fake_api.url)
    pool = client.get_instance_pool(id=fake_api.nodepool(CLUSTER_ID, nodepool_id)["instance-pool"]["id"])
    assert pool["instances"] == [{"id": first["id"]}, {"id": third["id"]}] and pool["size"] == 2
    assert client.get_instance(id=third["id"])["state"] == "running"
    fake_api.assert_no_violations()  # the answers match the document's response schemas too


def test_fake_api_degrades_the_next_operation_only_to_a_state_of_the_document(fake_api: FakeExoscaleAPI) -> None:
    with pytest.raises(ValueError, match="not a nodepool state"):
        fake_api.degrade_next_operation("create-sks-nodepool", "broken")
    from exoscale.api.v2 import Client

    fake_api.degrade_next_operation("create-sks-nodepool", "degraded")
    status, operation = _raw_create(fake_api)
    assert status == 200
    client = Client(TEST_KEY, TEST_SECRET, url=fake_api.url)
    while operation["state"] == "pending":
        operation = client.get_operation(id=operation["id"])
    assert operation["state"] == "success", "the operation succeeds: only the pool is degraded"
    nodepool = client.get_sks_nodepool(id=CLUSTER_ID, sks_nodepool_id=operation["reference"]["id"])
    assert nodepool["state"] == "degraded"
    status, operation = _raw_create(fake_api, name="next")
    while operation["state"] == "pending":
        operation = client.get_operation(id=operation["id"])
    assert client.get_sks_nodepool(id=CLUSTER_ID, sks_nodepool_id=operation["reference"]["id"])["state"] == "running"
    fake_api.assert_no_violations()
