"""Karpenter's resources as the pack reads them: an ExoscaleNodeClass and the MIG settings of its
user data, and a NodePool with the instance types it may start and the NodeClass it starts them with.

Sources:
- exoscale/karpenter-provider-exoscale, branch pchepy/sc-165926/support-user-data-merge (6a13461):
  `spec.userData` is TOML merged into the user data of every node the class starts; TOML that does
  not parse is logged ("spec.userData contains invalid TOML, skipping merge") and dropped, so the
  node starts without it (pkg/providers/userdata/provider.go).
- Same repository, main (e70bc63), doc/user-data.md: `[settings.kubelet-device-plugins.nvidia]`
  `device-partitioning-strategy` ("none" by default, or "mig") and the map
  `[settings.kubelet-device-plugins.nvidia.mig.profile]` from GPU to MIG profile, read by the node
  agent. An instance type is named `<family>.<size>` and its nodes are labelled with it
  (node.kubernetes.io/instance-type) and with `exoscale.com/instance-family`
  (pkg/providers/instancetype/provider.go).
- kubernetes-sigs/karpenter v1 NodePool: `spec.template.spec.nodeClassRef` names the class,
  `spec.template.spec.requirements` restrict the instance types, `spec.limits` caps the resources
  of the nodes it may start (none: no cap).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from names import INSTANCE_FAMILY_LABEL, INSTANCE_TYPE_LABEL, KARPENTER_NODE_CLASS, KARPENTER_NODE_POOL
from pulumi_policy import PolicyResource
from wire import Unknown, as_dict, as_list, describe, dig, plain

NODE_CLASS_KIND = "ExoscaleNodeClass"
MIG_STRATEGY = "mig"
# Where the node agent's NVIDIA settings sit in the user data, as dotted TOML table names.
NVIDIA_TABLE = "settings.kubelet-device-plugins.nvidia"
STRATEGY_KEY = "device-partitioning-strategy"
PROFILE_TABLE = f"{NVIDIA_TABLE}.mig.profile"


@dataclass(frozen=True)
class MigSettings:
    """The NVIDIA part of a NodeClass's user data."""

    strategy: Any  # device-partitioning-strategy; None when unset (the node agent's default, "none")
    profiles: dict[str, Any]  # GPU key -> MIG profile, from the mig.profile table

    @property
    def wanted(self) -> bool:
        """Whether the user data asks for MIG at all (the strategy or a profile)."""
        return self.strategy == MIG_STRATEGY or bool(self.profiles)


@dataclass(frozen=True)
class NodeClass:
    urn: str
    display: str  # `ExoscaleNodeClass nvidia-a30-2g-12gb`
    name: Any  # metadata.name, what a NodePool's nodeClassRef names
    user_data: Any  # a string, None (unset) or Unknown
    settings: MigSettings | None  # None: no user data, unknown, or not TOML
    toml_error: str | None = None

    @property
    def is_mig(self) -> bool:
        return self.settings is not None and self.settings.wanted


def node_classes(resources: Sequence[PolicyResource]) -> list[NodeClass]:
    found = []
    for resource in resources:
        if resource.resource_type != KARPENTER_NODE_CLASS:
            continue
        props = plain(resource.props)
        user_data = dig(props, "spec", "userData")
        settings, error = _mig_settings(user_data)
        found.append(
            NodeClass(
                urn=resource.urn,
                display=describe(resource.resource_type, resource.name, props),
                name=dig(props, "metadata", "name"),
                user_data=user_data,
                settings=settings,
                toml_error=error,
            )
        )
    return found


def _mig_settings(user_data: Any) -> tuple[MigSettings | None, str | None]:
    if not isinstance(user_data, str):
        return None, None
    try:
        document = tomllib.loads(user_data)
    except tomllib.TOMLDecodeError as error:
        return None, str(error)
    nvidia = as_dict(dig(document, *NVIDIA_TABLE.split(".")))
    profiles = as_dict(dig(nvidia, "mig", "profile"))
    return MigSettings(nvidia.get(STRATEGY_KEY), dict(profiles)), None


@dataclass(frozen=True)
class NodePool:
    urn: str
    display: str  # `NodePool gpu-rtx`
    spec: dict[str, Any]

    @property
    def node_class_ref(self) -> Any:
        return dig(self.spec, "template", "spec", "nodeClassRef")

    @property
    def template_labels(self) -> Any:
        return dig(self.spec, "template", "metadata", "labels")

    def node_class(self, classes: Sequence[NodeClass]) -> NodeClass | None:
        """The stack's ExoscaleNodeClass it starts nodes with; None when unknown or not in the stack."""
        ref = self.node_class_ref
        if not isinstance(ref, dict) or isinstance(ref.get("name"), Unknown):
            return None
        if ref.get("kind") not in (None, NODE_CLASS_KIND):
            return None
        return next((c for c in classes if c.name == ref.get("name")), None)

    def instance_choice(self) -> InstanceChoice | None:
        """Which instance types its requirements allow (None: unknown during preview)."""
        requirements = dig(self.spec, "template", "spec", "requirements")
        if isinstance(requirements, Unknown):
            return None
        types: list[str] | None = None
        families: list[str] | None = None
        for requirement in as_list(requirements):
            requirement = as_dict(requirement)
            key, operator, values = requirement.get("key"), requirement.get("operator"), requirement.get("values")
            if any(isinstance(part, Unknown) for part in (key, operator, values)):
                return None
            if operator != "In" or key not in (INSTANCE_TYPE_LABEL, INSTANCE_FAMILY_LABEL):
                continue
            if any(isinstance(value, Unknown) for value in as_list(values)):
                return None
            listed = [str(value) for value in as_list(values)]
            if key == INSTANCE_TYPE_LABEL:
                types = listed if types is None else [t for t in types if t in listed]
            else:
                families = listed if families is None else [f for f in families if f in listed]
        return InstanceChoice(types, families)


@dataclass(frozen=True)
class InstanceChoice:
    """What a NodePool's `In` requirements allow: instance types and/or families (None: no such
    requirement, so anything)."""

    types: list[str] | None
    families: list[str] | None

    @property
    def bounded(self) -> bool:
        return self.types is not None or self.families is not None


def node_pools(resources: Sequence[PolicyResource]) -> list[NodePool]:
    found = []
    for resource in resources:
        if resource.resource_type != KARPENTER_NODE_POOL:
            continue
        props = plain(resource.props)
        found.append(NodePool(resource.urn, describe(resource.resource_type, resource.name, props), as_dict(props.get("spec"))))
    return found
