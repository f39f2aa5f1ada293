"""The MIG-profiled GPU nodepool: GPU nodes whose GPUs are cut into MIG slices when they are created,
and what a workload needs to land on one slice of them."""

from typing import NotRequired, TypedDict

import pulumi

import contract
from components.mig_nodepool_provider import MigNodepool
from config.mig_catalogue import FAMILIES, GpuFamily, MigProfile, family_of


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


class MigGpuNodepool(pulumi.ComponentResource):
    """A GPU nodepool with an NVIDIA MIG profile, and the capacity and placement it offers."""

    nodepool_id: pulumi.Output[str]
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
        family, profile, gpus = _resolve(name, args)  # before anything is registered
        super().__init__(contract.MIG_GPU_NODEPOOL_COMPONENT, name, {}, opts)
        placement = {
            contract.LABEL_GPU: family.api_key,
            contract.LABEL_MIG_PROFILE: profile.label_value,
        }
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
                "nvidia_mig_profiles": {family.api_key: profile.name},
                "labels": {
                    **placement,
                    contract.LABEL_NODEPOOL: name,
                    # Read by the policy pack, which travels without the MIG catalogue.
                    contract.LABEL_SLICES_PER_NODE: str(gpus * profile.slices_per_gpu),
                },
                "taints": taint,
                "security_group_ids": [args["security_group_id"]],
                "anti_affinity_group_ids": [anti_affinity] if anti_affinity is not None else [],
                "description": f"{family.gpu_model} GPUs cut into {profile.name} MIG slices",
                "timeout_seconds": 1800,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.nodepool_id = nodepool.id
        self.gpu_model = pulumi.Output.from_input(family.gpu_model)
        self.mig_profile = pulumi.Output.from_input(profile.name)
        self.slices_per_gpu = pulumi.Output.from_input(profile.slices_per_gpu)
        self.memory_per_slice_gb = pulumi.Output.from_input(profile.memory_gb)
        self.total_slices = pulumi.Output.from_input(args["size"] * gpus * profile.slices_per_gpu)
        self.resource_name = pulumi.Output.from_input(contract.SLICE_RESOURCE)
        self.node_selector = pulumi.Output.from_input(placement)
        self.tolerations = pulumi.Output.from_input(
            [{"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}]
        )
        self.register_outputs(
            {
                "nodepool_id": self.nodepool_id,
                "gpu_model": self.gpu_model,
                "mig_profile": self.mig_profile,
                "slices_per_gpu": self.slices_per_gpu,
                "memory_per_slice_gb": self.memory_per_slice_gb,
                "total_slices": self.total_slices,
                "resource_name": self.resource_name,
                "node_selector": self.node_selector,
                "tolerations": self.tolerations,
            }
        )


def _resolve(name: str, args: MigGpuNodepoolArgs) -> tuple[GpuFamily, MigProfile, int]:
    """The family, profile and GPUs per node; the stack config checked them, but the component may
    be used on its own, so bad input stops the program with a message, never a traceback."""
    instance_type, profile_name = args["instance_type"], args["mig_profile"]
    family = family_of(instance_type)
    if family is None:
        families = ", ".join(f"{f.family}.<size>" for f in FAMILIES.values())
        raise pulumi.RunError(
            f"MigGpuNodepool {name}: instance_type {instance_type!r} has no MIG-capable GPU; valid: {families}"
        )
    if profile_name not in family.profiles:
        valid = ", ".join(family.profiles)
        raise pulumi.RunError(
            f"MigGpuNodepool {name}: mig_profile {profile_name!r} is not a MIG profile of "
            f"{family.describe()}; valid: {valid}"
        )
    gpus = args.get("gpus_per_node") or family.gpus_per_node(instance_type)
    if gpus is None:
        known = ", ".join(f"{family.family}.{size}" for size in family.gpus_per_size)
        raise pulumi.RunError(
            f"MigGpuNodepool {name}: gpus_per_node is required for {instance_type!r}: the catalogue "
            f"knows only {known}; pass the instance type's GPU count"
        )
    return family, family.profiles[profile_name], gpus
