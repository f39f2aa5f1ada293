"""Shared fixtures: the real program run under Pulumi's mock engine, recording every resource; and
the MIG nodepool's dynamic provider driven as the engine drives it, against the fake Exoscale API."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from components.mig_nodepool import settings as mig_nodepool_settings
from tests.fake_exoscale import FakeExoscaleAPI, running_fake_exoscale_api, use_fake_exoscale_api
from tests.mig_nodepool_engine import Engine, VirtualClock, dev_serialized_provider, load_provider
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
    """The schema checks need the vendored schemas in ./schemas; without them they fail loudly,
    never skip."""
    if not SCHEMAS_DIR.is_dir():
        pytest.fail(f"{SCHEMAS_DIR} is missing: the vendored schemas belong to the repository (schemas/README.md)")


# -- the MIG nodepool's dynamic provider against the fake Exoscale API ---------------------------


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeExoscaleAPI]:
    """A running fake Exoscale API with one SKS cluster (`DEFAULT_CLUSTER_ID`), which
    EXOSCALE_API_ENDPOINT and the test credentials in the environment point at; stopped after."""
    with running_fake_exoscale_api() as fake:
        fake.add_cluster()
        use_fake_exoscale_api(monkeypatch, fake)
        yield fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> VirtualClock:
    """The provider's waits on a virtual clock (polls, backoffs and timeouts are instant), its
    tunables at their defaults, and a 5 s HTTP timeout."""
    virtual = VirtualClock()
    monkeypatch.setattr(mig_nodepool_settings, "sleep", virtual.sleep)
    monkeypatch.setattr(mig_nodepool_settings, "monotonic", virtual.monotonic)
    for name in ("SKS_MIG_POLL_INTERVAL", "SKS_MIG_RETRY_ATTEMPTS", "SKS_MIG_RETRY_BASE_DELAY", "SKS_MIG_HTTP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKS_MIG_HTTP_TIMEOUT", "5")
    return virtual


@pytest.fixture(scope="session")
def serialized_provider() -> str:
    """The `__provider` string the dev stack's GPU nodepool sends to the engine."""
    return dev_serialized_provider()


@pytest.fixture
def engine(serialized_provider: str) -> Engine:
    """The provider unpickled from that string, called as the dynamic provider host calls it."""
    return Engine(load_provider(serialized_provider), serialized_provider)
