"""The GPU/MIG catalogue: profiles come from the API's OpenAPI document, slices from the GPU's geometry."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from config import mig_catalogue
from config.mig_catalogue import FAMILIES, api_gpu_keys

# NVIDIA's MIG user guide and the mig-parted defaults (../shared/reference/mig-profiles.md).
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
    document["components"]["schemas"]["nvidia-mig-profile-a30.24gb"]["enum"].append("1g.6gb+gfx")
    monkeypatch.setattr(mig_catalogue, "openapi_document", lambda: document)
    profile = FAMILIES["gpua30"].profiles["1g.6gb+gfx"]
    assert (profile.slices_per_gpu, profile.memory_gb) == (4, 6)


def test_resource_name_per_device_plugin_strategy() -> None:
    profile = FAMILIES["gpurtx6000pro"].profiles["1g.24gb"]
    assert profile.resource_name("single") == "nvidia.com/gpu"
    assert profile.resource_name("mixed") == "nvidia.com/mig-1g.24gb"
