"""Where a MIG slice lives and how a workload lands on one: shared by every way of getting MIG GPU nodes
(the fixed nodepool, Karpenter), so the model servers select either pool the same way."""

from dataclasses import dataclass
from typing import Any

import pulumi

import contract
from config.mig_catalogue import FAMILIES, GpuFamily, MigProfile, family_of


@dataclass(frozen=True)
class MigPlacement:
    """A MIG-capable instance type cut into one profile: its capacity and the node contract."""

    instance_type: str
    family: GpuFamily
    profile: MigProfile
    gpus_per_node: int

    @property
    def slices_per_node(self) -> int:
        return self.gpus_per_node * self.profile.slices_per_gpu

    def total_slices(self, nodes: int) -> int:
        """Slices on `nodes` nodes (with Karpenter: at most, `nodes` being its node limit)."""
        return nodes * self.slices_per_node

    @property
    def resource_name(self) -> str:
        """The extended resource a pod requests for one slice: SKS's node image runs the NVIDIA device
        plugin with the `single` MIG strategy, which advertises every slice as nvidia.com/gpu."""
        return contract.SLICE_RESOURCE

    @property
    def node_selector(self) -> dict[str, str]:
        """The labels a model server selects: the GPU and its MIG profile."""
        return {contract.LABEL_GPU: self.family.api_key, contract.LABEL_MIG_PROFILE: self.profile.label_value}

    def node_labels(self, pool_name: str) -> dict[str, str]:
        """Every label the pool's GPU nodes carry."""
        return {
            **self.node_selector,
            contract.LABEL_NODEPOOL: pool_name,
            # Read by the policy pack, which travels without the MIG catalogue.
            contract.LABEL_SLICES_PER_NODE: str(self.slices_per_node),
        }

    @property
    def tolerations(self) -> list[dict[str, str]]:
        return [{"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}]

    def outputs(self, nodes: int) -> dict[str, pulumi.Output[Any]]:
        """The capacity and placement every MIG pool component outputs (same names, same values), so
        a model server lands on either pool the same way."""
        return {
            "gpu_model": pulumi.Output.from_input(self.family.gpu_model),
            "mig_profile": pulumi.Output.from_input(self.profile.name),
            "slices_per_gpu": pulumi.Output.from_input(self.profile.slices_per_gpu),
            "memory_per_slice_gb": pulumi.Output.from_input(self.profile.memory_gb),
            "total_slices": pulumi.Output.from_input(self.total_slices(nodes)),
            "resource_name": pulumi.Output.from_input(self.resource_name),
            "node_selector": pulumi.Output.from_input(self.node_selector),
            "tolerations": pulumi.Output.from_input(self.tolerations),
        }

    def describe(self) -> str:
        return f"{self.family.gpu_model} GPUs cut into {self.profile.name} MIG slices"


def resolve_placement(
    component: str, name: str, instance_type: str, mig_profile: str, gpus_per_node: int | None = None
) -> MigPlacement:
    """The placement of `mig_profile` on `instance_type`. The stack config checked all of this, but a
    component may be used on its own, so bad input stops the program with a message naming the
    component and the argument, never a traceback."""
    family = family_of(instance_type)
    if family is None:
        families = ", ".join(f"{f.family}.<size>" for f in FAMILIES.values())
        raise pulumi.RunError(
            f"{component} {name}: instance_type {instance_type!r} has no MIG-capable GPU; valid: {families}"
        )
    if mig_profile not in family.profiles:
        valid = ", ".join(family.profiles)
        raise pulumi.RunError(
            f"{component} {name}: mig_profile {mig_profile!r} is not a MIG profile of "
            f"{family.describe()}; valid: {valid}"
        )
    gpus = gpus_per_node or family.gpus_per_node(instance_type)
    if gpus is None:
        known = ", ".join(f"{family.family}.{size}" for size in family.gpus_per_size)
        raise pulumi.RunError(
            f"{component} {name}: gpus_per_node is required for {instance_type!r}: the catalogue "
            f"knows only {known}; pass the instance type's GPU count"
        )
    return MigPlacement(instance_type, family, family.profiles[mig_profile], gpus)
