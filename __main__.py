"""sks-mig: an SKS cluster, GPU nodes whose GPUs are cut into MIG slices, one vLLM server per model
(each replica on its own slice) and one router in front of them. This file reads the stack config
and wires the components, top to bottom as in the README's diagram:
config -> SksCluster -> GPU nodes (MigGpuNodepool or KarpenterGpuPool) -> VllmService x models ->
ModelRouter -> outputs."""

import math
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

import contract
from components.gpu_nodepool import MigGpuNodepool, MigGpuNodepoolArgs
from components.karpenter_gpu_pool import KarpenterGpuPool, KarpenterGpuPoolArgs
from components.model_router import ModelRouter, ModelRouterArgs, router_selector
from components.sks_cluster import SksCluster, SksClusterArgs
from components.vllm_service import VllmService, VllmServiceArgs
from config.errors import ConfigError
from config.memory_fit import await_timeout_seconds, download_budget_seconds, load_budget_seconds
from config.model_config import ModelServerConfig
from config.names import ROUTER_NAME, gpu_anti_affinity_group_name
from config.stack_config import StackConfig, read_stack_config


def read_config() -> StackConfig:
    """Every check runs here, before any resource exists; a bad config stops the program with the
    message alone. The stack file beside this program adds how numbers were written."""
    try:
        return read_stack_config(Path(__file__).with_name(f"Pulumi.{pulumi.get_stack()}.yaml"))
    except ConfigError as error:
        raise pulumi.RunError(f"invalid stack configuration:\n{error}") from None


stack = read_config()
# Production protects exactly the cluster and the GPU pool (each component protects only that
# child): a `protect` in the components' opts would reach every child, the kubeconfig among them,
# whose scheduled renewal is a replacement that protection refuses.
production = stack.environment == "prod"
hf_token = pulumi.Output.secret(stack.hf_token.get_secret_value()) if stack.hf_token else None
api_key = pulumi.Output.secret(stack.api_key.get_secret_value()) if stack.api_key else None
pool = stack.gpu_nodepool

# -- the cluster: control plane, security group, system nodes, kubeconfig, Kubernetes provider ---
cluster_args: SksClusterArgs = {
    "zone": stack.zone,
    "service_level": stack.cluster.service_level,
    "cni": stack.cluster.cni,
    "system_nodepool_instance_type": stack.cluster.system_nodepool.instance_type,
    "system_nodepool_size": stack.cluster.system_nodepool.size,
    "system_nodepool_disk_size": stack.cluster.system_nodepool.disk_size,
    "node_port_cidrs": stack.cluster.node_port_cidrs,
    "load_balancer_health_checks": stack.load_balanced,
    "karpenter": stack.karpenter,
    "labels": {"environment": stack.environment, "app.kubernetes.io/managed-by": "sks-mig"},
    "protect": production,
}
if stack.cluster.kubernetes_version:
    cluster_args["kubernetes_version"] = stack.cluster.kubernetes_version
if pool.anti_affinity:
    cluster_args["gpu_anti_affinity_group_name"] = gpu_anti_affinity_group_name(stack.cluster.name, pool.name)
cluster = SksCluster(stack.cluster.name, cluster_args)

# -- the GPU nodes, their GPUs cut into MIG slices: a fixed nodepool, or Karpenter on demand ------
gpu: MigGpuNodepool | KarpenterGpuPool
if stack.karpenter:
    karpenter_args: KarpenterGpuPoolArgs = {
        "security_group_id": cluster.security_group_id,
        "instance_type": pool.instance_type,
        "mig_profile": pool.mig_profile,
        "disk_size": pool.disk_size,
        "max_nodes": pool.nodes,
        "gpus_per_node": stack.gpus_per_node,
        "consolidation_policy": pool.consolidation_policy,
        "consolidate_after": pool.consolidate_after,
        "expire_after": pool.expire_after,
        "node_overlay": pool.node_overlay,
        "protect": production,
    }
    if pool.anti_affinity:
        karpenter_args["anti_affinity_group_id"] = cluster.gpu_anti_affinity_group_id
    gpu = KarpenterGpuPool(
        pool.name,
        karpenter_args,
        # Its custom resources exist once the cluster's Karpenter add-on has installed their CRDs.
        opts=pulumi.ResourceOptions(provider=cluster.provider, depends_on=[cluster.karpenter_ready]),
    )
    gpu_pool_id = gpu.node_pool_name
else:
    nodepool_args: MigGpuNodepoolArgs = {
        "zone": stack.zone,
        "cluster_id": cluster.cluster_id,
        "security_group_id": cluster.security_group_id,
        "instance_type": pool.instance_type,
        "size": pool.size,
        "mig_profile": pool.mig_profile,
        "disk_size": pool.disk_size,
        "gpus_per_node": stack.gpus_per_node,
        "replace_strategy": pool.replace_strategy,
        "protect": production,
    }
    if pool.anti_affinity:
        nodepool_args["anti_affinity_group_id"] = cluster.gpu_anti_affinity_group_id
    gpu = MigGpuNodepool(pool.name, nodepool_args)
    gpu_pool_id = gpu.nodepool_id

# -- one vLLM server per model, each replica on one slice ----------------------------------------
namespace = k8s.core.v1.Namespace(
    stack.namespace,
    metadata={
        "name": stack.namespace,
        # The strictest Pod Security level the vLLM image runs under (it needs root; see vllm_service).
        "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
    },
    opts=pulumi.ResourceOptions(provider=cluster.provider),
)


def server_args(index: int, server: ModelServerConfig) -> VllmServiceArgs:
    """The component's inputs for `models[index]`: its config, its memory fit, and the slice."""
    fit = stack.fit(server)
    secret_env = stack.secret_env_names(index)
    args: VllmServiceArgs = {
        "namespace": namespace.metadata.name,
        "model": server.model,
        "served_model_name": server.served_name,
        "replicas": server.replicas,
        "max_model_len": fit.max_model_len,
        "gpu_memory_utilization": server.gpu_memory_utilization,
        "max_num_seqs": fit.max_num_seqs,
        # Pinned: the memory estimate assumed it, and inside a slice vLLM's default depends on NVML.
        "max_num_batched_tokens": fit.max_num_batched_tokens,
        "dtype": server.dtype,
        "image": server.image,
        "extra_args": list(server.extra_args),
        # Values set as secrets (`secure:` inside models[].env) go to the server's Secret and reach
        # the pods from it; the others stay in the pod spec.
        "env": {name: value for name, value in server.env.items() if name not in secret_env},
        "cache_size": server.cache_size,
        "expose": server.expose,
        "allowed_namespaces": list(server.allowed_namespaces),
        "weights_gb": fit.weights_gb,
        "estimated_memory_gb": fit.total_gb,
        "download_budget_seconds": download_budget_seconds(fit.weights_gb),
        "startup_budget_seconds": load_budget_seconds(fit.weights_gb),
        "ready_timeout_seconds": (
            server.ready_timeout_minutes * 60
            if server.ready_timeout_minutes is not None
            else await_timeout_seconds(fit.weights_gb, replicas=server.replicas)
        ),
        "mig_profile": gpu.mig_profile,
        # What the memory fit allowed for: the memory vLLM sees in the slice (usable, not the
        # profile's name's figure), rounded down, so the policy pack's model-fits-slice compares
        # the estimate with the same budget. The capacity output keeps the nominal size.
        "slice_memory_gb": math.floor(stack.mig_profile.usable_memory_gb * 100) / 100,
        "resource_name": gpu.resource_name,
        "node_selector": gpu.node_selector,
        "tolerations": gpu.tolerations,
    }
    if secret_env:
        args["secret_env"] = {
            name: pulumi.Output.secret(value) for name, value in server.env.items() if name in secret_env
        }
    if hf_token is not None:
        args["hf_token"] = hf_token
    if api_key is not None:
        args["api_key"] = api_key
    if server.revision is not None:
        args["revision"] = server.revision
    if stack.monitoring_namespace is not None:
        args["monitoring_namespace"] = stack.monitoring_namespace
    if stack.router_on:
        # Only the router's pods (and the allowed namespaces) reach the server.
        args["client_pod_selector"] = router_selector(ROUTER_NAME)
    if server.expose == "LoadBalancer" and isinstance(gpu, MigGpuNodepool):
        args["load_balancer_source_cidrs"] = list(stack.cluster.node_port_cidrs)
        args["load_balancer_instance_pool_id"] = gpu.instance_pool_id
    return args


servers = {
    server.name: VllmService(
        server.name,
        server_args(index, server),
        opts=pulumi.ResourceOptions(provider=cluster.provider, depends_on=[gpu]),
    )
    for index, server in enumerate(stack.models)
}

# -- one endpoint for every model: the router in front of the servers -----------------------------
router: ModelRouter | None = None
if stack.router_on:
    router_args: ModelRouterArgs = {
        "namespace": namespace.metadata.name,
        "backends": [
            {"served_model_name": servers[server.name].served_model_name, "urls": servers[server.name].replica_urls}
            for server in stack.models
        ],
        "aliases": dict(stack.router.aliases),
        "replicas": stack.router.replicas,
        "image": stack.router.image,
        "expose": stack.router.expose,
        "allowed_namespaces": list(stack.router.allowed_namespaces),
    }
    if api_key is not None:
        router_args["api_key"] = api_key
    if stack.monitoring_namespace is not None:
        router_args["monitoring_namespace"] = stack.monitoring_namespace
    if stack.router.expose == "LoadBalancer":
        router_args["load_balancer_source_cidrs"] = list(stack.cluster.node_port_cidrs)
        # The router runs on the system nodes: the load balancer forwards to their instance pool.
        router_args["load_balancer_instance_pool_id"] = cluster.system_instance_pool_id
    router = ModelRouter(
        ROUTER_NAME,
        router_args,
        opts=pulumi.ResourceOptions(provider=cluster.provider, depends_on=list(servers.values())),
    )

# -- what an operator reads: endpoints, the kubeconfig, and how the slices are used --------------
pulumi.export(contract.OUTPUT_CLUSTER_ID, cluster.cluster_id)
pulumi.export(contract.OUTPUT_CLUSTER_ENDPOINT, cluster.endpoint)
pulumi.export(contract.OUTPUT_KUBERNETES_VERSION, cluster.kubernetes_version)
pulumi.export(contract.OUTPUT_KUBECONFIG, cluster.kubeconfig)
pulumi.export(contract.OUTPUT_GPU_NODEPOOL_ID, gpu_pool_id)
pulumi.export(
    contract.OUTPUT_MIG_CAPACITY,
    {
        "provisioner": pool.provisioner,
        "gpuModel": gpu.gpu_model,
        "migProfile": gpu.mig_profile,
        "resourceName": gpu.resource_name,
        "slicesPerGpu": gpu.slices_per_gpu,
        "memoryPerSliceGb": gpu.memory_per_slice_gb,
        # The pool's own count is the one source of how many slices there are (with Karpenter:
        # the most its node limit allows).
        "totalSlices": gpu.total_slices,
        "usedSlices": stack.used_slices,
        "freeSlices": gpu.total_slices.apply(lambda total: total - stack.used_slices),
    },
)
pulumi.export(contract.OUTPUT_ENDPOINTS, {name: service.url for name, service in servers.items()})
if router is not None:
    pulumi.export(contract.OUTPUT_API_ENDPOINT, router.url)
    if stack.router.expose == "LoadBalancer":
        pulumi.export(contract.OUTPUT_API_ENDPOINT_EXTERNAL, router.external_url)
pulumi.export(
    contract.OUTPUT_SLICE_USE,
    {
        server.name: {
            "replicas": server.replicas,
            "model": server.model,
            "maxModelLen": fit.max_model_len,
            "contextReducedFrom": fit.reduced_from,
            "estimatedMemoryGb": round(fit.total_gb, 1),
            "memoryHeadroomGb": round(fit.headroom_gb, 2),
            "maxNumBatchedTokens": fit.max_num_batched_tokens,
        }
        for server, fit in ((server, stack.fit(server)) for server in stack.models)
    },
)
