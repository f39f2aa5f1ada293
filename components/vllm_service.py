"""One vLLM model server on one MIG slice per replica: a StatefulSet, its Services, a NetworkPolicy
and, when set, the Secrets holding the Hugging Face token and the API key.

Reusable with any MIG nodepool: the slice comes in as the nodepool's outputs (resource name, node
selector, tolerations, profile), the model's sizes as the config layer's memory estimate.
"""

import math
import re
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

import contract

PORT = 8000
CACHE_PATH = "/data/models"
HOME_PATH = "/home/vllm"

# The class the Exoscale block storage CSI driver's own manifests and e2e tests create
# (exoscale/exoscale-csi-driver deployment/*/storage-class.yaml, provisioner csi.exoscale.com).
# Named explicitly: those manifests do not mark it as the cluster default.
STORAGE_CLASS = "exoscale-sbs"

# Termination: the preStop sleep lets the endpoint controllers and kube-proxy drop the pod before
# SIGTERM; then vLLM stops taking requests and finishes the ones in flight for up to
# SHUTDOWN_TIMEOUT_SECONDS (`--shutdown-timeout`, vLLM >= 0.18); the grace period adds a margin.
PRESTOP_SECONDS = 15
SHUTDOWN_TIMEOUT_SECONDS = 60
TERMINATION_GRACE_SECONDS = PRESTOP_SECONDS + SHUTDOWN_TIMEOUT_SECONDS + 15

# Startup probe cadence; failureThreshold is derived from the model's startup budget.
STARTUP_INITIAL_DELAY_SECONDS = 15
STARTUP_PERIOD_SECONDS = 10

# Arguments the component owns: the port is what probes, Services and the NetworkPolicy use, and
# the API key must reach vLLM from a Kubernetes Secret, never in plain text in the pod spec.
_RESERVED_FLAGS = ("--port", "--api-key")
_SECRET_ENV = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "VLLM_API_KEY")
# A StatefulSet's pods carry the label controller-revision-hash=<name>-<10 chars>, at most 63.
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$")
_VLLM_TAG = re.compile(r"^v?(\d+)\.(\d+)")


class VllmServiceArgs(TypedDict):
    """Inputs of one model server: the model and how vLLM runs it, and the slice it runs on."""

    namespace: pulumi.Input[str]
    """An existing namespace (the stack creates it)."""
    model: str
    """Hugging Face model id, e.g. Qwen/Qwen2.5-7B-Instruct."""
    served_model_name: str
    """The model name clients send in requests."""
    replicas: int
    max_model_len: int
    """Context length, already fitted to the slice by the config layer."""
    gpu_memory_utilization: float
    max_num_seqs: int
    dtype: str
    """auto, bfloat16, float16, half or float32."""
    image: str
    extra_args: list[str]
    """More `vllm serve` arguments, after the ones the component sets."""
    env: dict[str, str]
    """Extra environment; may override PYTORCH_CUDA_ALLOC_CONF."""
    cache_size: str
    """Size of each replica's model cache volume, e.g. 50Gi."""
    expose: str
    allowed_namespaces: list[str]
    """Namespaces whose pods may reach the server, besides its own."""
    weights_gb: float
    """Estimated size of the weights, GB."""
    estimated_memory_gb: float
    """Weights + KV cache + overhead, GB."""
    startup_budget_seconds: int
    """The least time the startup probe allows before the kubelet restarts the server."""
    mig_profile: pulumi.Input[str]
    slice_memory_gb: pulumi.Input[int]
    resource_name: pulumi.Input[str]
    """The extended resource of one slice: nvidia.com/gpu or nvidia.com/mig-<profile>."""
    node_selector: pulumi.Input[dict[str, str]]
    tolerations: pulumi.Input[list[dict[str, str]]]
    hf_token: NotRequired[pulumi.Input[str]]
    """Hugging Face token (a Pulumi secret) for gated models."""
    api_key: NotRequired[pulumi.Input[str]]
    """API key (a Pulumi secret) vLLM requires on /v1."""


class VllmService(pulumi.ComponentResource):
    """A vLLM OpenAI-compatible server, each replica on one MIG slice with its own model cache."""

    service_name: pulumi.Output[str]
    url: pulumi.Output[str]
    """In-cluster URL: http://<service>.<namespace>.svc.cluster.local:8000."""
    served_model_name: pulumi.Output[str]
    estimated_memory_gb: pulumi.Output[float]

    def __init__(self, name: str, args: VllmServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _check(name, args)
        super().__init__(contract.VLLM_SERVICE_COMPONENT, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = args["namespace"]
        selector = {"app.kubernetes.io/name": name, contract.COMPONENT_LABEL: contract.MODEL_SERVER}
        labels = {
            **selector,
            "app.kubernetes.io/part-of": "sks-mig",
            "app.kubernetes.io/managed-by": "pulumi",
        }

        hf_secret = self._secret(f"{name}-hf-token", "token", args.get("hf_token"), namespace, labels)
        key_secret = self._secret(f"{name}-api-key", "key", args.get("api_key"), namespace, labels)

        # A StatefulSet's serviceName must name a headless Service to give its pods DNS records
        # (<name>-0.<name>-pods.<ns>.svc); the client-facing Service may be a LoadBalancer, which
        # cannot be headless, so the set gets its own.
        headless = k8s.core.v1.Service(
            f"{name}-pods",
            metadata={"name": f"{name}-pods", "namespace": namespace, "labels": labels},
            spec={
                "cluster_ip": "None",
                "selector": selector,
                "ports": [{"name": "http", "port": PORT, "target_port": "http", "protocol": "TCP"}],
            },
            opts=child,
        )
        service = k8s.core.v1.Service(
            name,
            metadata={"name": name, "namespace": namespace, "labels": labels},
            spec={
                "type": args["expose"],
                "selector": selector,
                "ports": [{"name": "http", "port": PORT, "target_port": "http", "protocol": "TCP"}],
            },
            opts=child,
        )

        annotations = _annotations(args)
        k8s.apps.v1.StatefulSet(
            name,
            metadata={
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "annotations": annotations,
            },
            spec={
                "service_name": _name_of(headless),
                "replicas": args["replicas"],
                "selector": {"match_labels": selector},
                # Parallel only changes scaling (all pods at once). Updates stay RollingUpdate,
                # which deletes a pod before creating its successor and never surges, so a
                # rollout cannot wait forever for a free slice when every slice is taken.
                "pod_management_policy": "Parallel",
                "update_strategy": {"type": "RollingUpdate"},
                # Caches go with the set, but survive a scale-down so a scale-up reuses them.
                "persistent_volume_claim_retention_policy": {
                    "when_deleted": "Delete",
                    "when_scaled": "Retain",
                },
                "template": {
                    "metadata": {
                        "labels": labels,
                        "annotations": {
                            **annotations,
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(PORT),
                            "prometheus.io/path": "/metrics",
                            "kubectl.kubernetes.io/default-container": "vllm",
                        },
                    },
                    "spec": _pod_spec(args, hf_secret, key_secret),
                },
                # One claim per replica (models-<name>-<ordinal>): ReadWriteOnce block storage
                # cannot be shared, and each replica downloads the weights once.
                "volume_claim_templates": [
                    {
                        "metadata": {"name": "models", "labels": labels},
                        "spec": {
                            "access_modes": ["ReadWriteOnce"],
                            "storage_class_name": STORAGE_CLASS,
                            "resources": {"requests": {"storage": args["cache_size"]}},
                        },
                    }
                ],
            },
            # Fixed object names: a replacement must delete the old set first (it also frees the
            # slices the new pods need).
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

        k8s.networking.v1.NetworkPolicy(
            name,
            metadata={"name": name, "namespace": namespace, "labels": labels},
            spec={
                "pod_selector": {"match_labels": selector},
                "policy_types": ["Ingress"],
                "ingress": _ingress_rules(args),
            },
            opts=child,
        )

        self.service_name = _name_of(service)
        self.url = pulumi.Output.concat("http://", self.service_name, ".", namespace, f".svc.cluster.local:{PORT}")
        self.served_model_name = pulumi.Output.from_input(args["served_model_name"])
        self.estimated_memory_gb = pulumi.Output.from_input(args["estimated_memory_gb"])
        self.register_outputs(
            {
                "service_name": self.service_name,
                "url": self.url,
                "served_model_name": self.served_model_name,
                "estimated_memory_gb": self.estimated_memory_gb,
            }
        )

    def _secret(
        self,
        name: str,
        key: str,
        value: pulumi.Input[str] | None,
        namespace: pulumi.Input[str],
        labels: dict[str, str],
    ) -> pulumi.Output[str] | None:
        """A Secret holding `value` under `key`, or None when unset; returns the Secret's name.

        The value is wrapped with Output.secret so it stays secret even if a caller passes a
        plain string: the engine encrypts it in the state and never shows it in diffs.
        """
        if value is None:
            return None
        secret = k8s.core.v1.Secret(
            name,
            metadata={"name": name, "namespace": namespace, "labels": labels},
            type="Opaque",
            string_data={key: pulumi.Output.secret(value)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return _name_of(secret)


def _name_of(resource: k8s.core.v1.Service | k8s.core.v1.Secret) -> pulumi.Output[str]:
    """The object's metadata.name, as an Output that makes its users depend on the object."""
    return resource.metadata.apply(lambda metadata: str(metadata.name))


def _check(name: str, args: VllmServiceArgs) -> None:
    """Refuse what would deploy a broken or unsafe server; the stack config checked most of it,
    but the component may be reused without it."""
    if not _NAME.match(name):
        raise ValueError(
            f"VllmService name {name!r} must be a DNS label of at most 52 characters "
            "(the StatefulSet's revision label adds 11)"
        )
    if args["replicas"] < 0:
        raise ValueError(f"{name}: replicas must be 0 or more, not {args['replicas']}")
    if not 0 < args["gpu_memory_utilization"] <= 1:
        raise ValueError(f"{name}: gpu_memory_utilization must be in (0, 1]")
    if args["max_model_len"] <= 0 or args["max_num_seqs"] <= 0:
        raise ValueError(f"{name}: max_model_len and max_num_seqs must be positive")
    if args["expose"] not in ("ClusterIP", "LoadBalancer"):
        raise ValueError(f"{name}: expose must be ClusterIP or LoadBalancer")
    if args["expose"] == "LoadBalancer" and args.get("api_key") is None:
        raise ValueError(f"{name}: a LoadBalancer puts the server on the internet; set api_key")
    for arg in args["extra_args"]:
        if arg.split("=", 1)[0] in _RESERVED_FLAGS:
            raise ValueError(
                f"{name}: extra_args may not set {arg.split('=', 1)[0]}: the component sets the "
                "port, and the API key comes from the api_key secret"
            )
    for variable in _SECRET_ENV:
        if variable in args["env"]:
            raise ValueError(f"{name}: env may not set {variable}; pass it as the hf_token / api_key secret")


def _pod_spec(
    args: VllmServiceArgs,
    hf_secret: pulumi.Output[str] | None,
    key_secret: pulumi.Output[str] | None,
) -> k8s.core.v1.PodSpecArgsDict:
    budget = max(args["startup_budget_seconds"], STARTUP_INITIAL_DELAY_SECONDS + STARTUP_PERIOD_SECONDS)
    startup_failures = math.ceil((budget - STARTUP_INITIAL_DELAY_SECONDS) / STARTUP_PERIOD_SECONDS)
    health: k8s.core.v1.HTTPGetActionArgsDict = {"path": "/health", "port": "http"}
    # Host memory: vLLM reads the weights through the page cache and keeps CPU-side buffers; the
    # limit grows with the weights so large models on large slices are not OOM-killed.
    memory_limit_gi = max(32, math.ceil(args["weights_gb"]) + 16)
    # Toleration dicts as the nodepool outputs them (key/operator/effect), already in API form.
    tolerations: Any = args["tolerations"]
    return {
        # A Service named like the server (e.g. "vllm") would inject VLLM_PORT=tcp://..., which
        # vLLM reads as its own setting and fails on.
        "enable_service_links": False,
        # vLLM never calls the Kubernetes API.
        "automount_service_account_token": False,
        "termination_grace_period_seconds": TERMINATION_GRACE_SECONDS,
        "node_selector": args["node_selector"],
        "tolerations": tolerations,
        "security_context": {"seccomp_profile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "vllm",
                "image": args["image"],
                "args": _vllm_args(args),
                "ports": [{"name": "http", "container_port": PORT, "protocol": "TCP"}],
                "env": _env(args, hf_secret, key_secret),
                "resources": {
                    "requests": {"cpu": "4", "memory": "16Gi"},
                    # Exactly one slice: a CUDA process sees one MIG device at most, and
                    # extended resources need limits (requests default to them).
                    "limits": pulumi.Output.from_input(args["resource_name"]).apply(
                        lambda resource: {resource: "1", "memory": f"{memory_limit_gi}Gi"}
                    ),
                },
                # The image's user is root and its caches live under /root; runAsNonRoot would
                # need the image's separate non-root variant or HOME/USER/passwd redirects we
                # cannot test without a GPU, so root stays, but without capabilities, privilege
                # escalation or a writable root filesystem: /tmp, HOME, /dev/shm and the model
                # cache are the only writable paths.
                "security_context": {
                    "allow_privilege_escalation": False,
                    "privileged": False,
                    "read_only_root_filesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volume_mounts": [
                    {"name": "models", "mount_path": CACHE_PATH},
                    {"name": "dshm", "mount_path": "/dev/shm"},
                    {"name": "tmp", "mount_path": "/tmp"},
                    {"name": "home", "mount_path": HOME_PATH},
                ],
                # /health answers without the API key (vLLM guards only /v1 routes).
                "startup_probe": {
                    "http_get": health,
                    "initial_delay_seconds": STARTUP_INITIAL_DELAY_SECONDS,
                    "period_seconds": STARTUP_PERIOD_SECONDS,
                    "timeout_seconds": 5,
                    "failure_threshold": startup_failures,
                },
                "readiness_probe": {
                    "http_get": health,
                    "period_seconds": 10,
                    "timeout_seconds": 5,
                    "failure_threshold": 3,
                },
                # Generous: a busy engine answers /health late, and a restart costs minutes.
                "liveness_probe": {
                    "http_get": health,
                    "period_seconds": 15,
                    "timeout_seconds": 10,
                    "failure_threshold": 4,
                },
                "lifecycle": {"pre_stop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
            }
        ],
        "volumes": [
            # PyTorch and vLLM's engine processes use /dev/shm, which the runtime would otherwise
            # cap at 64 MiB; a Memory emptyDir counts against the container's memory limit.
            {"name": "dshm", "empty_dir": {"medium": "Memory", "size_limit": "2Gi"}},
            # Triton, torch.compile and vLLM compile caches and ZMQ IPC sockets.
            {"name": "tmp", "empty_dir": {"size_limit": "8Gi"}},
            {"name": "home", "empty_dir": {"size_limit": "8Gi"}},
        ],
    }


def _vllm_args(args: VllmServiceArgs) -> list[str]:
    """`vllm serve` arguments (the vllm/vllm-openai entrypoint is `vllm serve`): the model first,
    as its positional argument. Inside a MIG slice vLLM cannot query NVML for the device and
    falls back to small-GPU defaults, so the memory-relevant settings are explicit."""
    result = [
        args["model"],
        "--served-model-name",
        args["served_model_name"],
        "--max-model-len",
        str(args["max_model_len"]),
        "--gpu-memory-utilization",
        str(args["gpu_memory_utilization"]),
        "--max-num-seqs",
        str(args["max_num_seqs"]),
    ]
    if args["dtype"] != "auto":
        result += ["--dtype", args["dtype"]]
    result += ["--port", str(PORT)]
    user_flags = {arg.split("=", 1)[0] for arg in args["extra_args"]}
    if "--shutdown-timeout" not in user_flags and _has_shutdown_timeout(args["image"]):
        result += ["--shutdown-timeout", str(SHUTDOWN_TIMEOUT_SECONDS)]
    return result + list(args["extra_args"])


def _has_shutdown_timeout(image: str) -> bool:
    """Whether the image's vLLM knows `--shutdown-timeout` (added in v0.18.0), by its tag."""
    tag = image.split("@", 1)[0].rpartition("/")[2].partition(":")[2]
    if tag in ("", "latest", "nightly"):
        return True
    match = _VLLM_TAG.match(tag)
    # An unknown tag may be an older vLLM: an unknown flag would stop the server from starting,
    # while its absence only means in-flight requests are cut on shutdown.
    return match is not None and (int(match[1]), int(match[2])) >= (0, 18)


def _env(
    args: VllmServiceArgs,
    hf_secret: pulumi.Output[str] | None,
    key_secret: pulumi.Output[str] | None,
) -> list[k8s.core.v1.EnvVarArgsDict]:
    plain = {
        "HF_HOME": CACHE_PATH,
        "HOME": HOME_PATH,
        # Known workaround for CUDA caching-allocator failures inside MIG slices (expandable
        # segments); the user's env may turn it back on.
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False",
        "VLLM_NO_USAGE_STATS": "1",
        **args["env"],
    }
    env: list[k8s.core.v1.EnvVarArgsDict] = [{"name": k, "value": v} for k, v in plain.items()]
    if hf_secret is not None:
        env.append(_from_secret("HF_TOKEN", hf_secret, "token"))
    if key_secret is not None:
        # vLLM reads VLLM_API_KEY when --api-key is not given; the key stays off the command line.
        env.append(_from_secret("VLLM_API_KEY", key_secret, "key"))
    return env


def _from_secret(variable: str, secret: pulumi.Output[str], key: str) -> k8s.core.v1.EnvVarArgsDict:
    return {"name": variable, "value_from": {"secret_key_ref": {"name": secret, "key": key}}}


def _annotations(args: VllmServiceArgs) -> dict[str, pulumi.Input[str]]:
    """What the policy pack and people read: the model, its memory estimate and its slice."""
    return {
        contract.ANNOTATION_MODEL: args["model"],
        contract.ANNOTATION_ESTIMATED_MEMORY_GB: f"{args['estimated_memory_gb']:.2f}",
        contract.ANNOTATION_WEIGHTS_GB: f"{args['weights_gb']:.2f}",
        contract.ANNOTATION_SLICE_MEMORY_GB: pulumi.Output.from_input(args["slice_memory_gb"]).apply(str),
        contract.ANNOTATION_MIG_PROFILE: args["mig_profile"],
        contract.ANNOTATION_STARTUP_BUDGET_SECONDS: str(args["startup_budget_seconds"]),
        contract.ANNOTATION_REQUIRES_API_KEY: "true" if args.get("api_key") is not None else "false",
    }


def _ingress_rules(
    args: VllmServiceArgs,
) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]:
    """Port 8000 from pods of the server's namespace and of the allowed namespaces, always: the
    API key guards only /v1 routes, not /tokenize, /metrics or the admin endpoints."""
    port: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [{"port": PORT, "protocol": "TCP"}]
    peers: list[k8s.networking.v1.NetworkPolicyPeerArgsDict] = [{"pod_selector": {}}]
    for namespace in dict.fromkeys(args["allowed_namespaces"]):
        peers.append({"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": namespace}}})
    rules: list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict] = [{"from_": peers, "ports": port}]
    if args["expose"] == "LoadBalancer":
        # The load balancer forwards internet clients: they arrive with their own address (or a
        # node's, after kube-proxy's SNAT), never as a pod of an allowed namespace, so only an
        # any-address block lets them in. The API key is then what guards /v1.
        rules.append({"from_": [{"ip_block": {"cidr": "0.0.0.0/0"}}], "ports": port})
    return rules
