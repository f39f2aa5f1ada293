"""The MIG nodepool's inputs: their names and defaults, offline validation, and the validated,
normalised `_Spec` the provider sends to the API.

Nothing here calls the API: `check` and `diff` use this module alone, so a preview makes no API
call. Valid MIG profiles, GPU keys, instance families and sizes and taint effects are the enums of
the OpenAPI document shipped in the installed `exoscale` package (via `config.mig_catalogue`).

`replace_strategy` is the provider's own input: never sent to the API, it only tells `diff` how
the engine replaces the nodepool, and `pool_name` what the pool is called at the API.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

import pulumi
from pulumi.output import Unknown

from components.mig_nodepool.errors import MigNodepoolError
from components.mig_nodepool.settings import DEFAULT_DISK_SIZE, DEFAULT_TIMEOUT_SECONDS
from config.mig_catalogue import MIG_KEY_BY_FAMILY, api_gpu_keys, api_profile_names, openapi_document

INPUT_KEYS: Final = (
    "zone",
    "cluster_id",
    "name",
    "instance_type",
    "size",
    "disk_size",
    "nvidia_mig_profiles",
    "labels",
    "taints",
    "security_group_ids",
    "anti_affinity_group_ids",
    "description",
    "timeout_seconds",
    "replace_strategy",
)
# `nodepool_name`: the pool's name at the API (`pool_name`), which is `name` unless createFirst.
OUTPUT_KEYS: Final = ("nodepool_id", "state", "instance_pool_id", "instance_type_id", "nodepool_name")
REQUIRED_KEYS: Final = ("zone", "cluster_id", "name", "instance_type", "size")
# A change of any of these replaces the nodepool. The MIG profile is one of them: "The MIG profile
# is configured when the GPU node is created and cannot be changed dynamically" (Exoscale, "GPU
# Partitioning with MIG on Exoscale SKS", 2 July 2026), so a MIG change needs new GPU nodes.
REPLACE_KEYS: Final = ("zone", "cluster_id", "instance_type", "nvidia_mig_profiles")

# How the engine replaces the nodepool. deleteFirst (the default): GPU quota rarely holds two GPU
# pools at once. createFirst: no gap in GPU capacity where the quota allows both pools.
DELETE_FIRST: Final = "deleteFirst"
CREATE_FIRST: Final = "createFirst"
REPLACE_STRATEGIES: Final = (DELETE_FIRST, CREATE_FIRST)
# With createFirst the old and the new pool coexist in the cluster, so they need different names:
# the pool is named `<name>-<digest of the REPLACE_KEYS values>`. The OpenAPI document states no
# uniqueness rule, but names identify pools (the CLI resolves NODEPOOL-NAME|ID by the first match,
# exoscale/cli cmd/compute/sks/sks_nodepool_evict.go) and so does this provider's create (it
# refuses, or adopts after a failed POST, a pool of the same name): it keeps names unique itself.
NAME_SUFFIX_LENGTH: Final = 8

# Inputs sent through update-sks-nodepool -> the client's keyword argument. Not the MIG profiles:
# a MIG change replaces the pool (REPLACE_KEYS), it is never updated in place.
UPDATE_KWARGS: Final[Mapping[str, str]] = {
    "name": "name",
    "disk_size": "disk_size",
    "labels": "labels",
    "taints": "taints",
    "description": "description",
    "security_group_ids": "security_groups",
    "anti_affinity_group_ids": "anti_affinity_groups",
}
# Inputs sent through create-sks-nodepool (besides name, instance type, size and disk size).
CREATE_KWARGS: Final[Mapping[str, str]] = {**UPDATE_KWARGS, "nvidia_mig_profiles": "nvidia_mig_profiles"}
_DEFAULTS: Final[Mapping[str, Any]] = {
    "disk_size": DEFAULT_DISK_SIZE,
    "nvidia_mig_profiles": {},
    "labels": {},
    "taints": {},
    "security_group_ids": [],
    "anti_affinity_group_ids": [],
    "description": "",
    "timeout_seconds": DEFAULT_TIMEOUT_SECONDS,
    "replace_strategy": DELETE_FIRST,
}
# What the engine sends for a value not known yet during preview.
_UNKNOWN: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ZONE_RE: Final = re.compile(r"^[a-z]{2}-[a-z]+-[0-9]+$")


def with_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `values` with every absent or None optional input set to its default."""
    filled = dict(values)
    for key, default in _DEFAULTS.items():
        if filled.get(key) is None:
            filled[key] = _copy(default)
    return filled


@dataclass(frozen=True)
class _Spec:
    """Validated, normalised inputs (ints are ints, not the engine's floats)."""

    zone: str
    cluster_id: str
    name: str
    instance_type: str
    size: int
    disk_size: int
    nvidia_mig_profiles: dict[str, str]
    labels: dict[str, str]
    taints: dict[str, str]
    security_group_ids: list[str]
    anti_affinity_group_ids: list[str]
    description: str
    timeout_seconds: float
    replace_strategy: str

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> _Spec:
        merged = with_defaults({key: props.get(key) for key in INPUT_KEYS})
        problems = _validate(merged)
        if problems:
            raise MigNodepoolError(
                "invalid MigNodepool inputs: " + "; ".join(f"{prop}: {reason}" for prop, reason in problems)
            )
        return cls(
            zone=str(merged["zone"]),
            cluster_id=str(merged["cluster_id"]),
            name=str(merged["name"]),
            instance_type=str(merged["instance_type"]).lower(),
            size=int(merged["size"]),
            disk_size=int(merged["disk_size"]),
            nvidia_mig_profiles={str(k): str(v) for k, v in merged["nvidia_mig_profiles"].items()},
            labels={str(k): str(v) for k, v in merged["labels"].items()},
            taints={str(k): str(v) for k, v in merged["taints"].items()},
            security_group_ids=[str(v) for v in merged["security_group_ids"]],
            anti_affinity_group_ids=[str(v) for v in merged["anti_affinity_group_ids"]],
            description=str(merged["description"]),
            timeout_seconds=float(merged["timeout_seconds"]),
            replace_strategy=str(merged["replace_strategy"]),
        )

    @property
    def pool_name(self) -> str:
        """The nodepool's name at the API: `name`, or `name-<digest>` with createFirst."""
        return pool_name_of(asdict(self))

    def api_value(self, key: str) -> Any:
        """The value of input `key` as the client's keyword argument expects it."""
        if key == "taints":
            return {k: _taint_object(v) for k, v in self.taints.items()}
        if key in ("security_group_ids", "anti_affinity_group_ids"):
            return [{"id": i} for i in getattr(self, key)]
        if key == "nvidia_mig_profiles":
            return dict(self.nvidia_mig_profiles)
        if key == "name":
            return self.pool_name
        return getattr(self, key)

    def create_kwargs(self, instance_type_id: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "name": self.pool_name,
            "instance_type": {"id": instance_type_id},
            "size": self.size,
            "disk_size": self.disk_size,
        }
        for key, kwarg in CREATE_KWARGS.items():
            if kwarg not in kwargs and getattr(self, key):
                kwargs[kwarg] = self.api_value(key)
        return kwargs

    def sent_inputs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs behind a request's keyword arguments, to name them in error messages."""
        by_kwarg = {kwarg: key for key, kwarg in CREATE_KWARGS.items()}
        sent: dict[str, Any] = {}
        for kwarg in kwargs:
            key = by_kwarg.get(kwarg, kwarg)
            if key in INPUT_KEYS:
                sent[key] = getattr(self, key)
        return sent


def differs(key: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    """Whether input `key` changes; a value not known yet (preview) counts as a change."""
    new = news.get(key)
    if _contains_unknown(new):
        return True
    return bool(_normal(key, olds.get(key)) != _normal(key, new))


def strategy_of(props: Mapping[str, Any]) -> str:
    """The replace strategy of some properties; deleteFirst when absent, unknown or invalid."""
    value = props.get("replace_strategy")
    return CREATE_FIRST if value == CREATE_FIRST else DELETE_FIRST


def pool_name_of(props: Mapping[str, Any]) -> str:
    """The nodepool's name at the API for these inputs: `name` with deleteFirst; with createFirst,
    `name-<first 8 hex digits of the SHA-256 of the REPLACE_KEYS values>`, so that a replacement,
    created before its predecessor is deleted, never carries the predecessor's name."""
    name = str(props.get("name") or "")
    if strategy_of(props) != CREATE_FIRST:
        return name
    identity = {key: _normal(key, props.get(key)) for key in REPLACE_KEYS}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()
    return f"{name}-{digest[:NAME_SUFFIX_LENGTH]}"


def timeout_of(props: Mapping[str, Any], default: float = DEFAULT_TIMEOUT_SECONDS) -> float:
    """The timeout_seconds of recorded properties, or `default` when it is missing or not a
    positive number."""
    value = props.get("timeout_seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(default)


def check_arg_names(
    kind: str, resource_name: str, args: Mapping[str, Any], input_keys: Sequence[str], required_keys: Sequence[str]
) -> None:
    """Refuse a resource's arguments that it does not take or that are missing, naming them and
    what it takes, as a pulumi.RunError: the program stops with the message, not a traceback."""
    unknown = sorted(set(args) - set(input_keys))
    if unknown:
        raise pulumi.RunError(
            f"{kind} {resource_name!r}: unknown argument(s) {', '.join(unknown)}; it takes {', '.join(input_keys)}"
        )
    missing = [key for key in required_keys if args.get(key) is None]
    if missing:
        raise pulumi.RunError(
            f"{kind} {resource_name!r}: missing argument(s) {', '.join(missing)}; it requires {', '.join(required_keys)}"
        )


def int_if_integral(value: Any) -> Any:
    """A whole float (the engine's wire form of an int) as an int; anything else unchanged."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _validate(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Offline validation; values not known yet (preview) are skipped. Returns (property, reason)."""
    problems: list[tuple[str, str]] = []

    def known(key: str) -> bool:
        return not _contains_unknown(props.get(key))

    for key in REQUIRED_KEYS:
        if props.get(key) is None or props.get(key) == "":
            problems.append((key, "is required"))
    if problems:
        return problems

    if known("zone") and not (isinstance(props["zone"], str) and ZONE_RE.match(props["zone"])):
        problems.append(
            (
                "zone",
                f"{props['zone']!r} is not an Exoscale zone name such as 'de-fra-1'",
            )
        )
    if known("cluster_id") and not is_uuid(props["cluster_id"]):
        problems.append(("cluster_id", f"{props['cluster_id']!r} is not a cluster UUID"))
    if known("name"):
        name = props["name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            problems.append(("name", "must be a string of 1 to 255 characters"))
        elif name != name.lower():
            problems.append(
                (
                    "name",
                    f"{name!r} must be lowercase (the API accepts lowercase names only)",
                )
            )
    family = ""
    if known("instance_type"):
        instance_type = props["instance_type"]
        family, dot, size = str(instance_type).lower().partition(".")
        families, sizes = _instance_type_enums()
        if not isinstance(instance_type, str) or not dot or not family or not size:
            problems.append(
                (
                    "instance_type",
                    f"{instance_type!r} must be 'family.size', e.g. 'gpurtx6000pro.small'",
                )
            )
            family = ""
        elif families and family not in families:
            problems.append(
                (
                    "instance_type",
                    f"unknown family {family!r} (known: {', '.join(families)})",
                )
            )
        elif sizes and size not in sizes:
            problems.append(("instance_type", f"unknown size {size!r} (known: {', '.join(sizes)})"))
    for key, low, high in (("size", 1, None), ("disk_size", 20, 51200)):
        if known(key):
            problem = _int_problem(props.get(key), low, high)
            if problem:
                problems.append((key, problem))
    if known("timeout_seconds"):
        timeout = props.get("timeout_seconds")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            problems.append(("timeout_seconds", f"{timeout!r} must be a positive number of seconds"))
    for key in ("labels", "taints", "nvidia_mig_profiles"):
        value = props.get(key)
        if known(key) and not (
            isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            problems.append((key, f"{value!r} must be a map of strings to strings"))
    if known("taints") and isinstance(props.get("taints"), Mapping):
        effects = _taint_effects()
        for taint_key, raw in props["taints"].items():
            if not isinstance(raw, str):
                continue
            value, sep, effect = raw.rpartition(":")
            if not sep or not value or not taint_key:
                problems.append(
                    (
                        "taints",
                        f"taint {taint_key!r}: {raw!r} must be 'value:Effect', e.g. 'present:NoSchedule'",
                    )
                )
            elif len(value) > 255:
                problems.append(("taints", f"taint {taint_key!r}: value longer than 255 characters"))
            elif effects and effect not in effects:
                problems.append(
                    (
                        "taints",
                        f"taint {taint_key!r}: effect {effect!r} is not one of {', '.join(effects)}",
                    )
                )
    if known("nvidia_mig_profiles") and isinstance(props.get("nvidia_mig_profiles"), Mapping):
        problems.extend(_mig_problems(props["nvidia_mig_profiles"], family))
    for key, most in (("security_group_ids", 16), ("anti_affinity_group_ids", 8)):
        ids = props.get(key)
        if not known(key):
            continue
        if not isinstance(ids, (list, tuple)):
            problems.append((key, f"{ids!r} must be a list of UUIDs"))
            continue
        bad = [i for i in ids if not is_uuid(i)]
        if bad:
            problems.append((key, f"not UUIDs: {', '.join(map(repr, bad))}"))
        if len(set(map(str, ids))) != len(ids):
            problems.append((key, "contains duplicates"))
        if len(ids) > most:
            problems.append((key, f"at most {most} allowed"))
    if known("description"):
        description = props.get("description")
        if not isinstance(description, str) or len(description) > 255:
            problems.append(("description", "must be a string of at most 255 characters"))
    if known("replace_strategy"):
        strategy = props.get("replace_strategy")
        if strategy not in REPLACE_STRATEGIES:
            problems.append(
                (
                    "replace_strategy",
                    f"{strategy!r} is not a replace strategy; one of {', '.join(REPLACE_STRATEGIES)} "
                    f"({DELETE_FIRST}: delete the old nodepool before creating its replacement; "
                    f"{CREATE_FIRST}: create the replacement first, when the GPU quota holds both)",
                )
            )
        elif strategy == CREATE_FIRST and known("name") and isinstance(props.get("name"), str):
            most = 255 - 1 - NAME_SUFFIX_LENGTH
            if len(props["name"]) > most:
                problems.append(
                    (
                        "name",
                        f"at most {most} characters with replace_strategy {CREATE_FIRST} "
                        f"(the pool is named '<name>-<{NAME_SUFFIX_LENGTH} hex digits>')",
                    )
                )
    return problems


def _mig_problems(profiles: Mapping[str, Any], family: str) -> list[tuple[str, str]]:
    reasons: list[str] = []
    accepted = {key: api_profile_names(key) for key in api_gpu_keys()}
    expected_key = MIG_KEY_BY_FAMILY.get(family)
    for key, profile in profiles.items():
        if key not in accepted:
            known = ", ".join(sorted(accepted))
            reasons.append(f"unknown GPU key {key!r} (the API knows {known})")
            continue
        if profile not in accepted[key]:
            choices = ", ".join(accepted[key])
            reasons.append(f"{key}: {profile!r} is not a MIG profile of this GPU (one of {choices})")
        if family and expected_key is None:
            reasons.append(f"instance family {family!r} has no MIG-capable GPU")
        elif family and key != expected_key:
            reasons.append(f"key {key!r} does not match instance family {family!r} (expects {expected_key!r})")
    return [("nvidia_mig_profiles", reason) for reason in reasons]


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = openapi_document().get("components", {}).get("schemas", {})
    return schemas


@functools.cache
def _taint_effects() -> tuple[str, ...]:
    effect = _schemas().get("sks-nodepool-taint", {}).get("properties", {}).get("effect", {})
    return tuple(effect.get("enum", ("NoExecute", "NoSchedule", "PreferNoSchedule")))


@functools.cache
def _instance_type_enums() -> tuple[tuple[str, ...], tuple[str, ...]]:
    props = _schemas().get("instance-type", {}).get("properties", {})
    return tuple(props.get("family", {}).get("enum", ())), tuple(props.get("size", {}).get("enum", ()))


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def _contains_unknown(value: Any) -> bool:
    # Check and Diff get unknowns as pulumi.output.Unknown (deserialized with keep_unknowns=True);
    # the raw wire sentinel string is accepted too.
    if isinstance(value, Unknown):
        return True
    if isinstance(value, str):
        return value == _UNKNOWN
    if isinstance(value, Mapping):
        return any(_contains_unknown(k) or _contains_unknown(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_contains_unknown(v) for v in value)
    return False


def is_uuid(value: Any) -> bool:
    """Whether `value` is a UUID string (the API's ids)."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _int_problem(value: Any, low: int, high: int | None) -> str | None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        return f"{value!r} must be a whole number"
    if high is None and value < low:
        return f"{int_if_integral(value)} must be at least {low}"
    if high is not None and not low <= value <= high:
        return f"{int_if_integral(value)} must be between {low} and {high}"
    return None


def _normal(key: str, value: Any) -> Any:
    """A comparable form of an input (engine floats, absent defaults, unordered id lists)."""
    if value is None:
        value = _DEFAULTS.get(key)
    if key in ("security_group_ids", "anti_affinity_group_ids") and isinstance(value, (list, tuple)):
        return sorted(map(str, value))
    if key == "instance_type" and isinstance(value, str):
        return value.lower()
    if isinstance(value, Mapping):
        return {str(k): _normal("", v) for k, v in value.items()}
    return int_if_integral(value)


def _taint_object(raw: str) -> dict[str, str]:
    value, _, effect = raw.rpartition(":")
    return {"value": value, "effect": effect}
