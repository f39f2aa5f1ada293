"""Property: every config the mutations of the real stack files make invalid is refused with a
config error naming the right `sks-mig:` key, without a traceback and before any resource exists;
every valid mutation is accepted.

The bulk runs through `load_stack_config` with the values as the Pulumi CLI hands them over; a
sample runs the real program under the mock engine: an invalid config registers nothing, a valid
one registers its resources without error. Deterministic (derandomized) in CI. A long soak:

    SKS_MIG_FUZZ_EXAMPLES=50000 SKS_MIG_FUZZ_RANDOM=1 venv/bin/python -m pytest -q -s tests/test_config_fuzz.py

(`-s` prints the figures: configs generated, tracebacks, resources registered, valid rejected).
"""

from __future__ import annotations

import os
import runpy
import time
import traceback
from collections import Counter

import yaml
from hypothesis import HealthCheck, given, settings
from pulumi.runtime.config import set_all_config

import contract
from config.errors import ConfigError
from config.stack_config import load_stack_config
from config.stack_file import StackFileFacts, stack_file_facts
from tests.config_mutations import Case, invalid_config, valid_config
from tests.stack_values import engine_values
from tools.mock_run import PROJECT_DIR, ProgramFailed, run_program
from tools.plan import check as schema_check

INVALID_EXAMPLES = int(os.environ.get("SKS_MIG_FUZZ_EXAMPLES", "2000"))
VALID_EXAMPLES = max(200, INVALID_EXAMPLES // 10)
PROGRAM_EXAMPLES = max(40, INVALID_EXAMPLES // 50)
VALID_PROGRAM_EXAMPLES = max(20, INVALID_EXAMPLES // 100)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=not os.environ.get("SKS_MIG_FUZZ_RANDOM"),
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )


def _facts(case: Case) -> StackFileFacts:
    """What the program reads from the stack file beside it, for this config written as YAML."""
    return stack_file_facts(yaml.safe_dump({"config": case.config}))


def _refusal(case: Case) -> str:
    """The refusal of `case` through the config layer; a traceback fails the test."""
    values, secret = engine_values(case.config)
    try:
        load_stack_config(values, secret_keys=secret, facts=_facts(case))
    except ConfigError as error:
        return str(error)
    except Exception:  # any other exception is the traceback this test forbids
        raise AssertionError(f"{case.kind}: traceback\n{traceback.format_exc()}\n{case.config}") from None
    raise AssertionError(f"{case.kind}: accepted, expected a refusal naming {case.expect}\n{case.config}")


def _check_message(case: Case, message: str) -> None:
    assert message.strip(), case.kind
    for line in message.splitlines():
        assert line.startswith("sks-mig:"), f"{case.kind}: a line names no key: {line!r}"
    assert case.expect in message, f"{case.kind}: expected {case.expect!r} in:\n{message}\n{case.config}"
    assert "Traceback" not in message


def test_invalid_configs_are_refused_naming_the_key() -> None:
    figures: Counter[str] = Counter()

    @_settings(INVALID_EXAMPLES)
    @given(invalid_config())
    def check(case: Case) -> None:
        figures["generated"] += 1
        figures[case.kind] += 1
        figures[f"stack {case.stack}"] += 1
        _check_message(case, _refusal(case))

    started = time.monotonic()
    check()
    _report("invalid (config layer)", figures, time.monotonic() - started)
    assert figures["generated"] >= INVALID_EXAMPLES


def test_valid_configs_are_accepted() -> None:
    figures: Counter[str] = Counter()

    @_settings(VALID_EXAMPLES)
    @given(valid_config())
    def check(case: Case) -> None:
        figures["generated"] += 1
        figures[f"stack {case.stack}"] += 1
        values, secret = engine_values(case.config)
        try:
            load_stack_config(values, secret_keys=secret, facts=_facts(case))
        except ConfigError as error:
            figures["valid rejected"] += 1
            raise AssertionError(f"valid config rejected:\n{error}\n{case.config}") from None

    started = time.monotonic()
    check()
    _report("valid (config layer)", figures, time.monotonic() - started)
    assert figures["generated"] >= VALID_EXAMPLES and figures["valid rejected"] == 0


def test_valid_configs_deploy_in_the_real_program() -> None:
    """Accepted by the config layer is not enough: the components must register every resource."""
    figures: Counter[str] = Counter()

    @_settings(VALID_PROGRAM_EXAMPLES)
    @given(valid_config())
    def check(case: Case) -> None:
        figures["generated"] += 1
        figures[f"stack {case.stack}"] += 1
        values, secret = engine_values(case.config)
        try:
            run = run_program(lambda: _program(values, secret), case.stack)
        except ProgramFailed as failure:
            figures["valid rejected"] += 1
            raise AssertionError(f"valid config refused by the program:\n{failure}\n{case.config}") from None
        except Exception:  # a traceback out of the program
            figures["tracebacks"] += 1
            raise AssertionError(f"traceback\n{traceback.format_exc()}\n{case.config}") from None
        figures["resources registered"] += len(run.resources)
        kinds = {resource.type for resource in run.resources}
        assert {"kubernetes:core/v1:Namespace", "kubernetes:apps/v1:StatefulSet"} <= kinds, kinds
        assert contract.OUTPUT_MIG_CAPACITY in run.outputs
        # What the offline plan checks: Exoscale inputs and Kubernetes objects against their schemas
        # (those of a Kubernetes version the installed schemas cover: the mutations go beyond them).
        _, errors = schema_check(run)
        assert [e for e in errors if not e.startswith("not checked:")] == [], f"{errors}\n{case.config}"

    started = time.monotonic()
    check()
    _report("valid (real program)", figures, time.monotonic() - started)
    assert figures["generated"] >= VALID_PROGRAM_EXAMPLES
    assert figures["valid rejected"] == 0 and figures["tracebacks"] == 0


def _program(values: dict[str, str], secret: list[str]) -> None:
    """The real program, with the config as the language host sets it: every value, and the keys
    that are secret."""
    set_all_config(values, secret_keys=secret)
    runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")


def test_invalid_configs_register_nothing_in_the_real_program() -> None:
    figures: Counter[str] = Counter()

    @_settings(PROGRAM_EXAMPLES)
    @given(invalid_config())
    def check(case: Case) -> None:
        figures["generated"] += 1
        figures[case.kind] += 1
        values, secret = engine_values(case.config)
        try:
            run_program(lambda: _program(values, secret), case.stack)
        except ProgramFailed as failure:
            figures["resources registered"] += len(failure.registered)
            assert failure.registered == [], f"{case.kind}: registered {[r.name for r in failure.registered]}"
            message = str(failure).removeprefix("invalid stack configuration:\n")
            _check_message(case, message)
            return
        except Exception:  # a traceback out of the program
            figures["tracebacks"] += 1
            raise AssertionError(f"{case.kind}: traceback\n{traceback.format_exc()}") from None
        raise AssertionError(f"{case.kind}: the program accepted it\n{case.config}")

    started = time.monotonic()
    check()
    _report("invalid (real program)", figures, time.monotonic() - started)
    assert figures["generated"] >= PROGRAM_EXAMPLES
    assert figures["resources registered"] == 0 and figures["tracebacks"] == 0


def _report(what: str, figures: Counter[str], seconds: float) -> None:
    kinds = {k: v for k, v in figures.items() if k not in ("generated", "resources registered", "tracebacks", "valid rejected")}
    print(
        f"\nconfig fuzz, {what}: {figures['generated']} configs in {seconds:.1f} s; tracebacks "
        f"{figures['tracebacks']}; resources registered {figures['resources registered']}; valid rejected "
        f"{figures['valid rejected']}; by mutation: {dict(sorted(kinds.items()))}"
    )
