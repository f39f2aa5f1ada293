"""`sks-mig:gpuNodepool`: the GPU nodes, the MIG profile their GPUs are cut into, and how the
pool is spread and replaced."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from config.errors import echo
from config.field_types import DnsLabel, Section
from config.instance_types import instance_type_problem
from config.karpenter_config import KarpenterPoolConfig
from config.limits import MAX_GPU_NODES, MAX_GPUS_PER_NODE, NODEPOOL_DISK_MAX_GIB, NODEPOOL_DISK_MIN_GIB
from config.mig_catalogue import GpuFamily, family_of

# Why there is no `migStrategy` any more. SKS's node image configures the NVIDIA device plugin
# itself: with MIG partitioning on it writes `migStrategy: "single"`, so every slice is advertised
# as nvidia.com/gpu (bottlerocket-os/bottlerocket-core-kit,
# packages/nvidia-k8s-device-plugin/nvidia-k8s-device-plugin-conf.in), and the nodepool API has
# no field to choose another strategy.
MIG_STRATEGY_REMOVED = (
    "is no longer a setting: on SKS the node image configures the NVIDIA device plugin itself, "
    "with the `single` strategy whenever MIG partitioning is on (every slice is advertised as "
    "nvidia.com/gpu), and the nodepool API has no strategy field; remove the key"
)


class _FixedPoolConfig(Section):
    """The keys of every GPU pool (first in messages); the Karpenter keys follow."""

    name: DnsLabel = Field(description="a DNS label")
    instance_type: str = Field(description="a MIG-capable instance type such as gpurtx6000pro.small")
    size: int = Field(1, gt=0, le=MAX_GPU_NODES, description=f"a number of GPU nodes from 1 to {MAX_GPU_NODES}")
    mig_profile: str = Field(description="one of the GPU's MIG profiles, such as 1g.24gb")
    disk_size: int = Field(
        100, ge=NODEPOOL_DISK_MIN_GIB, le=NODEPOOL_DISK_MAX_GIB, description="GiB, 20 to 51200"
    )
    gpus_per_node: int | None = Field(
        None, gt=0, le=MAX_GPUS_PER_NODE, description=f"a number of GPUs from 1 to {MAX_GPUS_PER_NODE}"
    )
    anti_affinity: bool = Field(True, description="true (each GPU node on its own host) or false")
    replace_strategy: Literal["deleteFirst", "createFirst"] = "deleteFirst"
    # Removed: refused with the reason (see MIG_STRATEGY_REMOVED); not a key users may set.
    mig_strategy: Any = Field(None, exclude=True)

    @field_validator("instance_type")
    @classmethod
    def _mig_capable(cls, instance_type: str) -> str:
        problem = instance_type_problem(instance_type, mig_capable=True)
        if problem is not None:
            raise ValueError(problem)
        return instance_type

    @field_validator("mig_strategy")
    @classmethod
    def _removed(cls, strategy: Any) -> None:
        if strategy is not None:
            raise ValueError(f"{echo(strategy)} {MIG_STRATEGY_REMOVED}")



class GpuNodepoolConfig(KarpenterPoolConfig, _FixedPoolConfig):
    """`sks-mig:gpuNodepool`: a fixed SKS nodepool (provisioner nodepool) or Karpenter's nodes."""

    @property
    def nodes(self) -> int:
        """GPU nodes: the fixed pool's size, or the most Karpenter may start."""
        return (self.max_nodes or 0) if self.provisioner == "karpenter" else self.size

    @property
    def family(self) -> GpuFamily:
        family = family_of(self.instance_type)
        assert family is not None  # checked by _mig_capable
        return family
