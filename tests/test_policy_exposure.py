"""no-open-model-server, called directly (tests/pack_resources.py): Services that expose a model
server, security-group rules, and the NetworkPolicies that guard the servers, with and without a
model router in front of them.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

import contract
from tests.pack_resources import (
    DEPLOYMENT,
    NETPOL,
    ROUTER_COMPONENT,
    ROUTER_LABELS,
    RULE,
    SERVICE,
    STS,
    Props,
    check_stack,
    model_server,
    namespace_peer,
    network_policy,
    one,
    resource,
    router,
    rule,
    service,
    with_annotations,
    with_api_key,
    with_extra_peer,
    with_peers,
)

# isort: split
import no_open_model_server  # the pack's module, top-level (tests.pack_resources puts policy/ on the path)

open_check = no_open_model_server.validate_no_open_model_server


open_check = no_open_model_server.validate_no_open_model_server


@pytest.mark.parametrize("type_", ["LoadBalancer", "NodePort"])
def test_open_service_without_api_key_is_refused(type_: str) -> None:
    stack = [resource(STS, with_api_key("false"), "vllm-qwen"), resource(SERVICE, service(type_=type_), "vllm-qwen")]
    one(check_stack(open_check, stack), f"Service inference/vllm-qwen is of type {type_}", "'false'")


def test_open_service_with_api_key_passes() -> None:
    stack = [resource(STS, with_api_key("true")), resource(SERVICE, service(type_="LoadBalancer"))]
    assert check_stack(open_check, stack) == []


def test_open_service_missing_annotation_is_refused() -> None:
    props = with_annotations(model_server(), {contract.ANNOTATION_REQUIRES_API_KEY: None})
    one(check_stack(open_check, [resource(STS, props), resource(SERVICE, service(type_="LoadBalancer"))]), "missing")


def test_open_service_cluster_ip_other_namespace_and_other_pods_pass() -> None:
    other_app = service(type_="LoadBalancer")
    other_app["spec"]["selector"] = {"app.kubernetes.io/name": "gateway"}
    stack = [
        resource(STS, with_api_key("false")),
        resource(SERVICE, service(), "internal"),
        resource(SERVICE, service(type_="LoadBalancer", namespace="public"), "elsewhere"),
        resource(SERVICE, other_app, "gateway"),
    ]
    assert check_stack(open_check, stack) == []


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0"])
def test_open_rule_to_everyone_is_refused(cidr: str) -> None:
    one(check_stack(open_check, [resource(RULE, rule(cidr), "np")]), "SecurityGroupRule 'np'", f"TCP ports 30000-32767 to {cidr}")


def test_open_rule_allowed_by_config_passes() -> None:
    stack = [resource(RULE, rule("0.0.0.0/0"), "np")]
    assert check_stack(open_check, stack, {"allowedCidrs": ["0.0.0.0/0"]}) == []
    assert len(check_stack(open_check, stack, {"allowedCidrs": ["203.0.113.0/24"]})) == 1


def test_open_rule_to_a_network_egress_and_node_to_node_pass() -> None:
    egress = {**rule("0.0.0.0/0"), "type": "EGRESS"}
    node_to_node = {k: v for k, v in rule("").items() if k != "cidr"} | {"userSecurityGroupId": "sg-1"}
    stack = [resource(RULE, rule("203.0.113.0/24"), "a"), resource(RULE, egress, "b"), resource(RULE, node_to_node, "c")]
    assert check_stack(open_check, stack) == []


# -- with a model router: the servers behind it -----------------------------------------------


def routed(*extra: PolicyResource, server: Props | None = None, policy: Props | None = None) -> list[PolicyResource]:
    """The router and one server behind it, as the components write them (the server requires an
    API key, its NetworkPolicy admits the router's pods, one allowed and the monitoring namespace)."""
    return [
        resource(DEPLOYMENT, router(), "router"),
        resource(SERVICE, {**service("router"), "spec": {"type": "LoadBalancer", "selector": dict(ROUTER_LABELS)}}, "router"),
        resource(STS, server if server is not None else with_api_key("true"), "vllm-qwen"),
        resource(SERVICE, service(), "vllm-qwen"),
        resource(NETPOL, policy if policy is not None else network_policy(), "vllm-qwen"),
        *extra,
    ]


def test_router_in_front_of_its_servers_passes() -> None:
    """The router itself may be a LoadBalancer (the router component requires an API key for it)."""
    assert check_stack(open_check, routed()) == []


@pytest.mark.parametrize("type_", ["LoadBalancer", "NodePort"])
def test_router_server_exposed_beside_it_is_refused_even_with_an_api_key(type_: str) -> None:
    stack = routed()
    stack[3] = resource(SERVICE, service(type_=type_), "vllm-qwen")
    one(
        check_stack(open_check, stack),
        f"Service inference/vllm-qwen is of type {type_}",
        "StatefulSet inference/vllm-qwen",
        "the stack has a model router",
        "models[].expose",
    )


def test_router_component_alone_tells_a_router_is_there() -> None:
    stack = [
        resource(ROUTER_COMPONENT, {}, "router"),
        resource(STS, with_api_key("true"), "vllm-qwen"),
        resource(SERVICE, service(type_="LoadBalancer"), "vllm-qwen"),
        resource(NETPOL, network_policy(), "vllm-qwen"),
    ]
    # The NetworkPolicy admits the pods labelled as the router: that stays fine without them in view.
    one(check_stack(open_check, stack), "Service inference/vllm-qwen is of type LoadBalancer", "the stack has a model router")


OPEN_PEERS: list[tuple[list[Props] | None, str]] = [
    (None, "every source (an ingress rule without `from`)"),
    ([], "every source (an ingress rule without `from`)"),
    ([{}], "every source (an empty peer {})"),
    ([{"namespaceSelector": {}}], "every pod of every namespace"),
    ([{"namespaceSelector": {}, "podSelector": {}}], "every pod of every namespace"),
    ([{"ipBlock": {"cidr": "0.0.0.0/0"}}], "every address (ipBlock 0.0.0.0/0)"),
    ([{"ipBlock": {"cidr": "::/0", "except": ["fd00::/8"]}}], "every address (ipBlock ::/0)"),
]


@pytest.mark.parametrize(("peers", "admits"), OPEN_PEERS)
def test_network_policy_admitting_everyone_is_refused_with_a_router(peers: list[Props] | None, admits: str) -> None:
    stack = routed(policy=with_peers(network_policy(), peers))
    one(check_stack(open_check, stack), "NetworkPolicy inference/vllm-qwen admits", admits, "StatefulSet inference/vllm-qwen")


@pytest.mark.parametrize(("peers", "admits"), OPEN_PEERS)
def test_network_policy_admitting_everyone_is_refused_without_a_router(peers: list[Props] | None, admits: str) -> None:
    stack = [resource(STS, model_server(), "vllm-qwen"), resource(NETPOL, with_peers(network_policy(), peers), "vllm-qwen")]
    one(check_stack(open_check, stack), "NetworkPolicy inference/vllm-qwen admits", admits, "Admit the namespaces")


def test_network_policy_without_a_router_admits_its_namespace_and_client_networks() -> None:
    """As components/vllm_service.py writes it without a router (a load balancer's client network too)."""
    peers = [{"podSelector": {}}, namespace_peer("apps"), {"ipBlock": {"cidr": "203.0.113.0/24"}}]
    stack = [resource(STS, model_server()), resource(NETPOL, with_peers(network_policy(), peers))]
    assert check_stack(open_check, stack) == []


def test_network_policy_open_to_every_address_may_be_allowed_without_a_router_only() -> None:
    config = {"allowedCidrs": ["0.0.0.0/0"]}
    opened = with_peers(network_policy(), [{"ipBlock": {"cidr": "0.0.0.0/0"}}])
    assert check_stack(open_check, [resource(STS, model_server()), resource(NETPOL, opened)], config) == []
    one(check_stack(open_check, routed(policy=opened), config), "every address (ipBlock 0.0.0.0/0)")


@pytest.mark.parametrize(
    ("peer", "why"),
    [
        ({"podSelector": {}}, "that is more than the router's pods"),
        ({"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}, "they are not the model router's pods"),
        ({"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "sks-mig"}}}, "besides the router they select"),
        ({"ipBlock": {"cidr": "203.0.113.0/24"}}, "model servers take no traffic from outside the cluster"),
        (
            {"namespaceSelector": {}, "podSelector": {"matchLabels": dict(ROUTER_LABELS)}},
            "any namespace can run pods with those labels",
        ),
    ],
)
def test_router_network_policy_admitting_more_than_the_router_is_refused(peer: Props, why: str) -> None:
    server = with_api_key("true")
    server["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] = "sks-mig"
    gateway = router()
    gateway["metadata"] = {"name": "gateway", "namespace": "inference", "labels": {"app.kubernetes.io/name": "gateway"}}
    gateway["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/name": "gateway"}
    stack = routed(resource(DEPLOYMENT, gateway, "gateway"), server=server, policy=with_extra_peer(network_policy(), peer))
    if "besides" in why:
        router_props = router()
        router_props["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] = "sks-mig"
        stack[0] = resource(DEPLOYMENT, router_props, "router")
    message = one(check_stack(open_check, stack), "NetworkPolicy inference/vllm-qwen admits", why)
    assert "admit only the router's pods" in message


def test_router_server_without_a_network_policy_is_refused() -> None:
    stack = routed()
    del stack[4]
    one(check_stack(open_check, stack), "StatefulSet inference/vllm-qwen: no NetworkPolicy restricts", "around the model router")


def test_router_egress_only_policy_does_not_guard_ingress() -> None:
    egress_only = network_policy()
    egress_only["spec"]["policyTypes"] = ["Egress"]
    egress_only["spec"]["ingress"] = [{}]  # ignored: the policy does not govern ingress
    one(check_stack(open_check, routed(policy=egress_only)), "no NetworkPolicy restricts")
    alone = [resource(STS, model_server()), resource(NETPOL, egress_only)]
    assert check_stack(open_check, alone) == []


def test_policies_of_other_pods_or_namespaces_are_not_the_servers() -> None:
    others = with_peers(network_policy(), None)
    others["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/name": "gateway"}}
    elsewhere = with_peers(network_policy(namespace="public"), None)
    stack = routed(resource(NETPOL, others, "gateway"), resource(NETPOL, elsewhere, "public"))
    assert check_stack(open_check, stack) == []


def test_namespace_wide_policy_open_to_all_opens_the_server_too() -> None:
    """Policies add up: one selecting every pod of the namespace and admitting everyone opens it."""
    wide = with_peers(network_policy("allow-all"), None)
    wide["spec"]["podSelector"] = {}
    stack = routed(resource(NETPOL, wide, "allow-all"))
    one(check_stack(open_check, stack), "NetworkPolicy inference/allow-all admits every source")


@pytest.mark.parametrize(
    "unknown",
    [
        {"ingress": UNKNOWN_OBJECT_VALUE},
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": UNKNOWN_STRING_VALUE}}},
        {"ingress": [{"from": [{"ipBlock": {"cidr": UNKNOWN_STRING_VALUE}}]}]},
    ],
)
def test_network_policy_unknown_during_preview_is_not_judged(unknown: dict[str, Any]) -> None:
    policy = network_policy()
    policy["spec"].update(unknown)
    assert check_stack(open_check, routed(policy=policy)) == []


def test_the_router_label_is_the_components() -> None:
    assert router()["metadata"]["labels"][contract.COMPONENT_LABEL] == "model-router"
    assert with_annotations(model_server(), {})["metadata"]["labels"][contract.COMPONENT_LABEL] == contract.MODEL_SERVER
