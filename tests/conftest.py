"""Shared fixtures: the real program run under Pulumi's mock engine, recording every resource."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tools.checks import SCHEMAS_DIR
from tools.mock_run import ProgramFailed, StackRun, run_program, run_stack, stack_file_config

StackRunner = Callable[..., StackRun]


@pytest.fixture(scope="session")
def program() -> StackRunner:
    """`program(stack, config=None)`: run `__main__.py` for a stack (or for `config` instead of its
    stack file) and return every registered resource (type, name, inputs, parent, wire form) and
    the stack outputs."""
    return run_stack


@pytest.fixture(scope="session")
def register() -> Callable[[Callable[[], object]], StackRun]:
    """`register(fn)`: run `fn` (say, one component) under the same recording mock engine."""
    return run_program


@pytest.fixture(scope="session")
def dev() -> StackRun:
    return run_stack("dev")


@pytest.fixture(scope="session")
def a30() -> StackRun:
    return run_stack("a30")


@pytest.fixture
def dev_config() -> dict[str, Any]:
    """The dev stack's config, a fresh copy each test may change."""
    return stack_file_config("dev")


def refused(config: Mapping[str, Any], stack: str = "dev") -> ProgramFailed:
    """Run the program with config that must be refused; return the failure."""
    with pytest.raises(ProgramFailed) as failure:
        run_stack(stack, config)
    return failure.value


@pytest.fixture(scope="session")
def schemas_dir() -> None:
    """The schema checks need ../shared/schemas; without it they fail loudly, never skip."""
    if not SCHEMAS_DIR.is_dir():
        pytest.fail(f"{SCHEMAS_DIR} is missing: clone the project with ../shared beside it")
