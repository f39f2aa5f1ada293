"""no-open-model-server: no model server reachable from outside the cluster without an API key, and
none reachable around the model router when the stack has one; no NetworkPolicy of a model server
that admits everything; no security-group rule open to every address unless allowed in the policy
config.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from names import (
    ANNOTATION_REQUIRES_API_KEY,
    COMPONENT_LABEL,
    EXOSCALE_SECURITY_GROUP,
    EXOSCALE_SECURITY_GROUP_RULE,
    K8S_SERVICE,
    MODEL_ROUTER,
)
from network_policies import Network, NetworkPolicy, Peer, governing, network, network_policies, peers
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from wire import Unknown, as_dict, as_list, config_list, count, describe, number, plain
from workloads import Workload, has_model_router, model_servers, same_namespace, selector_matches, selects, workloads

_ROUTER_FIX = (
    "With a model router in the stack, clients reach every model through it: admit only the "
    "router's pods (a podSelector on its labels) and the allowedNamespaces."
)


def validate_no_open_model_server(args: StackValidationArgs, report: ReportViolation) -> None:
    """No model server reachable from outside the cluster without an API key (or at all, around a
    router); no NetworkPolicy that opens one to everyone; no rule open to all."""
    config = args.get_config()
    allowed = {net for cidr in config_list(config, "allowedCidrs", []) if (net := network(cidr))}
    servers = model_servers(args.resources)
    routed = has_model_router(args.resources)
    for resource in args.resources:
        props = plain(resource.props)
        if resource.resource_type == K8S_SERVICE:
            _check_service(resource, props, servers, routed, report)
        elif resource.resource_type == EXOSCALE_SECURITY_GROUP_RULE:
            _check_rule(resource, props, allowed, report)
        elif resource.resource_type == EXOSCALE_SECURITY_GROUP:
            for source in as_list(props.get("externalSources")):
                parsed = network(source) if isinstance(source, str) else None
                if parsed is not None and parsed.prefixlen == 0 and parsed not in allowed:
                    report(
                        f"{describe(resource.resource_type, resource.name)} lists {source} as an "
                        "external source: every address on the internet. Name the networks that "
                        "need access, or add the CIDR to the policy's allowedCidrs on purpose.",
                        resource.urn,
                    )
    _check_network_policies(args.resources, servers, routed, allowed, report)


def _check_service(
    resource: PolicyResource, props: dict[str, Any], servers: list[Workload], routed: bool, report: ReportViolation
) -> None:
    spec = as_dict(props.get("spec"))
    service_type = spec.get("type")
    if service_type not in ("LoadBalancer", "NodePort"):
        return
    selector = as_dict(spec.get("selector"))
    namespace = as_dict(props.get("metadata")).get("namespace") or "default"
    for server in servers:
        if not same_namespace(namespace, server.namespace) or not selects(selector, server.pod_labels):
            continue
        if routed:
            report(
                f"{describe(resource.resource_type, resource.name, props)} is of type {service_type} "
                f"and selects the pods of {server.display}, but the stack has a model router: only the "
                "router may be reachable from outside the cluster, so that every request goes through "
                "its API key check, routing and retries. Keep the server ClusterIP (models[].expose) "
                "and expose the router instead (router.expose: LoadBalancer).",
                resource.urn,
            )
            continue
        requires = server.annotation(ANNOTATION_REQUIRES_API_KEY)
        if isinstance(requires, Unknown) or str(requires).strip().lower() == "true":
            continue
        shown = "missing" if requires is None else repr(requires)
        report(
            f"{describe(resource.resource_type, resource.name, props)} is of type {service_type} "
            f"and selects the pods of {server.display}, whose {ANNOTATION_REQUIRES_API_KEY} annotation is "
            f"{shown}: the model server would answer anyone who finds the address. Keep it "
            "ClusterIP, or set an API key (pulumi config set --secret sks-mig:apiKey) so the "
            f"server requires it and says so with {ANNOTATION_REQUIRES_API_KEY}: \"true\".",
            resource.urn,
        )


def _check_network_policies(
    resources: Sequence[PolicyResource],
    servers: list[Workload],
    routed: bool,
    allowed: set[Network],
    report: ReportViolation,
) -> None:
    """A model server's NetworkPolicies admit neither everyone nor, with a router, anyone but the
    router and the allowed namespaces; with a router, some NetworkPolicy guards every server."""
    policies = network_policies(resources)
    everything = workloads(resources)
    guarded: dict[str, list[Workload]] = {}
    for server in servers:
        found = governing(policies, server)
        if found is None:
            continue
        if routed and not found:
            report(
                f"{server.display}: no NetworkPolicy restricts who reaches its pods, so every pod of "
                f"the cluster can call the model server around the model router. {_ROUTER_FIX}",
                server.urn,
            )
        for policy in found:
            guarded.setdefault(policy.urn, []).append(server)
    for policy in policies:
        guarded_servers = guarded.get(policy.urn)
        rules = policy.ingress_rules() if guarded_servers else None
        if not guarded_servers or rules is None:
            continue
        names = ", ".join(server.display for server in guarded_servers)
        for rule in rules:
            for peer in peers(rule) or []:
                why = _peer_problem(peer, policy, routed, allowed, everything)
                if why is not None:
                    report(f"{policy.display} admits {peer.text} to the model server(s) {names}: {why}", policy.urn)


def _peer_problem(
    peer: Peer, policy: NetworkPolicy, routed: bool, allowed: set[Network], everything: list[Workload]
) -> str | None:
    """Why a peer of a model server's NetworkPolicy admits too much, or None."""
    if peer.kind == "everyone" and not (peer.cidr is not None and peer.cidr in allowed and not routed):
        return (
            "any address that can reach the pods could use the model, and an API key guards only "
            "/v1, not /metrics, /tokenize or the admin routes. "
            + (_ROUTER_FIX if routed else "Admit the namespaces and client networks that need it, nothing wider.")
        )
    if peer.kind == "every-pod":
        return (
            "any workload of the cluster could use the model. "
            + (_ROUTER_FIX if routed else "Admit the namespaces that need it (allowedNamespaces).")
        )
    if not routed or peer.kind == "namespaces":
        return None
    if peer.kind == "pods":
        return _router_pods_problem(peer, policy, everything)
    reasons = {
        "namespace-pods": "any namespace can run pods with those labels",
        "ip-block": "with a router, model servers take no traffic from outside the cluster",
        "own-namespace": "that is more than the router's pods",
    }
    return f"{reasons.get(peer.kind, 'that is more than the router')}. {_ROUTER_FIX}"


def _router_pods_problem(peer: Peer, policy: NetworkPolicy, everything: list[Workload]) -> str | None:
    """A podSelector peer, with a router in the stack: it must select the router's pods only."""
    selector = peer.spec.get("podSelector")
    here = [w for w in everything if same_namespace(policy.namespace, w.namespace)]
    verdicts = [(w, selector_matches(selector, w.pod_labels)) for w in here]
    if any(verdict is None for _, verdict in verdicts):
        return None  # part of the selector is unknown during preview
    matched = [w for w, verdict in verdicts if verdict]
    routers = [w for w in matched if w.is_model_router]
    others = [w for w in matched if not w.is_model_router]
    # Selecting by the router's component label names the router even where its pods are not in view.
    names_router = as_dict(as_dict(selector).get("matchLabels")).get(COMPONENT_LABEL) == MODEL_ROUTER
    if (routers or names_router) and not others:
        return None
    if not routers and not names_router:
        return (
            f"they are not the model router's pods ({COMPONENT_LABEL}={MODEL_ROUTER}), which is the "
            f"only client a model server has when the stack runs one. {_ROUTER_FIX}"
        )
    return f"besides the router they select {', '.join(w.display for w in others)}. {_ROUTER_FIX}"


def _check_rule(
    resource: PolicyResource,
    props: dict[str, Any],
    allowed: set[Network],
    report: ReportViolation,
) -> None:
    cidr = props.get("cidr")
    direction = props.get("type")
    if not isinstance(cidr, str) or (isinstance(direction, str) and direction.upper() == "EGRESS"):
        return
    parsed = network(cidr)
    if parsed is None or parsed.prefixlen != 0 or parsed in allowed:
        return
    protocol = props.get("protocol") or "any protocol"
    start, end = number(props.get("startPort")), number(props.get("endPort"))
    ports = ""
    if start is not None:
        ports = f" port {count(start)}" if end in (None, start) else f" ports {count(start)}-{count(end or 0)}"
    report(
        f"{describe(resource.resource_type, resource.name)} opens {protocol}{ports} to {cidr}, "
        "every address on the internet. Open it to the networks that need it (the stack's "
        "cluster.nodePortCidrs), or add the CIDR to this policy's allowedCidrs on purpose.",
        resource.urn,
    )


POLICY = StackValidationPolicy(
    name="no-open-model-server",
    description=(
        "No LoadBalancer or NodePort Service exposes a model server that does not require an "
        "API key, or any model server at all when the stack has a model router; no model-server "
        "NetworkPolicy admits everyone (a rule without from, namespaceSelector {}, 0.0.0.0/0), "
        "nor, with a router, anything but the router's pods and the allowed namespaces; and no "
        "security-group rule opens to 0.0.0.0/0 or ::/0 unless listed in allowedCidrs: an open "
        "vLLM endpoint gives anyone free use of the GPUs."
    ),
    validate=validate_no_open_model_server,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "allowedCidrs": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": (
                    "CIDRs that security-group rules (and, without a router, model-server "
                    "NetworkPolicies) may open to, 0.0.0.0/0 included."
                ),
            }
        }
    ),
)
