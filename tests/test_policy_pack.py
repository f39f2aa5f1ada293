"""The policy pack (policy/): each policy's validator called directly, then the pack driven as the
Pulumi CLI drives it (a separate process over gRPC) against the program's own resources, from
tools/mock_run.py, and against deliberately broken copies of them.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi_policy.policy as policy_sdk
import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.deserialize import deserialize_properties as sdk_deserialize
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from tests.analyzer_client import AnalyzerClient, Verdict, WireResource, from_registered, secret
from tools.mock_run import run_stack, stack_file_config

PACK_DIR = Path(__file__).resolve().parent.parent / "policy"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))

import policies  # noqa: E402 - from policy/, as the CLI runs it
import secret_marks  # noqa: E402

Props = dict[str, Any]
Report = list[str]

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

STS = "kubernetes:apps/v1:StatefulSet"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"
SECRET = "kubernetes:core/v1:Secret"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
RULE = "exoscale:index/securityGroupRule:SecurityGroupRule"
CLUSTER = "exoscale:index/sksCluster:SksCluster"
KUBECONFIG = "exoscale:index/sksKubeconfig:SksKubeconfig"
K8S_PROVIDER = "pulumi:providers:kubernetes"
NODEPOOL = "pulumi-python:dynamic/nodepool:MigNodepool"
NODEPOOL_COMPONENT = "sks-mig:index:MigGpuNodepool"


# ---------------------------------------------------------------------------------------------
# Well-formed resources in wire form (camelCase, secrets wrapped), as the program registers them
# ---------------------------------------------------------------------------------------------


def model_server(name: str = "vllm-qwen", /, **changes: Any) -> Props:
    """A model-server StatefulSet like components/vllm_service.py's."""
    annotations = {
        "sks-mig.io/model": "Qwen/Qwen2.5-7B-Instruct",
        "sks-mig.io/estimated-memory-gb": "18.60",
        "sks-mig.io/weights-gb": "15.22",
        "sks-mig.io/slice-memory-gb": "24",
        "sks-mig.io/mig-profile": "1g.24gb",
        "sks-mig.io/startup-budget-seconds": "349",
        "sks-mig.io/requires-api-key": "false",
    }
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "model-server"}
    props: Props = {
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
                    "nodeSelector": {"sks-mig.io/mig-profile": "1g.24gb", "sks-mig.io/gpu": "rtxpro6000.96gb"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
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
                                "limits": {"nvidia.com/gpu": "1", "memory": "32Gi"},
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
    for path, value in changes.items():
        set_path(props, path, value)
    return props


def set_path(props: Props, path: str, value: Any) -> None:
    """`set_path(p, "spec__template__spec__tolerations", [])`; a value of DELETE removes the key."""
    keys = path.split("__")
    target: Any = props
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target.setdefault(key, {})
    if value is DELETE:
        target.pop(keys[-1], None)
    else:
        target[keys[-1]] = value


DELETE = object()
CONTAINER = "spec__template__spec__containers__0"
POD = "spec__template__spec"


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


def nodepool(size: float = 1.0, instance_type: str = "gpurtx6000pro.small", profile: str = "1g.24gb") -> Props:
    gpu = {"gpua30": "a30.24gb", "gpurtx6000pro": "rtxpro6000.96gb"}[instance_type.split(".")[0]]
    return {
        "zone": "de-fra-1",
        "cluster_id": "c-1",
        "name": "gpu-rtx",
        "instance_type": instance_type,
        "size": size,
        "disk_size": 200.0,
        "nvidia_mig_profiles": {gpu: profile},
        "labels": {
            "sks-mig.io/gpu": gpu,
            "sks-mig.io/mig-profile": profile.replace("+", "_"),
            "sks-mig.io/nodepool": "gpu-rtx",
        },
        "taints": {"nvidia.com/gpu": "present:NoSchedule"},
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
# Calling validators directly, with properties prepared exactly as the SDK prepares them
# ---------------------------------------------------------------------------------------------


def sdk_props(wire: Mapping[str, Any]) -> Any:
    """What a validator's `args.props` is in the pack: the SDK's deserializer (with the secret
    marks installed) and its unknown-checking proxy."""
    secret_marks.install()
    return unknown_checking_proxy(policy_sdk.deserialize_properties(copy.deepcopy(dict(wire))))


def options(protect: bool = False, parent: str | None = None, secret_outputs: list[str] | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), secret_outputs or [], parent)


def collector(messages: Report) -> Callable[[str, str | None], None]:
    """A report_violation that keeps the messages."""

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    return report


def check_resource(
    validate: Callable[[ResourceValidationArgs, Callable[[str, str | None], None]], None],
    type_: str,
    wire: Mapping[str, Any],
    name: str = "r",
) -> Report:
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


def check_stack(
    validate: Callable[[StackValidationArgs, Callable[[str, str | None], None]], None],
    resources: list[PolicyResource],
    config: Mapping[str, Any] | None = None,
) -> Report:
    messages: Report = []
    validate(StackValidationArgs(resources, dict(config or {})), collector(messages))
    return messages


def one(messages: Report, *fragments: str) -> str:
    assert len(messages) == 1, messages
    for fragment in fragments:
        assert fragment in messages[0], messages[0]
    return messages[0]


# -- gpu-slice-exactly-one ----------------------------------------------------------------------

gpu_check = policies.validate_gpu_slice_exactly_one


def test_gpu_slice_well_formed_server_passes() -> None:
    assert check_resource(gpu_check, STS, model_server()) == []


def test_gpu_slice_mixed_strategy_resource_passes() -> None:
    props = model_server(**{f"{CONTAINER}__resources__limits": {"nvidia.com/mig-1g.24gb": 1.0}})
    assert check_resource(gpu_check, STS, props) == []


@pytest.mark.parametrize("amount", ["2", 2.0, "500m", "lots"])
def test_gpu_slice_other_amounts_are_refused(amount: Any) -> None:
    props = model_server(**{f"{CONTAINER}__resources__limits": {"nvidia.com/gpu": amount}})
    one(check_resource(gpu_check, STS, props), "StatefulSet inference/vllm-qwen", "container 'vllm'", repr(amount), "exactly 1")


def test_gpu_slice_zero_is_no_request() -> None:
    props = model_server(**{f"{CONTAINER}__resources__limits": {"nvidia.com/gpu": "0"}, f"{POD}__tolerations": []})
    assert check_resource(gpu_check, STS, props) == []


def test_gpu_slice_two_resource_names_are_two_slices() -> None:
    limits = {"nvidia.com/gpu": "1", "nvidia.com/mig-1g.24gb": "1"}
    props = model_server(**{f"{CONTAINER}__resources__limits": limits})
    one(check_resource(gpu_check, STS, props), "nvidia.com/gpu, nvidia.com/mig-1g.24gb")


def test_gpu_slice_requests_are_checked_too() -> None:
    props = model_server(**{f"{CONTAINER}__resources__requests": {"nvidia.com/gpu": "2"}})
    one(check_resource(gpu_check, STS, props), "resources.requests[nvidia.com/gpu]", "'2'")


def test_gpu_slice_needs_the_toleration() -> None:
    props = model_server(**{f"{POD}__tolerations": [{"key": "other", "operator": "Exists"}]})
    one(check_resource(gpu_check, STS, props), "do not tolerate", "nvidia.com/gpu=present:NoSchedule")


@pytest.mark.parametrize(
    "toleration",
    [
        {"operator": "Exists"},
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"},
        {"key": "nvidia.com/gpu", "operator": "Exists"},
    ],
)
def test_gpu_slice_tolerations_that_work(toleration: Props) -> None:
    assert check_resource(gpu_check, STS, model_server(**{f"{POD}__tolerations": [toleration]})) == []


def test_gpu_slice_needs_the_mig_node_selector() -> None:
    props = model_server(**{f"{POD}__nodeSelector": {"sks-mig.io/gpu": "rtxpro6000.96gb"}})
    one(check_resource(gpu_check, STS, props), "no nodeSelector on sks-mig.io/mig-profile")


def test_gpu_slice_required_node_affinity_also_selects() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "sks-mig.io/mig-profile", "operator": "In", "values": ["1g.24gb"]}]}
                ]
            }
        }
    }
    props = model_server(**{f"{POD}__nodeSelector": DELETE, f"{POD}__affinity": affinity})
    assert check_resource(gpu_check, STS, props) == []


def test_gpu_slice_ignores_workloads_without_gpus_and_other_types() -> None:
    web = model_server(**{f"{CONTAINER}__resources__limits": {"memory": "1Gi"}, f"{POD}__tolerations": []})
    assert check_resource(gpu_check, DEPLOYMENT, web) == []
    assert check_resource(gpu_check, SERVICE, service()) == []


def test_gpu_slice_bare_pod_is_checked() -> None:
    pod_spec = model_server()["spec"]["template"]["spec"]
    pod_spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = "3"
    pod = {"metadata": {"name": "debug", "namespace": "inference"}, "spec": pod_spec}
    one(check_resource(gpu_check, "kubernetes:core/v1:Pod", pod), "Pod inference/debug", "'3'")


def test_gpu_slice_unknown_amount_is_not_judged_during_preview() -> None:
    props = model_server(**{f"{CONTAINER}__resources__limits": {"nvidia.com/gpu": UNKNOWN_STRING_VALUE}})
    assert check_resource(gpu_check, STS, props) == []


# -- model-image-pinned -------------------------------------------------------------------------

image_check = policies.validate_model_image_pinned
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    "image",
    [
        "vllm/vllm-openai:v0.22.1-cu129-ubuntu2404",
        "registry.example.com:5000/vllm/vllm-openai:0.9.2",
        f"vllm/vllm-openai@{DIGEST}",
        f"vllm/vllm-openai:v0.22.1@{DIGEST}",
    ],
)
def test_image_pinned_passes(image: str) -> None:
    assert check_resource(image_check, STS, model_server(**{f"{CONTAINER}__image": image})) == []


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("vllm/vllm-openai:latest", "'latest' moves"),
        ("vllm/vllm-openai", "no tag"),
        ("registry.example.com:5000/vllm/vllm-openai", "no tag"),
        ("vllm/vllm-openai:nightly", "'nightly' moves"),
        ("vllm/vllm-openai:openai", "names no version"),
        ("vllm/vllm-openai@sha256:abc", "digest"),
    ],
)
def test_image_not_pinned_is_refused(image: str, why: str) -> None:
    one(check_resource(image_check, STS, model_server(**{f"{CONTAINER}__image": image})), repr(image), why, "container 'vllm'")


def test_image_init_containers_of_model_servers_count() -> None:
    init = [{"name": "fetch", "image": "busybox"}]
    one(check_resource(image_check, STS, model_server(**{f"{POD}__initContainers": init})), "init container 'fetch'")


def test_image_other_workloads_are_not_model_servers() -> None:
    web = {
        "metadata": {"name": "web", "namespace": "inference", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}},
    }
    assert check_resource(image_check, DEPLOYMENT, web) == []


# -- model-fits-slice ---------------------------------------------------------------------------

fits_check = policies.validate_model_fits_slice


def test_fits_slice_passes_when_it_fits() -> None:
    assert check_resource(fits_check, STS, model_server()) == []


def test_fits_slice_refuses_a_model_larger_than_its_slice() -> None:
    props = model_server()
    props["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/estimated-memory-gb"] = "30.5"
    one(check_resource(fits_check, STS, props), "StatefulSet inference/vllm-qwen", "30.5 GB", "24 GB", "Qwen/Qwen2.5-7B-Instruct")


def test_fits_slice_reads_the_object_annotations_when_the_template_has_none() -> None:
    props = model_server(**{"spec__template__metadata__annotations": DELETE})
    props["metadata"]["annotations"]["sks-mig.io/slice-memory-gb"] = "12"
    one(check_resource(fits_check, STS, props), "18.6 GB", "12 GB")


def test_fits_slice_missing_annotation_is_a_violation() -> None:
    props = model_server()
    for metadata in (props["metadata"], props["spec"]["template"]["metadata"]):
        del metadata["annotations"]["sks-mig.io/estimated-memory-gb"]
    one(check_resource(fits_check, STS, props), "has no sks-mig.io/estimated-memory-gb annotation")


def test_fits_slice_non_numeric_annotation_is_a_violation() -> None:
    props = model_server()
    props["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/slice-memory-gb"] = "a lot"
    one(check_resource(fits_check, STS, props), "sks-mig.io/slice-memory-gb='a lot' is not a size")


# -- no-open-model-server -----------------------------------------------------------------------

open_check = policies.validate_no_open_model_server


def with_api_key(required: str) -> Props:
    props = model_server()
    for metadata in (props["metadata"], props["spec"]["template"]["metadata"]):
        metadata["annotations"]["sks-mig.io/requires-api-key"] = required
    return props


@pytest.mark.parametrize("type_", ["LoadBalancer", "NodePort"])
def test_open_service_without_api_key_is_refused(type_: str) -> None:
    stack = [resource(STS, with_api_key("false"), "vllm-qwen"), resource(SERVICE, service(type_=type_), "vllm-qwen")]
    one(check_stack(open_check, stack), f"Service inference/vllm-qwen is of type {type_}", "'false'")


def test_open_service_with_api_key_passes() -> None:
    stack = [resource(STS, with_api_key("true")), resource(SERVICE, service(type_="LoadBalancer"))]
    assert check_stack(open_check, stack) == []


def test_open_service_missing_annotation_is_refused() -> None:
    props = model_server()
    for metadata in (props["metadata"], props["spec"]["template"]["metadata"]):
        del metadata["annotations"]["sks-mig.io/requires-api-key"]
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


# -- secrets-are-secret -------------------------------------------------------------------------

secrets_check = policies.validate_secrets_are_secret


def test_secrets_sdk_alone_cannot_tell_a_secret_from_plain_text() -> None:
    """Why secret_marks exists: the SDK's own deserializer drops the wrapper."""
    unwrapped = sdk_deserialize({"kubeconfig": secret("apiVersion: v1")})["kubeconfig"]
    assert type(unwrapped) is str
    marked = sdk_props({"kubeconfig": secret("apiVersion: v1")})["kubeconfig"]
    assert marked == "apiVersion: v1" and secret_marks.is_secret(marked)


def test_secrets_marks_survive_nesting_numbers_and_unknowns() -> None:
    props = policies.plain(sdk_props({"a": secret({"b": ["x", 1.0, True]}), "u": secret(UNKNOWN_STRING_VALUE)}))
    b = props["a"]["b"]
    assert secret_marks.is_secret(b[0]) and secret_marks.is_secret(b[1]) and b[2] is True
    assert props["u"] is policies.SECRET_UNKNOWN


@pytest.mark.parametrize("type_", [K8S_PROVIDER, KUBECONFIG])
def test_secrets_kubeconfig_must_be_secret(type_: str) -> None:
    assert check_stack(secrets_check, [resource(type_, {"kubeconfig": secret("apiVersion: v1")})]) == []
    one(check_stack(secrets_check, [resource(type_, {"kubeconfig": "apiVersion: v1"}, "admin")]), "'admin'", "kubeconfig")


def test_secrets_unknown_kubeconfig_is_judged_by_its_wrapper() -> None:
    assert check_stack(secrets_check, [resource(K8S_PROVIDER, {"kubeconfig": secret(UNKNOWN_STRING_VALUE)})]) == []
    one(check_stack(secrets_check, [resource(K8S_PROVIDER, {"kubeconfig": UNKNOWN_STRING_VALUE})]), "kubeconfig")


def test_secrets_unknown_declared_secret_output_passes_during_preview() -> None:
    """SksKubeconfig declares kubeconfig in additionalSecretOutputs: the engine makes it secret."""
    declared = resource(KUBECONFIG, {"kubeconfig": UNKNOWN_STRING_VALUE}, secret_outputs=["kubeconfig"])
    assert check_stack(secrets_check, [declared]) == []
    known = resource(KUBECONFIG, {"kubeconfig": "apiVersion: v1"}, secret_outputs=["kubeconfig"])
    one(check_stack(secrets_check, [known]), "kubeconfig")


def test_secrets_secret_data_must_be_secret() -> None:
    good = {"metadata": {"name": "vllm-qwen-api-key"}, "stringData": {"key": secret("s3cr3t")}}
    whole = {"metadata": {"name": "x"}, "data": secret({"token": "aGk="})}
    bad = {"metadata": {"name": "leaky", "namespace": "inference"}, "stringData": {"key": "s3cr3t"}}
    assert check_stack(secrets_check, [resource(SECRET, good), resource(SECRET, whole)]) == []
    one(check_stack(secrets_check, [resource(SECRET, bad)]), "Secret inference/leaky", "stringData.key")


def test_secrets_credential_named_properties_must_be_secret() -> None:
    bad = {"config": {"apiKey": "k", "clientSecret": "s", "dbPassword": "p", "hfToken": "t"}}
    messages = check_stack(secrets_check, [resource("example:index:Thing", bad)])
    assert sorted(m.split(": ")[1].split(" ")[0] for m in messages) == [
        "config.apiKey",
        "config.clientSecret",
        "config.dbPassword",
        "config.hfToken",
    ]
    good = {"config": {k: secret(v) for k, v in bad["config"].items()}}
    assert check_stack(secrets_check, [resource("example:index:Thing", good)]) == []


def test_secrets_references_labels_and_flags_are_not_credentials() -> None:
    props = model_server()
    props["spec"]["template"]["spec"]["volumes"] = [{"name": "t", "secret": {"secretName": "tls"}}]
    props["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    assert check_stack(secrets_check, [resource(STS, props)]) == []


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("apiKey", True),
        ("VLLM_API_KEY", True),
        ("HF_TOKEN", True),
        ("client-key-data", False),
        ("password", True),
        ("kubeconfig", True),
        ("secretName", False),
        ("secretKeyRef", False),
        ("key", False),
        ("tokenExpiration", False),
        ("sks-mig.io/requires-api-key", True),
    ],
)
def test_secrets_sensitive_names(name: str, sensitive: bool) -> None:
    assert policies.is_sensitive_name(name) is sensitive


def test_secrets_inline_env_credential_is_refused() -> None:
    props = model_server()
    props["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "HF_TOKEN", "value": secret("hf_x")})
    one(check_stack(secrets_check, [resource(STS, props)]), "sets HF_TOKEN inline", "secretKeyRef")


@pytest.mark.parametrize("args", [["--api-key", "abc"], ["--api-key=abc"]])
def test_secrets_api_key_on_the_command_line_is_refused(args: list[str]) -> None:
    props = model_server(**{f"{CONTAINER}__args": ["m", *args]})
    one(check_stack(secrets_check, [resource(STS, props)]), "--api-key on its command line")


def test_secrets_env_reference_on_the_command_line_passes() -> None:
    props = model_server(**{f"{CONTAINER}__args": ["m", "--api-key", "$(VLLM_API_KEY)"]})
    assert check_stack(secrets_check, [resource(STS, props)]) == []


def test_secrets_dynamic_provider_must_be_secret() -> None:
    assert check_stack(secrets_check, [resource(NODEPOOL, nodepool())]) == []
    leaky = {**nodepool(), "__provider": "gASVQgAAAAAAAACM"}
    one(check_stack(secrets_check, [resource(NODEPOOL, leaky, "gpu-rtx")]), "MigNodepool 'gpu-rtx'", "__provider")


def test_secrets_exoscale_provider_credentials_must_be_secret() -> None:
    provider = "pulumi:providers:exoscale"
    assert check_stack(secrets_check, [resource(provider, {"key": secret("EXOk"), "secret": secret("s")})]) == []
    messages = check_stack(secrets_check, [resource(provider, {"key": "EXOk", "secret": "s"})])
    assert len(messages) == 2 and "Exoscale API key" in messages[0] and "Exoscale API secret" in messages[1]


# -- rollout-cannot-deadlock --------------------------------------------------------------------

rollout_check = policies.validate_rollout_cannot_deadlock


def deployment(replicas: float = 1.0, strategy: Props | None = None) -> Props:
    props = model_server()
    props["kind"] = "Deployment"
    props["spec"].pop("updateStrategy")
    if strategy is not None:
        props["spec"]["strategy"] = strategy
    props["spec"]["replicas"] = replicas
    return props


def test_rollout_well_formed_statefulset_passes() -> None:
    assert check_stack(rollout_check, [resource(STS, model_server()), resource(NODEPOOL, nodepool())]) == []


def test_rollout_default_surge_with_every_slice_taken_is_refused() -> None:
    stack = [resource(DEPLOYMENT, deployment(replicas=4.0), "d"), resource(NODEPOOL, nodepool())]
    one(check_stack(rollout_check, stack), "Deployment inference/vllm-qwen", "maxSurge '25%'", "only 0 MIG slice(s) are free")


@pytest.mark.parametrize(
    "strategy",
    [{"type": "Recreate"}, {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0.0, "maxUnavailable": 1.0}}],
)
def test_rollout_without_surge_passes(strategy: Props) -> None:
    stack = [resource(DEPLOYMENT, deployment(4.0, strategy)), resource(NODEPOOL, nodepool())]
    assert check_stack(rollout_check, stack) == []


def test_rollout_surge_with_a_free_slice_passes() -> None:
    stack = [resource(DEPLOYMENT, deployment(replicas=3.0)), resource(NODEPOOL, nodepool())]
    assert check_stack(rollout_check, stack) == []


@pytest.mark.parametrize("spec", [{"minAvailable": 1.0}, {"minAvailable": "100%"}, {"maxUnavailable": 0.0}])
def test_rollout_pdb_forbidding_every_eviction_is_refused(spec: Props) -> None:
    stack = [resource(STS, model_server()), resource(PDB, pdb(**spec), "pdb"), resource(NODEPOOL, nodepool())]
    one(check_stack(rollout_check, stack), "PodDisruptionBudget inference/vllm-qwen", "no pod may ever be evicted")


@pytest.mark.parametrize("spec", [{"maxUnavailable": 1.0}, {"minAvailable": "50%"}])
def test_rollout_pdb_allowing_one_eviction_passes(spec: Props) -> None:
    server = model_server(spec__replicas=2.0)
    stack = [resource(STS, server), resource(PDB, pdb(**spec)), resource(NODEPOOL, nodepool())]
    assert check_stack(rollout_check, stack) == []


@pytest.mark.parametrize("links", [True, DELETE])
def test_rollout_service_links_must_be_off(links: Any) -> None:
    stack = [resource(STS, model_server(**{f"{POD}__enableServiceLinks": links})), resource(NODEPOOL, nodepool())]
    one(check_stack(rollout_check, stack), "enableServiceLinks is", "VLLM_PORT")


def test_rollout_short_startup_probe_is_refused() -> None:
    props = model_server(**{f"{CONTAINER}__startupProbe__failureThreshold": 3.0})
    one(check_stack(rollout_check, [resource(STS, props)]), "allows 45 s", "up to 349 s", "failureThreshold")


def test_rollout_startup_budget_from_weights_when_the_annotation_understates_it() -> None:
    props = model_server()
    for metadata in (props["metadata"], props["spec"]["template"]["metadata"]):
        metadata["annotations"]["sks-mig.io/startup-budget-seconds"] = "60"
        metadata["annotations"]["sks-mig.io/weights-gb"] = "30"
    one(check_stack(rollout_check, [resource(STS, props)]), "up to 570 s", "30 GB of weights")


def test_rollout_missing_startup_probe_is_refused() -> None:
    props = model_server(**{f"{CONTAINER}__startupProbe": DELETE})
    one(check_stack(rollout_check, [resource(STS, props)]), "has no startupProbe")


def test_rollout_missing_budget_annotations_is_refused() -> None:
    props = model_server(**{"spec__template__metadata__annotations": {}, "metadata__annotations": {}})
    one(check_stack(rollout_check, [resource(STS, props)]), "no sks-mig.io/startup-budget-seconds")


# -- slices-within-capacity ---------------------------------------------------------------------

capacity_check = policies.validate_slices_within_capacity


def test_capacity_within_passes() -> None:
    stack = [resource(STS, model_server(spec__replicas=4.0)), resource(NODEPOOL, nodepool())]
    assert check_stack(capacity_check, stack) == []


def test_capacity_exceeded_is_refused_with_the_arithmetic() -> None:
    stack = [
        resource(STS, model_server("vllm-a", spec__replicas=3.0)),
        resource(STS, model_server("vllm-b", spec__replicas=2.0)),
        resource(NODEPOOL, nodepool(), "gpu-rtx"),
    ]
    one(
        check_stack(capacity_check, stack),
        "need 5 slice(s)",
        "StatefulSet inference/vllm-a 3 x 1",
        "offer 4",
        "1 node(s) x 1 GPU(s) x 4 1g.24gb slices",
    )


def test_capacity_more_nodes_more_slices() -> None:
    stack = [resource(STS, model_server(spec__replicas=8.0)), resource(NODEPOOL, nodepool(size=2.0))]
    assert check_stack(capacity_check, stack) == []


def test_capacity_a30_profile_from_the_catalogue() -> None:
    server = model_server(**{"spec__replicas": 3.0, f"{POD}__nodeSelector": {"sks-mig.io/mig-profile": "2g.12gb"}})
    pool = nodepool(instance_type="gpua30.small", profile="2g.12gb")
    one(check_stack(capacity_check, [resource(STS, server), resource(NODEPOOL, pool)]), "offer 2", "2 2g.12gb slices")


def test_capacity_profile_no_nodepool_has_is_refused() -> None:
    server = model_server(**{f"{POD}__nodeSelector": {"sks-mig.io/mig-profile": "2g.48gb"}})
    one(check_stack(capacity_check, [resource(STS, server), resource(NODEPOOL, nodepool())]), "no MIG nodepool", "2g.48gb")


def test_capacity_no_nodepool_at_all_is_refused() -> None:
    one(check_stack(capacity_check, [resource(STS, model_server())]), "no MIG nodepool")


def test_capacity_unknown_gpu_count_uses_the_component_output() -> None:
    component = resource(NODEPOOL_COMPONENT, {"total_slices": 8.0}, "gpu-rtx")
    pool = resource(NODEPOOL, nodepool(instance_type="gpurtx6000pro.large"), "gpu-rtx", parent=component)
    stack = [resource(STS, model_server(spec__replicas=8.0)), component, pool]
    assert check_stack(capacity_check, stack) == []
    stack[0] = resource(STS, model_server(spec__replicas=9.0))
    one(check_stack(capacity_check, stack), "offer 8", "registered by its MigGpuNodepool component")


def test_capacity_unknown_gpu_count_without_the_component_is_reported() -> None:
    stack = [resource(STS, model_server()), resource(NODEPOOL, nodepool(instance_type="gpurtx6000pro.large"))]
    one(check_stack(capacity_check, stack), "Cannot count the slices", "gpurtx6000pro.large")


def test_capacity_unknown_replicas_are_not_judged_during_preview() -> None:
    stack = [resource(STS, model_server(spec__replicas=UNKNOWN_NUMBER_VALUE)), resource(NODEPOOL, nodepool())]
    assert check_stack(capacity_check, stack) == []


# -- production-hardening -----------------------------------------------------------------------

hardening_check = policies.validate_production_hardening


def test_hardening_ignores_dev() -> None:
    assert check_stack(hardening_check, [resource(CLUSTER, cluster()), resource(NODEPOOL, nodepool())]) == []


def test_hardening_prod_needs_pro_and_protect() -> None:
    stack = [resource(CLUSTER, cluster("prod"), "sks-mig-prod"), resource(NODEPOOL, nodepool(), "gpu-rtx")]
    messages = check_stack(hardening_check, stack)
    assert len(messages) == 3, messages
    assert "SksCluster 'sks-mig-prod'" in messages[0] and "'starter' control plane" in messages[0]
    assert "is not protected" in messages[1]
    assert "MIG nodepool 'gpu-rtx'" in messages[2]


def test_hardening_prod_hardened_passes() -> None:
    stack = [resource(CLUSTER, cluster("prod", "pro"), protect=True), resource(NODEPOOL, nodepool(), protect=True)]
    assert check_stack(hardening_check, stack) == []


def test_hardening_production_environments_come_from_config() -> None:
    stack = [resource(CLUSTER, cluster("staging"), protect=True), resource(NODEPOOL, nodepool(), protect=True)]
    assert check_stack(hardening_check, stack) == []
    one(check_stack(hardening_check, stack, {"productionEnvironments": ["staging"]}), "environment=staging")


def test_every_policy_is_named_and_described() -> None:
    assert [p.name for p in policies.POLICIES] == POLICY_NAMES
    levels = {p.name: p.enforcement_level.value if p.enforcement_level else None for p in policies.POLICIES}
    assert levels == {name: "advisory" if name == "production-hardening" else "mandatory" for name in POLICY_NAMES}
    assert all(len(p.description) > 80 for p in policies.POLICIES)


# ---------------------------------------------------------------------------------------------
# The pack as the CLI runs it: a process, gRPC, the program's own resources
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pack() -> Iterator[AnalyzerClient]:
    client = AnalyzerClient().start()
    try:
        client.handshake()
        client.configure_stack()
        client.info()
        yield client
    finally:
        client.stop()


@pytest.fixture(scope="module")
def dev_resources() -> list[WireResource]:
    return from_registered(run_stack("dev").resources)


def fresh(resources: list[WireResource]) -> list[WireResource]:
    return copy.deepcopy(resources)


def find(resources: list[WireResource], type_: str, name: str | None = None) -> WireResource:
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def edit(resources: list[WireResource], type_: str, name: str | None, change: Callable[[Props], None]) -> None:
    target = find(resources, type_, name)
    props = target.props
    change(props)
    target.replace(props)


def test_pack_starts_quickly_and_answers_the_cli_sequence(pack: AnalyzerClient) -> None:
    assert pack.startup_seconds < 10
    assert pack.handshake() is False  # UNIMPLEMENTED in pulumi_policy, tolerated as the CLI does
    info = pack.info()
    assert info.name == "sks-mig-policies" and info.supportsConfig
    assert [(p.name, p.level) for p in pack.policies] == [
        (name, "advisory" if name == "production-hardening" else "mandatory") for name in POLICY_NAMES
    ]
    schemas = {p.name: p.schema for p in pack.policies}
    assert schemas["no-open-model-server"]["allowedCidrs"]["default"] == []
    assert schemas["production-hardening"]["productionEnvironments"]["default"] == ["prod"]


@pytest.mark.parametrize("stack", ["dev", "a30", "prod"])
def test_pack_passes_the_program_stacks(pack: AnalyzerClient, stack: str) -> None:
    verdict = pack.run(from_registered(run_stack(stack).resources))
    assert verdict.diagnostics == [], str(verdict)


def test_pack_passes_a_hand_made_stack(pack: AnalyzerClient) -> None:
    """The harness without the program: Structs written by hand, secrets wrapped as on the wire."""
    provider = WireResource.of(K8S_PROVIDER, "k8s", {"kubeconfig": secret("apiVersion: v1"), "enableServerSideApply": "true"})
    resources = [
        WireResource.of(CLUSTER, "sks-mig-dev", cluster()),
        WireResource.of(RULE, "nodes-tcp-10250", {**rule("", start=10250.0, end=10250.0), "cidr": "10.0.0.0/8"}),
        WireResource.of(NODEPOOL, "gpu-rtx", nodepool()),
        provider,
        WireResource.of(SECRET, "vllm-qwen-api-key", {"stringData": {"key": secret("k")}}, provider=provider.urn),
        WireResource.of(STS, "vllm-qwen", with_api_key("true"), provider=provider.urn),
        WireResource.of(SERVICE, "vllm-qwen", service(type_="LoadBalancer"), provider=provider.urn),
    ]
    assert pack.run(resources).diagnostics == []
    find(resources, SECRET).replace({"stringData": {"key": "k"}})
    assert pack.run(resources).policies() == {"secrets-are-secret"}


def _drop_tolerations(props: Props) -> None:
    props["spec"]["template"]["spec"]["tolerations"] = []


def _latest_image(props: Props) -> None:
    props["spec"]["template"]["spec"]["containers"][0]["image"] = "vllm/vllm-openai:latest"


def _too_big(props: Props) -> None:
    for metadata in (props["metadata"], props["spec"]["template"]["metadata"]):
        metadata["annotations"]["sks-mig.io/estimated-memory-gb"] = "31.20"


def _load_balancer(props: Props) -> None:
    props["spec"]["type"] = "LoadBalancer"


def _plain_kubeconfig(props: Props) -> None:
    props["kubeconfig"] = props["kubeconfig"]["value"]


def _service_links(props: Props) -> None:
    props["spec"]["template"]["spec"]["enableServiceLinks"] = True


def _short_startup(props: Props) -> None:
    props["spec"]["template"]["spec"]["containers"][0]["startupProbe"]["failureThreshold"] = 5.0


def _five_replicas(props: Props) -> None:
    props["spec"]["replicas"] = 5.0


BAD_STACKS: dict[str, tuple[str, str, str | None, Callable[[Props], None]]] = {
    # id: (the policy it must trip, type, resource name, mutation)
    "no-toleration": ("gpu-slice-exactly-one", STS, "vllm-qwen", _drop_tolerations),
    "latest-image": ("model-image-pinned", STS, "vllm-phi", _latest_image),
    "model-too-big": ("model-fits-slice", STS, "vllm-qwen", _too_big),
    "open-load-balancer": ("no-open-model-server", SERVICE, "vllm-qwen", _load_balancer),
    "plain-kubeconfig": ("secrets-are-secret", K8S_PROVIDER, None, _plain_kubeconfig),
    "service-links": ("rollout-cannot-deadlock", STS, "vllm-phi", _service_links),
    "short-startup-probe": ("rollout-cannot-deadlock", STS, "vllm-qwen", _short_startup),
    "over-capacity": ("slices-within-capacity", STS, "vllm-qwen", _five_replicas),
}


@pytest.mark.parametrize("case", list(BAD_STACKS))
def test_pack_bad_stack_trips_exactly_its_policy(pack: AnalyzerClient, dev_resources: list[WireResource], case: str) -> None:
    policy, type_, name, mutation = BAD_STACKS[case]
    resources = fresh(dev_resources)
    edit(resources, type_, name, mutation)
    verdict = pack.run(resources)
    assert verdict.policies() == {policy}, str(verdict)
    assert verdict.advisory() == [], str(verdict)
    # Each violation is pinned on the broken resource; capacity on the nodepool that lacks it.
    blamed = find(resources, NODEPOOL) if policy == "slices-within-capacity" else find(resources, type_, name)
    assert all(d.urn == blamed.urn for d in verdict.diagnostics), str(verdict)


def test_pack_open_security_group_rule(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    resources = fresh(dev_resources)
    parent = find(resources, "sks-mig:index:SksCluster").urn
    resources.append(WireResource.of(RULE, "ssh-from-anywhere", rule("0.0.0.0/0", start=22.0, end=22.0), parent=parent))
    verdict = pack.run(resources)
    assert verdict.policies() == {"no-open-model-server"}, str(verdict)
    assert "TCP port 22 to 0.0.0.0/0" in verdict.diagnostics[0].message
    assert pack.run(resources, {"no-open-model-server": {"allowedCidrs": ["0.0.0.0/0"]}}).diagnostics == []


def test_pack_pod_disruption_budget_deadlock(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    resources = fresh(dev_resources)
    budget = pdb(minAvailable=1.0)
    budget["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "vllm-phi"}
    resources.append(WireResource.of(PDB, "vllm-phi", budget))
    verdict = pack.run(resources)
    assert verdict.policies() == {"rollout-cannot-deadlock"}, str(verdict)
    assert "minAvailable 1" in verdict.diagnostics[0].message


def test_pack_plain_secret_data(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    resources = fresh(dev_resources)
    provider = find(resources, K8S_PROVIDER).urn
    leaky = {"metadata": {"name": "vllm-qwen-hf-token", "namespace": "inference"}, "stringData": {"token": "hf_abc"}}
    resources.append(WireResource.of(SECRET, "vllm-qwen-hf-token", leaky, provider=provider))
    verdict = pack.run(resources)
    assert verdict.policies() == {"secrets-are-secret"}, str(verdict)
    assert "stringData.token" in verdict.diagnostics[0].message


def test_pack_production_hardening_is_advisory_unless_configured(
    pack: AnalyzerClient, dev_resources: list[WireResource]
) -> None:
    resources = fresh(dev_resources)
    edit(resources, CLUSTER, None, lambda props: props["labels"].update(environment="prod"))
    verdict = pack.run(resources)
    assert verdict.mandatory() == [] and verdict.policies("advisory") == {"production-hardening"}, str(verdict)
    assert len(verdict.advisory()) == 3  # starter control plane, cluster and MIG nodepool unprotected
    strict = pack.run(resources, {"production-hardening": "mandatory"})
    assert strict.policies() == {"production-hardening"} and len(strict.mandatory()) == 3


@pytest.mark.parametrize(("level", "expected"), [("advisory", {"model-image-pinned"}), ("disabled", set())])
def test_pack_enforcement_levels_follow_policy_config(
    pack: AnalyzerClient, dev_resources: list[WireResource], level: str, expected: set[str]
) -> None:
    resources = fresh(dev_resources)
    edit(resources, STS, "vllm-qwen", _latest_image)
    verdict = pack.run(resources, {"model-image-pinned": level})
    assert verdict.mandatory() == [] and verdict.policies(None) == expected, str(verdict)


def test_pack_example_config_is_accepted(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    config = json.loads((PACK_DIR / "policy-config.example.json").read_text(encoding="utf-8"))
    assert pack.run(fresh(dev_resources), config).diagnostics == []


# Bad stacks the config layer accepts, produced through the program itself.


def _program_verdict(pack: AnalyzerClient, config: Mapping[str, Any]) -> Verdict:
    return pack.run(from_registered(run_stack("dev", config).resources))


def test_pack_program_with_an_unpinned_image(pack: AnalyzerClient) -> None:
    config = stack_file_config("dev")
    config["sks-mig:models"][0]["image"] = "vllm/vllm-openai:latest"
    assert _program_verdict(pack, config).policies() == {"model-image-pinned"}


def test_pack_program_with_node_ports_open_to_everyone(pack: AnalyzerClient) -> None:
    config = stack_file_config("dev")
    config["sks-mig:cluster"]["nodePortCidrs"] = ["0.0.0.0/0"]
    verdict = _program_verdict(pack, config)
    assert verdict.policies() == {"no-open-model-server"}, str(verdict)
    assert "0.0.0.0/0" in verdict.diagnostics[0].message


def test_pack_program_prod_on_the_starter_plane(pack: AnalyzerClient) -> None:
    config = stack_file_config("dev")
    config["sks-mig:environment"] = "prod"
    verdict = _program_verdict(pack, config)
    assert verdict.mandatory() == [], str(verdict)
    assert [d.policy for d in verdict.advisory()] == ["production-hardening"], str(verdict)
    assert "'starter' control plane" in verdict.advisory()[0].message
