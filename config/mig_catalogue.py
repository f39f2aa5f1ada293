"""The GPU/MIG catalogue: which Exoscale instance families have MIG, and what each profile gives.

The valid profiles are read at run time from the OpenAPI document shipped inside the official
`exoscale` package (schema `nvidia-mig-profile-<api key>`), so a profile the API adds needs no
code change here. What the API does not say — the GPU behind a family, its MIG geometry and how
many GPUs an instance size carries — is the hand-kept part below.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

# The device plugin's MIG strategies: `single` (what SKS uses) advertises every slice as
# `nvidia.com/gpu`; `mixed` gives each profile its own resource name.
MIG_STRATEGIES = ("single", "mixed")

_PROFILE = re.compile(r"^(?P<compute>\d+)g\.(?P<memory>\d+)gb(?P<suffix>.*)$")


@dataclass(frozen=True)
class MigProfile:
    """One MIG profile of one GPU model."""

    name: str  # e.g. "1g.24gb+gfx", exactly as the API spells it
    slices_per_gpu: int  # how many instances of this profile one GPU holds
    memory_gb: int  # nominal memory of one slice (the "24gb" in the name)
    compute_slices: int  # the "1g" in the name

    def resource_name(self, strategy: str) -> str:
        """The extended resource a pod requests to get one slice of this profile."""
        return "nvidia.com/gpu" if strategy == "single" else f"nvidia.com/mig-{self.name}"

    @property
    def label_value(self) -> str:
        # Label values allow [A-Za-z0-9._-] only, and profiles contain "+".
        return self.name.replace("+", "_")


@dataclass(frozen=True)
class GpuFamily:
    """An Exoscale instance family whose GPU supports MIG."""

    family: str  # instance-type family, the part of "gpurtx6000pro.small" before the dot
    api_key: str  # key of `nvidia-mig-profiles` in the API, e.g. "rtxpro6000.96gb"
    gpu_model: str  # human name, e.g. "RTX PRO 6000 96GB"
    compute_slices: int  # the GPU's MIG compute slices (the 7 of an A100's "7g")
    memory_slices: int  # the GPU's MIG memory slices
    memory_gb: int  # nominal memory of the whole GPU
    gpus_per_size: dict[str, int]  # instance size -> GPUs per instance, where known

    @property
    def profiles(self) -> dict[str, MigProfile]:
        """Every profile the Exoscale API accepts for this GPU, in the API's order."""
        return {name: self._profile(name) for name in api_profile_names(self.api_key)}

    def _profile(self, name: str) -> MigProfile:
        match = _PROFILE.match(name)
        if match is None:
            raise ValueError(f"cannot read MIG profile name {name!r} of {self.api_key}")
        compute, memory = int(match["compute"]), int(match["memory"])
        memory_units = max(1, round(memory * self.memory_slices / self.memory_gb))
        if "+me" in match["suffix"]:
            # A GPU has one set of media engines: a profile that takes them ("+me", "+me.all")
            # fits once per GPU. NVIDIA's guide says so for the A30's 2g.12gb+me; the seed article's
            # table says 2. We follow NVIDIA: promising a slice that cannot exist would leave a
            # model server Pending forever, while one slice too few is merely conservative.
            slices = 1
        else:
            slices = min(self.compute_slices // compute, self.memory_slices // memory_units)
        return MigProfile(name=name, slices_per_gpu=slices, memory_gb=memory, compute_slices=compute)

    def gpus_per_node(self, instance_type: str) -> int | None:
        """GPUs in one instance of `instance_type`, or None where the catalogue does not know."""
        return self.gpus_per_size.get(instance_type.partition(".")[2])

    def describe(self) -> str:
        return f"{self.family} ({self.gpu_model})"


# Geometry from NVIDIA's MIG user guide and the Exoscale product pages; see
# ../shared/reference/mig-profiles.md. The seed article shows one GPU on a `.small` instance; other
# sizes are left to `gpusPerNode` until their GPU count is confirmed.
FAMILIES: dict[str, GpuFamily] = {
    family.family: family
    for family in (
        GpuFamily("gpua30", "a30.24gb", "A30 24GB", 4, 4, 24, {"small": 1}),
        GpuFamily("gpurtx6000pro", "rtxpro6000.96gb", "RTX PRO 6000 96GB", 4, 4, 96, {"small": 1}),
        GpuFamily("gpub300", "b300.269gb", "B300 269GB", 7, 8, 269, {"small": 1}),
    )
}


@cache
def openapi_document() -> dict[str, Any]:
    """The Exoscale API's OpenAPI document, as shipped inside the installed `exoscale` package."""
    text = resources.files("exoscale").joinpath("openapi.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def api_profile_names(api_key: str) -> tuple[str, ...]:
    """The enum of `nvidia-mig-profile-<api_key>` in the installed client's OpenAPI document."""
    schema = openapi_document()["components"]["schemas"].get(f"nvidia-mig-profile-{api_key}", {})
    return tuple(schema.get("enum", ()))


def api_gpu_keys() -> tuple[str, ...]:
    """The GPU keys the API's `nvidia-mig-profiles` object accepts."""
    return tuple(openapi_document()["components"]["schemas"]["nvidia-mig-profiles"]["properties"])


def api_zones() -> tuple[str, ...]:
    """The zones the API document's server template names."""
    return tuple(openapi_document()["servers"][0]["variables"]["zone"]["enum"])


# Which key of the API's `nvidia-mig-profiles` belongs to which instance family: the document lists
# keys and families but does not link them (the Terraform provider infers the key the same way).
MIG_KEY_BY_FAMILY: dict[str, str] = {family.family: family.api_key for family in FAMILIES.values()}


def family_of(instance_type: str) -> GpuFamily | None:
    """The MIG-capable family of an instance type such as "gpua30.small", or None."""
    return FAMILIES.get(instance_type.partition(".")[0])
