"""ModelRouter under Pulumi's mocks: what it asks Kubernetes for, read back as manifests.

Two servers as VllmService hands them over (served names and URLs as Outputs), one alias. The
config the router gets is read back from its ConfigMap and parsed as LiteLLM parses it (YAML).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pydantic import ValidationError

from components import model_router
from components.model_router import Backend, ModelRouter, ModelRouterArgs, render_config
from config.router_config import DEFAULT_ROUTER_IMAGE, ROUTER_VERSION, RouterConfig, router_problems
from tests.component_run import (
    ComponentRun,
    Register,
    assert_valid_kubernetes,
    plain_strings,
    run_component,
    with_overrides,
)
from tools.mock_run import is_secret
from tools.mock_run import reveal as unwrap

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "sk_router_plain_5e1d"
NAMESPACE = "inference"
PHI, QWEN = "microsoft/Phi-4-mini-instruct", "Qwen/Qwen2.5-7B-Instruct"
PHI_URLS = ["http://vllm-phi-0.vllm-phi-pods.inference.svc.cluster.local:8000"]
QWEN_URLS = [
    "http://vllm-qwen-0.vllm-qwen-pods.inference.svc.cluster.local:8000",
    "http://vllm-qwen-1.vllm-qwen-pods.inference.svc.cluster.local:8000",
]
OUTPUTS = ["service_name", "url", "external_url", "selector_labels", "config"]


class Deployment(ComponentRun):
    workload = ("kubernetes:apps/v1:Deployment", "router")

    def one(self, typ: str, name: str = "router") -> dict[str, Any]:
        return super().one(typ, name)

    @property
    def deployment(self) -> dict[str, Any]:
        return self.one(*self.workload)

    @property
    def config(self) -> dict[str, Any]:
        data = self.one("kubernetes:core/v1:ConfigMap", "router-config")["data"]
        parsed: dict[str, Any] = yaml.safe_load(data["config.yaml"])
        return parsed


def typical_args(**overrides: Any) -> ModelRouterArgs:
    args: dict[str, Any] = {
        "namespace": NAMESPACE,
        # As VllmService hands them over: Outputs.
        "backends": [
            {"served_model_name": pulumi.Output.from_input(PHI), "urls": pulumi.Output.from_input(PHI_URLS)},
            {"served_model_name": pulumi.Output.from_input(QWEN), "urls": [pulumi.Output.from_input(u) for u in QWEN_URLS]},
        ],
        "aliases": {"qwen": QWEN},
        "replicas": 2,
        "image": DEFAULT_ROUTER_IMAGE,
        "expose": "ClusterIP",
        "allowed_namespaces": ["apps"],
        "api_key": pulumi.Output.secret(API_KEY),
    }
    return with_overrides(args, overrides)  # type: ignore[return-value]


def deploy(register: Register, **overrides: Any) -> Deployment:
    return Deployment(*run_component(register, lambda opts: ModelRouter("router", typical_args(**overrides), opts), OUTPUTS))


# --- the config: every server, every replica, the aliases ---------------------------------------


def test_config_names_every_server_replica_and_alias(register: Register) -> None:
    config = deploy(register).config
    routes = [(m["model_name"], m["litellm_params"]["api_base"], m["litellm_params"]["model"]) for m in config["model_list"]]
    assert routes == [
        (PHI, f"{PHI_URLS[0]}/v1", f"hosted_vllm/{PHI}"),
        (QWEN, f"{QWEN_URLS[0]}/v1", f"hosted_vllm/{QWEN}"),
        (QWEN, f"{QWEN_URLS[1]}/v1", f"hosted_vllm/{QWEN}"),
    ]
    assert config["router_settings"]["model_group_alias"] == {"qwen": QWEN}


def test_a_failed_replica_is_rested_and_retried_elsewhere(register: Register) -> None:
    settings = deploy(register).config["router_settings"]
    assert settings["num_retries"] >= 1
    assert settings["allowed_fails"] == 0  # rested at its first failure: the retry goes elsewhere
    assert 0 < settings["cooldown_time"] <= 60


def test_keys_come_from_the_environment_never_the_config(register: Register) -> None:
    deployment = deploy(register)
    text = deployment.one("kubernetes:core/v1:ConfigMap", "router-config")["data"]["config.yaml"]
    assert API_KEY not in text
    config = deployment.config
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    assert config["general_settings"]["custom_auth"] == "key_auth.user_api_key_auth"
    assert {m["litellm_params"]["api_key"] for m in config["model_list"]} == {"os.environ/VLLM_API_KEY"}
    hook = deployment.one("kubernetes:core/v1:ConfigMap", "router-config")["data"]["key_auth.py"]
    assert "async def user_api_key_auth" in hook and "compare_digest" in hook


def test_without_a_key_the_router_is_open_and_has_no_secret(register: Register) -> None:
    deployment = deploy(register, api_key=None)
    config = deployment.config
    assert config["general_settings"] == {"dangerously_permit_weak_or_unset_master_key": True}
    assert all("api_key" not in m["litellm_params"] for m in config["model_list"])
    assert deployment.of("kubernetes:core/v1:Secret") == []
    assert "key_auth.py" not in deployment.one("kubernetes:core/v1:ConfigMap", "router-config")["data"]
    names = {e["name"] for e in deployment.container["env"]}
    assert not names & {"LITELLM_MASTER_KEY", "VLLM_API_KEY"}


def test_api_key_reaches_the_pod_only_from_the_secret(register: Register) -> None:
    deployment = deploy(register)
    secret = deployment.one("kubernetes:core/v1:Secret", "router-api-key")
    assert unwrap(secret["stringData"]) == {"key": API_KEY}
    assert is_secret(secret["stringData"]) or all(is_secret(v) for v in secret["stringData"].values())
    env = {e["name"]: e for e in deployment.container["env"]}
    for variable in ("LITELLM_MASTER_KEY", "VLLM_API_KEY"):
        assert env[variable]["valueFrom"]["secretKeyRef"] == {"name": "router-api-key", "key": "key"}
    for registration in deployment.registrations:
        for text in plain_strings(registration.inputs):
            assert API_KEY not in text, f"plain key in {registration.type} {registration.name}"


def test_a_new_api_key_rolls_the_pods(register: Register) -> None:
    """The proxy reads the key from its environment at start: a new key must change the pod template."""

    def fingerprint(**overrides: Any) -> str | None:
        annotations = deploy(register, **overrides).deployment["spec"]["template"]["metadata"]["annotations"]
        value: str | None = annotations.get("sks-mig.io/secrets-fingerprint")
        return value

    first, again = fingerprint(), fingerprint()
    other = fingerprint(api_key=pulumi.Output.secret(API_KEY + "-rotated"))
    assert first is not None and re.fullmatch(r"[0-9a-f]{64}", first)
    assert first == again and other not in (None, first)
    assert fingerprint(api_key=None) is None  # nothing secret, nothing to fingerprint
    # Shown in clear (it is no secret) and not the key's plain SHA-256.
    import hashlib

    assert first != hashlib.sha256(API_KEY.encode()).hexdigest()
    annotations = deploy(register).deployment["spec"]["template"]["metadata"]["annotations"]
    assert not is_secret(annotations["sks-mig.io/secrets-fingerprint"])


def test_config_change_rolls_the_pods(register: Register) -> None:
    first = deploy(register).deployment["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/config-sha256"]
    again = deploy(register).deployment["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/config-sha256"]
    other = deploy(register, aliases={}).deployment["spec"]["template"]["metadata"]["annotations"]
    assert first == again and re.fullmatch(r"[0-9a-f]{64}", first)
    assert other["sks-mig.io/config-sha256"] != first


@pytest.mark.parametrize(
    ("backends", "aliases", "message"),
    [
        ([Backend(PHI, ("http://a",)), Backend(PHI, ("http://b",))], {}, "two model servers serve"),
        ([Backend(PHI, ("http://a",))], {"phi": "nope"}, "no server serves"),
        ([Backend(PHI, ("http://a",)), Backend(QWEN, ("http://b",))], {QWEN: PHI}, "already a served model name"),
        ([Backend(PHI, ())], {}, "no URL"),
    ],
)
def test_render_refuses_what_would_route_wrongly(backends: list[Backend], aliases: dict[str, str], message: str) -> None:
    # A refusal with the message (it may run inside an apply), naming the component.
    with pytest.raises(pulumi.RunError, match=f"^ModelRouter r: .*{message}"):
        render_config(backends, aliases, api_key=True, who="ModelRouter r")


@pytest.mark.parametrize(
    ("backends", "aliases", "message"),
    [
        ([(PHI, PHI_URLS), (PHI, QWEN_URLS)], {}, "ModelRouter router: backends: two model servers serve 'microsoft/Phi-4-mini-instruct'"),
        ([(PHI, PHI_URLS)], {"phi": "nope"}, "ModelRouter router: aliases: alias 'phi' points at 'nope', which no server serves; served: "),
        ([(PHI, PHI_URLS), (QWEN, QWEN_URLS)], {QWEN: PHI}, "ModelRouter router: aliases: alias 'Qwen/Qwen2.5-7B-Instruct' is already a served"),
        ([(PHI, [])], {}, "ModelRouter router: backends: model 'microsoft/Phi-4-mini-instruct' has no URL"),
    ],
)
def test_known_names_that_would_route_wrongly_are_refused_before_anything_exists(
    backends: list[tuple[str, list[str]]], aliases: dict[str, str], message: str
) -> None:
    args = typical_args(backends=[{"served_model_name": name, "urls": urls} for name, urls in backends], aliases=aliases)
    with pytest.raises(pulumi.RunError) as refused:
        ModelRouter("router", args)
    assert message in str(refused.value)


def test_output_names_that_would_route_wrongly_stop_the_program_with_the_message(register: Register) -> None:
    # Names known only as outputs (VllmService.served_model_name) are checked when the config is
    # rendered, inside an apply: the program still stops with the message alone.
    from pulumi.runtime.settings import SETTINGS

    from tools.mock_run import ProgramFailed

    try:
        with pytest.raises(ProgramFailed) as failed:
            deploy(register, aliases={"phi": "nope"})
    finally:
        # The run stopped at the first failed registration and left the others queued, which
        # the next run would wait for; the SDK's own pulumi.runtime.test clears them so.
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
    assert str(failed.value).startswith("ModelRouter router: aliases: alias 'phi' points at 'nope'")


# --- the Deployment --------------------------------------------------------------------------------


def test_replicas_spread_over_nodes_with_a_disruption_budget(register: Register) -> None:
    deployment = deploy(register, replicas=3)
    assert deployment.deployment["spec"]["replicas"] == 3
    (spread,) = deployment.pod["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"], spread["maxSkew"]) == (
        "kubernetes.io/hostname", "ScheduleAnyway", 1)
    pod_labels = deployment.deployment["spec"]["template"]["metadata"]["labels"]
    assert spread["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    budget = deployment.one("kubernetes:policy/v1:PodDisruptionBudget")["spec"]
    assert budget["maxUnavailable"] == 1
    assert budget["selector"]["matchLabels"].items() <= pod_labels.items()
    # A pod that is not ready (crash-looping, starting) never blocks a drain, as for the servers.
    assert budget["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    strategy = deployment.deployment["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxSurge": 1, "maxUnavailable": 0}


def test_one_replica_has_no_disruption_budget(register: Register) -> None:
    # A budget of maxUnavailable 1 over one pod would be meaningless; none is made.
    assert deploy(register, replicas=1).of("kubernetes:policy/v1:PodDisruptionBudget") == []


def test_runs_the_pinned_proxy_with_its_config(register: Register) -> None:
    deployment = deploy(register)
    container = deployment.container
    assert container["image"] == f"ghcr.io/berriai/litellm-non_root:v{ROUTER_VERSION}"
    args = container["args"]
    assert args[args.index("--config") + 1] == "/etc/litellm/config.yaml"
    assert args[args.index("--port") + 1] == "4000"
    assert args[args.index("--prometheus_metrics_port") + 1] == "4001"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume = next(v for v in deployment.pod["volumes"] if v["name"] == mounts["/etc/litellm"])
    assert volume["configMap"]["name"] == "router-config"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"  # no download at start
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")


def test_probes_use_the_unauthenticated_health_endpoints(register: Register) -> None:
    container = deploy(register).container
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert container["startupProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    probe = container["startupProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 60  # a slow node's start-up


def test_container_is_locked_down_and_non_root(register: Register) -> None:
    deployment = deploy(register)
    pod_context = deployment.pod["securityContext"]
    assert pod_context["runAsNonRoot"] is True and pod_context["runAsUser"] == 65534
    assert pod_context["seccompProfile"]["type"] == "RuntimeDefault"
    context = deployment.container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    writable = {m["mountPath"] for m in deployment.container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp", "/var/lib/litellm"}
    assert deployment.pod["automountServiceAccountToken"] is False
    assert deployment.container["resources"]["limits"]["memory"]


# --- the Service and the NetworkPolicy -------------------------------------------------------------


def test_outputs_name_the_in_cluster_endpoint_and_the_pods(register: Register) -> None:
    deployment = deploy(register)
    assert deployment.outputs["service_name"] == "router"
    assert deployment.outputs["url"] == "http://router.inference.svc.cluster.local:4000/v1"
    assert deployment.outputs["external_url"] is None  # ClusterIP
    labels = deployment.outputs["selector_labels"]
    pod_labels = deployment.deployment["spec"]["template"]["metadata"]["labels"]
    assert labels.items() <= pod_labels.items()
    assert labels["app.kubernetes.io/component"] == "model-router"
    assert labels == model_router.router_selector("router")  # known before the router exists
    service = deployment.one("kubernetes:core/v1:Service")["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": 4000, "targetPort": "http", "protocol": "TCP"}]
    assert service["selector"] == labels


def test_network_policy_admits_clients_and_reaches_only_servers_and_dns(register: Register) -> None:
    deployment = deploy(register, allowed_namespaces=["apps", "monitoring"])
    policy = deployment.one("kubernetes:networking.k8s.io/v1:NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == deployment.outputs["selector_labels"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = policy["ingress"]
    assert rule["from"] == [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]
    assert {p["port"] for p in rule["ports"]} == {4000, 4001}
    servers, dns = policy["egress"]
    assert servers["to"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "model-server"}}}]
    assert servers["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert dns["to"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}]
    assert {(p["port"], p["protocol"]) for p in dns["ports"]} == {(53, "UDP"), (53, "TCP")}


LOAD_BALANCER = {
    "expose": "LoadBalancer",
    "load_balancer_source_cidrs": ["203.0.113.0/24", "2001:db8::/32"],
    "load_balancer_instance_pool_id": pulumi.Output.from_input("system-pool-id"),
}


def test_a_load_balancer_opens_the_api_port_to_the_client_networks_only(register: Register) -> None:
    deployment = deploy(register, **LOAD_BALANCER)
    service = deployment.one("kubernetes:core/v1:Service")
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["externalTrafficPolicy"] == "Local"  # clients arrive as themselves
    annotations = service["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/exoscale-loadbalancer-service-instancepool-id"] == "system-pool-id"
    assert annotations["service.beta.kubernetes.io/exoscale-loadbalancer-service-healthcheck-mode"] == "http"
    policy = deployment.one("kubernetes:networking.k8s.io/v1:NetworkPolicy")["spec"]
    outside = policy["ingress"][1]
    assert outside == {
        "from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}, {"ipBlock": {"cidr": "2001:db8::/32"}}],
        "ports": [{"port": 4000, "protocol": "TCP"}],  # never the metrics port
    }


def test_the_monitoring_namespace_may_scrape_metrics_only(register: Register) -> None:
    policy = deploy(register, monitoring_namespace="monitoring").one("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    scrape = policy["spec"]["ingress"][1]
    assert scrape == {
        "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"port": 4001, "protocol": "TCP"}],
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({**LOAD_BALANCER, "api_key": None}, "api_key"),
        ({**LOAD_BALANCER, "load_balancer_source_cidrs": []}, "load_balancer_source_cidrs"),
        ({**LOAD_BALANCER, "load_balancer_source_cidrs": ["10.0.0.300/8"]}, "not a CIDR"),
        ({**LOAD_BALANCER, "load_balancer_instance_pool_id": None}, "load_balancer_instance_pool_id"),
        ({"expose": "NodePort"}, "ClusterIP or LoadBalancer"),
        ({"replicas": 0}, "replicas"),
        ({"backends": []}, "no backends"),
    ],
)
def test_refuses_unsafe_arguments(register: Register, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(pulumi.RunError, match=message):
        ModelRouter("router", typical_args(**overrides))


def test_refuses_a_name_that_is_no_dns_label() -> None:
    with pytest.raises(pulumi.RunError, match="DNS label"):
        ModelRouter("Router_1", typical_args())


@pytest.mark.parametrize("expose", ["ClusterIP", "LoadBalancer"])
@pytest.mark.parametrize("replicas", [1, 2])
def test_every_object_validates_against_kubernetes_1_36(register: Register, expose: str, replicas: int) -> None:
    exposure = LOAD_BALANCER if expose == "LoadBalancer" else {}
    deployment = deploy(register, replicas=replicas, monitoring_namespace="monitoring", **exposure)
    assert len(deployment.kubernetes_objects) == (6 if replicas > 1 else 5)
    for registration in deployment.kubernetes_objects:
        assert registration.inputs["metadata"]["namespace"] == NAMESPACE
    assert_valid_kubernetes(deployment.kubernetes_objects)


# --- the pins --------------------------------------------------------------------------------------


def test_image_and_tested_package_are_the_same_version() -> None:
    pins = (ROOT / "requirements-router.txt").read_text(encoding="utf-8")
    assert re.search(rf"^litellm\[proxy\]=={re.escape(ROUTER_VERSION)} \\$", pins, re.MULTILINE)
    assert DEFAULT_ROUTER_IMAGE.endswith(f":v{ROUTER_VERSION}")
    # Every requirement pinned exactly and with a hash: nothing can slip in unreviewed.
    requirements = [line for line in pins.splitlines() if line and not line.startswith((" ", "#"))]
    assert requirements and all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[^=\s]+ \\", r) for r in requirements)
    assert pins.count("--hash=sha256:") == len(requirements)


def test_the_auth_hook_shipped_is_the_one_in_the_repo() -> None:
    assert model_router.key_auth_source() == (ROOT / "components" / "router" / "key_auth.py").read_text(encoding="utf-8")


# --- the config section, sks-mig:router ------------------------------------------------------------

SERVED = ["microsoft/Phi-4-mini-instruct", "Qwen/Qwen2.5-7B-Instruct"]


def test_router_section_defaults_and_camel_case_keys() -> None:
    router = RouterConfig.model_validate({"aliases": {"qwen": QWEN}, "allowedNamespaces": ["apps"]})
    assert (router.enabled, router.replicas, router.expose, router.image) == (None, 2, "ClusterIP", DEFAULT_ROUTER_IMAGE)
    assert router.is_on(model_count=2) and not router.is_on(model_count=0)
    assert not RouterConfig.model_validate({"enabled": False}).is_on(model_count=2)


@pytest.mark.parametrize(
    ("raw", "where", "message"),
    [
        ({"replicas": "2"}, ("replicas",), "valid integer"),  # strict: a string is not a number
        ({"replicas": 0}, ("replicas",), "greater than or equal to 1"),
        ({"image": "ghcr.io/berriai/litellm:latest"}, ("image",), "latest"),
        ({"expose": "NodePort"}, ("expose",), "'ClusterIP' or 'LoadBalancer'"),
        ({"aliases": {"my model": QWEN}}, ("aliases", "my model", "[key]"), "space"),
        ({"allowed_namespaces": []}, ("allowed_namespaces",), "Extra inputs"),  # camelCase only
    ],
)
def test_router_section_refuses_bad_values(raw: dict[str, Any], where: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RouterConfig.model_validate(raw)
    (error,) = refused.value.errors()
    assert error["loc"] == where and message in error["msg"]


def test_router_rules_that_need_the_stack() -> None:
    router = RouterConfig.model_validate(
        {"replicas": 1, "expose": "LoadBalancer", "aliases": {"qwen": QWEN, "phi": "nope", PHI: QWEN}}
    )
    problems = router_problems(
        router, environment="prod", api_key_set=False, served_names=[*SERVED, QWEN],
        server_exposes={0: "ClusterIP", 1: "LoadBalancer"},
    )
    expected = [
        "sks-mig:router.replicas: 1 is not accepted for a prod stack",
        "sks-mig:router.expose: 'LoadBalancer' puts the router on the internet and needs an API key",
        "sks-mig:cluster.nodePortCidrs: empty, but router.expose is LoadBalancer",
        "sks-mig:models[1].expose: 'LoadBalancer' is not accepted while the router is on",
        "sks-mig:models[2].servedModelName: 'Qwen/Qwen2.5-7B-Instruct' is already the served name of models[1]",
        "sks-mig:router.aliases.phi: 'nope' is not a served model name; valid: microsoft/Phi-4-mini-instruct, Qwen/Qwen2.5-7B-Instruct",
        "is already a served model name; an alias must be a new name",
    ]
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert start in problem, problem


def test_router_rules_pass_a_good_stack_and_an_empty_one() -> None:
    router = RouterConfig.model_validate({"aliases": {"qwen": QWEN}})
    assert router_problems(router, environment="prod", api_key_set=True, served_names=SERVED,
                           server_exposes={0: "ClusterIP", 1: "ClusterIP"}) == []
    exposed = RouterConfig.model_validate({"expose": "LoadBalancer"})
    assert router_problems(exposed, environment="prod", api_key_set=True, served_names=SERVED,
                           server_exposes={}, node_port_cidrs=["203.0.113.0/24"]) == []
    assert router_problems(RouterConfig(), environment="dev", api_key_set=False, served_names=[], server_exposes={}) == []
    (problem,) = router_problems(RouterConfig.model_validate({"enabled": True}), environment="dev",
                                 api_key_set=False, served_names=[], server_exposes={})
    assert problem.startswith("sks-mig:router.enabled: true is not accepted: there are no models")


def test_the_component_host_infers_every_input_and_output() -> None:
    from pulumi.provider.experimental.analyzer import Analyzer

    (router,) = Analyzer("sks-mig").analyze([ModelRouter])["component_definitions"].values()
    assert set(router.inputs) == {"namespace", "backends", "aliases", "replicas", "image", "expose",
                                  "allowedNamespaces", "apiKey", "loadBalancerSourceCidrs",
                                  "loadBalancerInstancePoolId", "monitoringNamespace"}
    assert set(router.outputs) == {"serviceName", "url", "externalUrl", "selectorLabels", "config"}
    assert router.inputs["apiKey"].optional and router.inputs["monitoringNamespace"].optional
    assert not router.inputs["backends"].optional
