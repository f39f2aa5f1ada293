"""MIG GPU nodes on demand: an ExoscaleNodeClass whose nodes cut their GPUs into MIG slices, and a
Karpenter NodePool that starts such nodes when model servers need them (SKS's managed Karpenter add-on),
with the same capacity and placement outputs as the fixed MigGpuNodepool.

Sources (read for this file):
- exoscale/karpenter-provider-exoscale: `spec.userData` is raw TOML deep-merged into the user data
  Karpenter generates (doc/nodeclass.md and apis/karpenter/v1/exoscalenodeclass_types.go on branch
  pchepy/sc-165926/support-user-data-merge, 6a13461); invalid TOML is logged and skipped, so the node
  would start without MIG (pkg/providers/userdata/provider.go, same commit). The node agent's MIG keys:
  doc/user-data.md (main e70bc63). An instance type offers its physical GPU count as `nvidia.com/gpu`
  and the label node.kubernetes.io/instance-type (pkg/providers/instancetype/provider.go, main).
- kubernetes-sigs/karpenter v1.10.0: a NodeOverlay's `capacity` is assigned over the instance type's
  capacity (`lo.Assign` in pkg/cloudprovider/types.go ApplyCapacityOverlay; only cpu, memory,
  ephemeral-storage and pods are refused), for the instance types and NodePools its requirements match
  (pkg/controllers/nodeoverlay/controller.go). Limits are checked against each new node's instance-type
  capacity (provisioning/scheduling/scheduler.go filterByRemainingResources) and against the capacity
  registered nodes report (state/statenode.go Capacity), where MIG slices are `nvidia.com/gpu`.
"""

# No `from __future__ import annotations`: Pulumi's component-package analyzer reads the real types.
import re
from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import tomli_w

import contract
from components.mig_placement import MigPlacement, resolve_placement
from config.karpenter_config import CONSOLIDATION_POLICIES, DURATION_PATTERN

# The custom resources' API groups and kinds (their type tokens are in contract.py).
NODE_CLASS_API_VERSION, NODE_CLASS_KIND = "karpenter.exoscale.com/v1", "ExoscaleNodeClass"
NODE_POOL_API_VERSION, NODE_POOL_KIND = "karpenter.sh/v1", "NodePool"
NODE_OVERLAY_API_VERSION, NODE_OVERLAY_KIND = "karpenter.sh/v1alpha1", "NodeOverlay"
# Well-known labels Karpenter matches instance types and NodePools by (karpenter v1.10.0 pkg/apis/v1/labels.go).
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
KARPENTER_NODEPOOL_LABEL = "karpenter.sh/nodepool"


class KarpenterGpuPoolArgs(TypedDict):
    """Inputs of a Karpenter MIG GPU pool; the cluster's Kubernetes provider comes through opts, and the
    caller orders it after the Karpenter add-on exists (its CRDs come with it)."""

    security_group_id: pulumi.Input[str]
    """The cluster nodes' security group, attached to every GPU node."""
    anti_affinity_group_id: NotRequired[pulumi.Input[str]]
    instance_type: str
    """A MIG-capable instance type, e.g. gpurtx6000pro.small."""
    mig_profile: str
    """A MIG profile the family's GPU has, e.g. 1g.24gb."""
    disk_size: int
    max_nodes: int
    """The most GPU nodes Karpenter may start."""
    gpus_per_node: NotRequired[int]
    """GPUs per instance, where the catalogue does not know the instance size."""
    consolidation_policy: NotRequired[str]
    """WhenEmpty (default) or WhenEmptyOrUnderutilized."""
    consolidate_after: NotRequired[str]
    """How long a node stays empty before it is removed (default 10m)."""
    expire_after: NotRequired[str]
    """Node lifetime (default 720h, Karpenter's)."""
    node_overlay: NotRequired[bool]
    """Tell Karpenter (NodeOverlay, feature-gated) that a node holds its MIG slices, not its GPUs."""
    protect: NotRequired[bool]
    """Protect the NodePool from deletion and replacement (production): deleting it makes Karpenter
    remove every GPU node it started, and the model servers on them."""


class KarpenterGpuPool(pulumi.ComponentResource):
    """GPU nodes cut into MIG slices, started by Karpenter on demand, and the placement they offer."""

    node_class_name: pulumi.Output[str]
    node_pool_name: pulumi.Output[str]
    gpu_model: pulumi.Output[str]
    mig_profile: pulumi.Output[str]
    slices_per_gpu: pulumi.Output[int]
    memory_per_slice_gb: pulumi.Output[int]
    total_slices: pulumi.Output[int]
    """Slices when Karpenter runs max_nodes nodes: the most the pool offers."""
    resource_name: pulumi.Output[str]
    """The extended resource a pod requests for one slice."""
    node_selector: pulumi.Output[dict[str, str]]
    tolerations: pulumi.Output[list[dict[str, str]]]

    def __init__(self, name: str, args: KarpenterGpuPoolArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        # Bad input stops the program before anything is registered.
        placement = resolve_placement(
            "KarpenterGpuPool", name, args["instance_type"], args["mig_profile"], args.get("gpus_per_node")
        )
        settings = _settings(name, args)
        max_nodes, overlay = args["max_nodes"], args.get("node_overlay", False)
        super().__init__(contract.KARPENTER_GPU_POOL_COMPONENT, name, {}, opts)

        node_class = k8s.apiextensions.CustomResource(
            f"{name}-nodeclass",
            api_version=NODE_CLASS_API_VERSION,
            kind=NODE_CLASS_KIND,
            metadata={"name": name},
            spec=node_class_spec(
                placement, args["disk_size"], args["security_group_id"], args.get("anti_affinity_group_id")
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        ahead: list[pulumi.Resource] = [node_class]
        if overlay:
            # Created before the NodePool, so Karpenter never plans GPU nodes without it.
            ahead.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-mig-slices",
                    api_version=NODE_OVERLAY_API_VERSION,
                    kind=NODE_OVERLAY_KIND,
                    metadata={"name": f"{name}-mig-slices"},
                    spec=node_overlay_spec(placement, name),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        node_pool = k8s.apiextensions.CustomResource(
            f"{name}-nodepool",
            api_version=NODE_POOL_API_VERSION,
            kind=NODE_POOL_KIND,
            metadata={"name": name, "annotations": {contract.ANNOTATION_MAX_NODES: str(max_nodes)}},
            spec=node_pool_spec(placement, name, max_nodes=max_nodes, node_overlay=overlay, **settings),
            opts=pulumi.ResourceOptions(parent=self, depends_on=ahead, protect=args.get("protect") or None),
        )

        # The names, once the objects exist.
        self.node_class_name = node_class.id.apply(lambda _: name)
        self.node_pool_name = node_pool.id.apply(lambda _: name)
        # The capacity and placement outputs both MIG pool components share (declared on the class).
        placement_outputs = placement.outputs(max_nodes)
        for output, value in placement_outputs.items():
            setattr(self, output, value)
        self.register_outputs(
            {
                "node_class_name": self.node_class_name,
                "node_pool_name": self.node_pool_name,
                **placement_outputs,
            }
        )


def _settings(name: str, args: KarpenterGpuPoolArgs) -> dict[str, str]:
    """The NodePool settings with their defaults, refused with a message when Karpenter would refuse them."""
    if args["max_nodes"] < 1:
        raise pulumi.RunError(f"KarpenterGpuPool {name}: max_nodes must be at least 1, not {args['max_nodes']}")
    settings = {
        "consolidation_policy": args.get("consolidation_policy", "WhenEmpty"),
        "consolidate_after": args.get("consolidate_after", "10m"),
        "expire_after": args.get("expire_after", "720h"),
    }
    if settings["consolidation_policy"] not in CONSOLIDATION_POLICIES:
        raise pulumi.RunError(
            f"KarpenterGpuPool {name}: consolidation_policy {settings['consolidation_policy']!r} is not one of "
            f"{', '.join(CONSOLIDATION_POLICIES)}"
        )
    for key in ("consolidate_after", "expire_after"):
        if not re.fullmatch(DURATION_PATTERN, settings[key]):
            raise pulumi.RunError(
                f"KarpenterGpuPool {name}: {key} {settings[key]!r} is not a Karpenter duration such as 10m, "
                "1h30m or Never"
            )
    return settings


def mig_user_data(placement: MigPlacement) -> str:
    """The node agent's settings that cut every GPU of the node into the profile, as TOML (the keys of
    exoscale/karpenter-provider-exoscale doc/user-data.md; the GPU key as the API's `nvidia-mig-profiles`
    spells it, e.g. "rtxpro6000.96gb", as in Exoscale's MIG article — that doc's own examples write
    "rtxpro6000.96g", against its stated `{gpu-model}.{memory}gb` format)."""
    settings = {
        "settings": {
            "kubelet-device-plugins": {
                "nvidia": {
                    "device-partitioning-strategy": "mig",
                    "mig": {"profile": {placement.family.api_key: placement.profile.name}},
                }
            }
        }
    }
    return tomli_w.dumps(settings)


def node_class_spec(
    placement: MigPlacement,
    disk_size: int,
    security_group_id: pulumi.Input[str],
    anti_affinity_group_id: pulumi.Input[str] | None = None,
) -> dict[str, object]:
    """The ExoscaleNodeClass spec: the NVIDIA image (its version follows the control plane when unset),
    the disk, the cluster's groups by id, and the MIG settings."""
    spec: dict[str, object] = {
        "imageTemplateSelector": {"variant": "nvidia"},
        "diskSize": disk_size,
        "securityGroupSelectorTerms": [{"id": security_group_id}],
        "userData": mig_user_data(placement),
    }
    if anti_affinity_group_id is not None:
        spec["antiAffinityGroupSelectorTerms"] = [{"id": anti_affinity_group_id}]
    return spec


def node_pool_limits(placement: MigPlacement, max_nodes: int, node_overlay: bool) -> dict[str, str]:
    """A limit on the slice resource that lets Karpenter run at most `max_nodes` nodes.

    Karpenter checks it against each new node's instance-type capacity and against what registered nodes
    report. With the overlay both are the slices per node, so the limit counts slices. Without it a new
    node counts its physical GPUs while a registered MIG node reports its slices: a limit in GPUs keeps
    the node count within max_nodes, at the price that once nodes have joined, Karpenter sees the limit
    used up and starts no more (servers added later wait for free slices on the running nodes). A limit
    in slices would instead let it start up to one node per slice. Karpenter's `nodes` limit is not an
    option: v1.10.0 supports it on static NodePools only (provisioning/provisioner.go)."""
    per_node = placement.slices_per_node if node_overlay else placement.gpus_per_node
    return {placement.resource_name: str(max_nodes * per_node)}


def node_pool_spec(
    placement: MigPlacement,
    name: str,
    *,
    max_nodes: int,
    node_overlay: bool,
    consolidation_policy: str,
    consolidate_after: str,
    expire_after: str,
) -> dict[str, object]:
    """The Karpenter NodePool spec: only the pool's instance type, the GPU taint and the labels the model
    servers select (the same contract as the fixed nodepool), its limits and disruption settings."""
    return {
        "template": {
            "metadata": {"labels": placement.node_labels(name)},
            "spec": {
                "nodeClassRef": {"group": NODE_CLASS_API_VERSION.split("/")[0], "kind": NODE_CLASS_KIND, "name": name},
                "requirements": [{"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": [placement.instance_type]}],
                "taints": [
                    {
                        "key": contract.GPU_TAINT_KEY,
                        "value": contract.GPU_TAINT_VALUE,
                        "effect": contract.GPU_TAINT_EFFECT,
                    }
                ],
                "expireAfter": expire_after,
            },
        },
        "limits": node_pool_limits(placement, max_nodes, node_overlay),
        "disruption": {"consolidationPolicy": consolidation_policy, "consolidateAfter": consolidate_after},
    }


def node_overlay_spec(placement: MigPlacement, pool_name: str) -> dict[str, object]:
    """The NodeOverlay spec: on this pool's nodes of its instance type, Karpenter counts the MIG slices
    per node as the slice resource, instead of the GPU count the instance type offers."""
    return {
        "requirements": [
            {"key": KARPENTER_NODEPOOL_LABEL, "operator": "In", "values": [pool_name]},
            {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": [placement.instance_type]},
        ],
        "capacity": {placement.resource_name: str(placement.slices_per_node)},
    }
