"""What the policy pack's tests show it: resources in wire form as the program registers them, named
changes to them, and how a test calls a validator directly with them (`check_resource`,
`check_stack`), the properties prepared exactly as the Policy SDK prepares them.

Resources are in wire form (camelCase for provider resources, numbers as floats, secrets wrapped),
as the engine passes them to an analyzer; a builder returns a fresh dict, and each change (`with_pod`,
`with_container`, `with_image`, `with_annotations`...) edits one in place and returns it, so a test
reads as what it changes: `with_pod(model_server(), tolerations=[])`.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi_policy.policy as policy_sdk
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

import contract
from tests.analyzer_client import secret

# The pack's modules import each other as top-level modules, as they do when the CLI runs the pack
# (tests/test_policy_standalone.py runs a copy of it with nothing else on the path); the tests that
# call its validators import them so too.
PACK_DIR = Path(__file__).resolve().parent.parent / "policy"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))

import secret_marks  # noqa: E402

Props = dict[str, Any]
Report = list[str]
Reporter = Callable[[str, str | None], None]
ResourceValidator = Callable[[ResourceValidationArgs, Reporter], None]
StackValidator = Callable[[StackValidationArgs, Reporter], None]

POLICY_NAMES = [
    "gpu-slice-exactly-one",
    "model-image-pinned",
    "model-revision-pinned",
    "model-fits-slice",
    "no-open-model-server",
    "secrets-are-secret",
    "rollout-cannot-deadlock",
    "slices-within-capacity",
    "karpenter-mig-pool",
    "production-hardening",
]
"""The pack's policies, in the order it serves them."""

STS = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
K8S_PROVIDER = "pulumi:providers:kubernetes"
RULE = contract.EXOSCALE_SECURITY_GROUP_RULE
CLUSTER = contract.EXOSCALE_SKS_CLUSTER
KUBECONFIG = contract.EXOSCALE_SKS_KUBECONFIG
NODEPOOL = contract.MIG_NODEPOOL
NODEPOOL_COMPONENT = contract.MIG_GPU_NODEPOOL_COMPONENT
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
NODE_CLASS = contract.KARPENTER_NODE_CLASS
NODE_POOL = contract.KARPENTER_NODE_POOL
ROUTER_COMPONENT = contract.MODEL_ROUTER_COMPONENT
REVISION = "0123456789abcdef0123456789abcdef01234567"
"""A well-formed Hugging Face commit hash (40 lowercase hex digits), for tests only."""
ROUTER_LABELS = {"app.kubernetes.io/name": "router", contract.COMPONENT_LABEL: contract.MODEL_ROUTER}


# ---------------------------------------------------------------------------------------------
# Well-formed resources in wire form (camelCase, secrets wrapped), as the program registers them
# ---------------------------------------------------------------------------------------------


def model_server(name: str = "vllm-qwen") -> Props:
    """A model-server StatefulSet like components/vllm_service.py's."""
    annotations = {
        contract.ANNOTATION_MODEL: "Qwen/Qwen2.5-7B-Instruct",
        contract.ANNOTATION_ESTIMATED_MEMORY_GB: "18.60",
        contract.ANNOTATION_WEIGHTS_GB: "15.22",
        contract.ANNOTATION_SLICE_MEMORY_GB: "24",
        contract.ANNOTATION_MIG_PROFILE: "1g.24gb",
        contract.ANNOTATION_STARTUP_BUDGET_SECONDS: "349",
        contract.ANNOTATION_REQUIRES_API_KEY: "false",
    }
    labels = {"app.kubernetes.io/name": name, contract.COMPONENT_LABEL: contract.MODEL_SERVER}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": "inference", "labels": labels, "annotations": annotations},
        "spec": {
            "replicas": 1.0,
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                "spec": {
                    "enableServiceLinks": False,
                    "nodeSelector": {contract.LABEL_MIG_PROFILE: "1g.24gb", contract.LABEL_GPU: "rtxpro6000.96gb"},
                    "tolerations": [
                        {"key": contract.GPU_TAINT_KEY, "operator": "Exists", "effect": contract.GPU_TAINT_EFFECT}
                    ],
                    "containers": [
                        {
                            "name": "vllm",
                            "image": "vllm/vllm-openai:v0.22.1-cu129-ubuntu2404",
                            "args": ["Qwen/Qwen2.5-7B-Instruct", "--port", "8000"],
                            "env": [
                                {"name": "HF_HOME", "value": "/data/models"},
                                {
                                    "name": "VLLM_API_KEY",
                                    "valueFrom": {"secretKeyRef": {"name": f"{name}-api-key", "key": "key"}},
                                },
                            ],
                            "resources": {
                                "requests": {"cpu": "4", "memory": "16Gi"},
                                "limits": {contract.SLICE_RESOURCE: "1", "memory": "32Gi"},
                            },
                            "startupProbe": {
                                "httpGet": {"path": "/health", "port": "http"},
                                "initialDelaySeconds": 15.0,
                                "periodSeconds": 10.0,
                                "failureThreshold": 34.0,
                            },
                        }
                    ],
                },
            },
        },
    }


def service(name: str = "vllm-qwen", type_: str = "ClusterIP", namespace: str = "inference") -> Props:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": type_,
            "selector": {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server"},
            "ports": [{"port": 8000.0, "targetPort": "http"}],
        },
    }


def nodepool(
    size: float = 1.0,
    instance_type: str = "gpurtx6000pro.small",
    profile: str = "1g.24gb",
    slices_per_node: str | None = "4",
) -> Props:
    """The MIG nodepool's dynamic resource as components/gpu_nodepool.py registers it; `slices_per_node`
    is its sks-mig.io/slices-per-node label (None: no label)."""
    gpu = {"gpua30": "a30.24gb", "gpurtx6000pro": "rtxpro6000.96gb"}[instance_type.split(".")[0]]
    labels = {
        contract.LABEL_GPU: gpu,
        contract.LABEL_MIG_PROFILE: profile.replace("+", "_"),
        contract.LABEL_NODEPOOL: "gpu-rtx",
    }
    if slices_per_node is not None:
        labels[contract.LABEL_SLICES_PER_NODE] = slices_per_node
    return {
        "zone": "de-fra-1",
        "cluster_id": "c-1",
        "name": "gpu-rtx",
        "instance_type": instance_type,
        "size": size,
        "disk_size": 200.0,
        "nvidia_mig_profiles": {gpu: profile},
        "labels": labels,
        "taints": {contract.GPU_TAINT_KEY: f"{contract.GPU_TAINT_VALUE}:{contract.GPU_TAINT_EFFECT}"},
        "__provider": secret("gASVQgAAAAAAAACM"),
    }


def cluster(environment: str = "dev", service_level: str = "starter") -> Props:
    return {
        "zone": "de-fra-1",
        "name": "sks-mig-dev",
        "serviceLevel": service_level,
        "cni": "calico",
        "exoscaleCcm": True,
        "exoscaleCsi": True,
        "labels": {"environment": environment, "app.kubernetes.io/managed-by": "sks-mig"},
    }


def rule(cidr: str, protocol: str = "TCP", start: float = 30000.0, end: float = 32767.0) -> Props:
    return {
        "securityGroupId": "sg-1",
        "type": "INGRESS",
        "protocol": protocol,
        "startPort": start,
        "endPort": end,
        "cidr": cidr,
        "description": f"NodePort services from {cidr}",
    }


def pdb(**spec: Any) -> Props:
    return {
        "metadata": {"name": "vllm-qwen", "namespace": "inference"},
        "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": "vllm-qwen"}}, **spec},
    }


# ---------------------------------------------------------------------------------------------
# Named changes to a workload (a Deployment, StatefulSet... with a pod template)
# ---------------------------------------------------------------------------------------------


def pod_template(props: Props) -> Props:
    """The pod template of a workload's properties (Deployment, StatefulSet...)."""
    template: Props = props["spec"]["template"]
    return template


def pod_spec(props: Props) -> Props:
    spec: Props = pod_template(props)["spec"]
    return spec


def first_container(props: Props) -> Props:
    container: Props = pod_spec(props)["containers"][0]
    return container


def _update(target: Props, fields: Mapping[str, Any]) -> None:
    """Set each field; a value of None removes it (the wire has no use for a null here)."""
    for key, value in fields.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def with_pod(props: Props, **fields: Any) -> Props:
    """The workload with these pod-spec fields set (None removes one): `with_pod(p, tolerations=[])`."""
    _update(pod_spec(props), fields)
    return props


def with_container(props: Props, **fields: Any) -> Props:
    """The workload with these fields of its first container set (None removes one)."""
    _update(first_container(props), fields)
    return props


def with_image(props: Props, image: str) -> Props:
    return with_container(props, image=image)


def with_resources(props: Props, *, limits: Props | None = None, requests: Props | None = None) -> Props:
    """The workload with its first container's resource limits and/or requests replaced."""
    resources = first_container(props).setdefault("resources", {})
    if limits is not None:
        resources["limits"] = limits
    if requests is not None:
        resources["requests"] = requests
    return props


def with_startup_probe(props: Props, **fields: Any) -> Props:
    """The workload with these fields of its first container's startupProbe set."""
    _update(first_container(props).setdefault("startupProbe", {}), fields)
    return props


def _annotate(metadata: list[Props], annotations: Mapping[str, str | None]) -> None:
    for each in metadata:
        _update(each.setdefault("annotations", {}), annotations)


def with_annotations(props: Props, annotations: Mapping[str, str | None]) -> Props:
    """The workload with these annotations on the object and on its pod template, as the
    components write them (None removes one)."""
    _annotate([props["metadata"], pod_template(props).setdefault("metadata", {})], annotations)
    return props


def with_pod_annotations(props: Props, annotations: Mapping[str, str | None]) -> Props:
    """The workload with these annotations on its pod template only (they win over the object's)."""
    _annotate([pod_template(props).setdefault("metadata", {})], annotations)
    return props


def with_object_annotations(props: Props, annotations: Mapping[str, str | None]) -> Props:
    """The workload with these annotations on the object only."""
    _annotate([props["metadata"]], annotations)
    return props


def without_pod_annotations(props: Props) -> Props:
    """The workload with no annotations on its pod template (the object keeps its own)."""
    pod_template(props).setdefault("metadata", {}).pop("annotations", None)
    return props


def without_annotations(props: Props) -> Props:
    """The workload with no annotations at all."""
    props["metadata"]["annotations"] = {}
    pod_template(props).setdefault("metadata", {})["annotations"] = {}
    return props


def with_replicas(props: Props, replicas: Any) -> Props:
    props["spec"]["replicas"] = replicas
    return props


def with_service_type(props: Props, service_type: str) -> Props:
    props["spec"]["type"] = service_type
    return props


def unwrap_secret(props: Props, key: str) -> Props:
    """The resource with property `key` in plain text instead of a secret."""
    props[key] = props[key]["value"]
    return props


def with_api_key(required: str) -> Props:
    """A model server annotated as requiring an API key ("true") or not."""
    return with_annotations(model_server(), {contract.ANNOTATION_REQUIRES_API_KEY: required})


def with_revision(props: Props, revision: str | None = REVISION) -> Props:
    """A model server pinned to `revision` as components/vllm_service.py writes it: the annotation
    and vLLM's --revision argument (None: unpinned, neither)."""
    with_annotations(props, {contract.ANNOTATION_MODEL_REVISION: revision})
    args = list(first_container(props)["args"])
    if "--revision" in args:
        at = args.index("--revision")
        del args[at : at + 2]
    if revision is not None:
        args += ["--revision", revision]
    return with_container(props, args=args)


# ---------------------------------------------------------------------------------------------
# Karpenter: an ExoscaleNodeClass and a NodePool as components/karpenter_gpu_pool.py registers them
# ---------------------------------------------------------------------------------------------


def mig_user_data(gpu_key: str = "rtxpro6000.96gb", profile: str = "1g.24gb", strategy: str | None = "mig") -> str:
    """The node agent's MIG settings as TOML, laid out as in the seed article."""
    head = "[settings.kubelet-device-plugins.nvidia]\n"
    if strategy is not None:
        head += f'device-partitioning-strategy = "{strategy}"\n'
    return f'{head}\n[settings.kubelet-device-plugins.nvidia.mig.profile]\n"{gpu_key}" = "{profile}"\n'


def node_class(name: str = "gpu-rtx", user_data: str | None = None) -> Props:
    """An ExoscaleNodeClass (`user_data` None: the RTX PRO 6000 cut into 1g.24gb)."""
    return {
        "apiVersion": "karpenter.exoscale.com/v1",
        "kind": "ExoscaleNodeClass",
        "metadata": {"name": name},
        "spec": {
            "imageTemplateSelector": {"variant": "nvidia"},
            "diskSize": 200.0,
            "securityGroupSelectorTerms": [{"id": "sg-1"}],
            "userData": mig_user_data() if user_data is None else user_data,
        },
    }


def article_node_class() -> Props:
    """The seed article's own example ("MIG usage with Karpenter"): named for an A30 cut into
    2g.12gb, it sets the RTX PRO 6000's GPU key."""
    return node_class("nvidia-a30-2g-12gb", mig_user_data("rtxpro6000.96gb", "1g.24gb"))


def node_pool(
    name: str = "gpu-rtx",
    node_class_name: str = "gpu-rtx",
    instance_types: Sequence[str] = ("gpurtx6000pro.small",),
    gpu: str = "rtxpro6000.96gb",
    profile: str = "1g.24gb",
    slices_per_node: str | None = "4",
    max_nodes: str | None = "2",
) -> Props:
    """A Karpenter NodePool of MIG nodes (`slices_per_node`/`max_nodes` None: no such label/annotation)."""
    labels = {contract.LABEL_GPU: gpu, contract.LABEL_MIG_PROFILE: profile, contract.LABEL_NODEPOOL: name}
    if slices_per_node is not None:
        labels[contract.LABEL_SLICES_PER_NODE] = slices_per_node
    metadata: Props = {"name": name}
    if max_nodes is not None:
        metadata["annotations"] = {contract.ANNOTATION_MAX_NODES: max_nodes}
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": metadata,
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.exoscale.com", "kind": "ExoscaleNodeClass", "name": node_class_name},
                    "requirements": [
                        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(instance_types)}
                    ],
                    "taints": [
                        {"key": contract.GPU_TAINT_KEY, "value": contract.GPU_TAINT_VALUE, "effect": contract.GPU_TAINT_EFFECT}
                    ],
                    "expireAfter": "720h",
                },
            },
            "limits": {contract.SLICE_RESOURCE: "2"},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m"},
        },
    }


def with_requirements(props: Props, requirements: list[Props]) -> Props:
    """The NodePool with these node requirements instead of its own."""
    props["spec"]["template"]["spec"]["requirements"] = requirements
    return props


def with_instance_types(props: Props, *instance_types: str) -> Props:
    return with_requirements(
        props, [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(instance_types)}]
    )


def with_limits(props: Props, limits: Props | None) -> Props:
    """The NodePool with these limits (None: none at all)."""
    _update(props["spec"], {"limits": limits})
    return props


def with_user_data(props: Props, user_data: str | None) -> Props:
    """The NodeClass with this userData (None: none)."""
    _update(props["spec"], {"userData": user_data})
    return props


# ---------------------------------------------------------------------------------------------
# The router and the model servers' NetworkPolicies (components/model_router.py, vllm_service.py)
# ---------------------------------------------------------------------------------------------


def router() -> Props:
    """The router's Deployment: LiteLLM's proxy, labelled as the model router."""
    labels = dict(ROUTER_LABELS)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "router", "namespace": "inference", "labels": labels},
        "spec": {
            "replicas": 2.0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "enableServiceLinks": False,
                    "containers": [{"name": "router", "image": "ghcr.io/berriai/litellm-non_root:v1.108.7"}],
                },
            },
        },
    }


def router_peer() -> Props:
    return {"podSelector": {"matchLabels": dict(ROUTER_LABELS)}}


def namespace_peer(namespace: str) -> Props:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def network_policy(name: str = "vllm-qwen", peers: list[Props] | None = None, namespace: str = "inference") -> Props:
    """A model server's NetworkPolicy: port 8000 from `peers` (None: the router's pods, an allowed
    namespace and the monitoring namespace, as the component writes it with a router)."""
    if peers is None:
        peers = [router_peer(), namespace_peer("apps"), namespace_peer("monitoring")]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": name, contract.COMPONENT_LABEL: contract.MODEL_SERVER}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"port": 8000.0, "protocol": "TCP"}]}],
        },
    }


def with_peers(props: Props, peers: list[Props] | None) -> Props:
    """The NetworkPolicy whose one ingress rule admits `peers` (None: a rule without `from`)."""
    _update(props["spec"]["ingress"][0], {"from": peers})
    return props


def with_extra_peer(props: Props, peer: Props) -> Props:
    """The NetworkPolicy admitting one more peer in its first ingress rule."""
    props["spec"]["ingress"][0]["from"].append(peer)
    return props


# ---------------------------------------------------------------------------------------------
# Calling validators directly, with properties prepared exactly as the SDK prepares them
# ---------------------------------------------------------------------------------------------


def sdk_props(wire: Mapping[str, Any]) -> Any:
    """What a validator's `args.props` is in the pack: the SDK's deserializer (with the secret
    marks installed) and its unknown-checking proxy."""
    secret_marks.install()
    return unknown_checking_proxy(policy_sdk.deserialize_properties(copy.deepcopy(dict(wire))))


def options(protect: bool = False, parent: str | None = None, secret_outputs: list[str] | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs or [], parent)


def collector(messages: Report) -> Reporter:
    """A report_violation that keeps the messages."""

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    return report


def check_resource(validate: ResourceValidator, type_: str, wire: Mapping[str, Any], name: str = "r") -> Report:
    messages: Report = []
    args = ResourceValidationArgs(type_, sdk_props(wire), f"urn:pulumi:dev::sks-mig::{type_}::{name}", name, options(), None)
    validate(args, collector(messages))
    return messages


def resource(
    type_: str,
    wire: Mapping[str, Any],
    name: str = "r",
    protect: bool = False,
    parent: PolicyResource | None = None,
    secret_outputs: list[str] | None = None,
) -> PolicyResource:
    urn = f"urn:pulumi:dev::sks-mig::{type_}::{name}"
    opts = options(protect, secret_outputs=secret_outputs)
    return PolicyResource(type_, sdk_props(wire), urn, name, opts, None, parent, [], {})


def check_stack(validate: StackValidator, resources: list[PolicyResource], config: Mapping[str, Any] | None = None) -> Report:
    messages: Report = []
    validate(StackValidationArgs(resources, dict(config or {})), collector(messages))
    return messages


def one(messages: Report, *fragments: str) -> str:
    """The one message reported, which says each of `fragments`."""
    assert len(messages) == 1, messages
    for fragment in fragments:
        assert fragment in messages[0], messages[0]
    return messages[0]
