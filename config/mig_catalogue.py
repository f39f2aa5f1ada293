"""The GPU/MIG catalogue: which Exoscale instance families have MIG, and what each profile gives.

The valid profiles are read at run time from the OpenAPI document shipped inside the official
`exoscale` package (schema `nvidia-mig-profile-<api key>`), so a profile the API adds needs no
code change here. What the API does not say — the GPU behind a family, its MIG geometry, how
many GPUs an instance size carries and how much memory a process really gets in each slice — is
the hand-kept part below.

Usable memory. A profile's "24gb" is a nominal size; what a CUDA process (and so vLLM, which
sizes its budget as `torch.cuda.mem_get_info()` total x gpu_memory_utilization) sees inside the
slice is NVML's memory size of the GPU-instance profile, which `nvidia-smi mig -lgip` prints in
GiB. `MEASURED_USABLE_MIB` holds those figures per GPU; a profile not listed there gets the
deliberately low derivation of `derived_usable_mib` (and says so in `usable_memory_source`).
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

GB = 1e9
MIB = 2**20

# Memory a CUDA process sees in one slice, in MiB, keyed by the API's GPU key and then by the
# profile's base name ("1g.24gb"). The +me, +me.all, -me and +gfx variants of a base have the same
# memory: every listing below prints them equal. Where two reports differ, the lower is kept.
MEASURED_USABLE_MIB: dict[str, dict[str, int]] = {
    # A30 (driver 535.183.01), public `nvidia-smi` output with MIG devices: "11968MiB" for 2g.12gb
    # and "5952MiB" for 1g.6gb; its `nvidia-smi mig -lgip`: 5.81 / 11.69 / 23.44 GiB (another
    # A30 listing prints 23.50 GiB for 4g.24gb). NVIDIA/go-nvml's mock A30
    # (pkg/nvml/mock/shared/gpus/a30.go) says 5836/11672/23344 MiB; it is a test fixture, the
    # driver's own figures win.
    "a30.24gb": {"1g.6gb": 5952, "2g.12gb": 11968, "4g.24gb": 24000},
    # RTX PRO 6000 Blackwell Server Edition, public `nvidia-smi mig -lgip`: 23.62 (all 1g.24gb
    # variants) / 47.38 (2g.48gb) / 95.12 GiB (4g.96gb; another listing prints 95.00, kept); torch
    # inside a 1g.24gb slice reports total_memory 24192 MiB (= 23.62 GiB). NVIDIA's vGPU tables
    # give less (23.12 GiB for 1g.24gb+gfx) because a hypervisor's vGPU reserves memory: not the
    # case on an SKS node, whose own driver partitions the GPU (the node image's MIG settings).
    "rtxpro6000.96gb": {"1g.24gb": 24192, "2g.48gb": 48512, "4g.96gb": 97280},
    # B300: no per-profile listing was found (NVIDIA's MIG guide gives fractions, GPU Operator's
    # release notes only names); every B300 profile uses derived_usable_mib.
}

# Share of a profile's nominal size (read as GiB) assumed usable where no listing is known: the
# lowest share in the bare-metal listings found, the A100-40GB's 1g.5gb with 4864 MiB = 4.75 of
# 5 GiB (NVIDIA/go-nvml pkg/nvml/mock/shared/gpus/a100.go; the MIG user guide's `nvidia-smi mig
# -lgip` example prints 4.75 GiB). The A30 (0.969-0.977) and RTX PRO 6000 (0.984-0.990) listings
# above are all higher, so the derivation errs towards a smaller slice. (A GPU shared through a
# hypervisor's vGPU manager shows less, e.g. 10.62 of 12 GiB on an H100 NVL vGPU host; an SKS
# node's own driver partitions its GPU, which it can only do with the whole GPU passed through.)
DERIVED_USABLE_FRACTION = 0.95


def derived_usable_mib(nominal_gb: float) -> int:
    """Usable MiB assumed for a profile named "...<nominal_gb>gb" that no listing covers."""
    return int(nominal_gb * 1024 * DERIVED_USABLE_FRACTION)


def profile_base(name: str) -> str:
    """The profile without its media/graphics suffix: "1g.24gb+me.all" -> "1g.24gb"."""
    match = _PROFILE.match(name)
    if match is None:
        return name
    return f"{match['compute']}g.{match['memory']}gb"


def usable_memory_mib(api_key: str, name: str) -> tuple[int, str]:
    """Usable MiB of profile `name` of GPU `api_key` and where the figure comes from."""
    measured = MEASURED_USABLE_MIB.get(api_key, {}).get(profile_base(name))
    if measured is not None:
        return measured, "nvidia-smi listing"
    match = _PROFILE.match(name)
    nominal = int(match["memory"]) if match else 0
    return derived_usable_mib(nominal), f"derived: {DERIVED_USABLE_FRACTION:g} x nominal GiB"


@dataclass(frozen=True)
class MigProfile:
    """One MIG profile of one GPU model."""

    name: str  # e.g. "1g.24gb+gfx", exactly as the API spells it
    slices_per_gpu: int  # how many instances of this profile one GPU holds
    memory_gb: int  # nominal memory of one slice (the "24gb" in the name)
    compute_slices: int  # the "1g" in the name
    # memory a CUDA process sees in the slice, MiB; 0 means "not known", see usable_memory_gb
    usable_memory_mib: int = 0
    usable_memory_source: str = ""  # "nvidia-smi listing" or how it was derived

    @property
    def usable_memory_gb(self) -> float:
        """Memory a CUDA process (vLLM) sees in one slice, in GB (10**9 bytes)."""
        mib = self.usable_memory_mib or derived_usable_mib(self.memory_gb)
        return mib * MIB / GB

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
        usable_mib, source = usable_memory_mib(self.api_key, name)
        return MigProfile(
            name=name,
            slices_per_gpu=slices,
            memory_gb=memory,
            compute_slices=compute,
            usable_memory_mib=usable_mib,
            usable_memory_source=source,
        )

    def gpus_per_node(self, instance_type: str) -> int | None:
        """GPUs in one instance of `instance_type`, or None where the catalogue does not know."""
        return self.gpus_per_size.get(instance_type.partition(".")[2])

    def describe(self) -> str:
        return f"{self.family} ({self.gpu_model})"


# Geometry from NVIDIA's MIG user guide ("Supported MIG Profiles") and the Exoscale product pages.
# The seed article (Exoscale blog, 2 July 2026) shows one GPU on a `.small` instance; other
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
