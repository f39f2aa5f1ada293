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
