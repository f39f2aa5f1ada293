"""The repository stands alone: a plain clone (as from GitHub) plans and checks with nothing beside
it, reads no file outside itself and the installed packages, and its vendored schemas are the ones
of the installed packages."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pulumiverse_exoscale

from tools.checks import EXOSCALE_PROVIDER_VERSION, EXOSCALE_SCHEMA
from tools.mock_run import PROJECT_DIR

# The reference folder beside our working copy, which no user has (spelt so this file does not match).
REFERENCE_FOLDER = "../" + "shared"

# Runs the plan with an audit hook that records every file opened outside the allowed roots.
_AUDITED_PLAN = """
import os, sys
allowed = [os.path.realpath(p) for p in sys.argv[1:]]
outside = set()
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        path = os.path.realpath(os.fsdecode(args[0]))
        if not any(path == root or path.startswith(root + os.sep) for root in allowed):
            outside.add(path)
sys.addaudithook(hook)
sys.argv = ["tools.plan", "dev", "--out", "plan-out/dev"]
from tools.plan import main
code = main()
print("OUTSIDE:" + repr(sorted(p for p in outside if not p.startswith("/dev/") and not p.startswith("/proc/"))))
sys.exit(code)
"""


def _tracked_files() -> list[str]:
    """What a clone has: tracked files and new files git does not ignore (the change under test)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_DIR, capture_output=True, check=True, timeout=30,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (PROJECT_DIR / name).is_file()]


def test_a_clone_with_nothing_beside_it_plans_and_reads_nothing_outside(tmp_path: Path) -> None:
    clone = tmp_path / "sks-mig"
    for name in _tracked_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_DIR / name, clone / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sks-mig"]
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    result = subprocess.run(
        [sys.executable, "-c", _AUDITED_PLAN, str(clone), *prefixes, "/etc", "/usr/lib", "/usr/share", "/tmp"],
        cwd=clone, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "All checks passed." in result.stdout
    assert "not checked" not in result.stdout + result.stderr
    outside = result.stdout.rsplit("OUTSIDE:", 1)[1].strip()
    assert outside == "[]", f"the plan read files outside the clone: {outside}"


def test_no_tracked_source_file_reads_the_reference_folder() -> None:
    offenders = [
        name for name in _tracked_files()
        if not name.endswith(".md") and REFERENCE_FOLDER in (PROJECT_DIR / name).read_text(encoding="utf-8", errors="replace")
    ]
    assert offenders == []


def test_the_vendored_exoscale_schema_is_the_installed_providers() -> None:
    schema = json.loads(EXOSCALE_SCHEMA.read_text(encoding="utf-8"))
    assert schema["version"] == EXOSCALE_PROVIDER_VERSION == importlib.metadata.version("pulumiverse-exoscale")
    assert schema["license"] == "Apache-2.0"
    for token, spec in schema["resources"].items():
        args_class = getattr(pulumiverse_exoscale, token.rsplit(":", 1)[1] + "Args")
        parameters = set(inspect.signature(args_class.__init__).parameters) - {"__self__", "self"}
        inputs = {re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() for name in spec["inputProperties"]}
        assert inputs == parameters, token


def test_the_sdk_pin_matches_what_is_installed() -> None:
    pins = dict(
        line.split("==", 1) for line in (PROJECT_DIR / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for package in ("pulumi", "pulumiverse-exoscale", "pulumi-kubernetes", "exoscale"):
        assert importlib.metadata.version(package) == pins[package], package
