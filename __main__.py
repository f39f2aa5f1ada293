"""sks-mig: an SKS cluster, a MIG-partitioned GPU nodepool, and one vLLM server per model, each on
its own MIG slice. This file reads the stack config and wires the components; nothing else."""

import pulumi
import pulumi_kubernetes as k8s

from components.gpu_nodepool import MigGpuNodepool
from components.sks_cluster import SksCluster, SksClusterArgs
from components.vllm_service import VllmService, VllmServiceArgs
from config.memory_fit import startup_budget_seconds
from config.stack_config import ConfigError, read_stack_config

config = pulumi.Config()
try:
    stack = read_stack_config(config)  # every check runs here, before any resource exists
except ConfigError as error:
    raise pulumi.RunError(f"invalid stack configuration:\n{error}") from None
hf_token, api_key = config.get_secret("hfToken"), config.get_secret("apiKey")
production = pulumi.ResourceOptions(protect=stack.environment == "prod")

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
        "mig_strategy": stack.gpu_nodepool.mig_strategy,
    },
    opts=production,
)

namespace = k8s.core.v1.Namespace(
    stack.namespace,
    metadata={
        "name": stack.namespace,
        # The strictest Pod Security level the vLLM image runs under (it needs root; see vllm_service).
        "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
    },
    opts=pulumi.ResourceOptions(provider=cluster.provider),
)

servers: dict[str, VllmService] = {}
for server in stack.models:
    fit = stack.fit(server)
    server_args: VllmServiceArgs = {
        "namespace": namespace.metadata.name,
        "model": server.model,
        "served_model_name": server.served_name,
        "replicas": server.replicas,
        "max_model_len": fit.max_model_len,
        "gpu_memory_utilization": server.gpu_memory_utilization,
        "max_num_seqs": server.max_num_seqs,
        "dtype": server.dtype,
        "image": server.image,
        "extra_args": server.extra_args,
        "env": server.env,
        "cache_size": server.cache_size,
        "expose": server.expose,
        "allowed_namespaces": server.allowed_namespaces,
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
        server_args["hf_token"] = hf_token
    if api_key is not None:
        server_args["api_key"] = api_key
    servers[server.name] = VllmService(
        server.name,
        server_args,
        opts=pulumi.ResourceOptions(provider=cluster.provider, depends_on=[gpu]),
    )

pulumi.export("clusterId", cluster.cluster_id)
pulumi.export("clusterEndpoint", cluster.endpoint)
pulumi.export("kubernetesVersion", cluster.kubernetes_version)
pulumi.export("kubeconfig", cluster.kubeconfig)
pulumi.export("gpuNodepoolId", gpu.nodepool_id)
used_slices = sum(server.replicas for server in stack.models)
pulumi.export(
    "migCapacity",
    {
        "gpuModel": gpu.gpu_model,
        "migProfile": gpu.mig_profile,
        "resourceName": gpu.resource_name,
        "slicesPerGpu": gpu.slices_per_gpu,
        "memoryPerSliceGb": gpu.memory_per_slice_gb,
        "totalSlices": gpu.total_slices,
        "usedSlices": used_slices,
        "freeSlices": stack.total_slices - used_slices,
    },
)
pulumi.export("endpoints", {name: service.url for name, service in servers.items()})
pulumi.export(
    "sliceUse",
    {
        server.name: {
            "replicas": server.replicas,
            "model": server.model,
            "maxModelLen": stack.fit(server).max_model_len,
            "contextReducedFrom": stack.fit(server).reduced_from,
            "estimatedMemoryGb": round(stack.fit(server).total_gb, 1),
        }
        for server in stack.models
    },
)
