"""The MIG pools of a stack, the slices each offers, and the model servers competing for them.

Two kinds of pool give MIG slices: the fixed MIG nodepool (the MigGpuNodepool component's dynamic
resource) and a Karpenter NodePool whose nodes carry the same labels and taint (the
KarpenterGpuPool component). A fixed nodepool's slices are its size x its
`sks-mig.io/slices-per-node` label, which the program works out from its MIG catalogue (GPUs per
node x slices per GPU); the pack reads the label rather than keeping a copy of that catalogue. Its
MIG profile is checked against the profiles the Exoscale API accepts (mig_profiles.py). A Karpenter
NodePool starts nodes on demand: it offers *up to* its `sks-mig.io/max-nodes` annotation (the most
nodes its limits allow) x the `sks-mig.io/slices-per-node` label of its node template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mig_profiles import profile_problem
from names import (
    ANNOTATION_MAX_NODES,
    KARPENTER_NODE_POOL,
    LABEL_MIG_PROFILE,
    LABEL_SLICES_PER_NODE,
    MIG_GPU_NODEPOOL_COMPONENT,
    MIG_NODEPOOL,
)
from pulumi_policy import PolicyResource
from wire import Unknown, as_dict, count, describe, dig, number, plain
from workloads import Workload, model_servers

_WHOLE = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Pool:
    """A MIG pool and the slices it gives, as far as its inputs tell."""

    urn: str
    display: str  # `MIG nodepool 'gpu-rtx'`, `Karpenter NodePool gpu-rtx`
    profile_label: Any  # the sks-mig.io/mig-profile node label value
    slices: int | None
    arithmetic: str  # how `slices` was worked out, or why it could not be
    at_most: bool = False  # Karpenter: nodes on demand, `slices` is the most there can be


def pools_of(resources: Sequence[PolicyResource]) -> list[Pool]:
    """The stack's MIG pools: the MigGpuNodepool component's dynamic resources, and the Karpenter
    NodePools whose node template carries a MIG profile label."""
    by_urn = {resource.urn: resource for resource in resources}
    pools = []
    for resource in resources:
        if resource.resource_type == KARPENTER_NODE_POOL:
            pool = _karpenter_pool(resource)
            if pool is not None:
                pools.append(pool)
            continue
        if resource.resource_type != MIG_NODEPOOL:
            continue
        props = plain(resource.props)
        labels = as_dict(props.get("labels"))
        slices, arithmetic = _pool_slices(props, _parent_of(resource, by_urn))
        pools.append(
            Pool(resource.urn, f"MIG nodepool '{resource.name}'", labels.get(LABEL_MIG_PROFILE), slices, arithmetic)
        )
    return pools


def _karpenter_pool(resource: PolicyResource) -> Pool | None:
    """A Karpenter NodePool as a MIG pool, or None when its nodes carry no MIG profile label."""
    props = plain(resource.props)
    labels = dig(props, "spec", "template", "metadata", "labels")
    profile = labels if isinstance(labels, Unknown) else as_dict(labels).get(LABEL_MIG_PROFILE)
    if profile is None:
        return None
    display = f"Karpenter {describe(resource.resource_type, resource.name, props)}"
    raw_nodes = dig(props, "metadata", "annotations", ANNOTATION_MAX_NODES)
    raw_per_node = labels if isinstance(labels, Unknown) else as_dict(labels).get(LABEL_SLICES_PER_NODE)
    if isinstance(raw_nodes, Unknown) or isinstance(raw_per_node, Unknown):
        return Pool(resource.urn, display, profile, None, "its node count or slices per node is not known yet", True)
    nodes, per_node = _positive_whole(raw_nodes), _positive_whole(raw_per_node)
    if nodes is None or per_node is None:
        key, raw = (ANNOTATION_MAX_NODES, raw_nodes) if nodes is None else (LABEL_SLICES_PER_NODE, raw_per_node)
        what = "annotation (the most nodes its limits allow)" if nodes is None else (
            "node label (GPUs per node x slices per GPU)"
        )
        shown = "missing" if raw is None else f"{raw!r}, not a positive whole number"
        return Pool(resource.urn, display, profile, None, f"its {key} {what} is {shown}", True)
    return Pool(
        resource.urn,
        display,
        profile,
        nodes * per_node,
        f"up to {nodes} node(s) ({ANNOTATION_MAX_NODES}) x {per_node} {profile} slices per node",
        True,
    )


def _parent_of(resource: PolicyResource, by_urn: Mapping[str, PolicyResource]) -> PolicyResource | None:
    if resource.parent is not None:
        return resource.parent
    parent_urn = getattr(resource.opts, "parent", None)
    return by_urn.get(parent_urn) if isinstance(parent_urn, str) else None


def _pool_slices(props: Mapping[str, Any], parent: PolicyResource | None) -> tuple[int | None, str]:
    instance_type, size = props.get("instance_type"), number(props.get("size"))
    profiles = props.get("nvidia_mig_profiles")
    if (
        not isinstance(instance_type, str)
        or size is None
        or not isinstance(profiles, dict)
        or any(isinstance(value, Unknown) for value in profiles.values())
    ):
        return None, "its instance type, size or MIG profile is not known yet"
    problem = profile_problem(profiles)
    if problem is not None:
        return None, problem
    labels = props.get("labels")
    raw = labels if isinstance(labels, Unknown) else as_dict(labels).get(LABEL_SLICES_PER_NODE)
    if isinstance(raw, Unknown):
        return None, f"its {LABEL_SLICES_PER_NODE} label is not known yet"
    per_node = _positive_whole(raw)
    if per_node is not None:
        profile_names = ", ".join(str(name) for name in profiles.values())
        return int(size) * per_node, (
            f"{count(size)} node(s) x {per_node} {profile_names} slices per node"
        )
    # No usable label (a nodepool registered by an older program, or by hand): the component
    # may still have registered the total as an output.
    total = _registered_total(parent)
    if total is not None:
        return int(total), f"{count(total)} slices registered by its MigGpuNodepool component"
    shown = "missing" if raw is None else f"{raw!r}, not a positive whole number"
    return None, (
        f"its {LABEL_SLICES_PER_NODE} label (GPUs per node x slices per GPU) is {shown}, so the "
        f"slices of a {instance_type} node are not known, and its MigGpuNodepool component "
        "registered no total_slices"
    )


def _positive_whole(raw: Any) -> int | None:
    """A label value such as "4" as 4; None for anything but a positive whole number."""
    if not isinstance(raw, str) or _WHOLE.fullmatch(raw) is None:
        return None
    value = int(raw)
    return value if value > 0 else None


def _registered_total(parent: PolicyResource | None) -> float | None:
    """The total_slices output of the MigGpuNodepool component that created a nodepool."""
    if parent is None or parent.resource_type != MIG_GPU_NODEPOOL_COMPONENT:
        return None
    return number(as_dict(plain(parent.props)).get("total_slices"))


@dataclass(frozen=True)
class SliceGroup:
    """Model servers that compete for the same slices, and the nodepools that offer them."""

    profile_label: Any  # None: servers that do not select a profile, against every pool
    servers: list[Workload]
    pools: list[Pool]

    def demand(self) -> float | None:
        total = 0.0
        for server in self.servers:
            replicas, per_pod = server.replicas(), server.slices_per_pod()
            if replicas is None or per_pod is None:
                return None
            total += replicas * per_pod
        return total

    def supply(self) -> int | None:
        if any(pool.slices is None for pool in self.pools):
            return None
        return sum(pool.slices or 0 for pool in self.pools)

    def describe_demand(self) -> str:
        parts = []
        for server in self.servers:
            replicas, per_pod = server.replicas(), server.slices_per_pod()
            if replicas is not None and per_pod is not None:
                parts.append(f"{server.display} {count(replicas)} x {count(per_pod)}")
        return ", ".join(parts)

    @property
    def at_most(self) -> bool:
        """Whether the supply is a ceiling (Karpenter starts nodes on demand, up to its limit)."""
        return any(pool.at_most for pool in self.pools)

    def describe_supply(self) -> str:
        if not self.pools:
            return "no MIG nodepool"
        return "; ".join(f"{pool.display}: {pool.arithmetic}" for pool in self.pools)


def slice_groups(resources: Sequence[PolicyResource]) -> list[SliceGroup]:
    """Slice-consuming model servers grouped by the MIG profile they select.

    Servers that select no profile land in a group of their own, measured against every pool;
    a profile no pool has gets a group with no pools (no capacity at all).
    """
    pools = pools_of(resources)
    servers = [s for s in model_servers(resources) if s.requests_slices()]
    groups: dict[Any, list[Workload]] = {}
    for server in servers:
        profile = server.mig_profile_selected()
        if isinstance(profile, Unknown):
            continue
        groups.setdefault(profile if isinstance(profile, str) else None, []).append(server)
    result = []
    for profile, members in groups.items():
        matching = pools if profile is None else [p for p in pools if p.profile_label == profile]
        result.append(SliceGroup(profile, members, matching))
    return result
