"""A local fake of the Exoscale v2 API that checks every request against the real OpenAPI document.

Three parts: ``openapi_check`` (the document as a request and response checker), ``state`` (the
simulated instance types, clusters, nodepools and async operations) and ``server`` (HTTP on
127.0.0.1, records, request faults). Tests use the ``fake_api`` fixture of ``tests/conftest.py``.
"""

from tests.fake_exoscale.server import (
    TEST_KEY,
    TEST_SECRET,
    FakeExoscaleAPI,
    running_fake_exoscale_api,
    use_fake_exoscale_api,
)
from tests.fake_exoscale.state import DEFAULT_CLUSTER_ID, stable_uuid

__all__ = [
    "DEFAULT_CLUSTER_ID",
    "TEST_KEY",
    "TEST_SECRET",
    "FakeExoscaleAPI",
    "running_fake_exoscale_api",
    "stable_uuid",
    "use_fake_exoscale_api",
]
