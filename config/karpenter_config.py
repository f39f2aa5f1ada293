"""The Karpenter keys of `sks-mig:gpuNodepool`: how GPU nodes are provisioned, and Karpenter's limits and
disruption settings when they come from Karpenter. Meant to be merged into the gpuNodepool section
(`GpuNodepoolConfig` derives from `KarpenterPoolConfig`; `karpenter_rule_errors` runs in the stack's
cross-key checks).

With `provisioner: karpenter` the MIG GPU nodes are started on demand by SKS's managed Karpenter add-on
(an ExoscaleNodeClass and a NodePool) instead of a fixed-size SKS nodepool.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, StringConstraints, ValidationInfo, field_validator

from config.errors import echo
from config.field_types import DURATION_PATTERN as DURATION_PATTERN  # re-exported: karpenter_gpu_pool reads it here
from config.field_types import Section
from config.limits import MAX_GPU_NODES

PROVISIONERS = ("nodepool", "karpenter")
CONSOLIDATION_POLICIES = ("WhenEmpty", "WhenEmptyOrUnderutilized")
Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=64)]
# Karpenter reads the durations with Go's time.ParseDuration: at most 2^63 - 1 nanoseconds.
MAX_DURATION_SECONDS = (2**63 - 1) // 10**9
# The shortest expireAfter accepted: every expiry replaces a GPU node, which restarts its model
# servers (image pull, weights, load: minutes each); below an hour Karpenter would spend most of
# the nodes' life replacing them.
MIN_EXPIRE_AFTER_SECONDS = 3600
_DURATION_PART = re.compile(r"([0-9]+)([smh])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}

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

    @field_validator("max_nodes", "consolidation_policy", "consolidate_after", "expire_after", "node_overlay")
    @classmethod
    def _karpenter_keys_need_karpenter(cls, value: Any, info: ValidationInfo) -> Any:
        # Runs only for keys the stack sets, after `provisioner` (declared first). When provisioner
        # itself was refused it is missing here, and this key is not blamed for it.
        provisioner = info.data.get("provisioner")
        if provisioner is not None and provisioner != "karpenter":
            alias = cls.model_fields[str(info.field_name)].alias or info.field_name
            raise ValueError(
                f"{echo(value)} is set, but {alias} applies only with provisioner 'karpenter' "
                f"(provisioner is {provisioner!r}); remove it or set provisioner: karpenter"
            )
        return value

    @field_validator("consolidate_after", "expire_after")
    @classmethod
    def _go_duration(cls, value: str, info: ValidationInfo) -> str:
        seconds = duration_seconds(value)
        if seconds is not None and seconds > MAX_DURATION_SECONDS:
            raise ValueError(
                f"{echo(value)} is longer than Karpenter can read (Go durations stop at about "
                f"{MAX_DURATION_SECONDS // 3600}h); use a shorter duration, or Never"
            )
        if info.field_name == "expire_after" and seconds is not None and seconds < MIN_EXPIRE_AFTER_SECONDS:
            raise ValueError(
                f"{echo(value)} is too short: Karpenter replaces every GPU node this old, and each "
                "replacement restarts its model servers (image pull, weights download, load); use at "
                f"least {MIN_EXPIRE_AFTER_SECONDS // 3600}h (Karpenter's default is 720h), or Never"
            )
        return value


def duration_seconds(duration: str) -> int | None:
    """The seconds of a Karpenter duration (`1h30m`), or None for Never."""
    if duration == "Never":
        return None
    return sum(int(number) * _UNIT_SECONDS[unit] for number, unit in _DURATION_PART.findall(duration))


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
