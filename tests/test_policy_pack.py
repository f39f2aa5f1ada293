"""The policy pack's validators (policy/), each called directly with properties prepared exactly as
the Policy SDK prepares them (tests/pack_resources.py): one slice per server, pinned images, models
that fit, secrets, rollouts. Exposure, capacity, Karpenter pools and production have their own
files (tests/test_policy_*.py); tests/test_policy_standalone.py drives the whole pack as the Pulumi
CLI does (a separate process over gRPC, from a copy of policy/ alone).
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.deserialize import deserialize_properties as sdk_deserialize
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

import contract
from tests.analyzer_client import secret
from tests.pack_resources import (
    DEPLOYMENT,
    K8S_PROVIDER,
    KUBECONFIG,
    NODEPOOL,
    PDB,
    POLICY_NAMES,
    SECRET,
    SERVICE,
    STS,
    Props,
    check_resource,
    check_stack,
    first_container,
    model_server,
    nodepool,
    one,
    pdb,
    pod_spec,
    resource,
    sdk_props,
    service,
    with_annotations,
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

# isort: split
# The pack's modules, top-level as the CLI imports them (tests.pack_resources puts policy/ on the path).
import gpu_slice_exactly_one
import model_fits_slice
import model_image_pinned
import policies
import rollout_cannot_deadlock
import secret_marks
import secrets_are_secret
import wire

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
    one(check_stack(rollout_check, [resource(STS, props)]), "allows 355 s", "up to 600 s", "(sks-mig.io/startup-budget-seconds; the load alone")
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


# -- the pack -----------------------------------------------------------------------------------


def test_every_policy_is_named_and_described() -> None:
    assert [p.name for p in policies.POLICIES] == POLICY_NAMES
    levels = {p.name: p.enforcement_level.value if p.enforcement_level else None for p in policies.POLICIES}
    assert levels == {name: "advisory" if name == "production-hardening" else "mandatory" for name in POLICY_NAMES}
    assert all(len(p.description) > 80 for p in policies.POLICIES)
