"""How a failed Exoscale API call becomes a message: the HTTP status, the API's own message, and
the input(s) the message is about, with the value that was sent."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

# Request-body field of the API -> input name, to name the input an API error is about.
_API_FIELD_TO_INPUT: Final[Mapping[str, str]] = {
    "instance-type": "instance_type",
    "disk-size": "disk_size",
    "nvidia-mig-profiles": "nvidia_mig_profiles",
    "security-groups": "security_group_ids",
    "anti-affinity-groups": "anti_affinity_group_ids",
    "labels": "labels",
    "taints": "taints",
    "description": "description",
    "size": "size",
    "name": "name",
}


def status_of(exc: Exception) -> int | None:
    """The HTTP status of a client exception, if it carries a response."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def api_message(exc: Exception) -> str:
    """The API's `message`, else the answer's text (bounded), else the exception itself."""
    response = getattr(exc, "response", None)
    if response is None:
        return str(exc)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])
    text = getattr(response, "text", "") or str(exc)
    return str(text).strip()[:500]


def fault_hint(message: str, inputs: Mapping[str, Any] | None) -> str:
    """Name the input(s) an API error message is about, with the value that was sent."""
    if not inputs:
        return ""
    lowered = message.lower()
    at_fault: list[str] = []
    for field, key in _API_FIELD_TO_INPUT.items():
        if key not in inputs or key in at_fault:
            continue
        names = {field, key, key.replace("_", " ")}
        if any(re.search(rf"(?<![a-z0-9-]){re.escape(n)}(?![a-z0-9-])", lowered) for n in names):
            at_fault.append(key)
    for key, value in inputs.items():
        if key in at_fault:
            continue
        texts = [value] if isinstance(value, str) else []
        if isinstance(value, Mapping):
            texts = [*map(str, value.keys()), *map(str, value.values())]
        elif isinstance(value, (list, tuple)):
            texts = [str(v) for v in value]
        if any(t and len(t) > 2 and t.lower() in lowered for t in texts):
            at_fault.append(key)
    if at_fault:
        return "Input at fault: " + ", ".join(f"{key}={_show_value(inputs[key])}" for key in at_fault) + "."
    return "Inputs sent: " + ", ".join(f"{key}={_show_value(value)}" for key, value in inputs.items()) + "."


def _show_value(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
