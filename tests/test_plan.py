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
    from tools import mock_run

    config = mock_run.stack_file_config("dev") | {"sks-mig:hfToken": {"secure": "v1:abc"}}
    monkeypatch.setattr(mock_run, "stack_file_config", lambda stack, project_dir=PROJECT_DIR: config)
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
