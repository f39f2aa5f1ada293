"""The offline plan, run as a user runs it: `python -m tools.plan [stack]`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.mock_run import PROJECT_DIR, SECRET_PLACEHOLDER
from tools.plan import main

pytestmark = pytest.mark.usefixtures("schemas_dir")


def test_dev_plan_shows_tree_outputs_capacity_and_passes_its_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "exoscale:index/sksCluster:SksCluster sks-mig-dev" in out
    assert "pulumi-python:dynamic/nodepool:MigNodepool gpu-rtx" in out
    assert "kubeconfig: [secret]" in out
    assert "GPU 1: vllm-phi #0" in out and "| free | free" in out
    assert "used 2 of 4, free 2" in out
    assert "All checks passed." in out
    manifests = sorted(tmp_path.glob("*.yaml"))
    kinds = {yaml.safe_load(p.read_text())["kind"] for p in manifests}
    assert {"Namespace", "StatefulSet", "Service", "NetworkPolicy"} <= kinds


def test_plan_masks_secrets_in_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import mock_run, plan

    config = mock_run.stack_file_config("dev") | {"sks-mig:hfToken": {"secure": "v1:abc"}}
    # tools.plan holds its own reference to the function: patch the one main() calls.
    monkeypatch.setattr(plan, "stack_file_config", lambda stack, project_dir=PROJECT_DIR: config)
    assert main(["dev", "--out", str(tmp_path)]) == 0
    written = "".join(p.read_text() for p in tmp_path.glob("*.yaml")) + capsys.readouterr().out
    assert "[secret]" in written
    assert SECRET_PLACEHOLDER not in written


def test_invalid_config_exits_non_zero_with_the_message_and_no_traceback(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("config", "components", "tools", "schemas"):
        shutil.copytree(PROJECT_DIR / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__main__.py", "contract.py", "Pulumi.yaml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    stack["config"]["sks-mig:gpuNodepool"]["migProfile"] = "3g.40gb"
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump(stack))
    result = subprocess.run([sys.executable, "-m", "tools.plan", "dev"], cwd=project, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "sks-mig:gpuNodepool.migProfile: '3g.40gb' is not a MIG profile" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_stack_lists_the_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["staging"]) == 1
    assert "stacks here: a30, dev, karpenter, prod" in capsys.readouterr().err


def _project_copy(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    for name in ("config", "components", "tools", "schemas"):
        shutil.copytree(PROJECT_DIR / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("__main__.py", "contract.py", "Pulumi.yaml", "Pulumi.dev.yaml"):
        shutil.copy(PROJECT_DIR / name, project / name)
    return project


def _plan(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tools.plan", *args, "--out", "plan-out"], cwd=project,
                          capture_output=True, text=True, timeout=120)


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    lines = (project / "Pulumi.dev.yaml").read_text().splitlines()
    lines[4] = lines[4] + " ]"  # an unbalanced bracket on line 5
    (project / "Pulumi.dev.yaml").write_text("\n".join(lines) + "\n")
    result = _plan(project, "dev")
    assert result.returncode == 1
    assert "error: Pulumi.dev.yaml, line 5, column" in result.stderr
    assert "not valid YAML" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_kubernetes_version_without_schemas_is_a_clean_error_and_the_other_checks_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tools import plan

    real_check = plan.check

    def check_as_if_the_cluster_ran_1_99(run: Any) -> tuple[list[str], list[str]]:
        run.outputs["kubernetesVersion"].value = "1.99.0"
        return real_check(run)

    monkeypatch.setattr(plan, "check", check_as_if_the_cluster_ran_1_99)
    assert main(["dev", "--out", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert re.search(r"not checked: \d+ Kubernetes objects against the Kubernetes 1.99 schemas \(strict\)", captured.err)
    assert "versions that can be checked: " in captured.err and "1.36" in captured.err
    # The Exoscale and project-file checks ran all the same.
    assert "Exoscale resources against pulumiverse-exoscale 0.66.1's schema" in captured.out
    assert "Pulumi.yaml against Pulumi's project schema" in captured.out


def test_a_missing_schema_fails_that_check_alone(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    (project / "schemas" / "pulumi-project.schema.json").unlink()
    result = _plan(project, "dev")
    assert result.returncode == 1
    assert "not checked: Pulumi.yaml against Pulumi's project schema" in result.stderr
    assert "Kubernetes objects against the Kubernetes 1.36 schemas (strict)" in result.stdout
    assert "Exoscale resources against pulumiverse-exoscale 0.66.1's schema" in result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_the_stack_can_be_named_like_the_pulumi_cli_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-s", "a30", "--out", str(tmp_path)]) == 0
    assert "sks-mig offline plan for stack 'a30'" in capsys.readouterr().out


def test_the_readme_shows_the_real_dev_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev"]) == 0
    readme = (PROJECT_DIR / "README.md").read_text(encoding="utf-8")
    shown = readme.split("prints:\n\n```text\n", 1)[1].split("\n```", 1)[0]
    assert shown == capsys.readouterr().out.rstrip("\n")


# -- secrets inside objects, the --out folder, stack files the CLI refuses (review findings) --------


def test_a_secure_env_value_is_planned_as_the_cli_passes_it_and_stays_masked(tmp_path: Path) -> None:
    # The CLI decrypts a `secure:` leaf inside an object and marks the whole key secret
    # (pulumi sdk/go/common/resource/config/object.go); the plan must accept what `pulumi up` accepts.
    project = _project_copy(tmp_path)
    text = (project / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (project / "Pulumi.dev.yaml").write_text(text.replace(
        "      model: microsoft/Phi-4-mini-instruct\n",
        "      model: microsoft/Phi-4-mini-instruct\n      env:\n        MY_TOKEN:\n          secure: v1:Y2lwaGVydGV4dA==\n"
        "        MODE: fast\n",
    ), encoding="utf-8")
    result = _plan(project, "dev")
    assert result.returncode == 0, result.stderr
    assert "All checks passed." in result.stdout
    written = {p.name: p.read_text(encoding="utf-8") for p in (project / "plan-out").glob("*.yaml")}
    everything = result.stdout + result.stderr + "".join(written.values())
    assert SECRET_PLACEHOLDER not in everything and "Y2lwaGVydGV4dA" not in everything
    pods = [yaml.safe_load(text) for name, text in written.items() if "statefulset-vllm-phi" in name]
    containers = pods[0]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in containers[0]["env"]}
    assert env["MODE"]["value"] == "fast"
    assert env["MY_TOKEN"].get("value") in (None, "[secret]")  # masked, or taken from a Secret


def test_nested_secure_values_are_decrypted_in_place_and_mark_their_key() -> None:
    from tools.mock_run import decrypted

    value = {"name": "x", "env": {"A": {"secure": "v1:abc"}, "B": "b"}, "list": [{"secure": "v1:d"}]}
    assert decrypted(value) == (
        {"name": "x", "env": {"A": SECRET_PLACEHOLDER, "B": "b"}, "list": [SECRET_PLACEHOLDER]}, True)
    assert decrypted({"secure": 3}) == ({"secure": 3}, False)  # not text: not a secure value (isSecureValue)
    assert decrypted([{"a": 1}]) == ([{"a": 1}], False)


def test_out_refuses_a_folder_holding_yaml_the_plan_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "notes.yml"):
        (tmp_path / name).write_text("keep: me\n", encoding="utf-8")
    assert main(["dev", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"error: --out {tmp_path}: the folder holds YAML the plan did not write (Pulumi.dev.yaml, Pulumi.yaml, notes.yml)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.dev.yaml", "Pulumi.yaml", "notes.yml"]
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert main(["dev", "--out", str(tmp_path / "file")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_out_replaces_only_the_plans_own_manifests(tmp_path: Path) -> None:
    (tmp_path / "99-statefulset-gone.yaml").write_text("old: manifest\n", encoding="utf-8")
    (tmp_path / "README.txt").write_text("mine\n", encoding="utf-8")
    assert main(["dev", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "99-statefulset-gone.yaml" not in names and "README.txt" in names
    assert (tmp_path / "README.txt").read_text(encoding="utf-8") == "mine\n"
    assert "00-deployment-model-router.yaml" in names


def test_a_stack_file_whose_value_contains_itself_is_a_clean_error(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    text = (project / "Pulumi.dev.yaml").read_text(encoding="utf-8")
    (project / "Pulumi.dev.yaml").write_text(text + "  sks-mig:router: &a {self: *a}\n", encoding="utf-8")
    result = _plan(project, "dev")
    assert result.returncode == 1
    assert "error: Pulumi.dev.yaml: `sks-mig:router` refers to itself (a YAML alias inside its own anchor)" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("value", "expected"),
    [("'[' * 3000", "Pulumi.x.yaml: not valid YAML: nested too deeply"),
     ("!!binary aGVsbG8=", "Pulumi.x.yaml: `sks-mig:zone` holds a value that is not text, a number"),
     ("!!set {a, b}", "Pulumi.x.yaml: `sks-mig:zone` holds a value that is not text, a number")],
)
def test_stack_file_values_json_cannot_carry_are_clean_errors(tmp_path: Path, value: str, expected: str) -> None:
    from tools.mock_run import StackFileError, stack_file_config

    written = "[" * 3000 + "]" * 3000 if value.startswith("'['") else value
    (tmp_path / "Pulumi.x.yaml").write_text(f"config:\n  sks-mig:zone: {written}\n", encoding="utf-8")
    with pytest.raises(StackFileError) as error:
        stack_file_config("x", tmp_path)
    assert expected in str(error.value)


def test_a_timestamp_stays_the_text_it_is_as_the_cli_passes_it(tmp_path: Path) -> None:
    # go-yaml v3 keeps a timestamp read into an untyped value as its text; JSON could not carry a date.
    from config.errors import ConfigError
    from config.stack_file import read_stack_file
    from tests.stack_values import load
    from tools.mock_run import stack_file_config

    (tmp_path / "Pulumi.x.yaml").write_text("config:\n  sks-mig:zone: 2026-07-02\n", encoding="utf-8")
    config = stack_file_config("x", tmp_path)
    assert config == {"sks-mig:zone": "2026-07-02"}
    with pytest.raises(ConfigError, match="sks-mig:zone: '2026-07-02' is not an Exoscale zone"):
        load(config, read_stack_file(tmp_path / "Pulumi.x.yaml"))


def test_numbers_are_read_and_passed_on_as_the_cli_does(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # go-yaml reads `1e4` as a number (resolve.go, yamlStyleFloat) and Go's JSON writes 10000.0 as
    # 10000: `pulumi up` accepts both keys below, so the plan must too.
    from tools import mock_run, plan

    (tmp_path / "Pulumi.dev.yaml").write_text(
        (PROJECT_DIR / "Pulumi.dev.yaml").read_text(encoding="utf-8").replace(
            "      model: microsoft/Phi-4-mini-instruct\n",
            "      model: microsoft/Phi-4-mini-instruct\n      maxModelLen: 1e4\n      replicas: 1.0\n"),
        encoding="utf-8")
    config = mock_run.stack_file_config("dev", tmp_path)
    assert config["sks-mig:models"][0]["maxModelLen"] == 10000.0
    monkeypatch.setattr(plan, "stack_file_config", lambda stack, project_dir=PROJECT_DIR: config)
    assert main(["dev", "--out", str(tmp_path / "out")]) == 0
    assert "'vllm-phi': {'replicas': 1, 'model': 'microsoft/Phi-4-mini-instruct', 'maxModelLen': 10000," in capsys.readouterr().out
