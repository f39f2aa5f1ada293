"""One vLLM model server on one MIG slice per replica: a StatefulSet, its Services, a NetworkPolicy,
one model-cache claim per replica, a PodDisruptionBudget when there are several replicas and, when
set, the Secrets holding the Hugging Face token and the API key.

Reusable with any MIG nodepool: the slice comes in as the nodepool's outputs (resource name, node
selector, tolerations, profile), the model's sizes as the config layer's memory estimate.

Each pod first downloads the weights in an init container (`model_download`), then starts vLLM
offline, so the startup probe only covers loading and a restart never depends on Hugging Face.
With `expose: LoadBalancer` the Service is an Exoscale NLB (`load_balancer`, as for the router).
Secret environment values live in a Secret of their own (`<name>-env`); a changed API key or
secret value rolls the pods (`secret_fingerprint`).
"""

import math
import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import pulumi
import pulumi_kubernetes as k8s

import contract
from components import load_balancer, model_download
from components.model_download import CACHE_PATH, HOME_PATH
from components.secret_fingerprint import fingerprint
from config.images import image_problem
from config.owned_settings import env_name_problem, extra_args_problem

PORT = 8000

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

# pulumi-kubernetes waits 10 minutes for a StatefulSet to be ready, then fails the update
# (provider/pkg/await/statefulset.go, DefaultStatefulSetTimeoutMins = 10). The resource's
# customTimeouts replace that wait (provider/pkg/metadata/overrides.go TimeoutDuration: custom
# timeouts first, then the pulumi.com/timeoutSeconds annotation). A first deploy waits for a GPU
# node, the device plugin, a multi-GB image, the download and the load: never less than this.
DEFAULT_READY_TIMEOUT_SECONDS = 30 * 60

# The claim template's name: the StatefulSet controller names each replica's claim
# <template>-<set>-<ordinal> (pkg/controller/statefulset/stateful_set_utils.go,
# getPersistentVolumeClaimName) and uses a claim of that name if one exists.
CLAIM_TEMPLATE = "models"

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
    env: dict[str, pulumi.Input[str]]
    """Extra environment, written into the pod spec as is; may override PYTORCH_CUDA_ALLOC_CONF.
    Secret values go in `secret_env`."""
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
    """The least time the startup probe allows before the kubelet restarts the server: loading
    only (weights from the cache into the slice, profiling, CUDA graphs), since the download runs
    before, in the init container."""
    mig_profile: pulumi.Input[str]
    slice_memory_gb: pulumi.Input[float]
    """The memory vLLM sees in one slice, GB (the profile's usable memory, not its name's figure):
    what the estimate was fitted to, and what the policy pack compares it with."""
    resource_name: pulumi.Input[str]
    """The extended resource a pod requests for one slice, used as given: the GPU pool's
    `resource_name`, nvidia.com/gpu (SKS's node image runs the device plugin with the `single` MIG
    strategy)."""
    node_selector: pulumi.Input[dict[str, str]]
    tolerations: pulumi.Input[list[dict[str, str]]]
    hf_token: NotRequired[pulumi.Input[str]]
    """Hugging Face token (a Pulumi secret) for gated models."""
    api_key: NotRequired[pulumi.Input[str]]
    """API key (a Pulumi secret) vLLM requires on /v1."""
    secret_env: NotRequired[dict[str, pulumi.Input[str]]]
    """Extra environment whose values are secrets: kept in the Secret `<name>-env` (encrypted in the
    state) and taken from it by both containers (valueFrom.secretKeyRef)."""
    revision: NotRequired[str]
    """The model's commit on Hugging Face: downloaded and served (`--revision`), so every replica
    loads the same weights. Unset: whatever `main` is when a replica's cache is first filled."""
    max_num_batched_tokens: NotRequired[int]
    """`--max-num-batched-tokens`; unset, vLLM's default (which inside a MIG slice depends on
    whether NVML answers)."""
    download_budget_seconds: NotRequired[int]
    """Time the init container's download may take; recorded for the plan and the policy pack."""
    ready_timeout_seconds: NotRequired[int]
    """How long `pulumi up` waits for the StatefulSet to be ready (node provisioning, image pull,
    download, load). Default DEFAULT_READY_TIMEOUT_SECONDS."""
    load_balancer_instance_pool_id: NotRequired[pulumi.Input[str]]
    """With expose LoadBalancer: the instance pool of the GPU nodepool, where the pods run."""
    load_balancer_source_cidrs: NotRequired[list[str]]
    """With expose LoadBalancer: the client networks the NetworkPolicy admits (the cluster's
    nodePortCidrs, which the security group admits to the NodePorts)."""
    monitoring_namespace: NotRequired[str]
    """A namespace whose pods (Prometheus) may scrape /metrics on the server port."""
    client_pod_selector: NotRequired[dict[str, str]]
    """Labels of the only pods of the server's own namespace that may reach it (the router);
    unset, every pod of the namespace may."""


class VllmService(pulumi.ComponentResource):
    """A vLLM OpenAI-compatible server, each replica on one MIG slice with its own model cache."""

    service_name: pulumi.Output[str]
    url: pulumi.Output[str]
    """In-cluster URL: http://<service>.<namespace>.svc.cluster.local:8000."""
    replica_urls: pulumi.Output[list[str]]
    """Each replica's own URL (through the headless Service), so a router can retry another replica;
    the Service's URL when the server has no replicas."""
    served_model_name: pulumi.Output[str]
    estimated_memory_gb: pulumi.Output[float]

    def __init__(self, name: str, args: VllmServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _check(name, args)
        _check_serving(name, args)
        super().__init__(contract.VLLM_SERVICE_COMPONENT, name, {}, opts)
        child = pulumi.ResourceOptions(parent=self)
        namespace = args["namespace"]
        selector = {"app.kubernetes.io/name": name, contract.COMPONENT_LABEL: contract.MODEL_SERVER}
        labels = {
            **selector,
            "app.kubernetes.io/part-of": "sks-mig",
            "app.kubernetes.io/managed-by": "pulumi",
        }

        hf_secret = self._secret(f"{name}-hf-token", {"token": args.get("hf_token")}, namespace, labels)
        key_secret = self._secret(f"{name}-api-key", {"key": args.get("api_key")}, namespace, labels)
        secret_env = dict(args.get("secret_env") or {})
        env_secret = self._secret(f"{name}-env", secret_env, namespace, labels)

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
        timeout_seconds = args.get("ready_timeout_seconds", DEFAULT_READY_TIMEOUT_SECONDS)
        ready_timeouts = pulumi.CustomTimeouts(create=f"{timeout_seconds}s", update=f"{timeout_seconds}s")
        # A LoadBalancer forwards to the GPU pool, keeps the client's address, and sends clients
        # only to nodes running a replica. The StatefulSet's await covers the pods' readiness, so a
        # ClusterIP Service skips its own; a LoadBalancer waits for its address as long as the set
        # may wait for its pods (pulumi-kubernetes' Service default is 10 minutes,
        # provider/pkg/await/service.go DefaultServiceTimeoutMins).
        service = load_balancer.client_service(
            name,
            {"name": name, "namespace": namespace, "labels": labels},
            selector,
            PORT,
            args["expose"],
            args.get("load_balancer_instance_pool_id"),
            pulumi.ResourceOptions(parent=self, custom_timeouts=ready_timeouts),
            pods_awaited_elsewhere=True,
        )

        claims = self._claims(name, args, namespace, labels)
        annotations = _annotations(args)
        # Read once when a container starts: their fingerprint in the pod template rolls the pods
        # when one changes. Not the Hugging Face token: only a download uses it, and every
        # download runs in a new pod anyway.
        restart_secrets = {**secret_env}
        if args.get("api_key") is not None:
            restart_secrets["VLLM_API_KEY"] = args["api_key"]
        pod_annotations = {
            **annotations,
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(PORT),
            "prometheus.io/path": "/metrics",
            "kubectl.kubernetes.io/default-container": "vllm",
        }
        if restart_secrets:
            pod_annotations[contract.ANNOTATION_SECRETS_FINGERPRINT] = fingerprint(restart_secrets)
        k8s.apps.v1.StatefulSet(
            name,
            metadata={
                "name": name,
                "namespace": namespace,
                "labels": labels,
                # Not on the pod template: a new timeout must not restart the servers.
                "annotations": {**annotations, contract.ANNOTATION_READY_TIMEOUT_SECONDS: str(timeout_seconds)},
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
                # The claims are Pulumi's (see _claims): the controller must neither own nor delete
                # them. Retain/Retain is the one policy under which it adds no owner reference
                # (stateful_set_utils.go, updateClaimOwnerRefForSetAndPod); with Delete it would
                # make itself their controller and delete them along with a replaced set.
                "persistent_volume_claim_retention_policy": {
                    "when_deleted": "Retain",
                    "when_scaled": "Retain",
                },
                "template": {
                    "metadata": {"labels": labels, "annotations": pod_annotations},
                    "spec": _pod_spec(args, selector, hf_secret, key_secret, env_secret),
                },
                # One claim per replica (models-<name>-<ordinal>): ReadWriteOnce block storage
                # cannot be shared, and each replica downloads the weights once. The template
                # only names them; Pulumi creates them first (_claims).
                "volume_claim_templates": [
                    {"metadata": {"name": CLAIM_TEMPLATE, "labels": labels}, "spec": _claim_spec(args)}
                ],
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                # Fixed object names: a replacement must delete the old set first (it also frees
                # the slices the new pods need).
                delete_before_replace=True,
                # Created after its claims, so deleted before them: `pulumi destroy` removes the
                # pods, then the claims (waiting for each), and only then the nodepool and cluster.
                depends_on=claims,
                custom_timeouts=ready_timeouts,
            ),
        )

        if args["replicas"] > 1:
            # One replica at a time may be evicted (drains, node upgrades): never all of them,
            # never none (the policy pack's rollout-cannot-deadlock). Pods that are not ready
            # (still loading, crash-looping) may always be evicted, so they never block a drain
            # (unhealthyPodEvictionPolicy, kubernetes.io/docs/tasks/run-application/configure-pdb).
            k8s.policy.v1.PodDisruptionBudget(
                name,
                metadata={"name": name, "namespace": namespace, "labels": labels},
                spec={
                    "max_unavailable": 1,
                    "selector": {"match_labels": selector},
                    "unhealthy_pod_eviction_policy": "AlwaysAllow",
                },
                opts=child,
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
        replicas = args["replicas"]
        self.replica_urls = pulumi.Output.all(_name_of(headless), namespace, self.url).apply(
            # Pod DNS names of a StatefulSet: <set>-<ordinal>.<headless service>.<namespace>.svc.
            lambda parts: [
                f"http://{name}-{ordinal}.{parts[0]}.{parts[1]}.svc.cluster.local:{PORT}" for ordinal in range(replicas)
            ]
            or [parts[2]]
        )
        self.served_model_name = pulumi.Output.from_input(args["served_model_name"])
        self.estimated_memory_gb = pulumi.Output.from_input(args["estimated_memory_gb"])
        self.register_outputs(
            {
                "service_name": self.service_name,
                "url": self.url,
                "replica_urls": self.replica_urls,
                "served_model_name": self.served_model_name,
                "estimated_memory_gb": self.estimated_memory_gb,
            }
        )

    def _claims(
        self, name: str, args: VllmServiceArgs, namespace: pulumi.Input[str], labels: dict[str, str]
    ) -> list[k8s.core.v1.PersistentVolumeClaim]:
        """Each replica's cache claim, owned by Pulumi so `pulumi destroy` deletes it and waits.

        Claims the controller creates from volumeClaimTemplates outlive the set and are deleted,
        if at all, asynchronously, possibly after the cluster, leaving billable volumes behind.
        These carry the names the controller gives its claims, so it uses them instead of
        creating its own (stateful_pod_control.go, createPersistentVolumeClaims: it creates a
        claim only when none of that name exists). The class deletes the volume with the claim
        (exoscale-csi-driver storage-class.yaml: reclaimPolicy Delete). A scale-down deletes the
        claims of the removed replicas.
        """
        claims = []
        for ordinal in range(args["replicas"]):
            claim_name = f"{CLAIM_TEMPLATE}-{name}-{ordinal}"
            claims.append(
                k8s.core.v1.PersistentVolumeClaim(
                    claim_name,
                    metadata={"name": claim_name, "namespace": namespace, "labels": labels},
                    spec=_claim_spec(args),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return claims

    def _secret(
        self,
        name: str,
        values: Mapping[str, pulumi.Input[str] | None],
        namespace: pulumi.Input[str],
        labels: dict[str, str],
    ) -> pulumi.Output[str] | None:
        """A Secret holding `values` (key -> value; unset values left out), or None when none is
        set; returns the Secret's name.

        Each value is wrapped with Output.secret so it stays secret even if a caller passes a
        plain string: the engine encrypts it in the state and never shows it in diffs.
        """
        data = {key: pulumi.Output.secret(value) for key, value in values.items() if value is not None}
        if not data:
            return None
        secret = k8s.core.v1.Secret(
            name,
            metadata={"name": name, "namespace": namespace, "labels": labels},
            type="Opaque",
            string_data=data,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return _name_of(secret)


def _name_of(resource: k8s.core.v1.Service | k8s.core.v1.Secret) -> pulumi.Output[str]:
    """The object's metadata.name, as an Output that makes its users depend on the object."""
    return resource.metadata.apply(lambda metadata: str(metadata.name))


def _check(name: str, args: VllmServiceArgs) -> None:
    """Refuse what would deploy a broken or unsafe server, before anything is registered; the stack
    config checked all of it, naming its keys, but the component may be used on its own. The flags
    and variables the component owns are one list, config/owned_settings.py."""
    if not _NAME.match(name):
        raise pulumi.RunError(
            f"VllmService name {name!r} must be a DNS label of at most 52 characters "
            "(the StatefulSet's revision label adds 11)"
        )
    if args["replicas"] < 0:
        raise pulumi.RunError(f"VllmService {name}: replicas must be 0 or more, not {args['replicas']}")
    if not 0 < args["gpu_memory_utilization"] <= 1:
        raise pulumi.RunError(f"VllmService {name}: gpu_memory_utilization must be above 0 and at most 1")
    if args["max_model_len"] <= 0 or args["max_num_seqs"] <= 0:
        raise pulumi.RunError(f"VllmService {name}: max_model_len and max_num_seqs must be positive")
    load_balancer.check_expose(f"VllmService {name}", args["expose"], args.get("api_key"), "server")
    image = image_problem(args["image"])
    if image is not None:
        raise pulumi.RunError(f"VllmService {name}: image {args['image']!r} is not accepted: {image}")
    extra = extra_args_problem(list(args["extra_args"]))
    if extra is not None:
        raise pulumi.RunError(f"VllmService {name}: extra_args[{extra[0]}]: {extra[1]}")
    secret_env = args.get("secret_env") or {}
    for key, variables in (("env", args["env"]), ("secret_env", secret_env)):
        for variable in variables:
            problem = env_name_problem(variable)
            if problem is not None:
                raise pulumi.RunError(f"VllmService {name}: {key}: {problem}")
    both = sorted(set(args["env"]) & set(secret_env))
    if both:
        raise pulumi.RunError(
            f"VllmService {name}: {', '.join(both)} set in both env and secret_env; give each variable once"
        )


def _check_serving(name: str, args: VllmServiceArgs) -> None:
    """Refuse deploy settings that cannot work: an exposed server nobody may reach, an await that
    can never finish. The stack config refuses the same earlier, naming its own keys."""
    if args["expose"] == "LoadBalancer":
        load_balancer.check_addressing(
            f"VllmService {name}",
            args.get("load_balancer_source_cidrs"),
            args.get("load_balancer_instance_pool_id"),
            why_cidrs="the Exoscale load balancer forwards clients to the NodePorts, and ",
            cidr_examples="'203.0.113.0/24' or '2001:db8::/32'",
            which_pool="the instance pool of the GPU nodepool: the cluster has several pools and the load "
            "balancer must forward to the one running the server",
        )
    least = {"ready_timeout_seconds": 1, "max_num_batched_tokens": 1, "download_budget_seconds": 0}
    for key, minimum in least.items():
        value: Any = args.get(key)
        if value is not None and value < minimum:
            raise pulumi.RunError(f"VllmService {name}: {key} must be {minimum} or more, not {value!r}")
    revision = args.get("revision")
    if revision is not None and (not revision or any(c.isspace() for c in revision)):
        raise pulumi.RunError(f"VllmService {name}: revision {revision!r} must be a commit hash (or branch/tag name) of {args['model']}")


def _claim_spec(args: VllmServiceArgs) -> k8s.core.v1.PersistentVolumeClaimSpecArgsDict:
    """A replica's model cache: the claim template and the claims Pulumi creates share it."""
    return {
        "access_modes": ["ReadWriteOnce"],
        "storage_class_name": STORAGE_CLASS,
        "resources": {"requests": {"storage": args["cache_size"]}},
    }


def _pod_spec(
    args: VllmServiceArgs,
    selector: dict[str, str],
    hf_secret: pulumi.Output[str] | None,
    key_secret: pulumi.Output[str] | None,
    env_secret: pulumi.Output[str] | None,
) -> k8s.core.v1.PodSpecArgsDict:
    budget = max(args["startup_budget_seconds"], STARTUP_INITIAL_DELAY_SECONDS + STARTUP_PERIOD_SECONDS)
    startup_failures = math.ceil((budget - STARTUP_INITIAL_DELAY_SECONDS) / STARTUP_PERIOD_SECONDS)
    health: k8s.core.v1.HTTPGetActionArgsDict = {"path": "/health", "port": "http"}
    # Host memory: vLLM reads the weights through the page cache and keeps CPU-side buffers; the
    # limit grows with the weights so large models on large slices are not OOM-killed.
    memory_limit = f"{max(32, math.ceil(args['weights_gb']) + 16)}Gi"
    requests = {"cpu": "4", "memory": "16Gi"}
    # Toleration dicts as the nodepool outputs them (key/operator/effect), already in API form.
    tolerations: Any = args["tolerations"]
    # The image's user is root and its caches live under /root; runAsNonRoot would need the
    # image's separate non-root variant or HOME/USER/passwd redirects we cannot test without a
    # GPU, so root stays, but without capabilities, privilege escalation or a writable root
    # filesystem: /tmp, HOME, /dev/shm and the model cache are the only writable paths.
    security: k8s.core.v1.SecurityContextArgsDict = {
        "allow_privilege_escalation": False,
        "privileged": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts: list[k8s.core.v1.VolumeMountArgsDict] = [
        {"name": CLAIM_TEMPLATE, "mount_path": CACHE_PATH},
        {"name": "dshm", "mount_path": "/dev/shm"},
        {"name": "tmp", "mount_path": "/tmp"},
        {"name": "home", "mount_path": HOME_PATH},
    ]
    spec: k8s.core.v1.PodSpecArgsDict = {
        # A Service named like the server (e.g. "vllm") would inject VLLM_PORT=tcp://..., which
        # vLLM reads as its own setting and fails on.
        "enable_service_links": False,
        # vLLM never calls the Kubernetes API.
        "automount_service_account_token": False,
        "termination_grace_period_seconds": TERMINATION_GRACE_SECONDS,
        "node_selector": args["node_selector"],
        "tolerations": tolerations,
        "security_context": {"seccomp_profile": {"type": "RuntimeDefault"}},
        # No slice: the download needs none. Same requests as vLLM (the pod's request is the
        # larger of the two, so this costs nothing) and the same limits on memory and rights.
        "init_containers": [
            {
                "name": "download",
                "image": args["image"],
                "command": ["/bin/sh", "-c", model_download.download_script(args.get("revision"))],
                "env": model_download.download_env(
                    args["model"], args.get("revision"), args["env"], hf_secret, _secret_env_refs(args, env_secret)
                ),
                "resources": {"requests": requests, "limits": {"memory": memory_limit}},
                "security_context": security,
                "volume_mounts": mounts,
            }
        ],
        "containers": [
            {
                "name": "vllm",
                "image": args["image"],
                "args": _vllm_args(args),
                "ports": [{"name": "http", "container_port": PORT, "protocol": "TCP"}],
                "env": _env(args, hf_secret, key_secret, env_secret),
                "resources": {
                    "requests": requests,
                    # Exactly one slice: a CUDA process sees one MIG device at most, and
                    # extended resources need limits (requests default to them).
                    "limits": pulumi.Output.from_input(args["resource_name"]).apply(
                        lambda resource: {resource: "1", "memory": memory_limit}
                    ),
                },
                "security_context": security,
                "volume_mounts": mounts,
                # /health answers without the API key (vLLM guards only /v1 routes). The weights
                # are on disk when vLLM starts, so this covers loading only.
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
            # Triton and torch caches and ZMQ IPC sockets (vLLM's own caches are on the claim).
            {"name": "tmp", "empty_dir": {"size_limit": "8Gi"}},
            {"name": "home", "empty_dir": {"size_limit": "8Gi"}},
        ],
    }
    if args["replicas"] > 1:
        # Replicas on different GPU nodes where the pool has several, so a node failure or drain
        # takes one replica, not all; ScheduleAnyway so a one-node pool still runs them all.
        spec["topology_spread_constraints"] = [
            {
                "max_skew": 1,
                "topology_key": "kubernetes.io/hostname",
                "when_unsatisfiable": "ScheduleAnyway",
                "label_selector": {"match_labels": selector},
            }
        ]
    return spec


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
    if "max_num_batched_tokens" in args:
        result += ["--max-num-batched-tokens", str(args["max_num_batched_tokens"])]
    if args.get("revision"):
        # The tokenizer follows: vLLM's ModelConfig sets tokenizer_revision to the revision when
        # unset (vllm/config/model.py, __post_init__).
        result += ["--revision", str(args.get("revision"))]
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
    env_secret: pulumi.Output[str] | None,
) -> list[k8s.core.v1.EnvVarArgsDict]:
    plain = {
        "HF_HOME": CACHE_PATH,
        "HOME": HOME_PATH,
        # Known workaround for CUDA caching-allocator failures inside MIG slices (expandable
        # segments); the user's env may turn it back on.
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:False",
        "VLLM_NO_USAGE_STATS": "1",
        # torch.compile and CUDA-graph caches on the claim, so a restart reuses them (vllm/envs.py:
        # VLLM_CACHE_ROOT, default ~/.cache/vllm, an emptyDir here).
        "VLLM_CACHE_ROOT": f"{CACHE_PATH}/vllm",
        **args["env"],
        # The init container downloaded the weights: a restart must never need Hugging Face.
        "HF_HUB_OFFLINE": "1",
    }
    for variable in args.get("secret_env") or {}:
        # A secret value replaces a default of the same name (PYTORCH_CUDA_ALLOC_CONF).
        plain.pop(variable, None)
    env: list[k8s.core.v1.EnvVarArgsDict] = [{"name": k, "value": v} for k, v in plain.items()]
    env += _secret_env_refs(args, env_secret)
    if hf_secret is not None:
        env.append(_from_secret("HF_TOKEN", hf_secret, "token"))
    if key_secret is not None:
        # vLLM reads VLLM_API_KEY when --api-key is not given; the key stays off the command line.
        env.append(_from_secret("VLLM_API_KEY", key_secret, "key"))
    return env


def _from_secret(variable: str, secret: pulumi.Output[str], key: str) -> k8s.core.v1.EnvVarArgsDict:
    return {"name": variable, "value_from": {"secret_key_ref": {"name": secret, "key": key}}}


def _secret_env_refs(args: VllmServiceArgs, env_secret: pulumi.Output[str] | None) -> list[k8s.core.v1.EnvVarArgsDict]:
    """The secret environment, each variable from its key (its own name) in the Secret `<name>-env`."""
    if env_secret is None:
        return []
    return [_from_secret(variable, env_secret, variable) for variable in args.get("secret_env") or {}]


def _annotations(args: VllmServiceArgs) -> dict[str, pulumi.Input[str]]:
    """What the policy pack and people read: the model, its memory estimate, its slice, and the
    time each phase may take (download in the init container, load under the startup probe)."""
    annotations: dict[str, pulumi.Input[str]] = {
        contract.ANNOTATION_MODEL: args["model"],
        contract.ANNOTATION_ESTIMATED_MEMORY_GB: f"{args['estimated_memory_gb']:.2f}",
        contract.ANNOTATION_WEIGHTS_GB: f"{args['weights_gb']:.2f}",
        contract.ANNOTATION_SLICE_MEMORY_GB: pulumi.Output.from_input(args["slice_memory_gb"]).apply(str),
        contract.ANNOTATION_MIG_PROFILE: args["mig_profile"],
        contract.ANNOTATION_STARTUP_BUDGET_SECONDS: str(args["startup_budget_seconds"]),
        contract.ANNOTATION_REQUIRES_API_KEY: "true" if args.get("api_key") is not None else "false",
    }
    if "download_budget_seconds" in args:
        annotations[contract.ANNOTATION_DOWNLOAD_BUDGET_SECONDS] = str(args["download_budget_seconds"])
    if args.get("revision"):
        annotations[contract.ANNOTATION_MODEL_REVISION] = str(args.get("revision"))
    return annotations


def _ingress_rules(args: VllmServiceArgs) -> list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict]:
    """The server port from its clients only, always: the API key guards only /v1 routes, not
    /tokenize, /metrics or the admin endpoints. Clients: the pods of its own namespace (or only
    those of client_pod_selector, the router), of the allowed namespaces and of the monitoring
    namespace; with a load balancer, the client networks it forwards."""
    port: list[k8s.networking.v1.NetworkPolicyPortArgsDict] = [{"port": PORT, "protocol": "TCP"}]
    own: k8s.meta.v1.LabelSelectorArgsDict = {"match_labels": args["client_pod_selector"]} if args.get("client_pod_selector") else {}
    peers: list[k8s.networking.v1.NetworkPolicyPeerArgsDict] = [{"pod_selector": own}]
    namespaces = [*args["allowed_namespaces"], *filter(None, [args.get("monitoring_namespace")])]
    for namespace in dict.fromkeys(namespaces):
        peers.append({"namespace_selector": {"match_labels": {"kubernetes.io/metadata.name": namespace}}})
    rules: list[k8s.networking.v1.NetworkPolicyIngressRuleArgsDict] = [{"from_": peers, "ports": port}]
    if args["expose"] == "LoadBalancer":
        rules.append(load_balancer.ingress_rule(args.get("load_balancer_source_cidrs"), port))
    return rules
