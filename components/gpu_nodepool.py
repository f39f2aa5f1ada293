"""The MIG-profiled GPU nodepool: GPU nodes whose GPUs are cut into MIG slices when they are created,
and what a workload needs to land on one slice of them."""

from typing import NotRequired, TypedDict

import pulumi

import contract
from components.mig_nodepool_provider import MigNodepool
from components.mig_placement import resolve_placement


class MigGpuNodepoolArgs(TypedDict):
    """Inputs of a MIG GPU nodepool: where it goes (the cluster's outputs) and what it is."""

    zone: str
    cluster_id: pulumi.Input[str]
    security_group_id: pulumi.Input[str]
    anti_affinity_group_id: NotRequired[pulumi.Input[str]]
    instance_type: str
    """A MIG-capable instance type, e.g. gpurtx6000pro.small."""
    size: int
    mig_profile: str
    """A MIG profile the family's GPU has, e.g. 1g.24gb."""
    disk_size: int
    gpus_per_node: NotRequired[int]
    """GPUs per instance, where the catalogue does not know the instance size."""
    replace_strategy: NotRequired[str]
    """deleteFirst (default) or createFirst: how a MIG profile or instance type change replaces the pool."""
    protect: NotRequired[bool]
    """Protect the nodepool (the MigNodepool resource) from deletion and replacement (production):
    deleting it deletes every GPU node and the model servers on them."""


class MigGpuNodepool(pulumi.ComponentResource):
    """A GPU nodepool with an NVIDIA MIG profile, and the capacity and placement it offers."""

    nodepool_id: pulumi.Output[str]
    instance_pool_id: pulumi.Output[str]
    """The pool's Exoscale instance pool: what a LoadBalancer Service's CCM annotation names."""
    gpu_model: pulumi.Output[str]
    mig_profile: pulumi.Output[str]
    slices_per_gpu: pulumi.Output[int]
    memory_per_slice_gb: pulumi.Output[int]
    total_slices: pulumi.Output[int]
    resource_name: pulumi.Output[str]
    """The extended resource a pod requests for one slice: nvidia.com/gpu. SKS's node image runs the
    NVIDIA device plugin with the `single` MIG strategy, which advertises every slice under it."""
    node_selector: pulumi.Output[dict[str, str]]
    tolerations: pulumi.Output[list[dict[str, str]]]

    def __init__(
        self, name: str, args: MigGpuNodepoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # Before anything is registered: bad input stops the program with a message.
        placement = resolve_placement(
            "MigGpuNodepool", name, args["instance_type"], args["mig_profile"], args.get("gpus_per_node")
        )
        super().__init__(contract.MIG_GPU_NODEPOOL_COMPONENT, name, {}, opts)
        taint = {contract.GPU_TAINT_KEY: f"{contract.GPU_TAINT_VALUE}:{contract.GPU_TAINT_EFFECT}"}

        anti_affinity = args.get("anti_affinity_group_id")
        nodepool = MigNodepool(
            name,
            {
                "zone": args["zone"],
                "cluster_id": args["cluster_id"],
                "name": name,
                "instance_type": args["instance_type"],
                "size": args["size"],
                "disk_size": args["disk_size"],
                "nvidia_mig_profiles": {placement.family.api_key: placement.profile.name},
                "labels": placement.node_labels(name),
                "taints": taint,
                "security_group_ids": [args["security_group_id"]],
                "anti_affinity_group_ids": [anti_affinity] if anti_affinity is not None else [],
                "description": placement.describe(),
                "timeout_seconds": 1800,
                "replace_strategy": args.get("replace_strategy", "deleteFirst"),
            },
            # None when unset, so a `protect` in the component's opts still reaches it.
            opts=pulumi.ResourceOptions(parent=self, protect=args.get("protect") or None),
        )

        self.nodepool_id = nodepool.id
        self.instance_pool_id = nodepool.instance_pool_id
        # The capacity and placement outputs both MIG pool components share (declared on the class).
        placement_outputs = placement.outputs(args["size"])
        for output, value in placement_outputs.items():
            setattr(self, output, value)
        self.register_outputs(
            {
                "nodepool_id": self.nodepool_id,
                "instance_pool_id": self.instance_pool_id,
                **placement_outputs,
            }
        )

