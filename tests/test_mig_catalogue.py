"""The GPU/MIG catalogue: profiles come from the API's OpenAPI document, slices from the GPU's geometry."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from config import mig_catalogue
from config.mig_catalogue import FAMILIES, api_gpu_keys

# NVIDIA's MIG user guide ("Supported MIG Profiles") and NVIDIA/mig-parted's default configs.
NVIDIA_SLICES = {
    "a30.24gb": {"1g.6gb": 4, "1g.6gb+me": 1, "2g.12gb": 2, "2g.12gb+me": 1, "4g.24gb": 1},
    "rtxpro6000.96gb": {"1g.24gb": 4, "1g.24gb+me": 1, "1g.24gb+gfx": 4, "1g.24gb+me.all": 1,
                        "1g.24gb-me": 4, "2g.48gb": 2, "2g.48gb+gfx": 2, "2g.48gb+me.all": 1,
                        "2g.48gb-me": 2, "4g.96gb": 1, "4g.96gb+gfx": 1},
    "b300.269gb": {"1g.34gb": 7, "1g.67gb": 4, "2g.67gb": 3, "3g.135gb": 2, "4g.135gb": 1, "7g.269gb": 1},
}


def test_every_gpu_the_api_knows_is_in_the_catalogue() -> None:
    assert sorted(f.api_key for f in FAMILIES.values()) == sorted(api_gpu_keys())


def test_profiles_are_the_openapi_enums() -> None:
    document = json.loads(resources.files("exoscale").joinpath("openapi.json").read_text())
    for family in FAMILIES.values():
        enum = document["components"]["schemas"][f"nvidia-mig-profile-{family.api_key}"]["enum"]
        assert list(family.profiles) == enum


@pytest.mark.parametrize("api_key", NVIDIA_SLICES)
def test_slices_per_gpu_agree_with_nvidia(api_key: str) -> None:
    family = next(f for f in FAMILIES.values() if f.api_key == api_key)
    slices = {name: p.slices_per_gpu for name, p in family.profiles.items() if name in NVIDIA_SLICES[api_key]}
    assert slices == NVIDIA_SLICES[api_key]


def test_memory_per_slice_is_the_nominal_size() -> None:
    assert FAMILIES["gpurtx6000pro"].profiles["2g.48gb+gfx"].memory_gb == 48
    assert FAMILIES["gpub300"].profiles["1g.34gb+me"].slices_per_gpu == 1


def test_a_profile_the_api_adds_needs_no_code_change(monkeypatch: pytest.MonkeyPatch) -> None:
    document = json.loads(json.dumps(mig_catalogue.openapi_document()))
    enum = document["components"]["schemas"]["nvidia-mig-profile-a30.24gb"]["enum"]
    enum += ["1g.6gb+gfx", "3g.18gb"]
    monkeypatch.setattr(mig_catalogue, "openapi_document", lambda: document)
    variant = FAMILIES["gpua30"].profiles["1g.6gb+gfx"]
    assert (variant.slices_per_gpu, variant.memory_gb) == (4, 6)
    # A new variant of a listed size has that size's memory; a new size is derived, and says so.
    assert (variant.usable_memory_mib, variant.usable_memory_source) == (5952, "nvidia-smi listing")
    new_size = FAMILIES["gpua30"].profiles["3g.18gb"]
    assert new_size.usable_memory_mib == int(18 * 1024 * 0.95)
    assert new_size.usable_memory_source.startswith("derived")


# What `nvidia-smi mig -lgip` (and nvidia-smi's MIG device table) print for each profile, in MiB
# (GiB x 1024): A30 5.81 / 11.69 / 23.44 GiB; RTX PRO 6000 23.62 / 47.38 / 95.00 GiB.
NVIDIA_USABLE_MIB = {
    "a30.24gb": {"1g.6gb": 5952, "1g.6gb+me": 5952, "2g.12gb": 11968, "2g.12gb+me": 11968, "4g.24gb": 24000},
    "rtxpro6000.96gb": {"1g.24gb": 24192, "1g.24gb+me": 24192, "1g.24gb+gfx": 24192, "1g.24gb+me.all": 24192,
                        "1g.24gb-me": 24192, "2g.48gb": 48512, "2g.48gb+gfx": 48512, "2g.48gb+me.all": 48512,
                        "2g.48gb-me": 48512, "4g.96gb": 97280, "4g.96gb+gfx": 97280},
}


@pytest.mark.parametrize("api_key", NVIDIA_USABLE_MIB)
def test_usable_memory_per_profile_is_nvidias_listing(api_key: str) -> None:
    family = next(f for f in FAMILIES.values() if f.api_key == api_key)
    usable = {name: p.usable_memory_mib for name, p in family.profiles.items()}

    assert usable == NVIDIA_USABLE_MIB[api_key]
    assert {p.usable_memory_source for p in family.profiles.values()} == {"nvidia-smi listing"}


def test_a_slice_gives_less_than_its_name_but_more_than_the_flat_fraction() -> None:
    rtx = FAMILIES["gpurtx6000pro"].profiles["1g.24gb"]
    a30 = FAMILIES["gpua30"].profiles["2g.12gb"]

    assert rtx.usable_memory_gb == pytest.approx(24192 * 2**20 / 1e9)  # 25.37 GB = 23.62 GiB
    assert 0.95 * 24 * 2**30 < rtx.usable_memory_gb * 1e9 < 24 * 2**30
    assert a30.usable_memory_gb == pytest.approx(11968 * 2**20 / 1e9)  # 12.55 GB = 11.69 GiB


def test_b300_profiles_are_derived_low_and_say_so() -> None:
    # No per-profile listing was found for the B300: 0.95 x the nominal GiB, the A100 1g.5gb's
    # share (4.75 of 5 GiB), the lowest NVIDIA lists.
    for name, profile in FAMILIES["gpub300"].profiles.items():
        assert profile.usable_memory_mib == int(profile.memory_gb * 1024 * 0.95), name
        assert profile.usable_memory_source == "derived: 0.95 x nominal GiB"
    assert FAMILIES["gpub300"].profiles["1g.34gb"].usable_memory_mib == 33075  # 32.3 GiB


def test_resource_name_per_device_plugin_strategy() -> None:
    profile = FAMILIES["gpurtx6000pro"].profiles["1g.24gb"]
    assert profile.resource_name("single") == "nvidia.com/gpu"
    assert profile.resource_name("mixed") == "nvidia.com/mig-1g.24gb"
