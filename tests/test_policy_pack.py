"""The policy pack's validators (policy/), each called directly with properties prepared exactly as
the Policy SDK prepares them. tests/test_policy_standalone.py drives the whole pack as the Pulumi
CLI does (a separate process over gRPC, from a copy of policy/ alone).
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping
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

import contract
from tests.analyzer_client import secret
from tests.pack_resources import (
    CLUSTER,
    DEPLOYMENT,
    K8S_PROVIDER,
    KUBECONFIG,
    NODEPOOL,
    NODEPOOL_COMPONENT,
    PDB,
    POLICY_NAMES,
    RULE,
    SECRET,
    SERVICE,
    STS,
    Props,
    cluster,
    first_container,
    model_server,
    nodepool,
    pdb,
    pod_spec,
    rule,
    service,
    with_annotations,
    with_api_key,
    with_container,
    with_image,
    with_object_annotations,
    with_pod,
    with_pod_annotations,
    with_replicas,
    with_resources,
    with_startup_probe,
    without_annotations,
    without_pod_annotations,
)

# The pack's modules import each other as top-level modules, as they do when the CLI runs the pack
# (tests/test_policy_standalone.py runs a copy of it with nothing else on the path).
PACK_DIR = Path(__file__).resolve().parent.parent / "policy"
if str(PACK_DIR) not in sys.path:
    sys.path.insert(0, str(PACK_DIR))

import gpu_slice_exactly_one  # noqa: E402
import model_fits_slice  # noqa: E402
import model_image_pinned  # noqa: E402
import no_open_model_server  # noqa: E402
import policies  # noqa: E402
import production_hardening  # noqa: E402
import rollout_cannot_deadlock  # noqa: E402
import secret_marks  # noqa: E402
import secrets_are_secret  # noqa: E402
import slices_within_capacity  # noqa: E402
import wire  # noqa: E402

Report = list[str]
Reporter = Callable[[str, str | None], None]
ResourceValidator = Callable[[ResourceValidationArgs, Reporter], None]
StackValidator = Callable[[StackValidationArgs, Reporter], None]


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
    assert len(messages) == 1, messages
    for fragment in fragments:
        assert fragment in messages[0], messages[0]
    return messages[0]


# -- gpu-slice-exactly-one ----------------------------------------------------------------------

gpu_check = gpu_slice_exactly_one.validate_gpu_slice_exactly_one


def test_gpu_slice_well_formed_server_passes() -> None:
    assert check_resource(gpu_check, STS, model_server()) == []


def test_gpu_slice_mixed_strategy_resource_passes() -> None:
    props = with_resources(model_server(), limits={"nvidia.com/mig-1g.24gb": 1.0})
    assert check_resource(gpu_check, STS, props) == []


@pytest.mark.parametrize("amount", ["2", 2.0, "500m", "lots"])
def test_gpu_slice_other_amounts_are_refused(amount: Any) -> None:
    props = with_resources(model_server(), limits={"nvidia.com/gpu": amount})
    one(check_resource(gpu_check, STS, props), "StatefulSet inference/vllm-qwen", "container 'vllm'", repr(amount), "exactly 1")


def test_gpu_slice_zero_is_no_request() -> None:
    props = with_pod(with_resources(model_server(), limits={"nvidia.com/gpu": "0"}), tolerations=[])
    assert check_resource(gpu_check, STS, props) == []


def test_gpu_slice_two_resource_names_are_two_slices() -> None:
    limits = {"nvidia.com/gpu": "1", "nvidia.com/mig-1g.24gb": "1"}
    props = with_resources(model_server(), limits=limits)
    one(check_resource(gpu_check, STS, props), "nvidia.com/gpu, nvidia.com/mig-1g.24gb")


def test_gpu_slice_requests_are_checked_too() -> None:
    props = with_resources(model_server(), requests={"nvidia.com/gpu": "2"})
    one(check_resource(gpu_check, STS, props), "resources.requests[nvidia.com/gpu]", "'2'")


def test_gpu_slice_needs_the_toleration() -> None:
    props = with_pod(model_server(), tolerations=[{"key": "other", "operator": "Exists"}])
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
    assert check_resource(gpu_check, STS, with_pod(model_server(), tolerations=[toleration])) == []


def test_gpu_slice_needs_the_mig_node_selector() -> None:
    props = with_pod(model_server(), nodeSelector={"sks-mig.io/gpu": "rtxpro6000.96gb"})
    one(check_resource(gpu_check, STS, props), "no nodeSelector on sks-mig.io/mig-profile")


def test_gpu_slice_required_node_affinity_also_selects() -> None:
    term = {"matchExpressions": [{"key": "sks-mig.io/mig-profile", "operator": "In", "values": ["1g.24gb"]}]}
    affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}
    props = with_pod(model_server(), nodeSelector=None, affinity=affinity)
    assert check_resource(gpu_check, STS, props) == []


def test_gpu_slice_ignores_workloads_without_gpus_and_other_types() -> None:
    web = with_pod(with_resources(model_server(), limits={"memory": "1Gi"}), tolerations=[])
    assert check_resource(gpu_check, DEPLOYMENT, web) == []
    assert check_resource(gpu_check, SERVICE, service()) == []


def test_gpu_slice_bare_pod_is_checked() -> None:
    server = with_resources(model_server(), limits={"nvidia.com/gpu": "3"})
    pod = {"metadata": {"name": "debug", "namespace": "inference"}, "spec": pod_spec(server)}
    one(check_resource(gpu_check, "kubernetes:core/v1:Pod", pod), "Pod inference/debug", "'3'")


def test_gpu_slice_unknown_amount_is_not_judged_during_preview() -> None:
    props = with_resources(model_server(), limits={"nvidia.com/gpu": UNKNOWN_STRING_VALUE})
    assert check_resource(gpu_check, STS, props) == []


# -- model-image-pinned -------------------------------------------------------------------------

image_check = model_image_pinned.validate_model_image_pinned
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
    assert check_resource(image_check, STS, with_image(model_server(), image)) == []


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
    one(check_resource(image_check, STS, with_image(model_server(), image)), repr(image), why, "container 'vllm'")


def test_image_init_containers_of_model_servers_count() -> None:
    init = [{"name": "fetch", "image": "busybox"}]
    one(check_resource(image_check, STS, with_pod(model_server(), initContainers=init)), "init container 'fetch'")


def test_image_other_workloads_are_not_model_servers() -> None:
    web = {
        "metadata": {"name": "web", "namespace": "inference", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}},
    }
    assert check_resource(image_check, DEPLOYMENT, web) == []


# -- model-fits-slice ---------------------------------------------------------------------------

fits_check = model_fits_slice.validate_model_fits_slice


def test_fits_slice_passes_when_it_fits() -> None:
    assert check_resource(fits_check, STS, model_server()) == []


def test_fits_slice_refuses_a_model_larger_than_its_slice() -> None:
    props = with_pod_annotations(model_server(), {contract.ANNOTATION_ESTIMATED_MEMORY_GB: "30.5"})
    one(check_resource(fits_check, STS, props), "StatefulSet inference/vllm-qwen", "30.5 GB", "24 GB", "Qwen/Qwen2.5-7B-Instruct")


def test_fits_slice_reads_the_object_annotations_when_the_template_has_none() -> None:
    props = without_pod_annotations(model_server())
    with_object_annotations(props, {contract.ANNOTATION_SLICE_MEMORY_GB: "12"})
    one(check_resource(fits_check, STS, props), "18.6 GB", "12 GB")


def test_fits_slice_missing_annotation_is_a_violation() -> None:
    props = with_annotations(model_server(), {contract.ANNOTATION_ESTIMATED_MEMORY_GB: None})
    one(check_resource(fits_check, STS, props), "has no sks-mig.io/estimated-memory-gb annotation")


def test_fits_slice_non_numeric_annotation_is_a_violation() -> None:
    props = with_pod_annotations(model_server(), {contract.ANNOTATION_SLICE_MEMORY_GB: "a lot"})
    one(check_resource(fits_check, STS, props), "sks-mig.io/slice-memory-gb='a lot' is not a size")


# -- no-open-model-server -----------------------------------------------------------------------

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


# -- secrets-are-secret -------------------------------------------------------------------------

secrets_check = secrets_are_secret.validate_secrets_are_secret


def test_secrets_sdk_alone_cannot_tell_a_secret_from_plain_text() -> None:
    """Why secret_marks exists: the SDK's own deserializer drops the wrapper."""
    unwrapped = sdk_deserialize({"kubeconfig": secret("apiVersion: v1")})["kubeconfig"]
    assert type(unwrapped) is str
    marked = sdk_props({"kubeconfig": secret("apiVersion: v1")})["kubeconfig"]
    assert marked == "apiVersion: v1" and secret_marks.is_secret(marked)


def test_secrets_marks_survive_nesting_numbers_and_unknowns() -> None:
    props = wire.plain(sdk_props({"a": secret({"b": ["x", 1.0, True]}), "u": secret(UNKNOWN_STRING_VALUE)}))
    b = props["a"]["b"]
    assert secret_marks.is_secret(b[0]) and secret_marks.is_secret(b[1]) and b[2] is True
    assert props["u"] is wire.SECRET_UNKNOWN


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
    props = with_pod(
        model_server(),
        volumes=[{"name": "t", "secret": {"secretName": "tls"}}],
        automountServiceAccountToken=False,
    )
    assert check_stack(secrets_check, [resource(STS, props)]) == []


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [
        ("apiKey", True), ("VLLM_API_KEY", True), ("HF_TOKEN", True), ("password", True), ("kubeconfig", True),
        ("sks-mig.io/requires-api-key", True), ("client-key-data", False), ("secretName", False),
        ("secretKeyRef", False), ("key", False), ("tokenExpiration", False),
    ],
)
def test_secrets_sensitive_names(name: str, sensitive: bool) -> None:
    assert secrets_are_secret.is_sensitive_name(name) is sensitive


def test_secrets_inline_env_credential_is_refused() -> None:
    props = model_server()
    env = [*first_container(props)["env"], {"name": "HF_TOKEN", "value": secret("hf_x")}]
    with_container(props, env=env)
    one(check_stack(secrets_check, [resource(STS, props)]), "sets HF_TOKEN inline", "secretKeyRef")


@pytest.mark.parametrize("args", [["--api-key", "abc"], ["--api-key=abc"]])
def test_secrets_api_key_on_the_command_line_is_refused(args: list[str]) -> None:
    props = with_container(model_server(), args=["m", *args])
    one(check_stack(secrets_check, [resource(STS, props)]), "--api-key on its command line")


def test_secrets_env_reference_on_the_command_line_passes() -> None:
    props = with_container(model_server(), args=["m", "--api-key", "$(VLLM_API_KEY)"])
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

rollout_check = rollout_cannot_deadlock.validate_rollout_cannot_deadlock


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
    server = with_replicas(model_server(), 2.0)
    stack = [resource(STS, server), resource(PDB, pdb(**spec)), resource(NODEPOOL, nodepool())]
    assert check_stack(rollout_check, stack) == []


@pytest.mark.parametrize("links", [True, None])
def test_rollout_service_links_must_be_off(links: Any) -> None:
    stack = [resource(STS, with_pod(model_server(), enableServiceLinks=links)), resource(NODEPOOL, nodepool())]
    one(check_stack(rollout_check, stack), "enableServiceLinks is", "VLLM_PORT")


def test_rollout_short_startup_probe_is_refused() -> None:
    props = with_startup_probe(model_server(), failureThreshold=3.0)
    one(check_stack(rollout_check, [resource(STS, props)]), "allows 45 s", "up to 349 s", "failureThreshold")


def test_rollout_startup_budget_is_the_one_the_program_annotates() -> None:
    """The program sizes the budget (config/memory_fit.py); the pack reads it, whatever the weights."""
    probe_allows_355_s = model_server()
    budget = {contract.ANNOTATION_STARTUP_BUDGET_SECONDS: "600", contract.ANNOTATION_WEIGHTS_GB: "1"}
    props = with_annotations(probe_allows_355_s, budget)
    one(check_stack(rollout_check, [resource(STS, props)]), "allows 355 s", "up to 600 s", "(sks-mig.io/startup-budget-seconds)")
    budget = {contract.ANNOTATION_STARTUP_BUDGET_SECONDS: "355", contract.ANNOTATION_WEIGHTS_GB: "30"}
    assert check_stack(rollout_check, [resource(STS, with_annotations(model_server(), budget))]) == []


@pytest.mark.parametrize("budget", ["soon", ""])
def test_rollout_startup_budget_that_is_not_a_number_is_refused(budget: str) -> None:
    props = with_annotations(model_server(), {contract.ANNOTATION_STARTUP_BUDGET_SECONDS: budget})
    one(check_stack(rollout_check, [resource(STS, props)]), f"sks-mig.io/startup-budget-seconds={budget!r} is not a number")


def test_rollout_missing_startup_probe_is_refused() -> None:
    props = with_container(model_server(), startupProbe=None)
    one(check_stack(rollout_check, [resource(STS, props)]), "has no startupProbe")


def test_rollout_missing_budget_annotations_is_refused() -> None:
    props = without_annotations(model_server())
    one(check_stack(rollout_check, [resource(STS, props)]), "no sks-mig.io/startup-budget-seconds")


# -- slices-within-capacity ---------------------------------------------------------------------

capacity_check = slices_within_capacity.validate_slices_within_capacity


def test_capacity_within_passes() -> None:
    stack = [resource(STS, with_replicas(model_server(), 4.0)), resource(NODEPOOL, nodepool())]
    assert check_stack(capacity_check, stack) == []


def test_capacity_exceeded_is_refused_with_the_arithmetic() -> None:
    stack = [
        resource(STS, with_replicas(model_server("vllm-a"), 3.0)),
        resource(STS, with_replicas(model_server("vllm-b"), 2.0)),
        resource(NODEPOOL, nodepool(), "gpu-rtx"),
    ]
    one(
        check_stack(capacity_check, stack),
        "need 5 slice(s)",
        "StatefulSet inference/vllm-a 3 x 1",
        "offer 4",
        "1 node(s) x 4 1g.24gb slices per node",
    )


def test_capacity_more_nodes_more_slices() -> None:
    stack = [resource(STS, with_replicas(model_server(), 8.0)), resource(NODEPOOL, nodepool(size=2.0))]
    assert check_stack(capacity_check, stack) == []


def test_capacity_a30_pool_counts_the_slices_its_label_gives() -> None:
    server = with_pod(with_replicas(model_server(), 3.0), nodeSelector={"sks-mig.io/mig-profile": "2g.12gb"})
    pool = nodepool(instance_type="gpua30.small", profile="2g.12gb", slices_per_node="2")
    one(check_stack(capacity_check, [resource(STS, server), resource(NODEPOOL, pool)]), "offer 2", "2 2g.12gb slices")


def test_capacity_larger_nodes_count_the_slices_their_label_gives() -> None:
    """A size the pack knows nothing about: sks-mig.io/slices-per-node says 2 GPUs x 4 slices."""
    pool = resource(NODEPOOL, nodepool(instance_type="gpurtx6000pro.large", slices_per_node="8"))
    assert check_stack(capacity_check, [resource(STS, with_replicas(model_server(), 8.0)), pool]) == []
    stack = [resource(STS, with_replicas(model_server(), 9.0)), pool]
    one(check_stack(capacity_check, stack), "offer 8", "1 node(s) x 8 1g.24gb slices per node")


def test_capacity_profile_no_nodepool_has_is_refused() -> None:
    server = with_pod(model_server(), nodeSelector={"sks-mig.io/mig-profile": "2g.48gb"})
    one(check_stack(capacity_check, [resource(STS, server), resource(NODEPOOL, nodepool())]), "no MIG nodepool", "2g.48gb")


def test_capacity_no_nodepool_at_all_is_refused() -> None:
    one(check_stack(capacity_check, [resource(STS, model_server())]), "no MIG nodepool")


def test_capacity_pool_without_the_label_uses_the_component_output() -> None:
    component = resource(NODEPOOL_COMPONENT, {"total_slices": 8.0}, "gpu-rtx")
    unlabelled = nodepool(instance_type="gpurtx6000pro.large", slices_per_node=None)
    pool = resource(NODEPOOL, unlabelled, "gpu-rtx", parent=component)
    stack = [resource(STS, with_replicas(model_server(), 8.0)), component, pool]
    assert check_stack(capacity_check, stack) == []
    stack[0] = resource(STS, with_replicas(model_server(), 9.0))
    one(check_stack(capacity_check, stack), "offer 8", "registered by its MigGpuNodepool component")


def test_capacity_pool_without_the_label_or_the_component_is_reported() -> None:
    unlabelled = nodepool(instance_type="gpurtx6000pro.large", slices_per_node=None)
    stack = [resource(STS, model_server()), resource(NODEPOOL, unlabelled)]
    one(check_stack(capacity_check, stack), "Cannot count the slices", "gpurtx6000pro.large", "label", "is missing")


def test_capacity_only_the_nodepool_component_registers_a_total() -> None:
    other = resource("example:index:Thing", {"total_slices": 8.0}, "gpu-rtx")
    unlabelled = nodepool(slices_per_node=None)
    stack = [resource(STS, model_server()), other, resource(NODEPOOL, unlabelled, parent=other)]
    one(check_stack(capacity_check, stack), "Cannot count the slices", "registered no total_slices")


@pytest.mark.parametrize("label", ["0", "-1", "four", "2.5", " 4", ""])
def test_capacity_label_that_is_not_a_positive_whole_number_is_reported(label: str) -> None:
    stack = [resource(STS, model_server()), resource(NODEPOOL, nodepool(slices_per_node=label), "gpu-rtx")]
    one(
        check_stack(capacity_check, stack),
        "Cannot count the slices of MIG nodepool 'gpu-rtx'",
        f"sks-mig.io/slices-per-node label (GPUs per node x slices per GPU) is {label!r}",
        "not a positive whole number",
        "need 1 slice(s)",
    )


def test_capacity_label_unknown_during_preview_is_reported_as_unknown() -> None:
    stack = [resource(STS, model_server()), resource(NODEPOOL, nodepool(slices_per_node=UNKNOWN_STRING_VALUE))]
    one(check_stack(capacity_check, stack), "Cannot count the slices", "label is not known yet")


def test_capacity_profile_the_exoscale_api_does_not_accept_is_reported() -> None:
    """The valid profiles come from the Exoscale API document of the pack's `exoscale` package."""
    server = with_pod(model_server(), nodeSelector={"sks-mig.io/mig-profile": "3g.72gb"})
    stack = [resource(STS, server), resource(NODEPOOL, nodepool(profile="3g.72gb"))]
    one(
        check_stack(capacity_check, stack),
        "Cannot count the slices",
        "MIG profile '3g.72gb' is not one the Exoscale API accepts for rtxpro6000.96gb",
        "1g.24gb, 1g.24gb+gfx",
    )


def test_capacity_gpu_the_exoscale_api_has_no_profiles_for_is_reported() -> None:
    pool = {**nodepool(), "nvidia_mig_profiles": {"h100.80gb": "1g.10gb"}}
    one(
        check_stack(capacity_check, [resource(STS, model_server()), resource(NODEPOOL, pool)]),
        "GPU 'h100.80gb' has no MIG profiles in the Exoscale API",
        "a30.24gb, rtxpro6000.96gb, b300.269gb",
    )


def test_capacity_unknown_replicas_are_not_judged_during_preview() -> None:
    stack = [resource(STS, with_replicas(model_server(), UNKNOWN_NUMBER_VALUE)), resource(NODEPOOL, nodepool())]
    assert check_stack(capacity_check, stack) == []


# -- production-hardening -----------------------------------------------------------------------

hardening_check = production_hardening.validate_production_hardening


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
