"""One OpenAI-compatible endpoint for every model server: LiteLLM's proxy in front of them.

A Deployment of the proxy (spread over nodes, a PodDisruptionBudget when there are several), its
Service, a ConfigMap with the proxy's config generated from the servers' outputs (served model
names, aliases, in-cluster URLs), a NetworkPolicy, and the API key as a Secret. Each request goes
to the servers of its `model`; `/v1/models` lists every served name and alias; streamed answers
pass through chunk by chunk; a replica that cannot be reached is retried on another and rested;
a model whose every replica is down fails within about a second with the connection error.

The config is rendered by `render_config`, which the tests also use to start the real proxy
(tests/test_router_process.py), so what is tested is what is deployed.
"""

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s
import yaml

import contract
from components import load_balancer, vllm_service
from components.secret_fingerprint import fingerprint

# LiteLLM's default port; metrics on their own port, which no Service carries.
PORT = 4000
METRICS_PORT = 4001
CONFIG_DIR = "/etc/litellm"
CONFIG_FILE = "config.yaml"
KEY_AUTH_FILE = "key_auth.py"
KEY_AUTH_SOURCE = Path(__file__).resolve().parent / "router" / KEY_AUTH_FILE
# The image's user (docker/Dockerfile.non_root: USER nobody). Numeric, because the kubelet cannot
# check runAsNonRoot against a user name.
RUN_AS_USER = 65534
# Environment the proxy reads for the keys (never written into the config itself).
MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
BACKEND_KEY_ENV = "VLLM_API_KEY"
# Plain settings, the same in the pod and in the tests:
# - the model price map ships in the package; without this LiteLLM fetches it from GitHub at start;
# - PRODUCTION skips loading a .env file from the working directory;
# - no admin UI and no API docs on the clients' port;
# - retries of a model whose every replica is down back off 0.2 s, 0.4 s (+ up to 0.2 s jitter)
#   instead of 0.5 s, 1 s (+ 0.75 s): the client hears of it within about a second;
# - the metrics process reads the workers' samples from this directory (an emptyDir).
PLAIN_ENV: dict[str, str] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "INITIAL_RETRY_DELAY": "0.2",
    "JITTER": "0.2",
    "PROMETHEUS_MULTIPROC_DIR": "/tmp/prometheus",
    # The auth hook is imported from the read-only config mount: no bytecode to write there.
    "PYTHONDONTWRITEBYTECODE": "1",
}
# Routing (LiteLLM router_settings): a replica that fails (connection refused, 5xx) is rested for
# COOLDOWN_SECONDS at its first failure, so the retry goes to another replica.
NUM_RETRIES = 2
COOLDOWN_SECONDS = 10
REQUEST_TIMEOUT_SECONDS = 600
PRESTOP_SECONDS = 10
TERMINATION_GRACE_SECONDS = PRESTOP_SECONDS + 80

_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$")


class RouterBackend(TypedDict):
    """One model server behind the router."""

    served_model_name: pulumi.Input[str]
    """The name clients send (VllmService.served_model_name)."""
    urls: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Base URLs without /v1: one per replica (so a failed replica is retried on another), or the
    server's Service (VllmService.url)."""


class ModelRouterArgs(TypedDict):
    namespace: pulumi.Input[str]
    """The model servers' namespace; the router runs there too."""
    backends: list[RouterBackend]
    aliases: dict[str, str]
    """Alias → served model name."""
    replicas: int
    image: str
    """LiteLLM's non-root proxy image (config/router_config.py pins the default)."""
    expose: str
    """ClusterIP or LoadBalancer (the latter only with api_key)."""
    allowed_namespaces: list[str]
    """Namespaces whose pods may call the router, besides its own."""
    api_key: NotRequired[pulumi.Input[str]]
    """API key (a Pulumi secret): required from clients, and sent to the servers."""
    load_balancer_source_cidrs: NotRequired[list[str]]
    """With expose LoadBalancer: the client networks the NetworkPolicy admits (the cluster's
    nodePortCidrs, which the security group admits to the NodePorts), as for VllmService."""
    load_balancer_instance_pool_id: NotRequired[pulumi.Input[str]]
    """With expose LoadBalancer: the instance pool the router's pods run in (the system nodepool's)."""
    monitoring_namespace: NotRequired[str]
    """A namespace whose pods (Prometheus) may scrape the metrics port."""


@dataclass(frozen=True)
class Backend:
    """A backend with its outputs resolved, as `render_config` takes it."""

    served_model_name: str
    urls: tuple[str, ...]


def router_selector(name: str) -> dict[str, str]:
    """The labels of the pods of the router named `name`: known before the router exists, so the
    model servers created first can admit exactly these pods (`selector_labels` is the same)."""
    return {"app.kubernetes.io/name": name, contract.COMPONENT_LABEL: contract.MODEL_ROUTER}


def routing_problem(served: Sequence[str], aliases: Mapping[str, str]) -> str | None:
    """What would route wrongly, or None: a served name twice, an alias that hides a served name
    or points at none."""
    for name in served:
        if served.count(name) > 1:
            return f"backends: two model servers serve {name!r}; behind one router each needs its own name"
    for alias, target in aliases.items():
        if alias in served:
            return f"aliases: alias {alias!r} is already a served model name; choose another alias"
        if target not in served:
            return f"aliases: alias {alias!r} points at {target!r}, which no server serves; served: {', '.join(served)}"
    return None


def render_config(
    backends: Sequence[Backend], aliases: Mapping[str, str], *, api_key: bool, who: str = "ModelRouter"
) -> str:
    """The proxy's config.yaml: every replica of every server as a deployment of its served name,
    the aliases, the retry policy and, with an API key, the key check. Refuses what would route
    wrongly (`routing_problem`, or a server without a URL) with a pulumi.RunError that `who` (the
    component and its name) starts: it runs inside an apply when the names are outputs."""
    problem = routing_problem([backend.served_model_name for backend in backends], aliases)
    if problem is not None:
        raise pulumi.RunError(f"{who}: {problem}")
    model_list: list[dict[str, Any]] = []
    for backend in backends:
        if not backend.urls:
            raise pulumi.RunError(
                f"{who}: backends: model {backend.served_model_name!r} has no URL to send requests to"
            )
        for url in backend.urls:
            params: dict[str, Any] = {
                # hosted_vllm: LiteLLM's provider for vLLM's OpenAI-compatible server; it sends the
                # part after the first "/" as `model`, i.e. the served name.
                "model": f"hosted_vllm/{backend.served_model_name}",
                "api_base": f"{url.rstrip('/')}/v1",
            }
            if api_key:
                params["api_key"] = f"os.environ/{BACKEND_KEY_ENV}"
            model_list.append({"model_name": backend.served_model_name, "litellm_params": params})
    general: dict[str, Any]
    if api_key:
        # The hook (components/router/key_auth.py) answers 401 for a missing or wrong key; LiteLLM
        # itself also wants the master key set, and then route checks keep a key holder off the
        # admin routes.
        general = {
            "master_key": f"os.environ/{MASTER_KEY_ENV}",
            "custom_auth": f"{KEY_AUTH_FILE.removesuffix('.py')}.user_api_key_auth",
            "custom_auth_run_common_checks": True,
        }
    else:
        # No key configured: open like the servers themselves (ClusterIP only, see _check). LiteLLM
        # refuses to start without a master key unless told so.
        general = {"dangerously_permit_weak_or_unset_master_key": True}
    config = {
        "model_list": model_list,
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "num_retries": NUM_RETRIES,
            "retry_after": 0,
            "allowed_fails": 0,
            "cooldown_time": COOLDOWN_SECONDS,
            "model_group_alias": dict(aliases),
        },
        "general_settings": general,
        "litellm_settings": {
            "callbacks": ["prometheus"],
            "request_timeout": REQUEST_TIMEOUT_SECONDS,
            # Counting tokens (e.g. for a failed request's logs) would otherwise download a
            # tokenizer from huggingface.co for llama-, cohere- or claude-named models: the egress
            # policy blocks it and the error answer waits for the download's retries. Counting
            # uses the tokenizer bundled with LiteLLM instead (utils.py, _select_tokenizer_helper).
            "disable_hf_tokenizer_download": True,
        },
    }
    return yaml.safe_dump(config, sort_keys=False)


def key_auth_source() -> str:
    return KEY_AUTH_SOURCE.read_text(encoding="utf-8")


def router_args(config_path: str, *, host: str, port: int, metrics_port: int) -> list[str]:
    """The proxy's command-line arguments (the image's entrypoint runs `litellm "$@"`)."""
    return [
        "--config", config_path,
        "--host", host,
        "--port", str(port),
        # One worker per pod; more pods scale it. Metrics from a separate process on their own
        # port, unauthenticated there, so it must stay off the Service (LiteLLM's --help says so).
        "--num_workers", "1",
        "--prometheus_metrics_port", str(metrics_port),
    ]


class ModelRouter(pulumi.ComponentResource):
    """LiteLLM's proxy routing OpenAI-compatible requests to model servers by their `model`."""

    service_name: pulumi.Output[str]
    url: pulumi.Output[str]
    """In-cluster base URL: http://<service>.<namespace>.svc.cluster.local:4000/v1."""
    external_url: pulumi.Output[str | None]
    """http://<load balancer address>:4000/v1 once exposed and provisioned, else None."""
    selector_labels: pulumi.Output[dict[str, str]]
    """The labels of the router's pods: the servers' NetworkPolicies admit these."""
    config: pulumi.Output[str]
    """The rendered config.yaml (no secrets in it: keys come from the environment)."""

    def __init__(self, name: str, args: ModelRouterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _check(name, args)
        super().__init__(contract.MODEL_ROUTER_COMPONENT, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = args["namespace"]
        api_key = args.get("api_key")
        selector = router_selector(name)
        labels = {**selector, "app.kubernetes.io/part-of": "sks-mig", "app.kubernetes.io/managed-by": "pulumi"}

        backends = [
            pulumi.Output.all(backend["served_model_name"], backend["urls"]).apply(
                lambda resolved: Backend(str(resolved[0]), tuple(str(url) for url in resolved[1]))
            )
            for backend in args["backends"]
        ]
        aliases = dict(args["aliases"])
        rendered = pulumi.Output.all(*backends).apply(
            lambda resolved: render_config(list(resolved), aliases, api_key=api_key is not None, who=f"ModelRouter {name}")
        )
        data: dict[str, pulumi.Input[str]] = {CONFIG_FILE: rendered}
        if api_key is not None:
            data[KEY_AUTH_FILE] = key_auth_source()
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=_metadata(f"{name}-config", namespace, labels), data=data, opts=child
        )

        key_secret: pulumi.Output[str] | None = None
        if api_key is not None:
            secret = k8s.core.v1.Secret(
                f"{name}-api-key",
                metadata=_metadata(f"{name}-api-key", namespace, labels),
                type="Opaque",
                # Output.secret: encrypted in the state even if a caller passes a plain string.
                string_data={"key": pulumi.Output.secret(api_key)},
                opts=child,
            )
            key_secret = secret.metadata.apply(lambda m: str(m.name))

        # A changed config must restart the proxy (it reads config.yaml once): its hash is in the
        # pod template, so a change rolls the Deployment. So must a changed API key (read from the
        # environment at start): its fingerprint is there too.
        checksum = pulumi.Output.all(*data.values()).apply(
            lambda texts: hashlib.sha256("\0".join(str(t) for t in texts).encode()).hexdigest()
        )
        pod_annotations: dict[str, pulumi.Input[str]] = {
            contract.ANNOTATION_CONFIG_SHA256: checksum,
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics/",
            "kubectl.kubernetes.io/default-container": "router",
        }
        if api_key is not None:
            pod_annotations[contract.ANNOTATION_SECRETS_FINGERPRINT] = fingerprint({BACKEND_KEY_ENV: api_key})
        config_name = config_map.metadata.apply(lambda m: str(m.name))
        k8s.apps.v1.Deployment(
            name,
            metadata=_metadata(name, namespace, labels),
            spec={
                "replicas": args["replicas"],
                "selector": {"match_labels": selector},
                # A new pod is ready before an old one goes: the endpoint never drops to zero.
                "strategy": {"type": "RollingUpdate", "rolling_update": {"max_surge": 1, "max_unavailable": 0}},
                "template": {
                    "metadata": {"labels": labels, "annotations": pod_annotations},
                    "spec": _pod_spec(args, selector, config_name, key_secret),
                },
            },
            opts=child,
        )
        if args["replicas"] > 1:
            # As for the model servers: one pod at a time, and pods that are not ready never
            # block a drain (unhealthyPodEvictionPolicy AlwaysAllow,
            # kubernetes.io/docs/tasks/run-application/configure-pdb).
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata=_metadata(name, namespace, labels),
                spec={
                    "max_unavailable": 1,
                    "selector": {"match_labels": selector},
                    "unhealthy_pod_eviction_policy": "AlwaysAllow",
                },
                opts=child,
            )
        # A LoadBalancer forwards to the pool the router's pods run in, as for the servers.
        service = load_balancer.client_service(
            name,
            _metadata(name, namespace, labels),
            selector,
            PORT,
            args["expose"],
            args.get("load_balancer_instance_pool_id"),
            child,
        )
        k8s.networking.v1.NetworkPolicy(
            name,
            metadata=_metadata(name, namespace, labels),
            spec={
                "pod_selector": {"match_labels": selector},
                "policy_types": ["Ingress", "Egress"],
                "ingress": _ingress_rules(args),
                "egress": _egress_rules(),
            },
            opts=child,
        )

        self.service_name = service.metadata.apply(lambda m: str(m.name))
        self.url = pulumi.Output.concat(
            "http://", self.service_name, ".", namespace, f".svc.cluster.local:{PORT}/v1"
        )
        self.external_url = service.status.apply(_external_url)
        self.selector_labels = pulumi.Output.from_input(selector)
        self.config = rendered
        self.register_outputs(
            {
                "service_name": self.service_name,
                "url": self.url,
                "external_url": self.external_url,
                "selector_labels": self.selector_labels,
                "config": self.config,
            }
        )


def _metadata(name: str, namespace: pulumi.Input[str], labels: dict[str, str]) -> k8s.meta.v1.ObjectMetaArgsDict:
    return {"name": name, "namespace": namespace, "labels": labels}


def _external_url(status: Any) -> str | None:
    """The load balancer's address once provisioned (status.loadBalancer.ingress[0])."""
    ingress = getattr(getattr(status, "load_balancer", None), "ingress", None) or []
    if not ingress:
        return None
    address = getattr(ingress[0], "ip", None) or getattr(ingress[0], "hostname", None)
    return f"http://{address}:{PORT}/v1" if address else None


def _check(name: str, args: ModelRouterArgs) -> None:
    """Refuse what would deploy a broken or open router; the stack config checked most of it, but
    the component may be reused without it."""
    if not _NAME.match(name):
        raise pulumi.RunError(
            f"ModelRouter name {name!r} must be a DNS label of at most 52 characters "
            "(lowercase letters, digits and '-', starting with a letter)"
        )
    if args["replicas"] < 1:
        raise pulumi.RunError(f"ModelRouter {name}: replicas must be 1 or more, not {args['replicas']}")
    load_balancer.check_expose(f"ModelRouter {name}", args["expose"], args.get("api_key"), "router")
    if args["expose"] == "LoadBalancer":
        load_balancer.check_addressing(
            f"ModelRouter {name}",
            args.get("load_balancer_source_cidrs"),
            args.get("load_balancer_instance_pool_id"),
            why_cidrs="",
            cidr_examples="'203.0.113.0/24'",
            which_pool="the instance pool the router runs in (the system nodepool's): with several pools "
            "the CCM cannot pick one",
        )
    if not args["backends"]:
        raise pulumi.RunError(f"ModelRouter {name}: no backends; a router needs at least one model server")
    # Known names are checked here, before anything is registered; names that are outputs (a
    # VllmService's served_model_name) when the config is rendered.
    served = [backend["served_model_name"] for backend in args["backends"]]
    if all(isinstance(served_name, str) for served_name in served):
        problem = routing_problem([str(served_name) for served_name in served], args["aliases"])
        if problem is not None:
            raise pulumi.RunError(f"ModelRouter {name}: {problem}")
    for index, backend in enumerate(args["backends"]):
        urls, served_name = backend["urls"], backend["served_model_name"]
        if isinstance(urls, (list, tuple)) and not urls:
            model = repr(served_name) if isinstance(served_name, str) else f"of backends[{index}]"
            raise pulumi.RunError(f"ModelRouter {name}: backends: model {model} has no URL to send requests to")


def _pod_spec(
    args: ModelRouterArgs,
    selector: dict[str, str],
    config_name: pulumi.Output[str],
    key_secret: pulumi.Output[str] | None,
) -> k8s.core.v1.PodSpecArgsDict:
    env: list[k8s.core.v1.EnvVarArgsDict] = [{"name": k, "value": v} for k, v in PLAIN_ENV.items()]
    if key_secret is not None:
        for variable in (MASTER_KEY_ENV, BACKEND_KEY_ENV):
            env.append({"name": variable, "value_from": {"secret_key_ref": {"name": key_secret, "key": "key"}}})
    http_probe: k8s.core.v1.HTTPGetActionArgsDict = {"path": "/health/liveliness", "port": "http"}
    return {
        # A Service named like a LiteLLM setting would inject <NAME>_PORT variables it may read.
        "enable_service_links": False,
        # The proxy never calls the Kubernetes API.
        "automount_service_account_token": False,
        "termination_grace_period_seconds": TERMINATION_GRACE_SECONDS,
        # Spread over nodes so one node's loss leaves a router; ScheduleAnyway keeps a small
        # cluster schedulable.
        "topology_spread_constraints": [
            {
                "max_skew": 1,
                "topology_key": "kubernetes.io/hostname",
                "when_unsatisfiable": "ScheduleAnyway",
                "label_selector": {"match_labels": selector},
            }
        ],
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": RUN_AS_USER,
            "run_as_group": RUN_AS_USER,
            "fs_group": RUN_AS_USER,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "router",
                "image": args["image"],
                "args": router_args(f"{CONFIG_DIR}/{CONFIG_FILE}", host="0.0.0.0", port=PORT, metrics_port=METRICS_PORT),
                "ports": [
                    {"name": "http", "container_port": PORT, "protocol": "TCP"},
                    {"name": "metrics", "container_port": METRICS_PORT, "protocol": "TCP"},
                ],
                "env": env,
                # Measured here: ~400 MB for the proxy and ~200 MB for its metrics process.
                "resources": {
                    "requests": {"cpu": "500m", "memory": "768Mi"},
                    "limits": {"memory": "1536Mi"},
                },
                "security_context": {
                    "allow_privilege_escalation": False,
                    "privileged": False,
                    "read_only_root_filesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volume_mounts": [
                    {"name": "config", "mount_path": CONFIG_DIR, "read_only": True},
                    # The metrics samples, temporary files, and where a non-root LiteLLM copies its
                    # UI and assets at start (/var/lib/litellm, proxy_server.py).
                    {"name": "tmp", "mount_path": "/tmp"},
                    {"name": "state", "mount_path": "/var/lib/litellm"},
                ],
                # /health/liveliness and /health/readiness need no key and call no model.
                "startup_probe": {"http_get": http_probe, "period_seconds": 2, "timeout_seconds": 2, "failure_threshold": 60},
                "readiness_probe": {
                    "http_get": {"path": "/health/readiness", "port": "http"},
                    "period_seconds": 5,
                    "timeout_seconds": 3,
                    "failure_threshold": 3,
                },
                "liveness_probe": {"http_get": http_probe, "period_seconds": 10, "timeout_seconds": 5, "failure_threshold": 3},
                "lifecycle": {"pre_stop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
            }
        ],
        "volumes": [
            {"name": "config", "config_map": {"name": config_name}},
            {"name": "tmp", "empty_dir": {"size_limit": "256Mi"}},
            {"name": "state", "empty_dir": {"size_limit": "256Mi"}},
        ],
    }


def _ingress_rules(args: ModelRouterArgs) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]:
    """Clients from the router's namespace and the allowed ones (API and metrics ports); the
    monitoring namespace on the metrics port; with a load balancer, the client networks it
    forwards, on the API port only: the unauthenticated metrics port never leaves the cluster."""
    api: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [{"port": PORT, "protocol": "TCP"}]
    metrics: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [{"port": METRICS_PORT, "protocol": "TCP"}]
    peers: list[k8s.networking.v1.NetworkPolicyPeerArgsDict] = [{"pod_selector": {}}]
    peers += [_namespace_peer(namespace) for namespace in dict.fromkeys(args["allowed_namespaces"])]
    rules: list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict] = [{"from_": peers, "ports": api + metrics}]
    monitoring = args.get("monitoring_namespace")
    if monitoring is not None:
        rules.append({"from_": [_namespace_peer(monitoring)], "ports": metrics})
    if args["expose"] == "LoadBalancer":
        rules.append(load_balancer.ingress_rule(args.get("load_balancer_source_cidrs"), api))
    return rules


def _namespace_peer(namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgsDict:
    return {"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": namespace}}}


def _egress_rules() -> list[k8s.networking.v1.NetworkPolicyEgressRuleArgsDict]:
    """Only the model servers and DNS: the proxy has no business anywhere else (no price-map
    download, no telemetry), and a compromised one cannot send data out."""
    return [
        {
            "to": [{"pod_selector": {"match_labels": {contract.COMPONENT_LABEL: contract.MODEL_SERVER}}}],
            "ports": [{"port": vllm_service.PORT, "protocol": "TCP"}],
        },
        {
            "to": [{"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        },
    ]
