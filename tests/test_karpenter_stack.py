"""The Karpenter stack through the real program (`Pulumi.karpenter.yaml`): the add-on enabled on the
cluster, a NodeClass whose userData cuts the GPUs into the stack's profile, a NodePool the model
servers select, no fixed MIG nodepool, and every way to get Karpenter mode wrong refused before
anything is registered."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

import pytest

import contract
from config.mig_catalogue import family_of
from tests.conftest import refused
from tools.checks import kubernetes_manifest
from tools.crd_check import custom_resource_errors
from tools.mock_run import StackRun, run_stack, stack_file_config


@pytest.fixture(scope="module")
def karpenter() -> StackRun:
    return run_stack("karpenter")


def test_the_cluster_gets_the_karpenter_add_on_before_the_pool(karpenter: StackRun) -> None:
    addon = karpenter.one(contract.SKS_ADDON)
    cluster = karpenter.one(contract.EXOSCALE_SKS_CLUSTER)
    assert addon.inputs["addon"] == "karpenter"
    assert addon.inputs["cluster_id"] == cluster.id
    assert addon.parent == karpenter.one(contract.SKS_CLUSTER_COMPONENT).urn
    assert cluster.inputs["serviceLevel"] == "pro"
    pool = karpenter.one(contract.KARPENTER_GPU_POOL_COMPONENT)
    # The pool's custom resources wait for the add-on, which installs their CRDs.
    assert addon.urn in pool.dependencies


def test_no_fixed_mig_nodepool_in_karpenter_mode(karpenter: StackRun) -> None:
    assert karpenter.of_type(contract.MIG_NODEPOOL) == []
    assert karpenter.of_type(contract.MIG_GPU_NODEPOOL_COMPONENT) == []
    assert karpenter.of_type(contract.EXOSCALE_SKS_NODEPOOL)[0].name.endswith("-system")


def test_the_node_class_cuts_every_gpu_into_the_stacks_profile(karpenter: StackRun) -> None:
    pool = stack_file_config("karpenter")["sks-mig:gpuNodepool"]
    family = family_of(pool["instanceType"])
    assert family is not None
    node_class = karpenter.one(contract.KARPENTER_NODE_CLASS).inputs
    settings = tomllib.loads(node_class["spec"]["userData"])["settings"]["kubelet-device-plugins"]["nvidia"]
    assert settings == {"device-partitioning-strategy": "mig", "mig": {"profile": {family.api_key: pool["migProfile"]}}}
    assert node_class["spec"]["imageTemplateSelector"] == {"variant": "nvidia"}
    assert node_class["spec"]["diskSize"] == pool["diskSize"]


def test_the_servers_select_the_karpenter_nodes(karpenter: StackRun) -> None:
    template = karpenter.one(contract.KARPENTER_NODE_POOL).inputs["spec"]["template"]
    labels, taints = template["metadata"]["labels"], template["spec"]["taints"]
    assert {"key": contract.GPU_TAINT_KEY, "value": contract.GPU_TAINT_VALUE, "effect": contract.GPU_TAINT_EFFECT} in taints
    for statefulset in karpenter.of_type("kubernetes:apps/v1:StatefulSet"):
        pod = statefulset.inputs["spec"]["template"]["spec"]
        assert pod["nodeSelector"].items() <= labels.items(), statefulset.name
        assert pod["tolerations"] == [{"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]


def test_capacity_is_up_to_the_node_limit(karpenter: StackRun) -> None:
    capacity = karpenter.outputs[contract.OUTPUT_MIG_CAPACITY].value
    # maxNodes 2 x 1 GPU per gpurtx6000pro.small x 4 slices of 1g.24gb.
    assert (capacity["provisioner"], capacity["totalSlices"], capacity["usedSlices"]) == ("karpenter", 8, 2)
    node_pool = karpenter.one(contract.KARPENTER_NODE_POOL).inputs
    assert node_pool["metadata"]["annotations"][contract.ANNOTATION_MAX_NODES] == "2"
    assert node_pool["spec"]["limits"]


def test_every_custom_resource_is_valid_for_its_crd(karpenter: StackRun) -> None:
    custom = [r for r in karpenter.resources if r.type.startswith("kubernetes:karpenter.")]
    assert {r.type for r in custom} == {
        contract.KARPENTER_NODE_CLASS, contract.KARPENTER_NODE_POOL, contract.KARPENTER_NODE_OVERLAY}
    assert [e for r in custom for e in custom_resource_errors(kubernetes_manifest(r))] == []


def _karpenter_config(**pool: Any) -> dict[str, Any]:
    config = copy.deepcopy(stack_file_config("karpenter"))
    config["sks-mig:gpuNodepool"].update(pool)
    return config


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"cluster": {"serviceLevel": "starter"}}, "sks-mig:cluster.serviceLevel: 'starter' cannot run Karpenter"),
        ({"pool": {"size": 2}}, "sks-mig:gpuNodepool.size: does not apply with provisioner 'karpenter'"),
        ({"pool": {"maxNodes": None}}, "sks-mig:gpuNodepool.maxNodes: required with provisioner 'karpenter'"),
        ({"replicas": 9}, "sks-mig:models: the model servers ask for 10 slices (sum of replicas) but the GPU nodepool has up to 8"),
    ],
)
def test_karpenter_mode_done_wrong_is_refused_before_anything_exists(change: dict[str, Any], key: str) -> None:
    config = _karpenter_config(**change.get("pool", {}))
    if change.get("pool", {}).get("maxNodes", 0) is None:
        del config["sks-mig:gpuNodepool"]["maxNodes"]
    config["sks-mig:cluster"].update(change.get("cluster", {}))
    if "replicas" in change:
        config["sks-mig:models"][0]["replicas"] = change["replicas"]
    failure = refused(config, stack="karpenter")
    assert key in str(failure)
    assert failure.registered == []
    assert "Traceback" not in str(failure)
