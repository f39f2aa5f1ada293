"""Every invalid config is refused with `sks-mig:<key>: <value given> ... <what is accepted>`:
unknown keys at every level, strict types, bounds, instance types, images, env, extra arguments,
derived names, secrets and the rules across keys (issues 8 and 9).

Most cases validate the values as the Pulumi CLI hands them to the program (tests/stack_values.py);
the ones that matter end to end run the real program and check that nothing was registered.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from config.errors import ConfigError
from config.owned_settings import COMPONENT_FLAGS, OWNED_FLAGS
from config.stack_config import StackConfig
from config.stack_file import read_stack_file
from tests.conftest import refused
from tests.stack_values import load
from tools.mock_run import stack_file_config

DEV = stack_file_config("dev")


def dev(**changes: Any) -> dict[str, Any]:
    """The dev stack's config with `changes` applied: `gpuNodepool__size=3` sets
    `sks-mig:gpuNodepool` key `size`; `models__0__image=...` sets an item's key; `zone=...` a
    top-level key."""
    config = copy.deepcopy(DEV)
    for path, value in changes.items():
        parts: list[Any] = [int(p) if p.isdigit() else p for p in path.split("__")]
        target: Any = config
        key: Any = f"sks-mig:{parts[0]}"
        for part in parts[1:]:
            target = target[key]
            key = part
        target[key] = value
    return config


def problems(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        load(config)
    return str(error.value)


def accepted(config: dict[str, Any]) -> StackConfig:
    return load(config)


# -- unknown keys, at every level, with the nearest valid key ------------------------------------


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("namespce", "namespace"), ("gpuNodePool", "gpuNodepool"), ("modles", "models"), ("apikey", "apiKey")],
)
def test_an_unknown_top_level_key_is_refused_with_the_nearest_key(key: str, suggestion: str) -> None:
    config = dev()
    config[f"sks-mig:{key}"] = "x"
    message = problems(config)
    assert f"sks-mig:{key}: unknown key; valid keys here: zone, environment, namespace" in message
    assert f"did you mean '{suggestion}'?" in message


def test_an_unknown_top_level_key_stops_the_program_before_anything_exists() -> None:
    failure = refused(dev(namespce="inference"))
    assert "sks-mig:namespce: unknown key" in str(failure)
    assert failure.registered == []


@pytest.mark.parametrize(
    ("path", "key", "suggestion"),
    [(("cluster",), "cnii", "cni"), (("cluster", "systemNodepool"), "sise", "size"),
     (("gpuNodepool",), "migprofile", "migProfile"), (("models", 0), "replica", "replicas"),
     (("models", 0, "architecture"), "layer", "layers")],
)
def test_an_unknown_nested_key_is_refused_with_the_nearest_key(path: tuple[Any, ...], key: str, suggestion: str) -> None:
    config = dev(models__0__architecture={"parametersBillion": 3.8, "layers": 32, "kvHeads": 8, "headDim": 128,
                                          "contextLength": 4096})
    target: Any = config[f"sks-mig:{path[0]}"]
    for part in path[1:]:
        target = target[part]
    target[key] = 1
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[1:])
    message = problems(config)
    assert f"sks-mig:{path[0]}{dotted}.{key}: unknown key; valid keys here:" in message
    assert f"did you mean '{suggestion}'?" in message


# -- strict types, and numbers echoed as written -------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({"gpuNodepool__size": True}, "sks-mig:gpuNodepool.size: true is not accepted: a boolean is not a number"),
     ({"gpuNodepool__size": "2"}, "sks-mig:gpuNodepool.size: '2' is not accepted: it is text (in quotes); write a whole number"),
     ({"gpuNodepool__size": 1.5}, "sks-mig:gpuNodepool.size: 1.5 is not accepted: it must be a whole number"),
     ({"models__0__replicas": False}, "sks-mig:models[0].replicas: false is not accepted: a boolean is not a number"),
     ({"models__0__gpuMemoryUtilization": True}, "gpuMemoryUtilization: true is not accepted: a boolean is not a number"),
     ({"gpuNodepool__antiAffinity": "false"}, "sks-mig:gpuNodepool.antiAffinity: 'false' is not accepted: it is text"),
     ({"models__0__extraArgs": "--enable-prefix-caching"}, "sks-mig:models[0].extraArgs: '--enable-prefix-caching' is not accepted: it must be a list"),
     ({"gpuNodepool__name": 12}, "sks-mig:gpuNodepool.name: 12 is not accepted: YAML reads it unquoted as a number")],
)
def test_types_are_strict(changes: dict[str, Any], expected: str) -> None:
    assert expected in problems(dev(**changes))


@pytest.mark.parametrize(
    ("line", "expected"),
    [("maxModelLen: 10,000", "sks-mig:models[0].maxModelLen: '10,000' is not accepted: written without quotes, but "
      "YAML reads it as text, not as a whole number; write a whole number"),
     ("maxModelLen: 32k", "'32k' is not accepted: written without quotes, but YAML reads it as text"),
     ("gpuMemoryUtilization: 90%", "'90%' is not accepted: written without quotes, but YAML reads it as text, not as a number"),
     ("maxModelLen: '4096'", "'4096' is not accepted: it is text (in quotes); write a whole number without quotes")],
)
def test_text_read_from_an_unquoted_number_is_told_as_such(tmp_path: Path, line: str, expected: str) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    text = (Path(__file__).parent.parent / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    stack_file.write_text(text.replace("model: microsoft/Phi-4-mini-instruct", f"model: microsoft/Phi-4-mini-instruct\n      {line}"))
    config = stack_file_config("dev", tmp_path)
    assert expected in problems_with_file(config, stack_file)


def test_a_yaml_1_1_boolean_the_cli_passes_as_text_is_told_it_was_unquoted(tmp_path: Path) -> None:
    # go-yaml v3 passes `yes` on as the text "yes" (v2 as true); the file shows it was not quoted.
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  sks-mig:gpuNodepool:\n    antiAffinity: yes\n", encoding="utf-8")
    message = problems_with_file(dev(gpuNodepool__antiAffinity="yes"), stack_file)
    assert "sks-mig:gpuNodepool.antiAffinity: 'yes' is not accepted: written without quotes, but YAML reads it as text" in message


def test_an_unquoted_version_gets_a_hint_to_quote_it() -> None:
    message = problems(dev(cluster__kubernetesVersion=1.30))
    assert "sks-mig:cluster.kubernetesVersion: 1.3 is not accepted: YAML reads it unquoted as a number" in message
    assert "1.30 becomes 1.3" in message and "write it in quotes" in message


def test_a_number_is_echoed_as_the_stack_file_writes_it(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  sks-mig:cluster:\n    name: sks-mig-dev\n    kubernetesVersion: 1.30\n")
    message = problems_with_file(dev(cluster__kubernetesVersion=1.3), stack_file)
    assert 'sks-mig:cluster.kubernetesVersion: 1.30 is not accepted: YAML reads it unquoted' in message
    assert 'write it in quotes: "1.30"' in message


def test_the_program_echoes_a_number_as_its_stack_file_writes_it(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    from tools.mock_run import PROJECT_DIR

    project = tmp_path / "project"
    project.mkdir()
    for name in ("config", "components", "tools", "schemas"):
        if (PROJECT_DIR / name).is_dir():
            shutil.copytree(PROJECT_DIR / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__main__.py", "contract.py", "Pulumi.yaml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    text = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    (project / "Pulumi.dev.yaml").write_text(text.replace("    cni: calico\n", "    cni: calico\n    kubernetesVersion: 1.30\n"))
    result = subprocess.run([sys.executable, "-m", "tools.plan", "dev", "--out", str(tmp_path / "out")], cwd=project,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "sks-mig:cluster.kubernetesVersion: 1.30 is not accepted" in result.stderr
    assert 'write it in quotes: "1.30"' in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def problems_with_file(config: dict[str, Any], stack_file: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load(config, read_stack_file(stack_file))
    return str(error.value)


@pytest.mark.parametrize(("key", "written"), [("monitoringNamespace", "true"), ("namespace", "7"), ("zone", "null")])
def test_a_top_level_text_key_written_as_a_yaml_boolean_or_number_is_refused(
    tmp_path: Path, key: str, written: str
) -> None:
    # The engine passes every top-level scalar as text: only the stack file tells `true` from "true".
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(f"config:\n  sks-mig:{key}: {written}\n", encoding="utf-8")
    config = dev(**{key: written})
    message = problems_with_file(config, stack_file)
    assert f"sks-mig:{key}: {written} is " in message and "in YAML, not text" in message
    assert message.count(f"sks-mig:{key}:") == 1  # refused once, not validated again as text


def test_a_hex_namespace_is_reported_once(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  sks-mig:namespace: 0x10\n", encoding="utf-8")
    message = problems_with_file(dev(namespace="16"), stack_file)
    assert message == "sks-mig:namespace: 0x10 is a number in YAML, not text; write the text you mean, quoted if need be"


# -- bounds: the API document's where it has them, generous ceilings elsewhere ---------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({"gpuNodepool__size": 65}, "sks-mig:gpuNodepool.size: 65 is not accepted: Input should be less than or equal to 64"),
     ({"gpuNodepool__gpusPerNode": 17}, "sks-mig:gpuNodepool.gpusPerNode: 17 is not accepted"),
     ({"gpuNodepool__diskSize": 51201}, "sks-mig:gpuNodepool.diskSize: 51201 is not accepted: Input should be less than or equal to 51200"),
     ({"gpuNodepool__diskSize": 19}, "sks-mig:gpuNodepool.diskSize: 19 is not accepted: Input should be greater than or equal to 20"),
     ({"cluster__systemNodepool__diskSize": 10**6}, "sks-mig:cluster.systemNodepool.diskSize: 1000000 is not accepted"),
     ({"models__0__maxNumSeqs": 1025}, "sks-mig:models[0].maxNumSeqs: 1025 is not accepted"),
     ({"models__0__replicas": 65}, "sks-mig:models[0].replicas: 65 is not accepted"),
     ({"models__0__maxModelLen": 10**9}, "sks-mig:models[0].maxModelLen: 1000000000 is not accepted"),
     ({"models__0__cacheSize": "0Gi"}, "sks-mig:models[0].cacheSize: '0Gi' is not accepted: the Exoscale block storage"),
     ({"models__0__cacheSize": "10001Gi"}, "sks-mig:models[0].cacheSize: '10001Gi' is not accepted"),
     ({"models__0__cacheSize": "50G"}, "a whole number of GiB from 1Gi to 10000Gi"),
     ({"models__0__cacheSize": "lots"}, "sks-mig:models[0].cacheSize: 'lots' is not a Kubernetes quantity"),
     ({"models__0__weightsGb": float("nan")}, "sks-mig:models[0].weightsGb: nan is not accepted"),
     ({"models__0__gpuMemoryUtilization": 0.99}, "gpuMemoryUtilization: 0.99 is not accepted"),
     ({"models__0__cacheSize": "9999999999999999999Ei"}, "'9999999999999999999Ei' is not accepted: the Exoscale block storage"),
     ({"models__0__cacheSize": "1" * 5000 + "Gi"}, "has more digits than any size in range needs"),
     ({"models__0__cacheSize": "0.5Gi"}, "'0.5Gi' is not accepted: the Exoscale block storage")],
)
def test_numbers_are_bounded(changes: dict[str, Any], expected: str) -> None:
    assert expected in problems(dev(**changes))


@pytest.mark.parametrize("size", ["1Gi", "50Gi", "10000Gi", "2Ti", "1073741824"])
def test_cache_sizes_in_whole_gib_are_accepted(size: str) -> None:
    assert accepted(dev(models__0__cacheSize=size)).models[0].cache_size == size


# -- instance types: families and sizes of the API document; a typo is blamed on instanceType ------


@pytest.mark.parametrize(
    ("instance_type", "expected"),
    [("standard.medim", "'medim' is not a size of the API"), ("standart.medium", "'standart' is not a family of the API"),
     ("standard", "'' is not a size of the API"), ("STANDARD.MEDIUM", "did you mean 'standard'?")],
)
def test_the_system_instance_type_is_one_of_the_api(instance_type: str, expected: str) -> None:
    message = problems(dev(cluster__systemNodepool__instanceType=instance_type))
    assert f"sks-mig:cluster.systemNodepool.instanceType: '{instance_type}' is not an Exoscale instance type" in message
    assert expected in message


def test_a_gpu_instance_size_typo_is_blamed_on_instance_type_not_gpus_per_node() -> None:
    message = problems(dev(gpuNodepool__instanceType="gpurtx6000pro.smal"))
    assert "sks-mig:gpuNodepool.instanceType: 'gpurtx6000pro.smal' is not an Exoscale instance type" in message
    assert "did you mean 'small'?" in message
    assert "gpusPerNode" not in message


# -- images: valid references, pinned ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "why"),
    [("vllm/vllm-openai:latest", "moves to a new build"), ("vllm/vllm-openai", "no tag, which means :latest"),
     ("vllm/vllm-openai:", "tag is empty"), ("vllm/vllm-openai:nightly", "moves"), ("vllm/vllm-openai:main", "moves"),
     ("vllm/vllm-openai:latest-cu129", "moves"), ("vllm/vllm-openai:stable", "moves"), ("vllm/vllm-openai:edge", "moves"),
     ("vllm/vllm-openai:dev", "moves"), ("vllm/vllm-openai:foo", "names no version"),
     ("VLLM/vllm-openai:v0.22.1", "lower-case"), ("vllm/vllm openai:v1", "not an image reference"),
     ("vllm/vllm-openai:v0.22.1\n", "not an image reference"), ("", "not an image reference"),
     ("vllm/vllm-openai@sha256:abc", "not an image reference"),
     ("vllm/vllm-openai@sha256:" + "A" * 64, "lower-case hex")],
)
def test_an_unpinned_or_invalid_image_is_refused(image: str, why: str) -> None:
    message = problems(dev(models__0__image=image))
    assert "sks-mig:models[0].image: " in message and " is not accepted: " in message
    assert why in message


@pytest.mark.parametrize(
    "image",
    ["vllm/vllm-openai:v0.22.1-cu129-ubuntu2404", "vllm/vllm-openai@sha256:" + "a" * 64,
     "registry.example.com:5000/team/vllm:0.22.1", "ghcr.io/org/vllm:2026.05.01", "vllm/vllm-openai:nightly-0123abcd"],
)
def test_pinned_images_are_accepted(image: str) -> None:
    assert accepted(dev(models__0__image=image)).models[0].image == image


# -- env and extraArgs: nothing the component owns -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [("HF_TOKEN", "sks-mig:hfToken"), ("HUGGING_FACE_HUB_TOKEN", "sks-mig:hfToken"), ("VLLM_API_KEY", "sks-mig:apiKey"),
     ("HF_HOME", "set by the component"), ("HF_HUB_OFFLINE", "set by the component"),
     ("1ABC", "not an environment variable name"), ("A-B", "not an environment variable name"),
     ("A\u200bB", "not an environment variable name")],
)
def test_env_names_are_valid_and_not_the_components(name: str, expected: str) -> None:
    message = problems(dev(models__0__env={name: "value"}))
    assert "sks-mig:models[0].env" in message and expected in message


def test_env_values_are_never_echoed() -> None:
    message = problems(dev(models__0__env={"TOKEN": "hunter2-secret\x00", "OTHER": 5}))
    assert "sks-mig:models[0].env.TOKEN: the value contains a control character (U+0000 at position 14)" in message
    assert "sks-mig:models[0].env.OTHER: (value hidden) is not accepted" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("flag", OWNED_FLAGS)
def test_every_owned_flag_is_refused_in_extra_args(flag: str) -> None:
    # The component's own flags, and (since the reviewer's item 6) the ones that cannot work in its pod.
    why = "which the component sets itself" if flag in COMPONENT_FLAGS else "which cannot work in the model server's pod"
    for args in ([flag, "1"], [f"{flag}=1"], [flag.replace("-", "_").replace("__", "--", 1) + "=1"]):
        message = problems(dev(models__0__extraArgs=["--enable-prefix-caching", *args]))
        assert f"sks-mig:models[0].extraArgs[1]: '{args[0]}' sets {flag}, {why}" in message


@pytest.mark.parametrize(
    ("args", "flag", "why"),
    [(["-tp", "2"], "--tensor-parallel-size", "one MIG slice (one CUDA device)"),
     (["-pp=2"], "--pipeline-parallel-size", "scale with the model's `replicas` key"),
     (["-dp", "2"], "--data-parallel-size", "one MIG slice"), (["-t", "2"], "--tensor-parallel-size", "one MIG slice"),
     (["-n2"], "--nnodes", "one MIG slice"), (["--pipeline_parallel_size", "2"], "--pipeline-parallel-size", "one MIG slice"),
     (["--ssl-keyfile", "/k.pem"], "--ssl-keyfile", "HTTPS"), (["--ssl-certfile=/c.pem"], "--ssl-certfile", "HTTPS"),
     (["--download-dir", "/tmp"], "--download-dir", "starts offline"), (["--tokenizer", "o/t"], "--tokenizer", "not on disk"),
     (["--hf-token", "hf_x"], "--hf-token", "sks-mig:hfToken"), (["--headless"], "--headless", "no API server")],
)
def test_flags_that_cannot_work_in_the_pod_are_refused_with_why(args: list[str], flag: str, why: str) -> None:
    # vLLM 0.22.1's names and short forms (vllm/engine/arg_utils.py, vllm/entrypoints/openai/cli_args.py).
    message = problems(dev(models__0__extraArgs=args))
    assert f"sks-mig:models[0].extraArgs[0]: '{args[0]}' sets {flag}, which cannot work in the model server's pod" in message
    assert why in message


def test_a_second_positional_argument_is_refused_naming_the_flag_before_it() -> None:
    message = problems(dev(models__0__extraArgs=["--enable-prefix-caching", "other/model"]))
    assert ("sks-mig:models[0].extraArgs: 'other/model' follows '--enable-prefix-caching', which takes no value, "
            "so vLLM would read it as a second model") in message
    assert "already has its value (after '=')" in problems(dev(models__0__extraArgs=["--kv-cache-dtype=fp8", "x"]))
    # A value after a flag that takes one, and list values, stay the user's.
    args = ["-q", "fp8", "--allowed-origins", "a", "b", "--disable-access-log-for-endpoints", "/health", "-dpn", "0"]
    assert accepted(dev(models__0__extraArgs=args)).models[0].extra_args == args


@pytest.mark.parametrize("name", ["HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "TRANSFORMERS_OFFLINE",
                                  "CUDA_VISIBLE_DEVICES"])
def test_env_that_would_undo_the_offline_cache_or_the_slice_is_refused(name: str) -> None:
    message = problems(dev(models__0__env={name: "/somewhere"}))
    assert f"sks-mig:models[0].env.{name}: '{name}' cannot be set: " in message
    assert "init container" in message or "MIG slice" in message


def test_an_abbreviated_owned_flag_is_refused() -> None:
    assert "sets --max-model-len" in problems(dev(models__0__extraArgs=["--max-model=4096"]))


def test_extra_args_may_not_start_with_a_positional_model() -> None:
    message = problems(dev(models__0__extraArgs=["Qwen/Qwen2.5-7B-Instruct"]))
    assert "sks-mig:models[0].extraArgs: 'Qwen/Qwen2.5-7B-Instruct' is not a flag" in message


def test_the_shutdown_timeout_and_other_flags_stay_the_users() -> None:
    args = ["--shutdown-timeout", "30", "--enable-prefix-caching", "--kv-cache-dtype=fp8", "--max-loras", "2"]
    assert accepted(dev(models__0__extraArgs=args)).models[0].extra_args == args


# -- derived names cannot collide ----------------------------------------------------------------------


def test_a_server_named_like_anothers_headless_service_is_refused() -> None:
    message = problems(dev(models__1__name="vllm-phi-pods"))
    assert "sks-mig:models[1].name: would create the Service 'vllm-phi-pods' in namespace 'inference'" in message
    assert "which sks-mig:models[0].name already creates (its headless Service)" in message


def test_a_gpu_nodepool_named_like_the_system_nodepool_is_refused() -> None:
    message = problems(dev(gpuNodepool__name="sks-mig-dev-system"))
    assert "sks-mig:gpuNodepool.name: would create the nodepool 'sks-mig-dev-system' of cluster 'sks-mig-dev'" in message


def test_a_gpu_nodepool_named_system_collides_with_the_system_anti_affinity_group() -> None:
    message = problems(dev(gpuNodepool__name="system"))
    assert "sks-mig:gpuNodepool.name: would create the anti-affinity group 'sks-mig-dev-system'" in message
    assert accepted(dev(gpuNodepool__name="system", gpuNodepool__antiAffinity=False)).gpu_nodepool.name == "system"


# -- secrets -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), [("apiKey", ""), ("apiKey", "   "), ("hfToken", ""), ("hfToken", " \t")])
def test_an_empty_secret_is_refused(key: str, value: str) -> None:
    config = dev()
    config[f"sks-mig:{key}"] = value
    message = problems_with_secret(config, key)
    assert f"sks-mig:{key}: the secret is empty" in message


def test_a_short_api_key_is_refused_with_a_way_to_make_one() -> None:
    config = dev()
    config["sks-mig:apiKey"] = "short-key"
    message = problems_with_secret(config, "apiKey")
    assert "sks-mig:apiKey: the API key has 9 characters; use at least 16" in message
    assert "openssl rand -hex 24" in message
    assert "short-key" not in message


def problems_with_secret(config: dict[str, Any], key: str) -> str:
    """Problems of `config` whose `key` is set as a secret with its plain value (as decrypted)."""
    from config.stack_config import load_stack_config
    from tests.stack_values import engine_values

    values, secret = engine_values(config)
    with pytest.raises(ConfigError) as error:
        load_stack_config(values, secret_keys=[*secret, f"sks-mig:{key}"])
    return str(error.value)


def test_a_secret_set_in_plain_text_is_refused() -> None:
    config = dev()
    config["sks-mig:apiKey"] = "a-plain-text-key-0123456789"
    message = problems(config)
    assert "sks-mig:apiKey: set in plain text; set it as a secret" in message
    assert "a-plain-text-key" not in message


def test_a_secret_where_nothing_stays_secret_is_refused() -> None:
    message = problems(dev(cluster__name={"secure": "v1:abc"}))
    assert "sks-mig:cluster: holds a secret (`secure:`) value, but nothing under this key is kept secret" in message


def test_a_secret_in_models_outside_env_is_refused_when_the_stack_file_shows_it(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(
        "config:\n  sks-mig:models:\n    - name: vllm-phi\n      image: {secure: v1:abc}\n"
        "      env: {TOKEN: {secure: v1:def}}\n"
    )
    config = dev(models__0__image={"secure": "v1:abc"}, models__0__env={"TOKEN": {"secure": "v1:def"}})
    message = problems_with_file(config, stack_file)
    assert "sks-mig:models[0].image: a secret (`secure:`) value here ends up in plain resource inputs" in message
    assert "models[0].env.TOKEN" not in message
    assert "decrypted-secret-value" not in message


def test_env_values_set_as_secrets_are_known_exactly_from_the_stack_file(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text("config:\n  sks-mig:models:\n    - name: vllm-phi\n      env: {TOKEN: {secure: v1:def}}\n")
    config = dev(models__0__env={"TOKEN": {"secure": "v1:def"}, "PLAIN": "x"})
    stack = load(config, read_stack_file(stack_file))
    assert stack.secret_env_names(0) == {"TOKEN"}
    assert load(config).secret_env_names(0) == {"TOKEN", "PLAIN"}  # without the file: every env value


# -- the rules across keys ------------------------------------------------------------------------------


def test_prod_requires_an_api_key_before_anything_exists() -> None:
    failure = refused(stack_file_config("prod"), "prod")
    assert "sks-mig:apiKey: required, but not set: the environment is prod" in str(failure)
    assert "openssl rand -hex 24" in str(failure)
    assert failure.registered == []


def test_require_api_key_can_be_turned_off_or_on() -> None:
    prod = stack_file_config("prod") | {"sks-mig:requireApiKey": False}
    assert accepted(prod).api_key_required is False
    assert "requireApiKey is true" in problems(dev(requireApiKey=True))
    assert "sks-mig:requireApiKey: 'yes' is not accepted: write true or false" in problems(dev(requireApiKey="yes"))


def test_a_gpu_pool_larger_than_an_anti_affinity_group_is_refused_unless_it_is_off() -> None:
    message = problems(dev(gpuNodepool__size=9))
    assert "sks-mig:gpuNodepool.size: 9 GPU nodes do not fit their anti-affinity group" in message
    assert "at most 8 instances" in message and "gpuNodepool.antiAffinity: false" in message
    assert accepted(dev(gpuNodepool__size=9, gpuNodepool__antiAffinity=False)).gpu_nodepool.size == 9


def test_a_system_pool_larger_than_an_anti_affinity_group_is_refused() -> None:
    message = problems(dev(cluster__systemNodepool__size=9))
    assert "sks-mig:cluster.systemNodepool.size: 9 system nodes do not fit their anti-affinity group" in message


def test_a_load_balancer_needs_node_port_cidrs() -> None:
    config = dev(models__0__expose="LoadBalancer", apiKey={"secure": "v1:k"}, router={"enabled": False})
    assert "sks-mig:cluster.nodePortCidrs: empty, but models[0] ('vllm-phi') has expose: LoadBalancer" in problems(config)
    config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24"]
    assert accepted(config).models[0].expose == "LoadBalancer"


def test_max_num_batched_tokens_below_max_num_seqs_is_refused() -> None:
    message = problems(dev(models__0__maxNumBatchedTokens=8))
    assert "sks-mig:models[0].maxNumBatchedTokens: 8 is less than maxNumSeqs (16)" in message


# -- the keys of issue 9 -------------------------------------------------------------------------------


def test_kubernetes_version_is_a_full_version_or_unset() -> None:
    message = problems(dev(cluster__kubernetesVersion="1.36"))
    assert "sks-mig:cluster.kubernetesVersion: '1.36' is not accepted: SKS needs a full patch version" in message
    assert '"1.36.2"' in message and "API's latest" in message
    assert "is not a Kubernetes version" in problems(dev(cluster__kubernetesVersion="v1.36.2"))
    pinned = accepted(dev(cluster__kubernetesVersion="1.35.4")).cluster
    assert (pinned.kubernetes_version, pinned.kubernetes_minor) == ("1.35.4", "1.35")
    unset = accepted(dev()).cluster
    assert (unset.kubernetes_version, unset.kubernetes_minor) == (None, "1.36")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [({"gpuNodepool__replaceStrategy": "replace"}, "sks-mig:gpuNodepool.replaceStrategy: 'replace' is not accepted: Input should be 'deleteFirst' or 'createFirst'"),
     ({"models__0__revision": "main"}, "sks-mig:models[0].revision: 'main' is not a commit hash"),
     ({"models__0__revision": "A" * 40}, "is not a commit hash"),
     ({"models__0__readyTimeoutMinutes": 29}, "sks-mig:models[0].readyTimeoutMinutes: 29 is not accepted: Input should be greater than or equal to 30"),
     ({"models__0__readyTimeoutMinutes": 721}, "Input should be less than or equal to 720"),
     ({"models__0__maxNumBatchedTokens": 0}, "sks-mig:models[0].maxNumBatchedTokens: 0 is not accepted"),
     ({"models__0__maxNumBatchedTokens": 2**21}, "sks-mig:models[0].maxNumBatchedTokens: 2097152 is not accepted"),
     ({"models__0__memoryHeadroomGb": -0.5}, "sks-mig:models[0].memoryHeadroomGb: -0.5 is not accepted"),
     ({"monitoringNamespace": "Monitoring"}, "sks-mig:monitoringNamespace: 'Monitoring' is not accepted: it must be a DNS label")],
)
def test_the_new_keys_are_validated(changes: dict[str, Any], expected: str) -> None:
    assert expected in problems(dev(**changes))


def test_the_new_keys_have_their_defaults_and_accept_good_values() -> None:
    default = accepted(dev())
    pool, server = default.gpu_nodepool, default.models[0]
    assert (pool.anti_affinity, pool.replace_strategy) == (True, "deleteFirst")
    assert (server.revision, server.ready_timeout_minutes, server.max_num_batched_tokens) == (None, None, None)
    assert server.memory_headroom_gb == 1.0 and default.monitoring_namespace is None
    assert default.require_api_key is None and default.api_key_required is False
    stack = accepted(dev(gpuNodepool__replaceStrategy="createFirst", models__0__revision="0123456789abcdef" * 2 + "01234567",
                         models__0__readyTimeoutMinutes=45, models__0__maxNumBatchedTokens=4096,
                         models__0__memoryHeadroomGb=0, monitoringNamespace="monitoring"))
    server = stack.models[0]
    assert stack.gpu_nodepool.replace_strategy == "createFirst" and stack.monitoring_namespace == "monitoring"
    assert (server.ready_timeout_minutes, server.max_num_batched_tokens, server.memory_headroom_gb) == (45, 4096, 0)


# -- no traceback, ever -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["{not json", "[1, 2", "null", "42", '"a string"', "[" * 5000 + "]" * 5000, '{"name": NaN}'],
)
def test_unreadable_objects_are_config_errors(text: str) -> None:
    config = dev()
    config["sks-mig:cluster"] = text
    message = problems(config)
    assert message.startswith("sks-mig:cluster")
    assert "required, but not set" not in message


# -- secrets inside structured config stay secret to the resource inputs ----------------------------------


def test_env_values_of_a_secret_models_key_stay_secret_in_the_pod_spec() -> None:
    """The CLI decrypts a `secure:` value inside `sks-mig:models` and marks the whole key secret;
    the program keeps the env values secret (here every one: the dev stack file shows none)."""
    import json
    import runpy

    from pulumi.runtime.config import set_all_config

    from tests.stack_values import engine_values
    from tools.mock_run import PROJECT_DIR, is_secret, reveal, run_program

    values, _ = engine_values(dev(models__0__env={"TOKEN": "s3cret-token-value", "MODE": "fast"}))

    def program() -> None:
        set_all_config(values, secret_keys=["sks-mig:models"])  # as the language host sets them
        runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")

    run = run_program(program, "dev")
    phi = next(r for r in run.of_type("kubernetes:apps/v1:StatefulSet") if r.name == "vllm-phi")
    secrets = {reveal(r.inputs)["metadata"]["name"]: r for r in run.of_type("kubernetes:core/v1:Secret")}

    def value_of(entry: dict[str, Any]) -> str:
        """The value reaches vLLM secret all the way: in the pod spec (the SDK then marks the whole
        `spec` secret), or in a Secret the container reads it from."""
        if "value" in entry:
            assert is_secret(phi.inputs["spec"])
            return str(entry["value"])
        ref = entry["valueFrom"]["secretKeyRef"]
        return str(reveal(secrets[ref["name"]].inputs)["stringData"][ref["key"]])

    env = {e["name"]: e for e in reveal(phi.inputs["spec"])["template"]["spec"]["containers"][0]["env"]}
    assert (value_of(env["TOKEN"]), value_of(env["MODE"])) == ("s3cret-token-value", "fast")
    assert "s3cret-token-value" not in json.dumps([_without_secrets(r.inputs) for r in run.resources], default=str)


def _without_secrets(value: Any) -> Any:
    from tools.mock_run import is_secret

    if is_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: _without_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_secrets(v) for v in value]
    return value


def test_node_port_networks_are_canonical_and_listed_once() -> None:
    assert "'10.0.0.0/08' is not accepted: write it as '10.0.0.0/8'" in problems(dev(cluster__nodePortCidrs=["10.0.0.0/08"]))
    message = problems(dev(cluster__nodePortCidrs=["203.0.113.0/24", "203.0.113.0/24"]))
    assert "sks-mig:cluster.nodePortCidrs: '203.0.113.0/24' is listed twice" in message


# -- the component used on its own reads the same list of what it owns -------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [({"extra_args": ["--max-model-len", "8"]}, "extra_args[0]: '--max-model-len' sets --max-model-len"),
     ({"extra_args": ["--revision=main"]}, "extra_args[0]: '--revision=main' sets --revision"),
     ({"env": {"HF_HOME": "/tmp"}}, "env: 'HF_HOME' is set by the component"),
     ({"image": "vllm/vllm-openai:latest"}, "image 'vllm/vllm-openai:latest' is not accepted")],
)
def test_the_vllm_component_alone_refuses_what_it_owns_before_registering(
    register: Any, overrides: dict[str, Any], expected: str
) -> None:
    from components.vllm_service import VllmService
    from tests.test_vllm_service import typical_args
    from tools.mock_run import ProgramFailed

    with pytest.raises(ProgramFailed) as failure:
        register(lambda: VllmService("qwen", typical_args(**overrides)))
    assert f"VllmService qwen: {expected}" in str(failure.value)
    assert failure.value.registered == []
