"""The production policies, called directly (tests/pack_resources.py): production-hardening
(advisory) and model-revision-pinned (mandatory), both for stacks whose SksCluster's environment
label is in their productionEnvironments.
"""

from __future__ import annotations

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

import contract
from tests.pack_resources import (
    CLUSTER,
    NODEPOOL,
    REVISION,
    STS,
    Props,
    check_stack,
    cluster,
    model_server,
    nodepool,
    one,
    resource,
    with_annotations,
    with_container,
    with_revision,
)

# isort: split
import model_revision_pinned  # the pack's modules, top-level (tests.pack_resources puts policy/ on the path)
import production_hardening

hardening_check = production_hardening.validate_production_hardening


def test_hardening_ignores_dev() -> None:
    assert check_stack(hardening_check, [resource(CLUSTER, cluster()), resource(NODEPOOL, nodepool())]) == []


def test_hardening_prod_needs_pro_and_protect() -> None:
    stack = [resource(CLUSTER, cluster("prod"), "sks-mig-prod"), resource(NODEPOOL, nodepool(), "gpu-rtx")]
    messages = check_stack(hardening_check, stack)
    assert len(messages) == 3, messages
    assert "SksCluster 'sks-mig-prod'" in messages[0] and "'starter' control plane" in messages[0]
    assert "is not protected" in messages[1]
    assert "MIG nodepool 'gpu-rtx'" in messages[2]


def test_hardening_prod_hardened_passes() -> None:
    stack = [resource(CLUSTER, cluster("prod", "pro"), protect=True), resource(NODEPOOL, nodepool(), protect=True)]
    assert check_stack(hardening_check, stack) == []


def test_hardening_production_environments_come_from_config() -> None:
    stack = [resource(CLUSTER, cluster("staging"), protect=True), resource(NODEPOOL, nodepool(), protect=True)]
    assert check_stack(hardening_check, stack) == []
    one(check_stack(hardening_check, stack, {"productionEnvironments": ["staging"]}), "environment=staging")


# -- model-revision-pinned ----------------------------------------------------------------------

revision_check = model_revision_pinned.validate_model_revision_pinned


def prod(*servers: Props, environment: str = "prod") -> list[PolicyResource]:
    """A production cluster (pro, protected) and these model servers."""
    return [resource(CLUSTER, cluster(environment, "pro"), "sks-mig-prod", protect=True)] + [
        resource(STS, server, f"vllm-{index}") for index, server in enumerate(servers)
    ]


def test_revision_pinned_production_server_passes() -> None:
    assert check_stack(revision_check, prod(with_revision(model_server()))) == []


def test_revision_unpinned_production_server_is_refused() -> None:
    one(
        check_stack(revision_check, prod(model_server())),
        "StatefulSet inference/vllm-qwen (Qwen/Qwen2.5-7B-Instruct)",
        "environment=prod",
        "with no pinned revision",
        "models[].revision",
    )


@pytest.mark.parametrize("revision", ["main", "v1.0", REVISION[:7], REVISION.upper(), REVISION + "0"])
def test_revision_that_is_not_a_full_commit_hash_is_refused(revision: str) -> None:
    server = with_annotations(model_server(), {contract.ANNOTATION_MODEL_REVISION: revision})
    one(check_stack(revision_check, prod(server)), f"the sks-mig.io/model-revision {revision!r}, not a pinned revision")


def test_revision_is_not_required_outside_production() -> None:
    assert check_stack(revision_check, prod(model_server(), environment="dev")) == []
    assert check_stack(revision_check, [resource(STS, model_server())]) == []


def test_revision_production_environments_come_from_config() -> None:
    stack = prod(model_server(), environment="staging")
    assert check_stack(revision_check, stack) == []
    one(check_stack(revision_check, stack, {"productionEnvironments": ["staging"]}), "environment=staging")


@pytest.mark.parametrize("args", [["m", "--revision", "f" * 40], ["m", f"--revision={'f' * 40}"]])
def test_revision_served_must_be_the_annotated_one(args: list[str]) -> None:
    server = with_container(with_revision(model_server()), args=args)
    one(check_stack(revision_check, prod(server)), f"is annotated sks-mig.io/model-revision={REVISION}", "--revision 'ffff")


def test_revision_unknown_during_preview_is_not_judged() -> None:
    server = with_annotations(model_server(), {contract.ANNOTATION_MODEL_REVISION: UNKNOWN_STRING_VALUE})
    assert check_stack(revision_check, prod(server)) == []
