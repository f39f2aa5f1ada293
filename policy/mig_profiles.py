"""The MIG profiles the Exoscale API accepts, from the API document the `exoscale` package ships.

The pack declares `exoscale` in requirements.txt for this document only (it imports none of the
client's code): schema `nvidia-mig-profiles` names the GPUs that have MIG (its property keys, such
as `rtxpro6000.96gb`) and `nvidia-mig-profile-<key>` lists each GPU's profiles. The document lists
the instance families too (`instance-type.family`) but does not say which one carries which GPU,
so that pairing is the one table kept here (GPU_KEY_BY_FAMILY).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any


class ApiDocumentError(RuntimeError):
    """The `exoscale` package's API document is missing or not what the pack expects."""


@cache
def _schemas() -> dict[str, Any]:
    try:
        text = resources.files("exoscale").joinpath("openapi.json").read_text(encoding="utf-8")
        schemas = json.loads(text)["components"]["schemas"]
    except (ImportError, OSError, ValueError, KeyError, TypeError) as error:
        raise ApiDocumentError(
            f"cannot read the Exoscale API document (exoscale/openapi.json, package exoscale from "
            f"policy/requirements.txt): {error!r}"
        ) from error
    if not isinstance(schemas, dict):
        raise ApiDocumentError("the Exoscale API document has no components.schemas object")
    return schemas


# Which GPU each MIG-capable instance family carries, as its key in the API's `nvidia-mig-profiles`.
# Sources: exoscale/terraform-provider-exoscale (b692022e, exoscale/resource_exoscale_sks_nodepool.go,
# sksNodepoolMIGProfiles) sets the `a30.24gb` field for family gpua30 and `rtxpro6000.96gb` for
# gpurtx6000pro; gpub300 is the API's one B300 family and b300.269gb its one B300 key (the provider
# does not know it yet). The program's config/mig_catalogue.py has the same pairs (a test keeps
# them equal), and tests check every family and key against the API document.
GPU_KEY_BY_FAMILY: dict[str, str] = {
    "gpua30": "a30.24gb",
    "gpurtx6000pro": "rtxpro6000.96gb",
    "gpub300": "b300.269gb",
}


def family_of(instance_type: str) -> str:
    """The family of an Exoscale instance type: the part before the dot ("gpua30" of
    "gpua30.small"), as the API (`instance-type` family and size) and Karpenter's provider
    (`<family>.<size>`, pkg/providers/instancetype/provider.go) name them."""
    return instance_type.partition(".")[0].lower()


def instance_families() -> tuple[str, ...]:
    """Every instance family the Exoscale API knows (schema `instance-type`, property `family`)."""
    family = _schemas().get("instance-type", {}).get("properties", {}).get("family", {})
    return tuple(family.get("enum", ()))


def gpu_keys() -> tuple[str, ...]:
    """The GPUs with MIG, as keys of the API's `nvidia-mig-profiles` (e.g. a30.24gb)."""
    properties = _schemas().get("nvidia-mig-profiles", {}).get("properties", {})
    return tuple(properties)


def is_gpu_key(key: object) -> bool:
    """Whether `key` names a GPU with MIG in the API document (False when the document is unreadable:
    profile_problem says why)."""
    try:
        return key in gpu_keys()
    except ApiDocumentError:
        return False


def profile_names(gpu_key: str) -> tuple[str, ...]:
    """The MIG profiles the API accepts for one GPU (e.g. 1g.24gb, 2g.48gb...), in its order."""
    return tuple(_schemas().get(f"nvidia-mig-profile-{gpu_key}", {}).get("enum", ()))


def profile_problem(profiles: Mapping[str, Any]) -> str | None:
    """Why a nodepool's `nvidia_mig_profiles` ({gpu key: profile}) is not one the API accepts."""
    try:
        keys = gpu_keys()
        if not profiles:
            return f"it sets no MIG profile (nvidia_mig_profiles is empty; GPUs with MIG: {', '.join(keys)})"
        for gpu_key, profile in profiles.items():
            if gpu_key not in keys:
                return f"GPU {gpu_key!r} has no MIG profiles in the Exoscale API (GPUs with MIG: {', '.join(keys)})"
            valid = profile_names(gpu_key)
            if profile not in valid:
                return f"MIG profile {profile!r} is not one the Exoscale API accepts for {gpu_key} ({', '.join(valid)})"
    except ApiDocumentError as error:
        return str(error)
    return None
