"""A Service exposed as an Exoscale network load balancer, as the model servers and the router
expose theirs (`expose: LoadBalancer`): the arguments it needs, the Service's CCM annotations and
traffic policy, and the NetworkPolicy rule that admits its clients.
"""

import ipaddress
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

EXPOSE_CHOICES = ("ClusterIP", "LoadBalancer")

# pulumi-kubernetes waits for a Service to be ready on create and update unless this annotation is
# "true" (provider/pkg/metadata/overrides.go, SkipAwaitLogic; await/awaiters.go, coreV1Service).
SKIP_AWAIT_ANNOTATION = "pulumi.com/skipAwait"

# The Exoscale cloud controller manager's Service annotations (exoscale-cloud-controller-manager,
# exoscale/loadbalancer.go and docs/service-loadbalancer.md).
_CCM = "service.beta.kubernetes.io/exoscale-loadbalancer-"
LB_INSTANCE_POOL_ANNOTATION = f"{_CCM}service-instancepool-id"
LB_HEALTHCHECK_MODE_ANNOTATION = f"{_CCM}service-healthcheck-mode"
LB_HEALTHCHECK_URI_ANNOTATION = f"{_CCM}service-healthcheck-uri"


def check_expose(who: str, expose: str, api_key: object, workload: str) -> None:
    """Refuse an unknown `expose`, and a load balancer without an API key: it puts `workload` on
    the internet. `who` starts every message (the component and its name)."""
    if expose not in EXPOSE_CHOICES:
        raise pulumi.RunError(f"{who}: expose must be ClusterIP or LoadBalancer, not {expose!r}")
    if expose == "LoadBalancer" and api_key is None:
        raise pulumi.RunError(f"{who}: a LoadBalancer puts the {workload} on the internet; set api_key")


def check_addressing(
    who: str,
    source_cidrs: list[str] | None,
    instance_pool_id: object,
    *,
    why_cidrs: str,
    cidr_examples: str,
    which_pool: str,
) -> None:
    """Refuse a load balancer whose clients the NetworkPolicy would not admit (no networks, or one
    that is not a CIDR), or that does not name the instance pool to forward to. The rest of each
    message is the component's own: why it needs the networks, example CIDRs, which pool."""
    if not source_cidrs:
        raise pulumi.RunError(
            f"{who}: expose LoadBalancer needs load_balancer_source_cidrs (the cluster's nodePortCidrs): "
            f"{why_cidrs}the NetworkPolicy admits only those networks; set e.g. ['203.0.113.0/24']"
        )
    for cidr in source_cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise pulumi.RunError(
                f"{who}: load_balancer_source_cidrs: {cidr!r} is not a CIDR; write e.g. {cidr_examples}"
            ) from None
    if instance_pool_id is None:
        # Without it the CCM infers the pool from the nodes and fails when there are two
        # (exoscale/loadbalancer.go: "multiple Instance Pools detected across cluster Nodes").
        raise pulumi.RunError(f"{who}: expose LoadBalancer needs load_balancer_instance_pool_id, {which_pool}")


def client_service(
    name: str,
    metadata: k8s.meta.v1.ObjectMetaArgsDict,
    selector: dict[str, str],
    port: int,
    expose: str,
    instance_pool_id: Any,
    opts: pulumi.ResourceOptions,
    *,
    pods_awaited_elsewhere: bool = False,
) -> k8s.core.v1.Service:
    """The Service clients call, `port` to the pods' port named http: of type `expose`. A
    LoadBalancer forwards to `instance_pool_id`, keeps the client's address and sends clients only
    to nodes that run a pod of it.

    pods_awaited_elsewhere: the workload's own await already waits for its pods to be ready (a
    StatefulSet's). A ClusterIP Service then skips pulumi-kubernetes' Service await, which waits
    until no selected pod is unready (provider/pkg/await/service.go, checkAndLogStatus): a pod that
    has an address but is still downloading or loading its model would hold it until its timeout
    (10 minutes unless `opts` set customTimeouts). A LoadBalancer keeps the await: it is what waits
    for the load balancer's address.

    Local: the node does not SNAT, so the pod sees the client's own address, the one the
    NetworkPolicy admits (with Cluster, Calico would see a node address and Cilium the remote-node
    identity, which CIDR rules never match: docs.cilium.io, Layer 3 policy, "IPs / CIDR based").
    The CCM then health-checks spec.healthCheckNodePort, where kube-proxy
    (pkg/proxy/healthcheck/service_health.go) and Cilium (pkg/service/healthserver) answer 200 when
    the node runs a pod of the Service and 503 when not, on any path (docs/service-loadbalancer.md).
    The CCM's default TCP check would pass on every node and send clients to nodes that drop them.
    """
    service_metadata = metadata.copy()
    given: Any = metadata.get("annotations") or {}  # the callers pass a plain dict, if any
    annotations: dict[str, Any] = dict(given)
    spec: k8s.core.v1.ServiceSpecArgsDict = {
        "type": expose,
        "selector": selector,
        "ports": [{"name": "http", "port": port, "target_port": "http", "protocol": "TCP"}],
    }
    if expose == "LoadBalancer":
        annotations.update({
            LB_INSTANCE_POOL_ANNOTATION: instance_pool_id,
            LB_HEALTHCHECK_MODE_ANNOTATION: "http",
            LB_HEALTHCHECK_URI_ANNOTATION: "/healthz",
        })
        spec["external_traffic_policy"] = "Local"
    elif pods_awaited_elsewhere:
        annotations[SKIP_AWAIT_ANNOTATION] = "true"
    if annotations:
        service_metadata["annotations"] = annotations
    return k8s.core.v1.Service(name, metadata=service_metadata, spec=spec, opts=opts)


def ingress_rule(
    source_cidrs: list[str] | None, ports: list[k8s.networking.v1.NetworkPolicyPortArgsDict]
) -> k8s.networking.v1.NetworkPolicyIngressRuleArgsDict:
    """The clients' networks on `ports`, nothing wider (each network once, in the given order).

    The NLB keeps the client's address and externalTrafficPolicy Local keeps the node from
    replacing it, so the clients arrive as themselves. Its health check goes to the node's
    healthCheckNodePort (kube-proxy or Cilium on the host), which no pod NetworkPolicy governs."""
    cidrs = dict.fromkeys(source_cidrs or [])
    return {"from_": [{"ip_block": {"cidr": cidr}} for cidr in cidrs], "ports": ports}
