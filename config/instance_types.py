"""Exoscale instance types, `<family>.<size>`, checked against the API document's enums.

The `instance-type` schema of the OpenAPI document inside the installed `exoscale` package lists
every family and every size; a type is valid when both parts are. (Not every combination is
sold; the API refuses the rest when the nodepool is created, naming the type.)
"""

from __future__ import annotations

from functools import cache

from config.errors import did_you_mean
from config.mig_catalogue import FAMILIES, openapi_document


@cache
def api_families() -> tuple[str, ...]:
    return tuple(openapi_document()["components"]["schemas"]["instance-type"]["properties"]["family"]["enum"])


@cache
def api_sizes() -> tuple[str, ...]:
    return tuple(openapi_document()["components"]["schemas"]["instance-type"]["properties"]["size"]["enum"])


def instance_type_problem(instance_type: str, *, mig_capable: bool) -> str | None:
    """Why `instance_type` is not an instance type (a MIG-capable one when `mig_capable`), or None."""
    family, dot, size = instance_type.partition(".")
    if mig_capable and family not in FAMILIES:
        families = ", ".join(f"{f.family}.<size>" for f in FAMILIES.values())
        return f"{instance_type!r} has no MIG-capable GPU; valid: {families}{did_you_mean(family, FAMILIES)}"
    if family not in api_families():
        return (
            f"{instance_type!r} is not an Exoscale instance type: {family!r} is not a family "
            f"of the API ({', '.join(api_families())}){did_you_mean(family, api_families())}"
        )
    if not dot or size not in api_sizes():
        return (
            f"{instance_type!r} is not an Exoscale instance type: {size!r} is not a size of the API "
            f"({', '.join(api_sizes())}){did_you_mean(size, api_sizes())}"
        )
    return None
