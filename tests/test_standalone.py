"""The repository stands alone: a plain clone (as from GitHub) plans and checks with nothing beside
it, reads no file outside itself and the installed packages, and its vendored schemas are the ones
of the installed packages."""

from __future__ import annotations

import ast
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


def _pinned(requirements: str) -> set[str]:
    """The distributions a requirements file pins, following `-r` includes."""
    names: set[str] = set()
    for line in (PROJECT_DIR / requirements).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names |= _pinned(line.removeprefix("-r ").strip())
        elif "==" in line:
            names.add(re.sub(r"[-_.]+", "-", line.split("==", 1)[0].split("[", 1)[0]).lower())
    return names


def _third_party_imports(paths: list[Path]) -> dict[str, str]:
    """Top-level module -> a file importing it, for every module that is not ours or the stdlib's."""
    # Ours: the project's top-level modules, and the policy pack's (its folder is on the pack's path).
    ours = {p.name.removesuffix(".py") for d in (PROJECT_DIR, PROJECT_DIR / "policy", PROJECT_DIR / "tests")
            for p in d.iterdir()}
    found: dict[str, str] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for module in modules:
                top = module.split(".", 1)[0]
                if top not in sys.stdlib_module_names and top not in ours:
                    found.setdefault(top, str(path.relative_to(PROJECT_DIR)))
    return found


def test_every_package_the_program_and_the_tests_import_is_pinned() -> None:
    """A clean machine installs only the requirements files: an import that works here only because
    someone installed its package by hand would fail there."""
    distributions = importlib.metadata.packages_distributions()
    for requirements, folders in (
        ("requirements.txt", ["__main__.py", "contract.py", "components", "config"]),
        ("requirements-dev.txt", ["tools", "tests"]),
    ):
        files = [p for f in folders for p in ([PROJECT_DIR / f] if f.endswith(".py") else (PROJECT_DIR / f).rglob("*.py"))
                 # The router's auth hook runs inside the router (its image, and ./venv-router in tests).
                 if "components/router/" not in p.as_posix()]
        pinned = _pinned(requirements)
        unpinned = [
            f"{where} imports {module!r}"
            for module, where in _third_party_imports(files).items()
            if not {re.sub(r"[-_.]+", "-", d).lower() for d in distributions.get(module, [])} & pinned
        ]
        assert unpinned == [], f"not pinned in {requirements}"
