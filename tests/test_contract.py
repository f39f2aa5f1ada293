"""The policy pack and the program agree on the names that cross between them.

The pack travels alone, so it keeps its own copy of those names (policy/names.py); the program's
are in contract.py. These tests fail when the copy drifts, or when the program stops writing what
the pack reads. policy/names.py is loaded by file path, under a name of its own, so the suite's
import path does not gain the pack directory.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from google.protobuf import json_format

import contract
from tools.mock_run import StackRun

PACK_DIR = Path(__file__).resolve().parent.parent / "policy"


def load_pack_names() -> ModuleType:
    """policy/names.py (which imports nothing), loaded from its file."""
    path = PACK_DIR / "names.py"
    spec = importlib.util.spec_from_file_location("sks_mig_pack_names", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pack_names = load_pack_names()

SHARED_TYPE_TOKENS = [
    "MIG_GPU_NODEPOOL_COMPONENT",
    "MIG_NODEPOOL",
    "EXOSCALE_SKS_CLUSTER",
    "EXOSCALE_SKS_KUBECONFIG",
    "EXOSCALE_SECURITY_GROUP",
    "EXOSCALE_SECURITY_GROUP_RULE",
]

SHARED = [
    # label and annotation keys
    "LABEL_PREFIX",
    "LABEL_MIG_PROFILE",
    "LABEL_SLICES_PER_NODE",
    "ANNOTATION_MODEL",
    "ANNOTATION_ESTIMATED_MEMORY_GB",
    "ANNOTATION_SLICE_MEMORY_GB",
    "ANNOTATION_STARTUP_BUDGET_SECONDS",
    "ANNOTATION_REQUIRES_API_KEY",
    "COMPONENT_LABEL",
    "MODEL_SERVER",
    # the GPU taint and the slice resource
    "GPU_TAINT_KEY",
    "GPU_TAINT_VALUE",
    "GPU_TAINT_EFFECT",
    "SLICE_RESOURCE",
    # type tokens: the component, the dynamic resource, the Exoscale resources the pack inspects
    *SHARED_TYPE_TOKENS,
    # the secret signature on the wire
    "SECRET_SIG",
    "SECRET_VALUE",
]
"""Names the pack and contract.py both define, under the same identifier."""

PACK_ONLY = {
    "MIG_RESOURCE_PREFIX",
    "DYNAMIC_RESOURCE_PREFIX",
    "EXOSCALE_PROVIDER",
    "K8S_PROVIDER",
    "K8S_SECRET",
    "K8S_SERVICE",
}
"""Names only the pack reads: Kubernetes and provider type tokens, the mixed strategy's prefix."""


def public_names(module: ModuleType) -> set[str]:
    return {name for name in vars(module) if name.isupper() and not name.startswith("_")}


@pytest.mark.parametrize("name", SHARED)
def test_the_pack_reads_the_name_the_program_writes(name: str) -> None:
    assert getattr(pack_names, name) == getattr(contract, name), (
        f"policy/names.py {name}={getattr(pack_names, name)!r} but contract.py has "
        f"{getattr(contract, name)!r}: change both"
    )


def test_every_name_of_the_pack_is_shared_or_declared_its_own() -> None:
    names = public_names(pack_names)
    assert names == set(SHARED) | PACK_ONLY, "classify each new name of policy/names.py here"
    # A pack-only name is not the contract's under another identifier.
    contract_values = {getattr(contract, name) for name in public_names(contract)}
    assert {name for name in PACK_ONLY if getattr(pack_names, name) in contract_values} == set()


def test_the_program_writes_what_the_pack_reads(dev: StackRun) -> None:
    """The names agree with what the program really registers, not only with contract.py."""
    types = {resource.type for resource in dev.resources}
    for token in [*SHARED_TYPE_TOKENS, "K8S_PROVIDER", "K8S_SERVICE"]:
        assert getattr(pack_names, token) in types, token

    wire = {resource.urn: json_format.MessageToDict(resource.wire) for resource in dev.resources}
    pool = next(wire[r.urn] for r in dev.resources if r.type == pack_names.MIG_NODEPOOL)
    assert {pack_names.LABEL_MIG_PROFILE, pack_names.LABEL_SLICES_PER_NODE} <= set(pool["labels"])
    taint = f"{pack_names.GPU_TAINT_VALUE}:{pack_names.GPU_TAINT_EFFECT}"
    assert pool["taints"] == {pack_names.GPU_TAINT_KEY: taint}
    # The dynamic provider is sent as a secret, in the signature the pack unwraps.
    assert pool["__provider"][pack_names.SECRET_SIG] == pack_names.SECRET_VALUE

    servers = [wire[r.urn] for r in dev.resources if r.type == "kubernetes:apps/v1:StatefulSet"]
    assert servers
    for server in servers:
        template = server["spec"]["template"]
        assert template["metadata"]["labels"][pack_names.COMPONENT_LABEL] == pack_names.MODEL_SERVER
        annotations = set(template["metadata"]["annotations"])
        assert {
            pack_names.ANNOTATION_MODEL,
            pack_names.ANNOTATION_ESTIMATED_MEMORY_GB,
            pack_names.ANNOTATION_SLICE_MEMORY_GB,
            pack_names.ANNOTATION_STARTUP_BUDGET_SECONDS,
            pack_names.ANNOTATION_REQUIRES_API_KEY,
        } <= annotations
        assert pack_names.LABEL_MIG_PROFILE in template["spec"]["nodeSelector"]
        assert pack_names.SLICE_RESOURCE in template["spec"]["containers"][0]["resources"]["limits"]
