"""The SKS cluster: control plane, node security group, anti-affinity group, system nodepool,
an admin kubeconfig (secret) and the Kubernetes provider everything downstream deploys through."""

from typing import NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import pulumiverse_exoscale as exoscale

import contract
from components.sks_addons import KARPENTER, SksAddon

# Ports the SKS nodes need open between themselves, per CNI (Exoscale's SKS documentation):
# (description, protocol, start port, end port); ICMP rules use type 8 (echo request).
_KUBELET = ("kubelet: logs, exec and metrics from the control plane", "TCP", 10250, 10250)
_CNI_RULES: dict[str, list[tuple[str, str, int, int]]] = {
    "calico": [("calico: VXLAN overlay", "UDP", 4789, 4789)],
    "cilium": [
        ("cilium: VXLAN overlay", "UDP", 8472, 8472),
        ("cilium: health checks", "TCP", 4240, 4240),
        ("cilium: ICMP echo health probes", "ICMP", 8, 0),
    ],
}
NODE_PORT_RANGE = (30000, 32767)


class SksClusterArgs(TypedDict):
    """Inputs of an SKS cluster; `cni` and `node_port_cidrs` shape which rules exist, so they are plain."""

    zone: str
    """Exoscale zone, e.g. de-fra-1."""
    kubernetes_version: NotRequired[str]
    """Control plane version ("1.36.2"); the API's latest when unset."""
    service_level: pulumi.Input[str]
    """starter or pro."""
    cni: str
    """calico or cilium: decides the node-to-node security group rules."""
    system_nodepool_instance_type: pulumi.Input[str]
    system_nodepool_size: pulumi.Input[int]
    system_nodepool_disk_size: pulumi.Input[int]
    node_port_cidrs: list[str]
    """CIDRs that may reach NodePort services; none by default."""
    load_balancer_health_checks: NotRequired[bool]
    """Whether Exoscale's load balancers health-check NodePorts (a LoadBalancer Service exists)."""
    karpenter: NotRequired[bool]
    """Enable SKS's managed Karpenter add-on (needs service_level pro)."""
    gpu_anti_affinity_group_name: NotRequired[str]
    """Creates an anti-affinity group of this name for the GPU nodes (at most 8 instances each)."""
    labels: NotRequired[dict[str, str]]
    protect: NotRequired[bool]
    """Protect the SKS cluster itself from deletion and replacement (production). Only the cluster:
    its kubeconfig is replaced by design when its renewal is due, and the security group rules,
    the system nodepool and the Kubernetes provider must stay free to change (a `protect` passed in
    `opts` instead protects every child, as Pulumi's option does)."""


class SksCluster(pulumi.ComponentResource):
    """An Exoscale SKS cluster ready for GPU nodepools, with its security group and kubeconfig."""

    cluster_id: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubernetes_version: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    anti_affinity_group_id: pulumi.Output[str]
    """The system nodes' anti-affinity group."""
    gpu_anti_affinity_group_id: pulumi.Output[str]
    """The GPU nodes' own anti-affinity group; empty when none was asked for."""
    system_instance_pool_id: pulumi.Output[str]
    """The system nodepool's instance pool, for load balancers in front of pods on the system nodes."""
    karpenter_enabled: pulumi.Output[bool]
    """Whether SKS's Karpenter add-on is on (enabled through the API when asked for)."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret)."""

    provider: k8s.Provider
    """A Kubernetes provider on this cluster; Python users pass it on, other languages use kubeconfig."""

    def __init__(
        self, name: str, args: SksClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(contract.SKS_CLUSTER_COMPONENT, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        zone = args["zone"]

        security_group = exoscale.SecurityGroup(
            f"{name}-nodes",
            name=f"{name}-nodes",
            description=f"SKS nodes of {name}",
            opts=child,
        )
        self._node_rules(name, security_group, args["cni"], args["node_port_cidrs"], child)
        if args.get("load_balancer_health_checks"):
            # The Exoscale CCM's network load balancer health-checks the Service's NodePorts
            # (healthCheckNodePort under externalTrafficPolicy Local) from Exoscale's own addresses,
            # published as the public security group `public-nlb-healthcheck-sources` (Exoscale's NLB
            # docs; terraform-provider-exoscale's security group rule acceptance test uses it).
            exoscale.SecurityGroupRule(
                f"{name}-nlb-healthchecks",
                security_group_id=security_group.id,
                public_security_group="public-nlb-healthcheck-sources",
                type="INGRESS",
                protocol="TCP",
                start_port=NODE_PORT_RANGE[0],
                end_port=NODE_PORT_RANGE[1],
                description="NodePort health checks of Exoscale's network load balancers",
                opts=child,
            )

        anti_affinity = exoscale.AntiAffinityGroup(
            f"{name}-system",
            name=f"{name}-system",
            description=f"Spreads the system nodes of {name} over hypervisors",
            opts=child,
        )
        cluster = exoscale.SksCluster(
            name,
            zone=zone,
            name=name,
            description="sks-mig: MIG-partitioned GPU inference",
            version=args.get("kubernetes_version"),
            service_level=args["service_level"],
            cni=args["cni"],
            # The CCM backs LoadBalancer Services, the CSI driver block-storage PVCs (model caches).
            exoscale_ccm=True,
            exoscale_csi=True,
            metrics_server=True,
            labels=args.get("labels", {}),
            # None, not False, when unset: a `protect` in the component's opts still reaches it.
            opts=pulumi.ResourceOptions(parent=self, protect=args.get("protect") or None),
        )
        system_nodepool = exoscale.SksNodepool(
            f"{name}-system",
            zone=zone,
            cluster_id=cluster.id,
            name=f"{name}-system",
            description="System nodepool for cluster add-ons",
            instance_type=args["system_nodepool_instance_type"],
            size=args["system_nodepool_size"],
            disk_size=args["system_nodepool_disk_size"],
            security_group_ids=[security_group.id],
            anti_affinity_group_ids=[anti_affinity.id],
            opts=child,
        )
        kubeconfig = exoscale.SksKubeconfig(
            f"{name}-admin",
            zone=zone,
            cluster_id=cluster.id,
            user="kubernetes-admin",
            groups=["system:masters"],
            ttl_seconds=30 * 24 * 3600,
            # Renewed by the next `pulumi up` in the last week of its life: a replacement
            # (terraform-provider-exoscale resource_exoscale_sks_kubeconfig.go, CustomizeDiff
            # ForceNew on ready_for_renewal), which a protected kubeconfig would refuse.
            early_renewal_seconds=7 * 24 * 3600,
            opts=child,
        )

        self.cluster_id = cluster.id
        self.endpoint = cluster.endpoint
        self.kubernetes_version = cluster.version
        self.security_group_id = security_group.id
        self.anti_affinity_group_id = anti_affinity.id
        self.gpu_anti_affinity_group_id = pulumi.Output.from_input("")
        if gpu_group := args.get("gpu_anti_affinity_group_name"):
            # Its own group: one group holds at most 8 instances, and the GPU nodes should not
            # count against the system nodes' group.
            self.gpu_anti_affinity_group_id = exoscale.AntiAffinityGroup(
                gpu_group,
                name=gpu_group,
                description=f"Spreads the GPU nodes of {name} over hypervisors",
                opts=child,
            ).id
        self.system_instance_pool_id = system_nodepool.instance_pool_id
        # What Karpenter's custom resources wait for: the add-on that installs their CRDs. Not a
        # declared output: a resource, for depends_on (the cluster itself when Karpenter is off).
        self.karpenter_ready: pulumi.Resource = cluster
        self.karpenter_enabled = pulumi.Output.from_input(False)
        if args.get("karpenter"):
            # Through the API, for a new cluster and an existing one alike: the bridged SksCluster
            # (terraform-provider-exoscale v0.66.0) ignores a change of its deprecated `addons` on
            # update (components/sks_addons/__init__.py). Deleting it removes the add-on.
            karpenter = SksAddon(
                f"{name}-karpenter",
                {"zone": zone, "cluster_id": cluster.id, "addon": KARPENTER},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
            )
            self.karpenter_ready = karpenter
            self.karpenter_enabled = karpenter.enabled
        self.kubeconfig = pulumi.Output.secret(kubeconfig.kubeconfig)
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            # Everything deployed through the provider is deleted before it, so before the system
            # nodes: CoreDNS and the CSI controller (which deletes the claims' volumes) keep running
            # until the workloads and their claims are gone.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[system_nodepool]),
        )
        self.register_outputs(
            {
                "cluster_id": self.cluster_id,
                "endpoint": self.endpoint,
                "kubernetes_version": self.kubernetes_version,
                "security_group_id": self.security_group_id,
                "anti_affinity_group_id": self.anti_affinity_group_id,
                "gpu_anti_affinity_group_id": self.gpu_anti_affinity_group_id,
                "system_instance_pool_id": self.system_instance_pool_id,
                "karpenter_enabled": self.karpenter_enabled,
                "kubeconfig": self.kubeconfig,
            }
        )

    @staticmethod
    def _node_rules(
        name: str,
        group: exoscale.SecurityGroup,
        cni: str,
        node_port_cidrs: list[str],
        child: pulumi.ResourceOptions,
    ) -> None:
        """Node-to-node rules for kubelet and the CNI, and NodePorts only from the given CIDRs."""
        for description, protocol, start, end in [_KUBELET, *_CNI_RULES[cni]]:
            icmp = protocol == "ICMP"
            exoscale.SecurityGroupRule(
                f"{name}-{protocol.lower()}-{start}",
                security_group_id=group.id,
                user_security_group_id=group.id,
                type="INGRESS",
                protocol=protocol,
                description=description,
                start_port=None if icmp else start,
                end_port=None if icmp else end,
                icmp_type=start if icmp else None,
                icmp_code=end if icmp else None,
                opts=child,
            )
        for index, cidr in enumerate(node_port_cidrs):
            exoscale.SecurityGroupRule(
                f"{name}-nodeport-{index}",
                security_group_id=group.id,
                cidr=cidr,
                type="INGRESS",
                protocol="TCP",
                start_port=NODE_PORT_RANGE[0],
                end_port=NODE_PORT_RANGE[1],
                description=f"NodePort services from {cidr}",
                opts=child,
            )
