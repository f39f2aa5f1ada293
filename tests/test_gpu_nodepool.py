"""The MIG GPU nodepool component: the request it makes and the capacity and placement it offers."""

from __future__ import annotations

from typing import Any

import pytest

from components.gpu_nodepool import MigGpuNodepool
from tests.conftest import refused
from tools.mock_run import ProgramFailed, StackRun

NODEPOOL = "pulumi-python:dynamic/nodepool:MigNodepool"


def test_dev_nodepool_asks_for_the_profile_under_the_families_api_key(dev: StackRun) -> None:
    component = dev.one("sks-mig:index:MigGpuNodepool")
    pool = dev.one(NODEPOOL)
    assert pool.parent == component.urn
    assert pool.inputs["nvidia_mig_profiles"] == {"rtxpro6000.96gb": "1g.24gb"}
    assert pool.inputs["instance_type"] == "gpurtx6000pro.small"
    assert pool.inputs["labels"]["sks-mig.io/mig-profile"] == "1g.24gb"
    assert pool.inputs["labels"]["sks-mig.io/gpu"] == "rtxpro6000.96gb"
    assert pool.inputs["taints"] == {"nvidia.com/gpu": "present:NoSchedule"}


def test_nodepool_joins_the_clusters_security_and_anti_affinity_groups(dev: StackRun) -> None:
    pool = dev.one(NODEPOOL).inputs
    group = dev.one("exoscale:index/securityGroup:SecurityGroup")
    assert pool["security_group_ids"] == [dev.by_urn(group.urn) and _id_of(dev, group.urn)]
    assert len(pool["anti_affinity_group_ids"]) == 1


def _id_of(run: StackRun, urn: str) -> str:
    import hashlib
    import uuid

    name = urn.rsplit("::", 1)[1]
    return str(uuid.UUID(bytes=hashlib.sha256(name.encode()).digest()[:16]))


@pytest.mark.parametrize(
    ("instance_type", "profile", "api_key", "slices_per_gpu", "memory"),
    [("gpua30.small", "1g.6gb", "a30.24gb", 4, 6),
     ("gpurtx6000pro.small", "2g.48gb", "rtxpro6000.96gb", 2, 48),
     ("gpub300.small", "1g.34gb", "b300.269gb", 7, 34)],
)
def test_capacity_per_family(program: Any, dev_config: dict[str, Any], instance_type: str, profile: str,
                             api_key: str, slices_per_gpu: int, memory: int) -> None:
    dev_config["sks-mig:gpuNodepool"] |= {"instanceType": instance_type, "migProfile": profile, "size": 2}
    dev_config["sks-mig:models"] = []
    run = program("dev", dev_config)
    assert run.one(NODEPOOL).inputs["nvidia_mig_profiles"] == {api_key: profile}
    capacity = run.outputs["migCapacity"].value
    assert (capacity["slicesPerGpu"], capacity["memoryPerSliceGb"]) == (slices_per_gpu, memory)
    assert capacity["totalSlices"] == 2 * 1 * slices_per_gpu
    assert capacity["freeSlices"] == capacity["totalSlices"]


def test_gpus_per_node_override_multiplies_capacity(program: Any, dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:gpuNodepool"] |= {"instanceType": "gpurtx6000pro.large", "gpusPerNode": 4, "size": 2}
    capacity = program("dev", dev_config).outputs["migCapacity"].value
    assert capacity["totalSlices"] == 2 * 4 * 4
    assert capacity["usedSlices"] == 2


@pytest.mark.parametrize("strategy", ["mixed", "single"])
def test_a_mig_strategy_is_refused_with_the_reason(dev_config: dict[str, Any], strategy: str) -> None:
    # SKS's node image runs the device plugin with the single strategy whenever MIG is on
    # (bottlerocket-core-kit nvidia-k8s-device-plugin-conf.in); the nodepool API cannot change it.
    dev_config["sks-mig:gpuNodepool"]["migStrategy"] = strategy
    failure = refused(dev_config)
    assert f"sks-mig:gpuNodepool.migStrategy: '{strategy}' is no longer a setting" in str(failure)
    assert "`single` strategy" in str(failure) and "nvidia.com/gpu" in str(failure)
    assert failure.registered == []


@pytest.mark.parametrize("profile", ["1g.24gb", "1g.24gb+me", "2g.48gb+gfx"])
def test_every_profile_is_requested_as_nvidia_com_gpu(program: Any, dev_config: dict[str, Any], profile: str) -> None:
    dev_config["sks-mig:gpuNodepool"]["migProfile"] = profile
    dev_config["sks-mig:models"] = dev_config["sks-mig:models"][:1]
    run = program("dev", dev_config)
    assert run.outputs["migCapacity"].value["resourceName"] == "nvidia.com/gpu"
    [statefulset] = run.of_type("kubernetes:apps/v1:StatefulSet")
    limits = statefulset.inputs["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"


@pytest.mark.parametrize(
    ("args", "message"),
    [({"instance_type": "gpu3.small"}, "instance_type 'gpu3.small' has no MIG-capable GPU; valid: gpua30.<size>"),
     ({"mig_profile": "3g.40gb"}, "mig_profile '3g.40gb' is not a MIG profile of gpurtx6000pro"),
     ({"instance_type": "gpurtx6000pro.large"}, "gpus_per_node is required for 'gpurtx6000pro.large'")],
)
def test_the_component_used_alone_refuses_bad_input_before_registering(
    register: Any, args: dict[str, Any], message: str
) -> None:
    good = {"zone": "de-fra-1", "cluster_id": "c", "security_group_id": "s", "instance_type": "gpurtx6000pro.small",
            "size": 1, "mig_profile": "1g.24gb", "disk_size": 100}
    with pytest.raises(ProgramFailed) as failure:
        register(lambda: MigGpuNodepool("gpu", {**good, **args}))  # type: ignore[typeddict-item]
    assert f"MigGpuNodepool gpu: {message}" in str(failure.value)
    assert failure.value.registered == []


def test_a_profile_with_a_plus_is_a_valid_label_value(program: Any, dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:gpuNodepool"]["migProfile"] = "1g.24gb+me.all"
    dev_config["sks-mig:models"] = dev_config["sks-mig:models"][:1]
    run = program("dev", dev_config)
    assert run.one(NODEPOOL).inputs["labels"]["sks-mig.io/mig-profile"] == "1g.24gb_me.all"
    assert run.one(NODEPOOL).inputs["nvidia_mig_profiles"] == {"rtxpro6000.96gb": "1g.24gb+me.all"}
