"""What an SKS nodepool's `state` means to the provider.

The API's enum (`sks-nodepool.state` in the OpenAPI document of the installed `exoscale` package):
creating, degraded, deleting, error, renewing-token, running, scaling, updating. The provider waits
while a pool is in a transitional state; `degraded` and `error` are failures, never "settled":
create and update fail naming the pool, read reports the state and warns. `tests` pin these sets
against the document, so a state the API adds is noticed.
"""

from typing import Final

from config.mig_catalogue import openapi_document

READY_STATE: Final = "running"
SETTLING_STATES: Final = frozenset({"creating", "updating", "scaling", "renewing-token", "deleting"})
FAILED_STATES: Final = frozenset({"degraded", "error"})


def api_states() -> tuple[str, ...]:
    """The nodepool states the OpenAPI document declares."""
    schema = openapi_document().get("components", {}).get("schemas", {}).get("sks-nodepool", {})
    return tuple(schema.get("properties", {}).get("state", {}).get("enum", ()))
