"""The Karpenter keys of `sks-mig:gpuNodepool`: how GPU nodes are provisioned, and Karpenter's limits and
disruption settings when they come from Karpenter. Meant to be merged into the gpuNodepool section
(`GpuNodepoolConfig` derives from `KarpenterPoolConfig`; `karpenter_rule_errors` runs in the stack's
cross-key checks).

With `provisioner: karpenter` the MIG GPU nodes are started on demand by SKS's managed Karpenter add-on
(an ExoscaleNodeClass and a NodePool) instead of a fixed-size SKS nodepool.
"""

from __future__ import annotations

from typing import Annotated, Literal, Protocol

from pydantic import Field, StringConstraints, model_validator

from config.field_types import Section
from config.limits import MAX_GPU_NODES

PROVISIONERS = ("nodepool", "karpenter")
CONSOLIDATION_POLICIES = ("WhenEmpty", "WhenEmptyOrUnderutilized")
# Karpenter's duration pattern for consolidateAfter and expireAfter (karpenter.sh_nodepools.yaml, v1.10.0).
DURATION_PATTERN = r"^(([0-9]+(s|m|h))+|Never)$"
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]

# The keys that only mean something when Karpenter provisions the nodes (camelCase, as users write them).
KARPENTER_ONLY_KEYS = ("maxNodes", "consolidationPolicy", "consolidateAfter", "expireAfter", "nodeOverlay")


class KarpenterPoolConfig(Section):
    provisioner: Literal["nodepool", "karpenter"] = "nodepool"
    """nodepool: a fixed-size SKS nodepool (gpuNodepool.size nodes); karpenter: nodes on demand."""
    max_nodes: int | None = Field(
        None, gt=0, le=MAX_GPU_NODES, description=f"a number of GPU nodes from 1 to {MAX_GPU_NODES}"
    )
    """Karpenter only, required there: the most GPU nodes Karpenter may start (the NodePool's limits)."""
    consolidation_policy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmpty"
    """WhenEmpty by default: consolidating an underutilised node evicts model servers, and each restart
    downloads and loads its model again (minutes), to save part of one GPU node."""
    consolidate_after: Duration = "10m"
    """How long a node stays empty before Karpenter removes it. A server restart or rollout empties a
    node briefly; starting a GPU node and loading a model again costs more than ten idle minutes."""
    expire_after: Duration = "720h"
    """Karpenter replaces nodes older than this (its default, 30 days), which restarts their servers."""
    node_overlay: bool = False
    """Add a NodeOverlay telling Karpenter a node holds slices-per-node `nvidia.com/gpu`, not its physical
    GPU count. Needs Karpenter's NodeOverlay feature gate; without it Karpenter may start one GPU node
    per pending model server (up to the limits)."""

    @model_validator(mode="after")
    def _karpenter_keys_need_karpenter(self) -> KarpenterPoolConfig:
        if self.provisioner != "karpenter":
            for name in self.model_fields_set - {"provisioner"}:
                alias = self.__class__.model_fields[name].alias or name
                if alias in KARPENTER_ONLY_KEYS:
                    raise ValueError(
                        f"{alias} applies only with provisioner 'karpenter' "
                        f"(provisioner is {self.provisioner!r}); remove it or set provisioner: karpenter"
                    )
        return self


class _PoolSettings(Protocol):
    """The gpuNodepool section the keys are merged into (or KarpenterPoolConfig itself)."""

    @property
    def provisioner(self) -> str: ...

    @property
    def max_nodes(self) -> int | None: ...


def karpenter_rule_errors(pool: _PoolSettings, *, size_set: bool, service_level: str) -> list[tuple[str, str]]:
    """The cross-key rules of Karpenter mode, as (key under `sks-mig:`, message) pairs; empty when none
    is broken. `size_set`: whether the stack set gpuNodepool.size."""
    if pool.provisioner != "karpenter":
        return []
    errors = []
    if service_level != "pro":
        # The SKS Karpenter add-on needs the pro control plane (Exoscale's "Karpenter node controller" how-to).
        errors.append(
            (
                "cluster.serviceLevel",
                f"{service_level!r} cannot run Karpenter: the SKS Karpenter add-on needs the 'pro' control "
                "plane; set cluster.serviceLevel: pro, or gpuNodepool.provisioner: nodepool",
            )
        )
    if size_set:
        errors.append(
            (
                "gpuNodepool.size",
                "does not apply with provisioner 'karpenter': Karpenter starts GPU nodes when model servers "
                "need them, up to gpuNodepool.maxNodes; remove size",
            )
        )
    if pool.max_nodes is None:
        errors.append(
            (
                "gpuNodepool.maxNodes",
                "required with provisioner 'karpenter': the most GPU nodes Karpenter may start "
                "(the NodePool's limit), an integer > 0, e.g. 2",
            )
        )
    return errors
