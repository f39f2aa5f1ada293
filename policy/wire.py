"""Reading properties as the engine sends them: unknown values, plain data, numbers, quantities.

Validators read properties in wire form (camelCase for provider resources, snake_case for the
dynamic MIG nodepool). A value the engine does not know yet (a preview of something not created
yet) becomes an `Unknown`, which every check treats as "cannot judge yet".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)
from secret_marks import is_secret

_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


class Unknown:
    """A value the engine does not know yet (a preview of something not created yet)."""

    __slots__ = ("secret",)

    def __init__(self, secret: bool) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = Unknown(secret=False)
SECRET_UNKNOWN = Unknown(secret=True)


def _unknown(sentinel: Any) -> Unknown:
    return SECRET_UNKNOWN if is_secret(sentinel) else UNKNOWN


def plain(value: Any) -> Any:
    """`value` (the SDK's unknown-checking proxies, or plain data) as dicts, lists and scalars.

    A value unknown during preview becomes an `Unknown` instead of raising; secret marks on
    scalars (see secret_marks.py) are kept.
    """
    if isinstance(value, str):
        return _unknown(value) if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError as error:
                result[key] = _unknown(error.unknown_type_sentinel)
        return result
    if isinstance(value, Sequence):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError as error:
                items.append(_unknown(error.unknown_type_sentinel))
        return items
    return value


def dig(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`; None when a step is missing, UNKNOWN when one is unknown."""
    for key in path:
        if isinstance(value, Unknown):
            return value
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def number(value: Any) -> float | None:
    """A plain number or numeric string as float; None for anything else (unknowns included)."""
    if isinstance(value, (bool, Unknown)) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
        return result if math.isfinite(result) else None
    return None


_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_FACTORS = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity ("1", 1, "500m", "2Gi") as a number; None if it is not one."""
    if isinstance(value, bool) or value is None or isinstance(value, Unknown):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    return float(match[1]) * _QUANTITY_FACTORS[match[2]]


def count(value: float) -> str:
    """A count for a message: 4, not 4.0."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def short_type(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def describe(resource_type: str, name: str, props: Mapping[str, Any] | None = None) -> str:
    """How a violation names a resource: `StatefulSet inference/vllm-qwen`, `SksCluster 'x'`."""
    if resource_type.startswith("kubernetes:") and props is not None:
        metadata = as_dict(props.get("metadata"))
        object_name = metadata.get("name")
        object_name = object_name if isinstance(object_name, str) else name
        namespace = metadata.get("namespace")
        if isinstance(namespace, str) and namespace:
            return f"{short_type(resource_type)} {namespace}/{object_name}"
        return f"{short_type(resource_type)} {object_name}"
    if resource_type.startswith("pulumi:providers:"):
        return f"{short_type(resource_type)} provider '{name}'"
    return f"{short_type(resource_type)} '{name}'"


def config_list(config: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    """A list setting of a policy's config, as strings; `default` when it is not a list."""
    value = config.get(key, default)
    return [str(item) for item in value] if isinstance(value, list) else list(default)
