"""What the policy pack's tests show it: resources in wire form as the program registers them, named
changes to them, and one broken copy of the dev stack per policy.

Resources are in wire form (camelCase for provider resources, numbers as floats, secrets wrapped),
as the engine passes them to an analyzer; a builder returns a fresh dict, and each change (`with_pod`,
`with_container`, `with_image`, `with_annotations`...) edits one in place and returns it, so a test
reads as what it changes: `with_pod(model_server(), tolerations=[])`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import contract
from tests.analyzer_client import WireResource, secret

Props = dict[str, Any]

POLICY_NAMES = [
    "gpu-slice-exactly-one",
    "model-image-pinned",
    "model-fits-slice",
    "no-open-model-server",
    "secrets-are-secret",
    "rollout-cannot-deadlock",
    "slices-within-capacity",
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


# ---------------------------------------------------------------------------------------------
# Stacks: finding and changing one resource, and one broken dev stack per policy
# ---------------------------------------------------------------------------------------------


def fresh(resources: Sequence[WireResource]) -> list[WireResource]:
    """A copy of a stack's resources to break."""
    return copy.deepcopy(list(resources))


def find(resources: Sequence[WireResource], type_: str, name: str | None = None) -> WireResource:
    """The one resource of `type_` (named `name`, if given)."""
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def edit(resources: Sequence[WireResource], type_: str, name: str | None, change: Callable[[Props], object]) -> None:
    """Apply `change` to the properties of one resource (see `find`)."""
    target = find(resources, type_, name)
    props = target.props
    change(props)
    target.replace(props)


@dataclass(frozen=True)
class BrokenStack:
    """One change to the dev stack that one policy must refuse, on the resource it breaks."""

    policy: str
    type: str
    name: str | None
    change: Callable[[Props], object]

    def of(self, resources: Sequence[WireResource]) -> list[WireResource]:
        """A broken copy of `resources`."""
        broken = fresh(resources)
        edit(broken, self.type, self.name, self.change)
        return broken

    def blamed(self, resources: Sequence[WireResource]) -> WireResource:
        """The resource each violation must name: the broken one; for capacity, the nodepool
        that lacks the slices."""
        if self.policy == "slices-within-capacity":
            return find(resources, contract.MIG_NODEPOOL)
        return find(resources, self.type, self.name)


BROKEN_STACKS: dict[str, BrokenStack] = {
    "no-toleration": BrokenStack(
        "gpu-slice-exactly-one", STS, "vllm-qwen", lambda p: with_pod(p, tolerations=[])
    ),
    "latest-image": BrokenStack(
        "model-image-pinned", STS, "vllm-phi", lambda p: with_image(p, "vllm/vllm-openai:latest")
    ),
    "model-too-big": BrokenStack(
        "model-fits-slice",
        STS,
        "vllm-qwen",
        lambda p: with_annotations(p, {contract.ANNOTATION_ESTIMATED_MEMORY_GB: "31.20"}),
    ),
    "open-load-balancer": BrokenStack(
        "no-open-model-server", SERVICE, "vllm-qwen", lambda p: with_service_type(p, "LoadBalancer")
    ),
    "plain-kubeconfig": BrokenStack(
        "secrets-are-secret", K8S_PROVIDER, None, lambda p: unwrap_secret(p, "kubeconfig")
    ),
    "service-links": BrokenStack(
        "rollout-cannot-deadlock", STS, "vllm-phi", lambda p: with_pod(p, enableServiceLinks=True)
    ),
    "short-startup-probe": BrokenStack(
        "rollout-cannot-deadlock", STS, "vllm-qwen", lambda p: with_startup_probe(p, failureThreshold=5.0)
    ),
    "over-capacity": BrokenStack(
        "slices-within-capacity", STS, "vllm-qwen", lambda p: with_replicas(p, 5.0)
    ),
}
"""Mandatory policies only; production-hardening is advisory unless configured (its own tests)."""
