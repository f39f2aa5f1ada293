"""The real program's resources, judged by every policy of the pack, called directly with properties
prepared exactly as the Policy SDK prepares them (tests/pack_resources.py): what the program
accepts, the pack must pass. tests/test_policy_standalone.py drives the same pack as the CLI does,
over gRPC; this is the quick, in-process check of stacks at the edges of the config's bounds.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable
from typing import Any

import pytest
from google.protobuf import json_format
from pulumi.runtime.config import set_all_config
from pulumi_policy import PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationArgs

from config.stack_config import StackConfig
from tests.pack_resources import collector, options, sdk_props
from tests.stack_values import engine_values, load
from tools.mock_run import PROJECT_DIR, RegisteredResource, StackRun, is_secret, reveal, run_program, stack_file_config

# isort: split
import policies  # the pack's modules, top-level (tests.pack_resources puts policy/ on the path)

STS = "kubernetes:apps/v1:StatefulSet"
SECRET = "kubernetes:core/v1:Secret"


def policy_resources(registered: list[RegisteredResource]) -> list[PolicyResource]:
    """The registrations as the pack sees them: wire properties through the SDK's deserializer,
    `protect` and the parent as the engine passes them."""
    by_urn: dict[str, PolicyResource] = {}
    for registration in registered:
        props = sdk_props(json_format.MessageToDict(registration.wire))
        parent = by_urn.get(registration.parent)
        opts = options(protect=registration.protect, parent=registration.parent or None)
        by_urn[registration.urn] = PolicyResource(
            registration.type, props, registration.urn, registration.name, opts, None, parent, [], {}
        )
    return list(by_urn.values())


def pack_verdict(run: StackRun) -> dict[str, list[str]]:
    """Every policy's messages (advisory ones too) for the program's resources, by policy name."""
    resources = policy_resources(run.resources)
    verdict: dict[str, list[str]] = {}
    for policy in policies.POLICIES:
        messages: list[str] = []
        report = collector(messages)
        if isinstance(policy, ResourceValidationPolicy):
            validate: Callable[..., None] = policy.validate  # type: ignore[assignment]
            for resource in resources:
                validate(ResourceValidationArgs(resource.resource_type, resource.props, resource.urn,
                                                resource.name, resource.opts, resource.provider, None), report)
        else:
            policy.validate(StackValidationArgs(resources, {}), report)
        if messages:
            verdict[policy.name] = messages
    return verdict


def with_every_model(config: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {**config, "sks-mig:models": [{**model, **settings} for model in config["sks-mig:models"]]}


SECURED = {"sks-mig:apiKey": {"secure": "v1:AAAA"}}


@pytest.mark.parametrize(
    ("stack", "extra"),
    [("dev", {}), ("a30", {}), ("karpenter", {}), ("prod", SECURED), ("dev", SECURED)],
)
def test_the_pack_passes_the_programs_stacks(program: Any, stack: str, extra: dict[str, Any]) -> None:
    run = program(stack, {**stack_file_config(stack), **extra})
    assert pack_verdict(run) == {}


@pytest.mark.parametrize("stack", ["dev", "a30"])
def test_a_server_fitted_at_the_edge_of_the_bounds_passes_the_pack(program: Any, stack: str) -> None:
    """The most the config allows (gpuMemoryUtilization 0.98, no headroom) fills the slice's usable
    memory, which exceeds the profile's name's figure: the pack compares the estimate with the same
    usable memory the program fitted it to."""
    config = with_every_model(stack_file_config(stack), gpuMemoryUtilization=0.98, memoryHeadroomGb=0)
    fitted: StackConfig = load(config)  # accepted by the config layer
    run = program(stack, config)
    assert pack_verdict(run) == {}
    profile = fitted.mig_profile
    estimates = [float(s.inputs["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/estimated-memory-gb"])
                 for s in run.of_type(STS)]
    slice_memory = {s.inputs["spec"]["template"]["metadata"]["annotations"]["sks-mig.io/slice-memory-gb"]
                    for s in run.of_type(STS)}
    # Usable memory, rounded down: 24,192 MiB is 25.36 GB on the RTX PRO 6000's 1g.24gb.
    assert slice_memory == {f"{int(profile.usable_memory_gb * 100) / 100:.2f}"}
    assert max(estimates) <= profile.usable_memory_gb * 0.98 + 0.005  # the annotation's 2 decimals
    if stack == "dev":
        # What the pack refused when the annotation was the name's 24 GB.
        assert max(estimates) > profile.memory_gb
        assert fitted.mig_profile.memory_gb == 24 and slice_memory == {"25.36"}


def test_a_secret_env_value_reaches_the_pods_from_a_secret_and_passes_the_pack() -> None:
    """A `secure:` value in models[].env: the CLI decrypts it and marks the whole key secret (as
    tests/stack_values.py does). It goes to the server's Secret `<server>-env`; the pod spec refers
    to it, so secrets-are-secret finds no credential written into it."""
    config = stack_file_config("dev")
    password = "proxy-password-value-5d1e"
    config["sks-mig:models"][0]["env"] = {"PROXY_PASSWORD": {"secure": f"plain:{password}"}, "MODE": "fast"}
    values, secret_keys = engine_values(config)
    assert secret_keys == ["sks-mig:models"]

    def program() -> None:
        set_all_config(values, secret_keys=secret_keys)  # as the language host sets them
        runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")

    run = run_program(program, "dev")
    phi = next(r for r in run.of_type(STS) if r.name == "vllm-phi")
    pod = reveal(phi.inputs["spec"])["template"]["spec"]
    for container in (pod["containers"][0], pod["initContainers"][0]):
        env = {e["name"]: e for e in container["env"]}
        for name in ("PROXY_PASSWORD", "MODE"):  # the whole key was secret: both values are
            assert env[name] == {"name": name, "valueFrom": {"secretKeyRef": {"name": "vllm-phi-env", "key": name}}}
    secret = next(r for r in run.of_type(SECRET) if r.name == "vllm-phi-env")
    data = secret.inputs["stringData"]
    assert is_secret(data) or all(is_secret(value) for value in data.values())
    assert reveal(data) == {"PROXY_PASSWORD": password, "MODE": "fast"}
    assert password not in json.dumps([r.inputs for r in run.resources if r is not secret], default=str)
    assert "vllm-qwen-env" not in {r.name for r in run.of_type(SECRET)}  # only where there is one
    assert pack_verdict(run) == {}
