"""VllmService under Pulumi's mocks: what it asks Kubernetes for, as the user would check it.

The component is registered with the seed article's setup (Qwen2.5-7B-Instruct on an RTX PRO 6000
1g.24gb slice, device plugin strategy single) and the recorded inputs are read back as manifests.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pulumi
import pytest

from components.vllm_service import VllmService, VllmServiceArgs
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

HF_TOKEN = "hf_plain_token_3c9e"
API_KEY = "sk_plain_key_77b1"
NAMESPACE = "inference"
MODEL = "Qwen/Qwen2.5-7B-Instruct"
NODE_SELECTOR = {"sks-mig.io/gpu": "rtxpro6000.96gb", "sks-mig.io/mig-profile": "1g.24gb"}
TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
INSTANCE_POOL_ID = "5f8e0b1c-3f6a-4b7e-9d2a-6c1e8f0a4b3d"
CLIENT_CIDR = "203.0.113.0/24"


class Deployment(ComponentRun):
    workload = ("kubernetes:apps/v1:StatefulSet", "qwen")

    @property
    def statefulset(self) -> dict[str, Any]:
        return self.one(*self.workload)


def typical_args(**overrides: Any) -> VllmServiceArgs:
    args: dict[str, Any] = {
        "namespace": NAMESPACE,
        "model": MODEL,
        "served_model_name": "qwen",
        "replicas": 2,
        "max_model_len": 16384,
        "gpu_memory_utilization": 0.9,
        "max_num_seqs": 16,
        "dtype": "auto",
        "image": "vllm/vllm-openai:v0.22.1-cu129-ubuntu2404",
        "extra_args": ["--enable-prefix-caching"],
        "env": {},
        "cache_size": "50Gi",
        "expose": "ClusterIP",
        "allowed_namespaces": ["apps"],
        "weights_gb": 15.23,
        "estimated_memory_gb": 20.5,
        "startup_budget_seconds": 349,
        # As MigGpuNodepool hands them over: Outputs.
        "mig_profile": pulumi.Output.from_input("1g.24gb"),
        "slice_memory_gb": pulumi.Output.from_input(24),
        "resource_name": pulumi.Output.from_input("nvidia.com/gpu"),
        "node_selector": pulumi.Output.from_input(NODE_SELECTOR),
        "tolerations": pulumi.Output.from_input(TOLERATIONS),
        "hf_token": pulumi.Output.secret(HF_TOKEN),
        "api_key": pulumi.Output.secret(API_KEY),
        # Used only with expose LoadBalancer, as the stack passes them: the GPU nodepool's
        # instance pool (an Output) and the cluster's nodePortCidrs.
        "load_balancer_instance_pool_id": pulumi.Output.from_input(INSTANCE_POOL_ID),
        "load_balancer_source_cidrs": [CLIENT_CIDR],
    }
    return with_overrides(args, overrides)  # type: ignore[return-value]


def deploy(register: Register, **overrides: Any) -> Deployment:
    """Register one VllmService named `qwen` through the shared recording mock engine."""
    names = ["service_name", "url", "served_model_name", "estimated_memory_gb"]
    return Deployment(*run_component(register, lambda opts: VllmService("qwen", typical_args(**overrides), opts), names))


def flag(args: list[str], name: str) -> str:
    assert args.count(name) == 1, f"{name} given {args.count(name)} times in {args}"
    return args[args.index(name) + 1]


# --- the slice ---------------------------------------------------------------------------------


def test_requests_exactly_one_slice_of_the_nodepool_resource(register: Register) -> None:
    limits = deploy(register).container["resources"]["limits"]
    assert {k: v for k, v in limits.items() if k.startswith("nvidia.com/")} == {"nvidia.com/gpu": "1"}
    assert set(limits) == {"nvidia.com/gpu", "memory"}


def test_mixed_strategy_resource_name_is_used_as_given(register: Register) -> None:
    resource = pulumi.Output.from_input("nvidia.com/mig-1g.24gb")
    limits = deploy(register, resource_name=resource).container["resources"]["limits"]
    assert {k: v for k, v in limits.items() if k.startswith("nvidia.com/")} == {"nvidia.com/mig-1g.24gb": "1"}


def test_lands_on_the_gpu_nodepool(register: Register) -> None:
    deployment = deploy(register)
    assert deployment.pod["nodeSelector"] == NODE_SELECTOR
    assert deployment.pod["tolerations"] == TOLERATIONS
    assert deployment.container["resources"]["requests"] == {"cpu": "4", "memory": "16Gi"}


# --- the vLLM command line and environment -----------------------------------------------------


def test_model_first_then_explicit_memory_flags(register: Register) -> None:
    container = deploy(register).container
    args = container["args"]
    assert args[0] == MODEL
    assert flag(args, "--served-model-name") == "qwen"
    assert flag(args, "--max-model-len") == "16384"
    assert flag(args, "--gpu-memory-utilization") == "0.9"
    assert flag(args, "--max-num-seqs") == "16"
    assert flag(args, "--port") == "8000"
    assert "--dtype" not in args  # auto: vLLM's own choice
    assert args[-1] == "--enable-prefix-caching"  # extra args last
    assert not any(a.startswith("--api-key") for a in args)
    assert "command" not in container  # the image's `vllm serve` entrypoint


def test_dtype_passed_when_not_auto(register: Register) -> None:
    assert flag(deploy(register, dtype="bfloat16").container["args"], "--dtype") == "bfloat16"


def test_service_links_off_and_no_api_token(register: Register) -> None:
    pod = deploy(register).pod
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False


def test_environment_and_allocator_override(register: Register) -> None:
    env = {e["name"]: e.get("value") for e in deploy(register).container["env"]}
    assert env["HF_HOME"] == "/data/models"
    assert env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:False"

    custom = {"PYTORCH_CUDA_ALLOC_CONF": "garbage_collection_threshold:0.8", "FOO": "bar"}
    entries = deploy(register, env=custom).container["env"]
    names = [e["name"] for e in entries]
    assert names.count("PYTORCH_CUDA_ALLOC_CONF") == 1
    assert {e["name"]: e.get("value") for e in entries}["PYTORCH_CUDA_ALLOC_CONF"] == (
        "garbage_collection_threshold:0.8"
    )
    assert "FOO" in names


# --- storage, probes, shutdown -----------------------------------------------------------------


def test_each_replica_gets_its_own_model_cache(register: Register) -> None:
    deployment = deploy(register)
    (claim,) = deployment.statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    mounts = {m["name"]: m["mountPath"] for m in deployment.container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data/models"
    # Not a shared pod volume: the claim comes from the template, one per replica.
    assert claim["metadata"]["name"] not in {v["name"] for v in deployment.pod["volumes"]}
    shm = next(v for v in deployment.pod["volumes"] if mounts.get(v["name"]) == "/dev/shm")
    assert shm["emptyDir"]["medium"] == "Memory" and shm["emptyDir"]["sizeLimit"]


@pytest.mark.parametrize("budget", [349, 1200, 5])
def test_startup_probe_allows_the_startup_budget(register: Register, budget: int) -> None:
    probe = deploy(register, startup_budget_seconds=budget).container["startupProbe"]
    assert probe["httpGet"]["path"] == "/health"
    allowed = probe.get("initialDelaySeconds", 0) + probe["periodSeconds"] * probe["failureThreshold"]
    assert allowed >= budget
    assert allowed < budget + 2 * probe["periodSeconds"] + 30  # not wildly more either


def test_readiness_and_liveness_on_health_with_patient_liveness(register: Register) -> None:
    container = deploy(register).container
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["timeoutSeconds"] >= 5


def test_shutdown_drains_within_the_grace_period(register: Register) -> None:
    deployment = deploy(register)
    pre_stop = deployment.container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = int(flag(deployment.container["args"], "--shutdown-timeout"))
    assert deployment.pod["terminationGracePeriodSeconds"] > pre_stop + drain


def test_no_shutdown_timeout_flag_for_an_older_vllm(register: Register) -> None:
    args = deploy(register, image="vllm/vllm-openai:v0.10.1").container["args"]
    assert "--shutdown-timeout" not in args


def test_rollout_replaces_pod_by_pod(register: Register) -> None:
    spec = deploy(register).statefulset["spec"]
    assert spec["updateStrategy"]["type"] == "RollingUpdate"
    assert spec["replicas"] == 2


# --- security ----------------------------------------------------------------------------------


def test_container_is_locked_down(register: Register) -> None:
    deployment = deploy(register)
    assert deployment.pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    context = deployment.container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    if context.get("readOnlyRootFilesystem"):
        mounts = {m["mountPath"] for m in deployment.container["volumeMounts"]}
        home = {e["name"]: e.get("value") for e in deployment.container["env"]}["HOME"]
        assert {"/tmp", "/dev/shm", "/data/models", home} <= mounts


def test_network_policy_admits_only_own_and_allowed_namespaces(register: Register) -> None:
    deployment = deploy(register, allowed_namespaces=["apps", "monitoring"])
    policy = deployment.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "qwen")["spec"]
    pod_labels = deployment.statefulset["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert rule["from"] == [
        {"podSelector": {}},  # its own namespace
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


def test_load_balancer_is_reachable_from_outside_on_8000_only(register: Register) -> None:
    deployment = deploy(register, expose="LoadBalancer")
    service = deployment.one("kubernetes:core/v1:Service", "qwen")
    assert service["spec"]["type"] == "LoadBalancer"
    policy = deployment.one("kubernetes:networking.k8s.io/v1:NetworkPolicy", "qwen")["spec"]
    assert len(policy["ingress"]) == 2
    outside = policy["ingress"][1]
    assert outside["from"] == [{"ipBlock": {"cidr": CLIENT_CIDR}}]  # the clients' networks, not 0.0.0.0/0
    assert outside["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_secrets_stay_secret(register: Register) -> None:
    deployment = deploy(register)
    token = deployment.one("kubernetes:core/v1:Secret", "qwen-hf-token")
    key = deployment.one("kubernetes:core/v1:Secret", "qwen-api-key")
    assert token["metadata"]["name"] == "qwen-hf-token"
    assert key["metadata"]["name"] == "qwen-api-key"
    assert unwrap(token["stringData"]) == {"token": HF_TOKEN}
    assert unwrap(key["stringData"]) == {"key": API_KEY}
    for secret in (token, key):
        data = secret["stringData"]
        assert is_secret(data) or all(is_secret(v) for v in data.values())

    env = {e["name"]: e for e in deployment.container["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "qwen-hf-token", "key": "token"}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "qwen-api-key",
        "key": "key",
    }

    for registration in deployment.registrations:
        for text in plain_strings(registration.inputs):
            assert HF_TOKEN not in text and API_KEY not in text, (
                f"plain secret in {registration.type} {registration.name}"
            )


PROXY_PASSWORD = "proxy_pw_plain_91c4"


def test_secret_environment_reaches_both_containers_from_a_secret_of_its_own(register: Register) -> None:
    deployment = deploy(
        register,
        env={"FOO": "bar"},
        secret_env={"HTTPS_PROXY": pulumi.Output.secret(f"http://u:{PROXY_PASSWORD}@proxy:3128"),
                    "PYTORCH_CUDA_ALLOC_CONF": pulumi.Output.secret("garbage_collection_threshold:0.8")},
    )
    secret = deployment.one("kubernetes:core/v1:Secret", "qwen-env")
    assert unwrap(secret["stringData"]) == {
        "HTTPS_PROXY": f"http://u:{PROXY_PASSWORD}@proxy:3128",
        "PYTORCH_CUDA_ALLOC_CONF": "garbage_collection_threshold:0.8",
    }
    data = secret["stringData"]
    assert is_secret(data) or all(is_secret(v) for v in data.values())
    download = deployment.pod["initContainers"][0]
    for container in (deployment.container, download):
        env = {e["name"]: e for e in container["env"]}
        assert env["HTTPS_PROXY"] == {"name": "HTTPS_PROXY", "valueFrom": {"secretKeyRef": {"name": "qwen-env", "key": "HTTPS_PROXY"}}}
        assert env["FOO"] == {"name": "FOO", "value": "bar"}  # plain values stay plain
    names = [e["name"] for e in deployment.container["env"]]
    # A secret value replaces the component's default of the same name: once, from the Secret.
    assert names.count("PYTORCH_CUDA_ALLOC_CONF") == 1
    assert {e["name"]: e for e in deployment.container["env"]}["PYTORCH_CUDA_ALLOC_CONF"]["valueFrom"]
    for registration in deployment.registrations:
        for text in plain_strings(registration.inputs):
            assert PROXY_PASSWORD not in text, f"plain secret in {registration.type} {registration.name}"
    assert_valid_kubernetes(deployment.kubernetes_objects)


def test_a_variable_in_both_env_and_secret_env_is_refused() -> None:
    with pytest.raises(pulumi.RunError, match="VllmService qwen: FOO set in both env and secret_env"):
        VllmService("qwen", typical_args(env={"FOO": "a"}, secret_env={"FOO": pulumi.Output.secret("b")}))
    with pytest.raises(pulumi.RunError, match="VllmService qwen: secret_env: 'VLLM_API_KEY'"):
        VllmService("qwen", typical_args(secret_env={"VLLM_API_KEY": pulumi.Output.secret("b")}))


def fingerprint_of(deployment: Deployment) -> str | None:
    value: str | None = deployment.statefulset["spec"]["template"]["metadata"]["annotations"].get(
        "sks-mig.io/secrets-fingerprint"
    )
    return value


def test_a_new_api_key_or_secret_value_rolls_the_pods_a_new_token_does_not(register: Register) -> None:
    """Variables taken from Secrets are read when a container starts: the pod template carries a
    fingerprint of those vLLM reads, so a new value changes it and the controller rolls the pods."""
    first = fingerprint_of(deploy(register))
    assert first is not None and len(first) == 64
    assert fingerprint_of(deploy(register)) == first
    assert fingerprint_of(deploy(register, api_key=pulumi.Output.secret(API_KEY + "-rotated"))) not in (None, first)
    with_env = fingerprint_of(deploy(register, secret_env={"HTTPS_PROXY": pulumi.Output.secret("http://p:1")}))
    assert with_env not in (None, first)
    assert fingerprint_of(deploy(register, secret_env={"HTTPS_PROXY": pulumi.Output.secret("http://p:2")})) != with_env
    # The Hugging Face token only serves downloads, which run in new pods anyway.
    assert fingerprint_of(deploy(register, hf_token=pulumi.Output.secret("hf_other_token_value"))) == first
    assert fingerprint_of(deploy(register, api_key=None)) is None
    # Not on the StatefulSet itself, and in clear: it reveals nothing a guess could be checked against cheaply.
    deployment = deploy(register)
    assert "sks-mig.io/secrets-fingerprint" not in deployment.statefulset["metadata"]["annotations"]
    assert not is_secret(deployment.statefulset["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/secrets-fingerprint"])


def test_slice_memory_is_annotated_as_given(register: Register) -> None:
    # The stack passes the usable memory of the slice, rounded down (25.36 GB for a 1g.24gb).
    statefulset = deploy(register, slice_memory_gb=25.36).statefulset
    assert statefulset["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/slice-memory-gb"] == "25.36"


def test_without_secrets_nothing_secret_is_created(register: Register) -> None:
    deployment = deploy(register, hf_token=None, api_key=None)
    assert deployment.of("kubernetes:core/v1:Secret") == []
    names = {e["name"] for e in deployment.container["env"]}
    assert not names & {"HF_TOKEN", "VLLM_API_KEY"}
    annotations = deployment.statefulset["metadata"]["annotations"]
    assert annotations["sks-mig.io/requires-api-key"] == "false"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"expose": "LoadBalancer", "api_key": None}, "api_key"),
        ({"extra_args": ["--api-key=abc"]}, "--api-key"),
        ({"extra_args": ["--port", "9000"]}, "--port"),
        ({"env": {"HF_TOKEN": "abc"}}, "HF_TOKEN"),
    ],
)
def test_refuses_unsafe_arguments(register: Register, overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(pulumi.RunError, match=message):
        VllmService("qwen", typical_args(**overrides))


def test_refuses_a_name_too_long_for_a_statefulset(register: Register) -> None:
    with pytest.raises(pulumi.RunError, match="DNS label"):
        VllmService("a" * 53, typical_args())


# --- what the policy pack and people read ------------------------------------------------------


def test_annotations_and_labels_record_model_and_slice(register: Register) -> None:
    statefulset = deploy(register).statefulset
    template = statefulset["spec"]["template"]["metadata"]
    expected = {
        "sks-mig.io/model": MODEL,
        "sks-mig.io/estimated-memory-gb": "20.50",
        "sks-mig.io/weights-gb": "15.23",
        "sks-mig.io/slice-memory-gb": "24",
        "sks-mig.io/mig-profile": "1g.24gb",
        "sks-mig.io/startup-budget-seconds": "349",
        "sks-mig.io/requires-api-key": "true",
    }
    for recorded in (statefulset["metadata"]["annotations"], template["annotations"]):
        assert expected.items() <= recorded.items()
    assert template["annotations"]["prometheus.io/scrape"] == "true"
    assert template["annotations"]["prometheus.io/port"] == "8000"
    assert template["annotations"]["prometheus.io/path"] == "/metrics"
    for labels in (statefulset["metadata"]["labels"], template["labels"]):
        assert labels["app.kubernetes.io/component"] == "model-server"
        assert labels["app.kubernetes.io/name"] == "qwen"


def test_statefulset_is_governed_by_a_headless_service(register: Register) -> None:
    deployment = deploy(register)
    governing = deployment.statefulset["spec"]["serviceName"]
    headless = deployment.one("kubernetes:core/v1:Service", governing)
    assert headless["spec"]["clusterIP"] == "None"
    client = deployment.one("kubernetes:core/v1:Service", "qwen")
    assert client["spec"]["type"] == "ClusterIP"
    assert client["spec"]["ports"][0]["port"] == 8000


def test_outputs(register: Register) -> None:
    outputs = deploy(register).outputs
    assert outputs == {
        "service_name": "qwen",
        "url": "http://qwen.inference.svc.cluster.local:8000",
        "served_model_name": "qwen",
        "estimated_memory_gb": 20.5,
    }


def test_objects_have_fixed_names_and_use_the_cluster_provider(register: Register) -> None:
    deployment = deploy(register)
    # 2 Services, StatefulSet, NetworkPolicy, 2 Secrets, a claim per replica (2), the PDB.
    assert len(deployment.kubernetes_objects) == 9
    for registration in deployment.kubernetes_objects:
        assert registration.inputs["metadata"]["name"] == registration.name
        assert registration.inputs["metadata"]["namespace"] == NAMESPACE
        assert "pulumi:providers:kubernetes::cluster" in registration.provider


@pytest.mark.parametrize("expose", ["ClusterIP", "LoadBalancer"])
def test_every_object_validates_against_kubernetes_1_36(register: Register, expose: str) -> None:
    assert_valid_kubernetes(deploy(register, expose=expose).kubernetes_objects)


def test_budget_formula_matches_a_large_model(register: Register) -> None:
    # 67 GB of weights on a B300 slice: the probe must wait the ~20 minutes such a download takes.
    budget = math.ceil(120 + 67 * 15)
    probe = deploy(register, weights_gb=67.0, startup_budget_seconds=budget).container["startupProbe"]
    assert probe["initialDelaySeconds"] + probe["periodSeconds"] * probe["failureThreshold"] >= budget


def test_dev_stack_puts_each_server_on_one_slice_of_the_gpu_nodepool(program: Any) -> None:
    from tools.mock_run import is_secret, stack_file_config

    config = stack_file_config("dev") | {"sks-mig:hfToken": {"secure": "v1:a"}, "sks-mig:apiKey": {"secure": "v1:b"}}
    run = program("dev", config)
    pool = run.one("pulumi-python:dynamic/nodepool:MigNodepool").inputs
    sets = run.of_type("kubernetes:apps/v1:StatefulSet")
    assert sorted(s.name for s in sets) == ["vllm-phi", "vllm-qwen"]
    for statefulset in sets:
        pod = statefulset.inputs["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert pod["nodeSelector"].items() <= pool["labels"].items()
        [toleration] = pod["tolerations"]
        assert (toleration["key"], toleration["effect"]) == ("nvidia.com/gpu", "NoSchedule")
        assert "nvidia.com/gpu" in pool["taints"]
    secrets = run.of_type("kubernetes:core/v1:Secret")
    # Two per server (HF token, API key) and the router's API key.
    assert sorted(s.name for s in secrets) == [
        "model-router-api-key", "vllm-phi-api-key", "vllm-phi-hf-token", "vllm-qwen-api-key", "vllm-qwen-hf-token"]
    assert all(is_secret(s.inputs["stringData"]) for s in secrets)
    outside = [r.inputs for r in run.resources if r.type != "kubernetes:core/v1:Secret"]
    assert "secret-placeholder-from-offline-plan" not in json.dumps(outside, default=str)
