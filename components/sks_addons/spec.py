"""What an `SksAddon` takes and gives: its input and output keys, the add-ons and cluster states
of the API (read from the OpenAPI document shipped in the `exoscale` package), defaults and the
offline validation `check` runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pulumi.output import Unknown
from pulumi.runtime.rpc import UNKNOWN

import contract
from components.mig_nodepool.spec import ZONE_RE, int_if_integral, is_uuid
from components.mig_nodepool.spec import timeout_of as recorded_timeout
from config.mig_catalogue import openapi_document

# The type token crosses into the plan, the mock engine and the tests: contract.py holds it.
SKS_ADDON_MODULE: Final = contract.SKS_ADDON_MODULE
SKS_ADDON_NAME: Final = contract.SKS_ADDON_NAME
SKS_ADDON: Final = contract.SKS_ADDON

KARPENTER: Final = "karpenter"

INPUT_KEYS: Final = ("zone", "cluster_id", "addon", "timeout_seconds")
REQUIRED_KEYS: Final = ("zone", "cluster_id", "addon")
OUTPUT_KEYS: Final = ("enabled", "addons")
# Another zone, cluster or add-on is another thing to manage; only the timeout changes in place.
REPLACE_KEYS: Final = ("zone", "cluster_id", "addon")
DEFAULT_TIMEOUT_SECONDS: Final = 1200

# Add-ons that need a service level. Karpenter: "Prerequisites: An Exoscale SKS cluster on the Pro
# plan" (Exoscale docs, https://community.exoscale.com/product/compute/containers/how-to/karpenter).
REQUIRED_LEVEL: Final[Mapping[str, str]] = {KARPENTER: "pro"}

# The cluster states of the API (`sks-cluster.state`): which ones a PUT must wait out, which one
# is a failure. Every state of the document is in exactly one set (pinned by a test).
CLUSTER_READY: Final = "running"
CLUSTER_FAILED: Final = frozenset({"error"})
CLUSTER_SETTLING: Final = frozenset(
    {
        "creating",
        "deleting",
        "resuming",
        "rotating-ccm-credentials",
        "rotating-csi-credentials",
        "rotating-karpenter-credentials",
        "suspending",
        "updating",
        "upgrading",
    }
)


def api_addons() -> tuple[str, ...]:
    """The add-ons `update-sks-cluster` accepts: the enum of its body's `addons` items."""
    operation = openapi_document()["paths"]["/sks-cluster/{id}"]["put"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    return tuple(schema["properties"]["addons"]["items"]["enum"])


def api_cluster_states() -> tuple[str, ...]:
    schema = openapi_document()["components"]["schemas"]["sks-cluster"]
    return tuple(schema["properties"]["state"]["enum"])


def with_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    inputs = {key: values.get(key) for key in INPUT_KEYS if values.get(key) is not None}
    inputs.setdefault("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    return inputs


def timeout_of(props: Mapping[str, Any]) -> float:
    """The recorded timeout_seconds, or the default when it is missing or not a positive number."""
    return recorded_timeout(props, DEFAULT_TIMEOUT_SECONDS)


def is_unknown(value: Any) -> bool:
    """A value not known yet (preview): `Unknown` as check and diff receive it, or the wire sentinel."""
    return isinstance(value, Unknown) or value == UNKNOWN


def differs(key: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Whether an input changes; numbers compare as the engine's floats do, unknowns always differ."""
    new = news.get(key)
    return is_unknown(new) or int_if_integral(olds.get(key)) != int_if_integral(new)


def problems(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Offline validation as (property, reason); values not known yet are skipped."""
    found: list[tuple[str, str]] = []
    for key in REQUIRED_KEYS:
        if props.get(key) in (None, ""):
            found.append((key, "is required"))
    if found:
        return found
    zone, cluster_id, addon = props["zone"], props["cluster_id"], props["addon"]
    if not is_unknown(zone) and not (isinstance(zone, str) and ZONE_RE.match(zone)):
        found.append(("zone", f"{zone!r} is not an Exoscale zone name such as 'de-fra-1'"))
    if not is_unknown(cluster_id) and not is_uuid(cluster_id):
        found.append(("cluster_id", f"{cluster_id!r} is not a cluster UUID"))
    if not is_unknown(addon) and addon not in api_addons():
        found.append(("addon", f"{addon!r} is not an SKS add-on; the API knows {', '.join(api_addons())}"))
    timeout = props.get("timeout_seconds")
    if not is_unknown(timeout) and not (
        isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
    ):
        found.append(("timeout_seconds", f"{timeout!r} must be a positive number of seconds"))
    return found

