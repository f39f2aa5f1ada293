"""sks-mig: an SKS cluster, a MIG-partitioned GPU nodepool, and one vLLM server per model, each on
its own MIG slice. This file reads the stack config and wires the components, top to bottom as in
the README's diagram: config -> SksCluster -> MigGpuNodepool -> VllmService x models -> outputs."""

from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

import contract
from components.gpu_nodepool import MigGpuNodepool
from components.sks_cluster import SksCluster, SksClusterArgs
from components.vllm_service import VllmService, VllmServiceArgs
from config.errors import ConfigError
from config.memory_fit import startup_budget_seconds
from config.model_config import ModelServerConfig
from config.stack_config import StackConfig, read_stack_config


def read_config() -> StackConfig:
    """Every check runs here, before any resource exists; a bad config stops the program with the
    message alone. The stack file beside this program adds how numbers were written."""
    try:
        return read_stack_config(Path(__file__).with_name(f"Pulumi.{pulumi.get_stack()}.yaml"))
    except ConfigError as error:
        raise pulumi.RunError(f"invalid stack configuration:\n{error}") from None


stack = read_config()
production = pulumi.ResourceOptions(protect=stack.environment == "prod")
hf_token = pulumi.Output.secret(stack.hf_token.get_secret_value()) if stack.hf_token else None
api_key = pulumi.Output.secret(stack.api_key.get_secret_value()) if stack.api_key else None

# -- the cluster: control plane, security group, system nodes, kubeconfig, Kubernetes provider ---
cluster_args: SksClusterArgs = {
    "zone": stack.zone,
    "service_level": stack.cluster.service_level,
    "cni": stack.cluster.cni,
    "system_nodepool_instance_type": stack.cluster.system_nodepool.instance_type,
    "system_nodepool_size": stack.cluster.system_nodepool.size,
    "system_nodepool_disk_size": stack.cluster.system_nodepool.disk_size,
    "node_port_cidrs": stack.cluster.node_port_cidrs,
    "labels": {"environment": stack.environment, "app.kubernetes.io/managed-by": "sks-mig"},
}
if stack.cluster.kubernetes_version:
    cluster_args["kubernetes_version"] = stack.cluster.kubernetes_version
cluster = SksCluster(stack.cluster.name, cluster_args, opts=production)

# -- the GPU nodes, their GPUs cut into MIG slices ------------------------------------------------
gpu = MigGpuNodepool(
    stack.gpu_nodepool.name,
    {
        "zone": stack.zone,
        "cluster_id": cluster.cluster_id,
        "security_group_id": cluster.security_group_id,
        "anti_affinity_group_id": cluster.anti_affinity_group_id,
        "instance_type": stack.gpu_nodepool.instance_type,
        "size": stack.gpu_nodepool.size,
        "mig_profile": stack.gpu_nodepool.mig_profile,
        "disk_size": stack.gpu_nodepool.disk_size,
        "gpus_per_node": stack.gpus_per_node,
    },
    opts=production,
)

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
        "max_num_seqs": server.max_num_seqs,
        "dtype": server.dtype,
        "image": server.image,
        "extra_args": list(server.extra_args),
        # Values set as secrets (`secure:` inside models[].env) stay secrets in the pod spec.
        "env": {
            name: pulumi.Output.secret(value) if name in secret_env else value
            for name, value in server.env.items()
        },
        "cache_size": server.cache_size,
        "expose": server.expose,
        "allowed_namespaces": list(server.allowed_namespaces),
        "weights_gb": fit.weights_gb,
        "estimated_memory_gb": fit.total_gb,
        "startup_budget_seconds": startup_budget_seconds(fit.weights_gb),
        "mig_profile": gpu.mig_profile,
        "slice_memory_gb": gpu.memory_per_slice_gb,
        "resource_name": gpu.resource_name,
        "node_selector": gpu.node_selector,
        "tolerations": gpu.tolerations,
    }
    if hf_token is not None:
        args["hf_token"] = hf_token
    if api_key is not None:
        args["api_key"] = api_key
    if server.revision is not None:
        args["revision"] = server.revision
    if server.max_num_batched_tokens is not None:
        args["max_num_batched_tokens"] = server.max_num_batched_tokens
    if server.ready_timeout_minutes is not None:
        args["ready_timeout_seconds"] = server.ready_timeout_minutes * 60
    if stack.monitoring_namespace is not None:
        args["monitoring_namespace"] = stack.monitoring_namespace
    if server.expose == "LoadBalancer":
        args["load_balancer_source_cidrs"] = list(stack.cluster.node_port_cidrs)
    return args


servers = {
    server.name: VllmService(
        server.name,
        server_args(index, server),
        opts=pulumi.ResourceOptions(provider=cluster.provider, depends_on=[gpu]),
    )
    for index, server in enumerate(stack.models)
}

# -- what an operator reads: endpoints, the kubeconfig, and how the slices are used --------------
pulumi.export(contract.OUTPUT_CLUSTER_ID, cluster.cluster_id)
pulumi.export(contract.OUTPUT_CLUSTER_ENDPOINT, cluster.endpoint)
pulumi.export(contract.OUTPUT_KUBERNETES_VERSION, cluster.kubernetes_version)
pulumi.export(contract.OUTPUT_KUBECONFIG, cluster.kubeconfig)
pulumi.export(contract.OUTPUT_GPU_NODEPOOL_ID, gpu.nodepool_id)
pulumi.export(
    contract.OUTPUT_MIG_CAPACITY,
    {
        "gpuModel": gpu.gpu_model,
        "migProfile": gpu.mig_profile,
        "resourceName": gpu.resource_name,
        "slicesPerGpu": gpu.slices_per_gpu,
        "memoryPerSliceGb": gpu.memory_per_slice_gb,
        # The nodepool's own count is the one source of how many slices there are.
        "totalSlices": gpu.total_slices,
        "usedSlices": stack.used_slices,
        "freeSlices": gpu.total_slices.apply(lambda total: total - stack.used_slices),
    },
)
pulumi.export(contract.OUTPUT_ENDPOINTS, {name: service.url for name, service in servers.items()})
pulumi.export(
    contract.OUTPUT_SLICE_USE,
    {
        server.name: {
            "replicas": server.replicas,
            "model": server.model,
            "maxModelLen": fit.max_model_len,
            "contextReducedFrom": fit.reduced_from,
            "estimatedMemoryGb": round(fit.total_gb, 1),
        }
        for server, fit in ((server, stack.fit(server)) for server in stack.models)
    },
)
