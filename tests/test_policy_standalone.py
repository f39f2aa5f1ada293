"""The policy pack as the Pulumi CLI runs it, from a copy of policy/ alone (as `pulumi policy
publish` ships it): a separate process spoken to over gRPC (tests/analyzer_client.py), shown the
program's own resources (tools/mock_run.py: the dev, a30, prod and karpenter stacks) and
deliberately broken copies of them, one per rule.

The copy sits in an empty temporary directory and is started as the CLI starts a pack
(`python -u -m pulumi.policy <engine> <pack dir>`, working directory the pack) with this
virtualenv's Python (the pack's requirements are a subset of the dev requirements; nothing can be
installed offline) and no PYTHONPATH, so the repository is not on the import path.
"""

from __future__ import annotations

import ast
import copy
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import contract
from tests.analyzer_client import AnalyzerClient, Verdict, WireResource, from_registered, secret
from tests.pack_resources import (
    CLUSTER,
    K8S_PROVIDER,
    NETPOL,
    NODE_CLASS,
    NODE_POOL,
    NODEPOOL,
    PDB,
    POLICY_NAMES,
    REVISION,
    RULE,
    SECRET,
    SERVICE,
    STS,
    Props,
    cluster,
    mig_user_data,
    nodepool,
    pdb,
    rule,
    service,
    unwrap_secret,
    with_annotations,
    with_api_key,
    with_extra_peer,
    with_image,
    with_instance_types,
    with_limits,
    with_peers,
    with_pod,
    with_replicas,
    with_requirements,
    with_revision,
    with_service_type,
    with_startup_probe,
    with_user_data,
)
from tools.mock_run import StackRun, run_stack, stack_file_config

PROJECT_DIR = Path(__file__).resolve().parent.parent
PACK_DIR = PROJECT_DIR / "policy"
PROGRAM_MODULES = ("config", "contract", "components", "tools")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")


def isolated_environment() -> dict[str, str]:
    """This process's environment without Python's own path settings (PYTHONPATH, PYTHONHOME...)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}


def requirements() -> dict[str, str]:
    """policy/requirements.txt as {distribution: pinned version}; every line must be a pin."""
    pins: dict[str, str] = {}
    for line in (PACK_DIR / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = _PIN.match(line)
        assert match is not None, f"policy/requirements.txt: {line!r} is not pinned as name==version"
        pins[match[1].lower()] = match[2]
    return pins


# ---------------------------------------------------------------------------------------------
# Stacks: finding and changing one resource of the program's stacks, and one broken stack per rule
# ---------------------------------------------------------------------------------------------


def fresh(resources: Sequence[WireResource]) -> list[WireResource]:
    """A copy of a stack's resources to break."""
    return copy.deepcopy(list(resources))


def find(resources: Sequence[WireResource], type_: str, name: str | None = None) -> WireResource:
    """The one resource of `type_` (named `name`, if given)."""
    found = [r for r in resources if r.type == type_ and (name is None or r.name == name)]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def edit(resources: Sequence[WireResource], type_: str, name: str | None, change: Callable[[Props], object]) -> None:
    """Apply `change` to the properties of one resource (see `find`)."""
    target = find(resources, type_, name)
    props = target.props
    change(props)
    target.replace(props)


@dataclass(frozen=True)
class BrokenStack:
    """One change to a clean stack that one policy must refuse, on the resource it breaks (or on
    `blame`, a (type, name) the policy rightly names instead). `base` says which of the program's
    clean stacks is broken: dev, or karpenter (both run the model router in front of the servers)."""

    policy: str
    type: str
    name: str | None
    change: Callable[[Props], object]
    base: str = "dev"
    blame: tuple[str, str | None] | None = None

    def of(self, resources: Sequence[WireResource]) -> list[WireResource]:
        """A broken copy of `resources`."""
        broken = fresh(resources)
        edit(broken, self.type, self.name, self.change)
        return broken

    def blamed(self, resources: Sequence[WireResource]) -> WireResource:
        """The resource each violation must name: the broken one, or `blame`; for capacity, the
        nodepool that lacks the slices."""
        if self.blame is not None:
            return find(resources, *self.blame)
        if self.policy == "slices-within-capacity":
            return find(resources, contract.MIG_NODEPOOL)
        return find(resources, self.type, self.name)


KARPENTER = "karpenter"
"""The base of the broken Karpenter stacks: the program's Karpenter stack (Pulumi.karpenter.yaml: a
KarpenterGpuPool, the article's two models behind the model router)."""


def _article_mistake(pool: Props) -> Props:
    """The seed article's NodeClass mistake seen from the pool: A30 nodes, an RTX PRO 6000 key."""
    with_instance_types(pool, "gpua30.small")
    pool["spec"]["template"]["metadata"]["labels"][contract.LABEL_GPU] = "a30.24gb"
    return pool


BROKEN_STACKS: dict[str, BrokenStack] = {
    "no-toleration": BrokenStack(
        "gpu-slice-exactly-one", STS, "vllm-qwen", lambda p: with_pod(p, tolerations=[])
    ),
    "latest-image": BrokenStack(
        "model-image-pinned", STS, "vllm-phi", lambda p: with_image(p, "vllm/vllm-openai:latest")
    ),
    "model-too-big": BrokenStack(
        "model-fits-slice",
        STS,
        "vllm-qwen",
        lambda p: with_annotations(p, {contract.ANNOTATION_ESTIMATED_MEMORY_GB: "31.20"}),
    ),
    "open-load-balancer": BrokenStack(
        "no-open-model-server", SERVICE, "vllm-qwen", lambda p: with_service_type(p, "LoadBalancer")
    ),
    "network-policy-open-to-all": BrokenStack(
        "no-open-model-server", NETPOL, "vllm-qwen", lambda p: with_extra_peer(p, {"ipBlock": {"cidr": "0.0.0.0/0"}})
    ),
    "plain-kubeconfig": BrokenStack(
        "secrets-are-secret", K8S_PROVIDER, None, lambda p: unwrap_secret(p, "kubeconfig")
    ),
    "service-links": BrokenStack(
        "rollout-cannot-deadlock", STS, "vllm-phi", lambda p: with_pod(p, enableServiceLinks=True)
    ),
    "short-startup-probe": BrokenStack(
        "rollout-cannot-deadlock", STS, "vllm-qwen", lambda p: with_startup_probe(p, failureThreshold=5.0)
    ),
    "over-capacity": BrokenStack(
        "slices-within-capacity", STS, "vllm-qwen", lambda p: with_replicas(p, 5.0)
    ),
    # The Karpenter pool with a router in front of the servers.
    "server-exposed-beside-the-router": BrokenStack(
        "no-open-model-server", SERVICE, "vllm-qwen", lambda p: with_service_type(p, "LoadBalancer"), KARPENTER
    ),
    "server-open-to-its-namespace-beside-the-router": BrokenStack(
        "no-open-model-server", NETPOL, "vllm-phi", lambda p: with_extra_peer(p, {"podSelector": {}}), KARPENTER
    ),
    "server-open-to-every-namespace": BrokenStack(
        "no-open-model-server", NETPOL, "vllm-qwen", lambda p: with_peers(p, [{"namespaceSelector": {}}]), KARPENTER
    ),
    "node-class-gpu-key-of-another-family": BrokenStack(
        "karpenter-mig-pool", NODE_POOL, None, _article_mistake, KARPENTER, blame=(NODE_CLASS, None)
    ),
    "node-class-invalid-toml": BrokenStack(
        "karpenter-mig-pool",
        NODE_CLASS,
        None,
        lambda p: with_user_data(p, mig_user_data().replace('"1g.24gb"', "1g.24gb")),
        KARPENTER,
    ),
    "node-class-without-mig-strategy": BrokenStack(
        "karpenter-mig-pool", NODE_CLASS, None, lambda p: with_user_data(p, mig_user_data(strategy="none")), KARPENTER
    ),
    "node-class-profile-the-gpu-lacks": BrokenStack(
        "karpenter-mig-pool", NODE_CLASS, None, lambda p: with_user_data(p, mig_user_data(profile="2g.12gb")), KARPENTER
    ),
    "node-pool-of-a-non-mig-instance-type": BrokenStack(
        "karpenter-mig-pool", NODE_POOL, None, lambda p: with_instance_types(p, "standard.large"), KARPENTER
    ),
    "node-pool-without-instance-type": BrokenStack(
        "karpenter-mig-pool", NODE_POOL, None, lambda p: with_requirements(p, []), KARPENTER
    ),
    "node-pool-without-limits": BrokenStack(
        "karpenter-mig-pool", NODE_POOL, None, lambda p: with_limits(p, None), KARPENTER
    ),
    "over-karpenter-capacity": BrokenStack(
        "slices-within-capacity", STS, "vllm-qwen", lambda p: with_replicas(p, 8.0), KARPENTER, blame=(NODE_POOL, None)
    ),
}
"""Mandatory policies only; production-hardening is advisory unless configured, and
model-revision-pinned applies to production stacks only (their own tests)."""



@pytest.fixture(scope="module")
def alone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of policy/ (without a local virtualenv or caches) in a directory of its own."""
    root = tmp_path_factory.mktemp("standalone")
    copy = root / "policy"
    shutil.copytree(PACK_DIR, copy, ignore=shutil.ignore_patterns("venv", ".venv", "__pycache__", "*.pyc"))
    return copy


@pytest.fixture(scope="module")
def pack(alone: Path) -> Iterator[AnalyzerClient]:
    client = AnalyzerClient(alone, environment=isolated_environment())
    try:
        client.start()
        client.handshake()
        client.configure_stack()
        client.info()
        yield client
    finally:
        client.stop()


@pytest.fixture(scope="module")
def dev_resources(dev: StackRun) -> list[WireResource]:
    return from_registered(dev.resources)


@pytest.fixture(scope="module")
def karpenter_resources() -> list[WireResource]:
    return from_registered(run_stack("karpenter").resources)


def secured(config: dict[str, Any]) -> dict[str, Any]:
    """A stack config with the API key set (production requires one), as `pulumi config set
    --secret` leaves it in the stack file."""
    return {**config, "sks-mig:apiKey": {"secure": "v1:AAAA"}}


def pinned(config: dict[str, Any]) -> dict[str, Any]:
    """A stack config whose models are pinned to a revision (production requires one)."""
    models = [{**model, "revision": model.get("revision", REVISION)} for model in config["sks-mig:models"]]
    return {**config, "sks-mig:models": models}


# -- the copy ----------------------------------------------------------------------------------


def test_the_copy_is_alone(alone: Path) -> None:
    assert [path.name for path in alone.parent.iterdir()] == ["policy"]
    assert {"__main__.py", "PulumiPolicy.yaml", "requirements.txt"} <= {path.name for path in alone.iterdir()}


def test_the_program_is_out_of_reach_where_the_copy_runs(alone: Path) -> None:
    """The environment the pack is started in: its own modules importable, the program's not."""
    probe = (
        "import importlib.util, json, sys; "
        "print(json.dumps({name: importlib.util.find_spec(name) is not None for name in sys.argv[1:]}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe, *PROGRAM_MODULES, "names", "policies"],
        cwd=alone,
        env=isolated_environment(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    reachable = json.loads(found.stdout)
    assert reachable == {**dict.fromkeys(PROGRAM_MODULES, False), "names": True, "policies": True}


def test_the_pack_imports_only_itself_the_standard_library_and_its_requirements(alone: Path) -> None:
    own = {path.stem for path in alone.glob("*.py")}
    # pulumi-policy is imported as pulumi_policy; exoscale is read as a data file (mig_profiles.py).
    declared = {name.replace("-", "_") for name in requirements()}
    for path in sorted(alone.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                assert top in own | declared | sys.stdlib_module_names, f"{path.name} imports {module}"


def test_no_pack_module_shadows_the_standard_library_or_an_installed_package(alone: Path) -> None:
    """The pack directory comes first on the import path: a `secrets.py` would replace the stdlib's."""
    installed = set(importlib.metadata.packages_distributions())
    for path in alone.glob("*.py"):
        if path.stem == "__main__":
            continue
        assert path.stem not in sys.stdlib_module_names, path.name
        assert path.stem not in installed, path.name


def test_no_pack_file_touches_the_import_path(alone: Path) -> None:
    for path in alone.glob("*.py"):
        assert "sys.path" not in path.read_text(encoding="utf-8"), path.name


def test_the_requirements_are_pinned_and_installed_here() -> None:
    pins = requirements()
    assert set(pins) == {"pulumi-policy", "pulumi", "exoscale"}
    for name, version in pins.items():
        assert importlib.metadata.version(name) == version, name
    # The pack runs on the Pulumi SDK the program runs on.
    program_pins = (PROJECT_DIR / "requirements.txt").read_text(encoding="utf-8")
    assert f"pulumi=={pins['pulumi']}" in program_pins.splitlines()


# -- the copy over the analyzer protocol -------------------------------------------------------


def test_pack_starts_quickly_and_answers_the_cli_sequence(pack: AnalyzerClient) -> None:
    assert pack.startup_seconds < 30  # starts in seconds, even on a loaded runner
    assert pack.handshake() is False  # UNIMPLEMENTED in pulumi_policy, tolerated as the CLI does
    info = pack.info()
    assert info.name == "sks-mig-policies" and info.supportsConfig
    assert [(p.name, p.level) for p in pack.policies] == [
        (name, "advisory" if name == "production-hardening" else "mandatory") for name in POLICY_NAMES
    ]
    schemas = {p.name: p.schema for p in pack.policies}
    assert schemas["no-open-model-server"]["allowedCidrs"]["default"] == []
    assert schemas["production-hardening"]["productionEnvironments"]["default"] == ["prod"]


@pytest.mark.parametrize("stack", ["dev", "a30", "prod", "karpenter"])
def test_pack_passes_the_program_stacks(pack: AnalyzerClient, stack: str) -> None:
    """Every shipped stack file, as is (the secret API key set, as `pulumi config set --secret`
    leaves it)."""
    verdict = pack.run(from_registered(run_stack(stack, secured(stack_file_config(stack))).resources))
    assert verdict.diagnostics == [], str(verdict)


def test_the_karpenter_stack_is_what_the_karpenter_rules_read(karpenter_resources: list[WireResource]) -> None:
    types = {resource.type for resource in karpenter_resources}
    assert {NODE_CLASS, NODE_POOL, contract.KARPENTER_NODE_OVERLAY, contract.MODEL_ROUTER_COMPONENT} <= types
    assert NODEPOOL not in types


def test_pack_production_requires_pinned_revisions(pack: AnalyzerClient) -> None:
    resources = from_registered(run_stack("prod", pinned(secured(stack_file_config("prod")))).resources)
    assert pack.run(resources).diagnostics == []
    broken = fresh(resources)
    edit(broken, STS, "vllm-qwen", lambda props: with_annotations(props, {contract.ANNOTATION_MODEL_REVISION: None}))
    verdict = pack.run(broken)
    assert verdict.policies() == {"model-revision-pinned"}, str(verdict)
    assert [d.urn for d in verdict.diagnostics] == [find(broken, STS, "vllm-qwen").urn]
    assert "environment=prod" in verdict.diagnostics[0].message


def test_pack_passes_a_hand_made_stack(pack: AnalyzerClient) -> None:
    """The harness without the program: Structs written by hand, secrets wrapped as on the wire."""
    provider = WireResource.of(K8S_PROVIDER, "k8s", {"kubeconfig": secret("apiVersion: v1"), "enableServerSideApply": "true"})
    resources = [
        WireResource.of(CLUSTER, "sks-mig-dev", cluster()),
        WireResource.of(RULE, "nodes-tcp-10250", {**rule("", start=10250.0, end=10250.0), "cidr": "10.0.0.0/8"}),
        WireResource.of(NODEPOOL, "gpu-rtx", nodepool()),
        provider,
        WireResource.of(SECRET, "vllm-qwen-api-key", {"stringData": {"key": secret("k")}}, provider=provider.urn),
        WireResource.of(STS, "vllm-qwen", with_api_key("true"), provider=provider.urn),
        WireResource.of(SERVICE, "vllm-qwen", service(type_="LoadBalancer"), provider=provider.urn),
    ]
    assert pack.run(resources).diagnostics == []
    find(resources, SECRET).replace({"stringData": {"key": "k"}})
    assert pack.run(resources).policies() == {"secrets-are-secret"}


@pytest.mark.parametrize("case", list(BROKEN_STACKS))
def test_pack_bad_stack_trips_exactly_its_policy(
    pack: AnalyzerClient, dev_resources: list[WireResource], karpenter_resources: list[WireResource], case: str
) -> None:
    broken = BROKEN_STACKS[case]
    resources = broken.of(karpenter_resources if broken.base == KARPENTER else dev_resources)
    verdict = pack.run(resources)
    assert verdict.policies() == {broken.policy}, str(verdict)
    assert verdict.advisory() == [], str(verdict)
    # Each violation is pinned on the broken resource; capacity on the nodepool that lacks it.
    blamed = broken.blamed(resources)
    assert all(d.urn == blamed.urn for d in verdict.diagnostics), str(verdict)


def test_pack_open_security_group_rule(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    resources = fresh(dev_resources)
    parent = find(resources, contract.SKS_CLUSTER_COMPONENT).urn
    resources.append(WireResource.of(RULE, "ssh-from-anywhere", rule("0.0.0.0/0", start=22.0, end=22.0), parent=parent))
    verdict = pack.run(resources)
    assert verdict.policies() == {"no-open-model-server"}, str(verdict)
    assert "TCP port 22 to 0.0.0.0/0" in verdict.diagnostics[0].message
    assert pack.run(resources, {"no-open-model-server": {"allowedCidrs": ["0.0.0.0/0"]}}).diagnostics == []


def test_pack_pod_disruption_budget_deadlock(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    resources = fresh(dev_resources)
    budget = pdb(minAvailable=1.0)
    budget["spec"]["selector"]["matchLabels"] = {"app.kubernetes.io/name": "vllm-phi"}
    resources.append(WireResource.of(PDB, "vllm-phi", budget))
    verdict = pack.run(resources)
    assert verdict.policies() == {"rollout-cannot-deadlock"}, str(verdict)
    assert "minAvailable 1" in verdict.diagnostics[0].message


def test_pack_plain_secret_data(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    resources = fresh(dev_resources)
    provider = find(resources, K8S_PROVIDER).urn
    leaky = {"metadata": {"name": "vllm-qwen-hf-token", "namespace": "inference"}, "stringData": {"token": "hf_abc"}}
    resources.append(WireResource.of(SECRET, "vllm-qwen-hf-token", leaky, provider=provider))
    verdict = pack.run(resources)
    assert verdict.policies() == {"secrets-are-secret"}, str(verdict)
    assert "stringData.token" in verdict.diagnostics[0].message


def test_pack_production_hardening_is_advisory_unless_configured(
    pack: AnalyzerClient, dev_resources: list[WireResource]
) -> None:
    resources = fresh(dev_resources)
    edit(resources, CLUSTER, None, lambda props: props["labels"].update(environment="prod"))
    for server in ("vllm-phi", "vllm-qwen"):  # pinned, as production requires (model-revision-pinned)
        edit(resources, STS, server, with_revision)
    verdict = pack.run(resources)
    assert verdict.mandatory() == [] and verdict.policies("advisory") == {"production-hardening"}, str(verdict)
    assert len(verdict.advisory()) == 3  # starter control plane, cluster and MIG nodepool unprotected
    strict = pack.run(resources, {"production-hardening": "mandatory"})
    assert strict.policies() == {"production-hardening"} and len(strict.mandatory()) == 3


@pytest.mark.parametrize(("level", "expected"), [("advisory", {"model-image-pinned"}), ("disabled", set())])
def test_pack_enforcement_levels_follow_policy_config(
    pack: AnalyzerClient, dev_resources: list[WireResource], level: str, expected: set[str]
) -> None:
    resources = fresh(dev_resources)
    edit(resources, STS, "vllm-qwen", lambda props: with_image(props, "vllm/vllm-openai:latest"))
    verdict = pack.run(resources, {"model-image-pinned": level})
    assert verdict.mandatory() == [] and verdict.policies(None) == expected, str(verdict)


def test_pack_example_config_is_accepted(pack: AnalyzerClient, dev_resources: list[WireResource]) -> None:
    config = json.loads((PACK_DIR / "policy-config.example.json").read_text(encoding="utf-8"))
    assert pack.run(fresh(dev_resources), config).diagnostics == []


# Bad stacks the config layer accepts, produced through the program itself.


def _program_verdict(pack: AnalyzerClient, config: Mapping[str, Any]) -> Verdict:
    return pack.run(from_registered(run_stack("dev", config).resources))


def test_pack_program_with_node_ports_open_to_everyone(pack: AnalyzerClient) -> None:
    config = stack_file_config("dev")
    config["sks-mig:cluster"]["nodePortCidrs"] = ["0.0.0.0/0"]
    verdict = _program_verdict(pack, config)
    assert verdict.policies() == {"no-open-model-server"}, str(verdict)
    assert "0.0.0.0/0" in verdict.diagnostics[0].message


def test_pack_program_prod_on_the_starter_plane(pack: AnalyzerClient) -> None:
    config = pinned(secured(stack_file_config("dev")))
    config["sks-mig:environment"] = "prod"
    verdict = _program_verdict(pack, config)
    assert verdict.mandatory() == [], str(verdict)
    assert [d.policy for d in verdict.advisory()] == ["production-hardening"], str(verdict)
    assert "'starter' control plane" in verdict.advisory()[0].message


def test_every_policy_has_a_broken_stack_here() -> None:
    production = {"production-hardening", "model-revision-pinned"}  # tested above on production stacks
    assert {broken.policy for broken in BROKEN_STACKS.values()} | production == set(POLICY_NAMES)
