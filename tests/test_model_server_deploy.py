"""VllmService on a real cluster's first `pulumi up` and last `pulumi destroy`: how long the engine
waits, where the weights come from, how replicas spread and survive drains, what a load balancer
may reach, and that destroying leaves no volume behind. Read back through Pulumi's mocks.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
from google.protobuf import json_format

import tools.mock_run as mock_run
from components import model_download
from components.vllm_service import VllmService
from tests.component_run import Register, assert_valid_kubernetes
from tests.test_vllm_service import (
    CLIENT_CIDR,
    HF_TOKEN,
    INSTANCE_POOL_ID,
    MODEL,
    Deployment,
    deploy,
    flag,
    typical_args,
)
from tools.mock_run import StackRun

REVISION = "a09a35458c702b33eeacc393d103063234e8bc28"
STS = "kubernetes:apps/v1:StatefulSet"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
SERVICE = "kubernetes:core/v1:Service"


def init_container(deployment: Deployment) -> dict[str, Any]:
    (container,) = deployment.pod["initContainers"]
    result: dict[str, Any] = container
    return result


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def ingress(deployment: Deployment) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = deployment.one(NETPOL, "qwen")["spec"]["ingress"]
    return rules


# --- 6. the engine waits for a first deploy ----------------------------------------------------


def timeouts(deployment: Deployment) -> dict[tuple[str, str], dict[str, str]]:
    """customTimeouts of each registration, as the engine received them, by type and name (the
    StatefulSet and its client Service share a name)."""
    return {(r.type, r.name): r.custom_timeouts for r in deployment.registrations}


def test_statefulset_waits_30_minutes_by_default(register: Register) -> None:
    deployment = deploy(register)
    # Not pulumi-kubernetes' 10 minutes: a first deploy provisions a GPU node, pulls a multi-GB
    # image, downloads and loads the model.
    assert timeouts(deployment)[(STS, "qwen")] == {"create": "1800s", "update": "1800s"}
    assert deployment.statefulset["metadata"]["annotations"]["sks-mig.io/ready-timeout-seconds"] == "1800"


def test_statefulset_waits_the_ready_timeout_the_caller_computed(register: Register) -> None:
    deployment = deploy(register, ready_timeout_seconds=3300)
    waits = timeouts(deployment)
    assert waits[(STS, "qwen")] == {"create": "3300s", "update": "3300s"}
    assert deployment.statefulset["metadata"]["annotations"]["sks-mig.io/ready-timeout-seconds"] == "3300"
    # Not in the pod template: changing how long Pulumi waits must not restart the servers.
    assert "sks-mig.io/ready-timeout-seconds" not in deployment.statefulset["spec"]["template"]["metadata"]["annotations"]
    # Only the set and its client Service wait that long; nothing else gets a custom timeout.
    assert {key for key, wanted in waits.items() if wanted} == {(SERVICE, "qwen"), (STS, "qwen")}
    assert waits[(SERVICE, "qwen")] == waits[(STS, "qwen")]


@pytest.mark.parametrize("replicas", [0, 2])
def test_cluster_ip_service_leaves_the_wait_for_the_pods_to_the_statefulset(register: Register, replicas: int) -> None:
    """pulumi-kubernetes' Service await (provider/pkg/await/service.go) holds until no selected pod
    is unready, 10 minutes by default: a replica downloading or loading its model would fail it.
    A ClusterIP Service skips it (pulumi.com/skipAwait); the StatefulSet's await covers the pods."""
    deployment = deploy(register, replicas=replicas, expose="ClusterIP")
    service = deployment.one(SERVICE, "qwen")
    assert service["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    # The headless Service is never awaited for pods (isHeadlessService).
    assert "annotations" not in deployment.one(SERVICE, "qwen-pods")["metadata"]


def test_load_balancer_waits_for_its_address_as_long_as_the_set_waits(register: Register) -> None:
    deployment = deploy(register, expose="LoadBalancer", ready_timeout_seconds=2400)
    annotations = deployment.one(SERVICE, "qwen")["metadata"]["annotations"]
    assert "pulumi.com/skipAwait" not in annotations  # its await waits for the NLB's address
    assert timeouts(deployment)[(SERVICE, "qwen")] == {"create": "2400s", "update": "2400s"}


# --- 7. download apart from start ------------------------------------------------------------


def test_init_container_downloads_the_pinned_revision_into_the_cache(register: Register) -> None:
    deployment = deploy(register, revision=REVISION)
    download, vllm = init_container(deployment), deployment.container
    assert download["image"] == vllm["image"]  # the image's own huggingface_hub
    assert download["command"][:2] == ["/bin/sh", "-c"]
    # The patterns of what vLLM loads sit between the model and --revision (see below).
    assert 'download "$MODEL" ' in download["command"][2]
    assert '--revision "$REVISION"' in download["command"][2]
    env = env_of(download)
    assert env["MODEL"] == MODEL and env["REVISION"] == REVISION
    assert env["HF_HOME"] == env_of(vllm)["HF_HOME"] == "/data/models"  # the cache vLLM reads
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "qwen-hf-token", "key": "token"}}
    assert "VLLM_API_KEY" not in env  # the download has no use for it
    assert "HF_HUB_OFFLINE" not in env


def test_init_container_is_confined_like_vllm_and_takes_no_slice(register: Register) -> None:
    deployment = deploy(register)
    download, vllm = init_container(deployment), deployment.container
    assert download["securityContext"] == vllm["securityContext"]
    assert download["volumeMounts"] == vllm["volumeMounts"]
    assert download["resources"]["requests"] == vllm["resources"]["requests"]
    assert download["resources"]["limits"] == {"memory": vllm["resources"]["limits"]["memory"]}


def test_vllm_starts_offline_with_its_caches_on_the_claim(register: Register) -> None:
    deployment = deploy(register, env={"FOO": "bar"})
    env = env_of(deployment.container)
    assert env["HF_HUB_OFFLINE"] == "1"  # the weights are already on the claim
    assert env["VLLM_CACHE_ROOT"].startswith("/data/models/")  # compile caches survive restarts
    assert env["FOO"] == "bar"
    assert env_of(init_container(deployment))["FOO"] == "bar"  # e.g. a proxy for the download


def test_startup_probe_covers_loading_and_the_annotations_say_which_part_is_which(register: Register) -> None:
    deployment = deploy(register, startup_budget_seconds=240, download_budget_seconds=900)
    probe = deployment.container["startupProbe"]
    allowed = probe["initialDelaySeconds"] + probe["periodSeconds"] * probe["failureThreshold"]
    assert 240 <= allowed < 900  # the load, not the download
    for metadata in (deployment.statefulset["metadata"], deployment.statefulset["spec"]["template"]["metadata"]):
        assert metadata["annotations"]["sks-mig.io/startup-budget-seconds"] == "240"
        assert metadata["annotations"]["sks-mig.io/download-budget-seconds"] == "900"


# What the init container asks for: what vLLM loads (components/model_download.py).
SUPPORT_FILES = ["*.json", "*.jinja", "*.model", "*.tiktoken", "*.txt", "*.py"]
SAFETENSORS_CALL = ["download", MODEL, *SUPPORT_FILES, "*.safetensors"]
PYTORCH_CALL = ["download", MODEL, "*.bin", "*.pt"]
UNPINNED_COMMIT = "c0ffee" * 6 + "c0ff"


def fake_hf(bin_dir: Path, exit_code: int = 0, name: str = "hf", repo: tuple[str, ...] = ("model.safetensors",)) -> Path:
    """An `hf` (or `name`) that records its arguments, one per line, and exits with `exit_code`.
    Like huggingface_hub's snapshot_download, it puts the files of `repo` that its positional
    patterns match into the cache under HF_HOME: models--<org>--<name>/snapshots/<commit>/, the
    commit named by refs/main when no --revision is given."""
    calls = bin_dir / "calls"
    script = bin_dir / name
    files = " ".join(repo)
    script.write_text(
        "#!/bin/sh\n"
        f'for a in "$@"; do echo "$a"; done >> "{calls}"\necho --- >> "{calls}"\n'
        f"[ {exit_code} -eq 0 ] || exit {exit_code}\n"
        'repo="$HF_HOME/hub/models--$(printf \'%s\' "$2" | sed \'s|/|--|g\')"\n'
        f'commit="${{REVISION:-{UNPINNED_COMMIT}}}"\n'
        'if [ -z "$REVISION" ]; then mkdir -p "$repo/refs"; printf %s "$commit" > "$repo/refs/main"; fi\n'
        'mkdir -p "$repo/snapshots/$commit"\n'
        'shift 2\n'
        f'for f in {files}; do for p in "$@"; do case "$f" in $p) touch "$repo/snapshots/$commit/$f";; esac; done; done\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return calls


def recorded(calls: Path) -> list[list[str]]:
    """The fake CLI's calls, each as its argument list."""
    return [chunk.strip("\n").split("\n") for chunk in calls.read_text().split("---\n") if chunk.strip()]


def run_download(deployment: Deployment, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The init container's command, run by a real POSIX shell with the container's variables
    (paths moved under tmp_path) and only the fake CLI and the system's basic tools on PATH."""
    command = init_container(deployment)["command"]
    variables = {k: v for k, v in env_of(init_container(deployment)).items() if isinstance(v, str)}
    variables["DOWNLOADED"] = str(tmp_path / "cache" / Path(variables["DOWNLOADED"]).name)
    variables["HF_HOME"] = str(tmp_path / "hf-home")
    variables.update(env)
    variables["PATH"] = os.pathsep.join([str(tmp_path), "/usr/bin", "/bin"])
    return subprocess.run(command, env=variables, capture_output=True, text=True, timeout=20, check=False)


@pytest.mark.skipif(sys.platform == "win32", reason="runs /bin/sh")
def test_download_runs_once_per_claim_and_never_after_it_completed(register: Register, tmp_path: Path) -> None:
    deployment = deploy(register, revision=REVISION)
    calls = fake_hf(tmp_path)
    first = run_download(deployment, tmp_path)
    assert first.returncode == 0, first.stderr
    assert recorded(calls) == [[*SAFETENSORS_CALL, "--revision", REVISION]]
    again = run_download(deployment, tmp_path)  # the pod recreated on the same claim
    assert again.returncode == 0 and "already in the cache" in again.stdout
    assert calls.read_text().count("---") == 1  # Hugging Face not contacted again


@pytest.mark.skipif(sys.platform == "win32", reason="runs /bin/sh")
def test_an_image_with_only_the_older_cli_downloads_the_same(register: Register, tmp_path: Path) -> None:
    deployment = deploy(register, revision=REVISION)
    calls = fake_hf(tmp_path, name="huggingface-cli")
    result = run_download(deployment, tmp_path)
    assert result.returncode == 0, result.stderr
    assert recorded(calls) == [[*SAFETENSORS_CALL, "--revision", REVISION]]


@pytest.mark.skipif(sys.platform == "win32", reason="runs /bin/sh")
def test_failed_download_fails_the_pod_and_is_retried(register: Register, tmp_path: Path) -> None:
    deployment = deploy(register, revision=REVISION)
    calls = fake_hf(tmp_path, exit_code=1)
    assert run_download(deployment, tmp_path).returncode != 0  # vLLM does not start half-downloaded
    assert run_download(deployment, tmp_path).returncode != 0
    assert calls.read_text().count("---") == 2  # no completion marker: the next run downloads


@pytest.mark.skipif(sys.platform == "win32", reason="runs /bin/sh")
def test_download_takes_the_model_id_as_data_not_as_shell(register: Register, tmp_path: Path) -> None:
    deployment = deploy(register)
    calls = fake_hf(tmp_path)
    hostile = "org/model$(touch pwned);touch pwned2"
    result = run_download(deployment, tmp_path, MODEL=hostile)
    assert result.returncode == 0, result.stderr
    assert recorded(calls) == [["download", hostile, *SAFETENSORS_CALL[2:]]]
    assert not (Path.cwd() / "pwned").exists() and not (Path.cwd() / "pwned2").exists()
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


# What the Hugging Face repositories of typical models hold (file names as the Hub lists them).
LLAMA_STYLE = [
    "config.json", "generation_config.json", "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "LICENSE", "README.md",
    "original/consolidated.00.pth", "original/params.json", "original/tokenizer.model",
]
EXTRA_FORMATS = ["model.gguf", "onnx/model.onnx", "onnx/model.onnx_data", "tf_model.h5", "flax_model.msgpack",
                 "pytorch_model.bin", "coreml/model.mlpackage/Data/weights.bin"]


def selected(patterns: list[str], files: list[str]) -> set[str]:
    """The files huggingface_hub's snapshot_download takes for these allow_patterns (fnmatch,
    utils/_paths.py filter_repo_objects)."""
    return {f for f in files if any(fnmatch.fnmatchcase(f, p) for p in patterns)}


def test_the_download_takes_what_vllm_loads_and_no_other_copy_of_the_weights() -> None:
    patterns = [*model_download.SUPPORT_PATTERNS, *model_download.WEIGHT_PATTERNS]
    assert patterns == SAFETENSORS_CALL[2:]
    taken = selected(patterns, LLAMA_STYLE + EXTRA_FORMATS)
    # Weights, their index, config, tokenizer, chat template: what vLLM reads offline.
    assert {"config.json", "generation_config.json", "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json",
            "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"} <= taken
    # No second copy of the weights: Meta's original checkpoint, GGUF, ONNX, TF, Flax, PyTorch, Core ML.
    heavy = {"original/consolidated.00.pth", *EXTRA_FORMATS}
    assert not taken & heavy
    # What the support patterns take of original/ is small: its params and tokenizer.
    assert {f for f in taken if f.startswith("original/")} == {"original/params.json", "original/tokenizer.model"}
    # The fallback is vLLM's next formats, and never Meta's .pth.
    assert selected(list(model_download.FALLBACK_WEIGHT_PATTERNS), LLAMA_STYLE + EXTRA_FORMATS) == {
        "pytorch_model.bin", "coreml/model.mlpackage/Data/weights.bin"}
    assert PYTORCH_CALL[2:] == list(model_download.FALLBACK_WEIGHT_PATTERNS)


@pytest.mark.skipif(sys.platform == "win32", reason="runs /bin/sh")
@pytest.mark.parametrize("revision", [REVISION, None])
def test_a_repository_without_safetensors_gets_its_pytorch_weights(
    register: Register, tmp_path: Path, revision: str | None
) -> None:
    deployment = deploy(register, revision=revision)
    calls = fake_hf(tmp_path, repo=("config.json", "tokenizer.json", "pytorch_model.bin"))
    result = run_download(deployment, tmp_path)
    assert result.returncode == 0, result.stderr
    pinned = ["--revision", REVISION] if revision else []
    assert recorded(calls) == [[*SAFETENSORS_CALL, *pinned], [*PYTORCH_CALL, *pinned]]
    assert "no safetensors weights" in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="runs /bin/sh")
def test_a_repository_with_both_formats_gives_only_its_safetensors(register: Register, tmp_path: Path) -> None:
    deployment = deploy(register)  # unpinned: the snapshot is the one refs/main names
    calls = fake_hf(tmp_path, repo=("config.json", "model.safetensors", "pytorch_model.bin"))
    result = run_download(deployment, tmp_path)
    assert result.returncode == 0, result.stderr
    assert recorded(calls) == [SAFETENSORS_CALL]
    snapshot = tmp_path / "hf-home" / "hub" / "models--Qwen--Qwen2.5-7B-Instruct" / "snapshots" / UNPINNED_COMMIT
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "model.safetensors"]


# --- 8 and 9. pinned weights, pinned batch -----------------------------------------------------


def test_revision_reaches_vllm_and_the_annotations(register: Register) -> None:
    deployment = deploy(register, revision=REVISION)
    args = deployment.container["args"]
    assert flag(args, "--revision") == REVISION
    # vLLM's tokenizer_revision defaults to the revision (vllm/config/model.py).
    assert not any(a.startswith("--tokenizer-revision") for a in args)
    for metadata in (deployment.statefulset["metadata"], deployment.statefulset["spec"]["template"]["metadata"]):
        assert metadata["annotations"]["sks-mig.io/model-revision"] == REVISION


def test_without_a_revision_nothing_claims_to_be_pinned(register: Register) -> None:
    deployment = deploy(register)
    assert "--revision" not in deployment.container["args"]
    assert "--revision" not in init_container(deployment)["command"][2]
    assert "REVISION" not in env_of(init_container(deployment))
    assert "sks-mig.io/model-revision" not in deployment.statefulset["metadata"]["annotations"]


def test_batch_size_is_pinned_next_to_the_sequence_count(register: Register) -> None:
    args = deploy(register, max_num_batched_tokens=8192).container["args"]
    assert flag(args, "--max-num-batched-tokens") == "8192"
    assert flag(args, "--max-num-seqs") == "16"
    assert "--max-num-batched-tokens" not in deploy(register).container["args"]


# --- 10. replicas spread and survive ---------------------------------------------------------


def test_replicas_spread_over_gpu_nodes_without_blocking_a_one_node_pool(register: Register) -> None:
    deployment = deploy(register, replicas=2)
    (spread,) = deployment.pod["topologySpreadConstraints"]
    pod_labels = deployment.statefulset["spec"]["template"]["metadata"]["labels"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["maxSkew"] == 1
    assert spread["labelSelector"] == deployment.statefulset["spec"]["selector"]
    assert spread["labelSelector"]["matchLabels"].items() <= pod_labels.items()


def test_a_drain_may_take_one_replica_at_a_time(register: Register) -> None:
    deployment = deploy(register, replicas=3)
    budget = deployment.one(PDB, "qwen")
    assert budget["metadata"]["namespace"] == "inference"
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"] == deployment.statefulset["spec"]["selector"]
    assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"


def test_a_single_replica_gets_neither_spread_nor_budget(register: Register) -> None:
    deployment = deploy(register, replicas=1)
    assert "topologySpreadConstraints" not in deployment.pod
    assert deployment.of(PDB) == []


def test_the_budget_passes_the_rollout_cannot_deadlock_policy(register: Register) -> None:
    from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, StackValidationArgs

    pack = Path(__file__).resolve().parent.parent / "policy"
    if str(pack) not in sys.path:
        sys.path.insert(0, str(pack))
    import pulumi_policy.policy as policy_sdk
    import rollout_cannot_deadlock
    import secret_marks
    from pulumi_policy.proxy import unknown_checking_proxy

    secret_marks.install()
    deployment = deploy(register, replicas=2)
    resources = []
    for registration in deployment.kubernetes_objects:
        props = unknown_checking_proxy(policy_sdk.deserialize_properties(json_format.MessageToDict(registration.wire)))
        opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
        resources.append(
            PolicyResource(registration.type, props, registration.urn, registration.name, opts, None, None, [], {})
        )
    assert any(r.resource_type == PDB for r in resources)
    messages: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        messages.append(message)

    rollout_cannot_deadlock.validate_rollout_cannot_deadlock(StackValidationArgs(resources, {}), report)
    assert messages == []


# --- 11. a load balancer that works on Exoscale ------------------------------------------------


def test_load_balancer_forwards_to_the_gpu_pool_and_keeps_client_addresses(register: Register) -> None:
    deployment = deploy(register, expose="LoadBalancer")
    service = deployment.one(SERVICE, "qwen")
    annotations = service["metadata"]["annotations"]
    ccm = "service.beta.kubernetes.io/exoscale-loadbalancer-"
    assert annotations[f"{ccm}service-instancepool-id"] == INSTANCE_POOL_ID
    # The NLB checks healthCheckNodePort over HTTP: only nodes running a replica answer 200.
    assert annotations[f"{ccm}service-healthcheck-mode"] == "http"
    assert annotations[f"{ccm}service-healthcheck-uri"].startswith("/")
    assert service["spec"]["externalTrafficPolicy"] == "Local"


def test_network_policy_admits_exactly_the_client_networks(register: Register) -> None:
    cidrs = [CLIENT_CIDR, "198.51.100.7/32", "2001:db8::/48", CLIENT_CIDR]
    rules = ingress(deploy(register, expose="LoadBalancer", load_balancer_source_cidrs=cidrs))
    outside = rules[1]
    assert outside["from"] == [
        {"ipBlock": {"cidr": CLIENT_CIDR}},
        {"ipBlock": {"cidr": "198.51.100.7/32"}},
        {"ipBlock": {"cidr": "2001:db8::/48"}},
    ]
    assert outside["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert "0.0.0.0/0" not in str(rules)


def test_cluster_ip_service_has_no_load_balancer_settings(register: Register) -> None:
    deployment = deploy(register, expose="ClusterIP")
    service = deployment.one(SERVICE, "qwen")
    # No CCM annotation: only pulumi-kubernetes' skipAwait (see the await tests above).
    assert service["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    assert "externalTrafficPolicy" not in service["spec"]
    assert len(ingress(deployment)) == 1  # no ipBlock rule at all


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        ({"load_balancer_source_cidrs": None}, ["load_balancer_source_cidrs", "nodePortCidrs"]),
        ({"load_balancer_source_cidrs": []}, ["load_balancer_source_cidrs", "nodePortCidrs"]),
        ({"load_balancer_source_cidrs": ["10.0.0.0/33"]}, ["load_balancer_source_cidrs", "'10.0.0.0/33'", "203.0.113.0/24"]),
        ({"load_balancer_instance_pool_id": None}, ["load_balancer_instance_pool_id", "GPU nodepool"]),
    ],
)
def test_refuses_a_load_balancer_that_could_not_work(overrides: dict[str, Any], fragments: list[str]) -> None:
    with pytest.raises(pulumi.RunError) as refused:
        VllmService("qwen", typical_args(expose="LoadBalancer", **overrides))
    for fragment in fragments:
        assert fragment in str(refused.value)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"ready_timeout_seconds": 0}, "ready_timeout_seconds"),
        ({"max_num_batched_tokens": -1}, "max_num_batched_tokens"),
        ({"download_budget_seconds": -5}, "download_budget_seconds"),
        ({"revision": "main branch"}, "revision"),
    ],
)
def test_refuses_settings_that_cannot_work(overrides: dict[str, Any], key: str) -> None:
    with pytest.raises(pulumi.RunError, match=key):
        VllmService("qwen", typical_args(**overrides))


# --- 12 and the router hook: who may reach the port ----------------------------------------------


def test_monitoring_namespace_may_scrape(register: Register) -> None:
    rules = ingress(deploy(register, allowed_namespaces=["apps", "monitoring"], monitoring_namespace="monitoring"))
    (rule,) = rules
    namespaces = [p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for p in rule["from"][1:]]
    assert namespaces == ["apps", "monitoring"]  # once, even when also allowed
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]  # /metrics is on the server port

    (only_monitoring,) = ingress(deploy(register, allowed_namespaces=[], monitoring_namespace="observability"))
    assert only_monitoring["from"][1] == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}


def test_client_pod_selector_narrows_the_own_namespace_to_the_router(register: Register) -> None:
    router = {"app.kubernetes.io/name": "router", "app.kubernetes.io/component": "router"}
    deployment = deploy(register, client_pod_selector=router, monitoring_namespace="monitoring")
    (rule,) = ingress(deployment)
    assert rule["from"] == [
        {"podSelector": {"matchLabels": router}},  # not every pod of the namespace
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


# --- 13. destroy leaves nothing billable -------------------------------------------------------


def test_pulumi_owns_one_cache_claim_per_replica_named_as_the_controller_names_them(register: Register) -> None:
    deployment = deploy(register, replicas=3)
    statefulset = deployment.statefulset
    (template,) = statefulset["spec"]["volumeClaimTemplates"]
    claims = {r.name: r for r in deployment.of(PVC)}
    # <template>-<set>-<ordinal> (getPersistentVolumeClaimName): the controller uses these.
    assert sorted(claims) == [f"{template['metadata']['name']}-qwen-{i}" for i in range(3)]
    component = next(r for r in deployment.registrations if r.type == "sks-mig:index:VllmService")
    for claim in claims.values():
        assert claim.inputs["spec"] == template["spec"]
        assert claim.inputs["metadata"]["namespace"] == "inference"
        assert statefulset["spec"]["selector"]["matchLabels"].items() <= claim.inputs["metadata"]["labels"].items()
        assert claim.parent == component.urn
        assert claim.dependencies == []  # nothing but its parent and the cluster's provider
        assert "pulumi:providers:kubernetes::cluster" in claim.provider
    # Retain/Retain: the controller never owns the claims, so it never deletes them behind Pulumi.
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_the_statefulset_depends_on_its_claims(register: Register) -> None:
    deployment = deploy(register, replicas=2)
    (statefulset,) = deployment.of(STS)
    assert {r.urn for r in deployment.of(PVC)} <= set(statefulset.dependencies)


def depends_on(run: StackRun) -> dict[str, set[str]]:
    """Each URN's transitive dependencies as the engine orders operations: declared
    dependencies, parent and provider (pulumi pkg/resource/graph/dependency_graph.go)."""
    direct: dict[str, set[str]] = {}
    for r in run.resources:
        edges = set(r.dependencies) | ({r.parent} if r.parent else set())
        if r.provider:
            edges.add(r.provider.rsplit("::", 1)[0])
        direct[r.urn] = edges

    def walk(urn: str, seen: set[str]) -> set[str]:
        for dep in direct.get(urn, set()):
            if dep not in seen:
                seen.add(dep)
                walk(dep, seen)
        return seen

    return {urn: walk(urn, set()) for urn in direct}


def test_destroy_deletes_the_set_then_its_claims_then_the_nodepool_and_cluster(program: Any) -> None:
    run = program("dev", mock_run.stack_file_config("dev"))
    deps = depends_on(run)
    nodepool = run.one("pulumi-python:dynamic/nodepool:MigNodepool").urn
    cluster = run.one("exoscale:index/sksCluster:SksCluster").urn
    # The system nodes run CoreDNS and the CSI controller, which deletes a claim's volume.
    system_nodes = run.one("exoscale:index/sksNodepool:SksNodepool").urn
    for statefulset in run.of_type(STS):
        claims = [c for c in run.of_type(PVC) if c.parent == statefulset.parent]
        assert claims, f"no claims for {statefulset.name}"
        for claim in claims:
            # The engine deletes a resource before everything it depends on.
            assert claim.urn in deps[statefulset.urn]
            assert nodepool in deps[claim.urn] and cluster in deps[claim.urn]
            assert system_nodes in deps[claim.urn], "claims must be deleted before the system nodes"
            assert statefulset.urn not in deps[claim.urn]
    # Every object deployed through the Kubernetes provider goes before the system nodes.
    provider = run.one("pulumi:providers:kubernetes").urn
    assert system_nodes in run.one("pulumi:providers:kubernetes").dependencies
    for resource in run.resources:
        if resource.provider.rsplit("::", 1)[0] == provider:
            assert system_nodes in deps[resource.urn], resource.name


# --- every new object is valid ---------------------------------------------------------------


@pytest.mark.parametrize("expose", ["ClusterIP", "LoadBalancer"])
def test_every_object_validates_against_kubernetes_1_36(register: Register, expose: str) -> None:
    deployment = deploy(
        register,
        expose=expose,
        replicas=3,
        revision=REVISION,
        max_num_batched_tokens=8192,
        download_budget_seconds=600,
        monitoring_namespace="monitoring",
        client_pod_selector={"app.kubernetes.io/name": "router"},
    )
    assert {PVC, PDB, STS} <= {r.type for r in deployment.kubernetes_objects}
    assert_valid_kubernetes(deployment.kubernetes_objects)


def test_secrets_stay_out_of_the_init_container(register: Register) -> None:
    deployment = deploy(register, hf_token=pulumi.Output.secret(HF_TOKEN))
    assert HF_TOKEN not in str(init_container(deployment))



def test_the_real_program_gives_each_server_an_await_timeout_of_at_least_30_minutes(dev: Any) -> None:
    # Recorded by the mock monitor from the registration, as the engine receives customTimeouts:
    # pulumi-kubernetes would otherwise fail the update after 10 minutes.
    for statefulset in dev.of_type("kubernetes:apps/v1:StatefulSet"):
        timeouts = statefulset.custom_timeouts
        assert timeouts.keys() == {"create", "update"}, statefulset.name
        seconds = int(timeouts["create"].removesuffix("s"))
        assert seconds >= 1800 and timeouts["update"] == timeouts["create"], statefulset.name
        assert statefulset.inputs["metadata"]["annotations"]["sks-mig.io/ready-timeout-seconds"] == str(seconds)
