"""The NetworkPolicies of a stack, seen from the model servers they guard: which policies govern a
server's ingress, and what each of their `from` peers lets in.

Kubernetes' rules (kubernetes.io/docs/concepts/services-networking/network-policies, and the
NetworkPolicy API reference): policies add up, so one that admits everything opens the server
whatever the others say; a policy governs ingress unless its policyTypes leave "Ingress" out; an
ingress rule without `from` (or with an empty one) admits every source; a peer's podSelector alone
means pods of the policy's own namespace, a namespaceSelector pods of the namespaces it selects
(with a podSelector, only those pods), and an empty selector selects everything it can.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from names import K8S_NETWORK_POLICY
from pulumi_policy import PolicyResource
from wire import Unknown, as_dict, as_list, describe, plain
from workloads import Workload, is_empty_selector, same_namespace, selector_matches

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def network(cidr: str) -> Network | None:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


@dataclass(frozen=True)
class NetworkPolicy:
    urn: str
    display: str  # `NetworkPolicy inference/vllm-qwen`
    namespace: Any
    spec: dict[str, Any]

    def governs_ingress(self) -> bool | None:
        """Whether it restricts ingress: policyTypes names Ingress, or is unset (always Ingress)."""
        types = self.spec.get("policyTypes")
        if isinstance(types, Unknown):
            return None
        return types is None or "Ingress" in as_list(types)

    def selects(self, workload: Workload) -> bool | None:
        """Whether it applies to the workload's pods (None: cannot tell during preview)."""
        if not same_namespace(self.namespace, workload.namespace):
            return False
        if isinstance(self.namespace, Unknown):
            return None
        return selector_matches(self.spec.get("podSelector"), workload.pod_labels)

    def ingress_rules(self) -> list[dict[str, Any]] | None:
        """Its ingress rules (None: unknown during preview). No rules: it admits nothing."""
        rules = self.spec.get("ingress")
        if isinstance(rules, Unknown) or any(isinstance(rule, Unknown) for rule in as_list(rules)):
            return None
        return [as_dict(rule) for rule in as_list(rules)]


def network_policies(resources: Sequence[PolicyResource]) -> list[NetworkPolicy]:
    found = []
    for resource in resources:
        if resource.resource_type != K8S_NETWORK_POLICY:
            continue
        props = plain(resource.props)
        namespace = as_dict(props.get("metadata")).get("namespace")
        found.append(
            NetworkPolicy(
                urn=resource.urn,
                display=describe(resource.resource_type, resource.name, props),
                namespace="default" if namespace in (None, "") else namespace,
                spec=as_dict(props.get("spec")),
            )
        )
    return found


def governing(policies: Sequence[NetworkPolicy], server: Workload) -> list[NetworkPolicy] | None:
    """The policies that restrict the server's ingress; None if that cannot be told yet."""
    found = []
    for policy in policies:
        governs, selects = policy.governs_ingress(), policy.selects(server)
        if governs is None or selects is None:
            return None
        if governs and selects:
            found.append(policy)
    return found


@dataclass(frozen=True)
class Peer:
    """One source an ingress rule admits, described for a message."""

    kind: str  # "everyone", "every-pod", "ip-block", "namespace-pods", "own-namespace", "pods", "namespaces"
    text: str
    spec: dict[str, Any]
    cidr: Network | None = None


def peers(rule: dict[str, Any]) -> list[Peer] | None:
    """What one ingress rule admits, peer by peer (None: unknown during preview)."""
    sources = rule.get("from")
    if isinstance(sources, Unknown):
        return None
    if not as_list(sources):
        return [Peer("everyone", "every source (an ingress rule without `from`)", {})]
    found = []
    for source in as_list(sources):
        if isinstance(source, Unknown) or not isinstance(source, dict):
            return None
        peer = _peer(source)
        if peer is None:
            return None
        found.append(peer)
    return found


def _peer(source: dict[str, Any]) -> Peer | None:
    block, namespaces, pods = source.get("ipBlock"), source.get("namespaceSelector"), source.get("podSelector")
    if any(isinstance(part, Unknown) for part in (block, namespaces, pods)):
        return None
    if block is not None:
        cidr = as_dict(block).get("cidr")
        if isinstance(cidr, Unknown):
            return None
        parsed = network(cidr) if isinstance(cidr, str) else None
        if parsed is not None and parsed.prefixlen == 0:
            return Peer("everyone", f"every address (ipBlock {cidr})", source, parsed)
        return Peer("ip-block", f"the network {cidr} (ipBlock)", source, parsed)
    if namespaces is None and pods is None:
        return Peer("everyone", "every source (an empty peer {})", source)
    if namespaces is not None and is_empty_selector(namespaces):
        if pods is None or is_empty_selector(pods):
            return Peer("every-pod", "every pod of every namespace (namespaceSelector {})", source)
        return Peer("namespace-pods", f"pods selected by {_shown(pods)} in every namespace", source)
    if namespaces is not None:
        return Peer("namespaces", f"the namespaces selected by {_shown(namespaces)}", source)
    if is_empty_selector(pods):
        return Peer("own-namespace", "every pod of its namespace (podSelector {})", source)
    return Peer("pods", f"the pods selected by {_shown(pods)} in its namespace", source)


def _shown(selector: Any) -> str:
    selector = as_dict(selector)
    parts = [f"{key}={value}" for key, value in as_dict(selector.get("matchLabels")).items()]
    parts += [
        f"{as_dict(e).get('key')} {as_dict(e).get('operator')} {as_list(as_dict(e).get('values'))}"
        for e in as_list(selector.get("matchExpressions"))
    ]
    return "{" + ", ".join(parts) + "}"
