"""The policy pack and the program agree on the names that cross between them.

The pack travels alone, so it keeps its own copy of those names (policy/names.py); the program's
are in contract.py. These tests fail when the copy drifts, or when the program stops writing what
the pack reads. policy/names.py is loaded by file path, under a name of its own, so the suite's
import path does not gain the pack directory.
"""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.protobuf import json_format

import contract
from components import karpenter_gpu_pool
from config.mig_catalogue import MIG_KEY_BY_FAMILY, api_gpu_keys, openapi_document
from tools.mock_run import StackRun, run_stack, stack_file_config

PACK_DIR = Path(__file__).resolve().parent.parent / "policy"


def load_pack_module(name: str) -> ModuleType:
    """A module of policy/ that imports no other pack module, loaded from its file under a name of
    its own (names.py, mig_profiles.py)."""
    path = PACK_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sks_mig_pack_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pack_names = load_pack_module("names")
pack_profiles = load_pack_module("mig_profiles")

SHARED_TYPE_TOKENS = [
    "MIG_GPU_NODEPOOL_COMPONENT",
    "MODEL_ROUTER_COMPONENT",
    "MIG_NODEPOOL",
    "EXOSCALE_SKS_CLUSTER",
    "EXOSCALE_SKS_KUBECONFIG",
    "EXOSCALE_SECURITY_GROUP",
    "EXOSCALE_SECURITY_GROUP_RULE",
]
KARPENTER_TYPE_TOKENS = ["KARPENTER_NODE_CLASS", "KARPENTER_NODE_POOL"]

SHARED = [
    # label and annotation keys
    "LABEL_PREFIX",
    "LABEL_GPU",
    "LABEL_MIG_PROFILE",
    "LABEL_SLICES_PER_NODE",
    "ANNOTATION_MAX_NODES",
    "ANNOTATION_MODEL",
    "ANNOTATION_ESTIMATED_MEMORY_GB",
    "ANNOTATION_SLICE_MEMORY_GB",
    "ANNOTATION_STARTUP_BUDGET_SECONDS",
    "ANNOTATION_MODEL_REVISION",
    "ANNOTATION_REQUIRES_API_KEY",
    "COMPONENT_LABEL",
    "MODEL_SERVER",
    "MODEL_ROUTER",
    # the GPU taint and the slice resource
    "GPU_TAINT_KEY",
    "GPU_TAINT_VALUE",
    "GPU_TAINT_EFFECT",
    "SLICE_RESOURCE",
    # type tokens: the component, the dynamic resource, the Exoscale resources the pack inspects
    *SHARED_TYPE_TOKENS,
    *KARPENTER_TYPE_TOKENS,
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
    "K8S_NETWORK_POLICY",
    "INSTANCE_TYPE_LABEL",
    "INSTANCE_FAMILY_LABEL",
}
"""Names only the pack reads: Kubernetes and provider type tokens, the mixed strategy's prefix, the
node labels a Karpenter NodePool selects instance types by."""


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



def test_the_pack_reads_instance_types_by_the_label_the_program_requires() -> None:
    assert pack_names.INSTANCE_TYPE_LABEL == karpenter_gpu_pool.INSTANCE_TYPE_LABEL


@pytest.fixture(scope="module")
def karpenter() -> StackRun:
    return run_stack("karpenter")


def test_the_karpenter_stack_writes_what_the_pack_reads(karpenter: StackRun) -> None:
    types = {resource.type for resource in karpenter.resources}
    for token in KARPENTER_TYPE_TOKENS:
        assert getattr(pack_names, token) in types, token
    assert pack_names.MIG_NODEPOOL not in types

    def one(type_: str) -> dict[str, Any]:
        (found,) = [json_format.MessageToDict(r.wire) for r in karpenter.resources if r.type == type_]
        return found

    node_class, node_pool = one(pack_names.KARPENTER_NODE_CLASS), one(pack_names.KARPENTER_NODE_POOL)
    nvidia = tomllib.loads(node_class["spec"]["userData"])["settings"]["kubelet-device-plugins"]["nvidia"]
    assert nvidia["device-partitioning-strategy"] == "mig"
    assert nvidia["mig"]["profile"] == {"rtxpro6000.96gb": "1g.24gb"}
    assert node_pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] == node_class["metadata"]["name"]
    assert pack_names.ANNOTATION_MAX_NODES in node_pool["metadata"]["annotations"]
    labels = node_pool["spec"]["template"]["metadata"]["labels"]
    assert {pack_names.LABEL_GPU, pack_names.LABEL_MIG_PROFILE, pack_names.LABEL_SLICES_PER_NODE} <= set(labels)
    requirement = {"key": pack_names.INSTANCE_TYPE_LABEL, "operator": "In", "values": ["gpurtx6000pro.small"]}
    assert requirement in node_pool["spec"]["template"]["spec"]["requirements"]


def test_the_router_and_a_pinned_server_write_what_the_pack_reads(dev: StackRun) -> None:
    router = next(r for r in dev.resources if r.type == "kubernetes:apps/v1:Deployment")
    labels = json_format.MessageToDict(router.wire)["spec"]["template"]["metadata"]["labels"]
    assert labels[pack_names.COMPONENT_LABEL] == pack_names.MODEL_ROUTER
    assert pack_names.K8S_NETWORK_POLICY in {r.type for r in dev.resources}
    # Production pins every model (model-revision-pinned): the annotation carries the commit.
    config = dict(stack_file_config("dev"))
    config["sks-mig:models"] = [{**m, "revision": "0" * 40} for m in config["sks-mig:models"]]
    pinned = run_stack("dev", config)
    for server in (r for r in pinned.resources if r.type == "kubernetes:apps/v1:StatefulSet"):
        template = json_format.MessageToDict(server.wire)["spec"]["template"]
        assert template["metadata"]["annotations"][pack_names.ANNOTATION_MODEL_REVISION] == "0" * 40


def test_the_packs_gpu_of_each_family_is_the_programs_and_the_apis() -> None:
    """The one table the pack keeps (policy/mig_profiles.py GPU_KEY_BY_FAMILY): the same pairs as the
    program's catalogue, families and GPU keys the API document knows, every MIG GPU covered."""
    assert pack_profiles.GPU_KEY_BY_FAMILY == MIG_KEY_BY_FAMILY
    families = openapi_document()["components"]["schemas"]["instance-type"]["properties"]["family"]["enum"]
    assert set(pack_profiles.GPU_KEY_BY_FAMILY) <= set(families)
    assert set(pack_profiles.instance_families()) == set(families)
    assert sorted(pack_profiles.GPU_KEY_BY_FAMILY.values()) == sorted(api_gpu_keys())
