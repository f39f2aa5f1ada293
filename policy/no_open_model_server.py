"""no-open-model-server: no model server reachable from outside the cluster without an API key, and
no security-group rule open to every address unless allowed in the policy config.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from names import ANNOTATION_REQUIRES_API_KEY, EXOSCALE_SECURITY_GROUP, EXOSCALE_SECURITY_GROUP_RULE, K8S_SERVICE
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from wire import Unknown, as_dict, as_list, config_list, count, describe, number, plain
from workloads import Workload, model_servers, same_namespace, selects


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def validate_no_open_model_server(args: StackValidationArgs, report: ReportViolation) -> None:
    """No model server reachable from outside the cluster without an API key; no rule open to all."""
    config = args.get_config()
    allowed = {net for cidr in config_list(config, "allowedCidrs", []) if (net := _network(cidr))}
    servers = model_servers(args.resources)
    for resource in args.resources:
        props = plain(resource.props)
        if resource.resource_type == K8S_SERVICE:
            _check_service(resource, props, servers, report)
        elif resource.resource_type == EXOSCALE_SECURITY_GROUP_RULE:
            _check_rule(resource, props, allowed, report)
        elif resource.resource_type == EXOSCALE_SECURITY_GROUP:
            for source in as_list(props.get("externalSources")):
                network = _network(source) if isinstance(source, str) else None
                if network is not None and network.prefixlen == 0 and network not in allowed:
                    report(
                        f"{describe(resource.resource_type, resource.name)} lists {source} as an "
                        "external source: every address on the internet. Name the networks that "
                        "need access, or add the CIDR to the policy's allowedCidrs on purpose.",
                        resource.urn,
                    )


def _check_service(
    resource: PolicyResource, props: dict[str, Any], servers: list[Workload], report: ReportViolation
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


def _check_rule(
    resource: PolicyResource,
    props: dict[str, Any],
    allowed: set[ipaddress.IPv4Network | ipaddress.IPv6Network],
    report: ReportViolation,
) -> None:
    cidr = props.get("cidr")
    direction = props.get("type")
    if not isinstance(cidr, str) or (isinstance(direction, str) and direction.upper() == "EGRESS"):
        return
    network = _network(cidr)
    if network is None or network.prefixlen != 0 or network in allowed:
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
        "API key, and no security-group rule opens to 0.0.0.0/0 or ::/0 unless listed in "
        "allowedCidrs: an open vLLM endpoint gives anyone free use of the GPUs."
    ),
    validate=validate_no_open_model_server,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(
        properties={
            "allowedCidrs": {
                "type": "array",
                "items": {"type": "string"},
                "default": [],
                "description": "CIDRs that security-group rules may open to, 0.0.0.0/0 included.",
            }
        }
    ),
)
