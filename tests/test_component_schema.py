"""The components keep the shape Pulumi's component-package host reads, so other languages can use
them later unchanged: the SDK's own analyzer must build their schema."""

from __future__ import annotations

from pulumi.provider.experimental.analyzer import Analyzer

from components.gpu_nodepool import MigGpuNodepool
from components.karpenter_gpu_pool import KarpenterGpuPool
from components.model_router import ModelRouter
from components.sks_cluster import SksCluster
from components.vllm_service import VllmService


def test_the_component_host_infers_every_input_and_output() -> None:
    components = Analyzer("sks-mig").analyze([SksCluster, MigGpuNodepool, VllmService])["component_definitions"]
    cluster, pool, vllm = components["SksCluster"], components["MigGpuNodepool"], components["VllmService"]
    assert {"zone", "cni", "nodePortCidrs", "serviceLevel"} <= set(cluster.inputs)
    assert set(cluster.outputs) == {"clusterId", "endpoint", "kubernetesVersion", "securityGroupId",
                                    "antiAffinityGroupId", "gpuAntiAffinityGroupId", "systemInstancePoolId",
                                    "karpenterEnabled", "kubeconfig", "provider"}
    assert {"clusterId", "securityGroupId", "instanceType", "migProfile", "size"} <= set(pool.inputs)
    assert {"totalSlices", "resourceName", "nodeSelector", "tolerations", "memoryPerSliceGb"} <= set(pool.outputs)
    assert {"model", "resourceName", "nodeSelector", "tolerations", "hfToken", "apiKey"} <= set(vllm.inputs)
    assert set(vllm.outputs) == {"serviceName", "url", "replicaUrls", "servedModelName", "estimatedMemoryGb"}
    assert vllm.inputs["hfToken"].optional and vllm.inputs["apiKey"].optional
    assert not vllm.inputs["model"].optional


def test_the_karpenter_pool_and_the_router_have_the_same_shape() -> None:
    components = Analyzer("sks-mig").analyze([KarpenterGpuPool, ModelRouter])["component_definitions"]
    karpenter, router = components["KarpenterGpuPool"], components["ModelRouter"]
    assert {"instanceType", "migProfile", "maxNodes", "securityGroupId"} <= set(karpenter.inputs)
    assert {"totalSlices", "resourceName", "nodeSelector", "tolerations", "nodePoolName"} <= set(karpenter.outputs)
    assert {"namespace", "backends", "aliases", "replicas", "apiKey"} <= set(router.inputs)
    assert router.inputs["apiKey"].optional and not router.inputs["backends"].optional
    assert {"url", "serviceName"} <= set(router.outputs)
