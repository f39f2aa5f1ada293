"""slices-within-capacity, called directly (tests/pack_resources.py): the model servers' replicas
against the slices of the fixed MIG nodepools and, at most, of the Karpenter NodePools.
"""

from __future__ import annotations

import pytest
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UNKNOWN_STRING_VALUE

from tests.pack_resources import (
    NODE_POOL,
    NODEPOOL,
    NODEPOOL_COMPONENT,
    STS,
    check_stack,
    model_server,
    node_pool,
    nodepool,
    one,
    resource,
    with_pod,
    with_replicas,
)

# isort: split
import slices_within_capacity  # the pack's module, top-level (tests.pack_resources puts policy/ on the path)

capacity_check = slices_within_capacity.validate_slices_within_capacity


def test_capacity_within_passes() -> None:
    stack = [resource(STS, with_replicas(model_server(), 4.0)), resource(NODEPOOL, nodepool())]
    assert check_stack(capacity_check, stack) == []


def test_capacity_exceeded_is_refused_with_the_arithmetic() -> None:
    stack = [
        resource(STS, with_replicas(model_server("vllm-a"), 3.0)),
        resource(STS, with_replicas(model_server("vllm-b"), 2.0)),
        resource(NODEPOOL, nodepool(), "gpu-rtx"),
    ]
    one(
        check_stack(capacity_check, stack),
        "need 5 slice(s)",
        "StatefulSet inference/vllm-a 3 x 1",
        "offer 4",
        "1 node(s) x 4 1g.24gb slices per node",
    )


def test_capacity_more_nodes_more_slices() -> None:
    stack = [resource(STS, with_replicas(model_server(), 8.0)), resource(NODEPOOL, nodepool(size=2.0))]
    assert check_stack(capacity_check, stack) == []


def test_capacity_a30_pool_counts_the_slices_its_label_gives() -> None:
    server = with_pod(with_replicas(model_server(), 3.0), nodeSelector={"sks-mig.io/mig-profile": "2g.12gb"})
    pool = nodepool(instance_type="gpua30.small", profile="2g.12gb", slices_per_node="2")
    one(check_stack(capacity_check, [resource(STS, server), resource(NODEPOOL, pool)]), "offer 2", "2 2g.12gb slices")


def test_capacity_larger_nodes_count_the_slices_their_label_gives() -> None:
    """A size the pack knows nothing about: sks-mig.io/slices-per-node says 2 GPUs x 4 slices."""
    pool = resource(NODEPOOL, nodepool(instance_type="gpurtx6000pro.large", slices_per_node="8"))
    assert check_stack(capacity_check, [resource(STS, with_replicas(model_server(), 8.0)), pool]) == []
    stack = [resource(STS, with_replicas(model_server(), 9.0)), pool]
    one(check_stack(capacity_check, stack), "offer 8", "1 node(s) x 8 1g.24gb slices per node")


def test_capacity_profile_no_nodepool_has_is_refused() -> None:
    server = with_pod(model_server(), nodeSelector={"sks-mig.io/mig-profile": "2g.48gb"})
    one(check_stack(capacity_check, [resource(STS, server), resource(NODEPOOL, nodepool())]), "no MIG nodepool", "2g.48gb")


def test_capacity_no_nodepool_at_all_is_refused() -> None:
    one(check_stack(capacity_check, [resource(STS, model_server())]), "no MIG nodepool")


def test_capacity_pool_without_the_label_uses_the_component_output() -> None:
    component = resource(NODEPOOL_COMPONENT, {"total_slices": 8.0}, "gpu-rtx")
    unlabelled = nodepool(instance_type="gpurtx6000pro.large", slices_per_node=None)
    pool = resource(NODEPOOL, unlabelled, "gpu-rtx", parent=component)
    stack = [resource(STS, with_replicas(model_server(), 8.0)), component, pool]
    assert check_stack(capacity_check, stack) == []
    stack[0] = resource(STS, with_replicas(model_server(), 9.0))
    one(check_stack(capacity_check, stack), "offer 8", "registered by its MigGpuNodepool component")


def test_capacity_pool_without_the_label_or_the_component_is_reported() -> None:
    unlabelled = nodepool(instance_type="gpurtx6000pro.large", slices_per_node=None)
    stack = [resource(STS, model_server()), resource(NODEPOOL, unlabelled)]
    one(check_stack(capacity_check, stack), "Cannot count the slices", "gpurtx6000pro.large", "label", "is missing")


def test_capacity_only_the_nodepool_component_registers_a_total() -> None:
    other = resource("example:index:Thing", {"total_slices": 8.0}, "gpu-rtx")
    unlabelled = nodepool(slices_per_node=None)
    stack = [resource(STS, model_server()), other, resource(NODEPOOL, unlabelled, parent=other)]
    one(check_stack(capacity_check, stack), "Cannot count the slices", "registered no total_slices")


@pytest.mark.parametrize("label", ["0", "-1", "four", "2.5", " 4", ""])
def test_capacity_label_that_is_not_a_positive_whole_number_is_reported(label: str) -> None:
    stack = [resource(STS, model_server()), resource(NODEPOOL, nodepool(slices_per_node=label), "gpu-rtx")]
    one(
        check_stack(capacity_check, stack),
        "Cannot count the slices of MIG nodepool 'gpu-rtx'",
        f"sks-mig.io/slices-per-node label (GPUs per node x slices per GPU) is {label!r}",
        "not a positive whole number",
        "need 1 slice(s)",
    )


def test_capacity_label_unknown_during_preview_is_reported_as_unknown() -> None:
    stack = [resource(STS, model_server()), resource(NODEPOOL, nodepool(slices_per_node=UNKNOWN_STRING_VALUE))]
    one(check_stack(capacity_check, stack), "Cannot count the slices", "label is not known yet")


def test_capacity_profile_the_exoscale_api_does_not_accept_is_reported() -> None:
    """The valid profiles come from the Exoscale API document of the pack's `exoscale` package."""
    server = with_pod(model_server(), nodeSelector={"sks-mig.io/mig-profile": "3g.72gb"})
    stack = [resource(STS, server), resource(NODEPOOL, nodepool(profile="3g.72gb"))]
    one(
        check_stack(capacity_check, stack),
        "Cannot count the slices",
        "MIG profile '3g.72gb' is not one the Exoscale API accepts for rtxpro6000.96gb",
        "1g.24gb, 1g.24gb+gfx",
    )


def test_capacity_gpu_the_exoscale_api_has_no_profiles_for_is_reported() -> None:
    pool = {**nodepool(), "nvidia_mig_profiles": {"h100.80gb": "1g.10gb"}}
    one(
        check_stack(capacity_check, [resource(STS, model_server()), resource(NODEPOOL, pool)]),
        "GPU 'h100.80gb' has no MIG profiles in the Exoscale API",
        "a30.24gb, rtxpro6000.96gb, b300.269gb",
    )


def test_capacity_unknown_replicas_are_not_judged_during_preview() -> None:
    stack = [resource(STS, with_replicas(model_server(), UNKNOWN_NUMBER_VALUE)), resource(NODEPOOL, nodepool())]
    assert check_stack(capacity_check, stack) == []


# -- Karpenter: up to max-nodes x slices per node ------------------------------------------------


def test_karpenter_capacity_within_passes() -> None:
    stack = [resource(STS, with_replicas(model_server(), 8.0)), resource(NODE_POOL, node_pool(), "gpu-rtx-nodepool")]
    assert check_stack(capacity_check, stack) == []


def test_karpenter_capacity_exceeded_says_up_to() -> None:
    stack = [resource(STS, with_replicas(model_server(), 9.0)), resource(NODE_POOL, node_pool(), "gpu-rtx-nodepool")]
    one(
        check_stack(capacity_check, stack),
        "need 9 slice(s)",
        "offer up to 8",
        "Karpenter NodePool gpu-rtx: up to 2 node(s) (sks-mig.io/max-nodes) x 4 1g.24gb slices per node",
        "raise the node limit (gpuNodepool.maxNodes)",
    )


def test_karpenter_and_fixed_pools_of_one_profile_add_up() -> None:
    stack = [
        resource(STS, with_replicas(model_server(), 13.0)),
        resource(NODEPOOL, nodepool(), "gpu-rtx"),
        resource(NODE_POOL, node_pool(max_nodes="2"), "gpu-rtx-nodepool"),
    ]
    one(check_stack(capacity_check, stack), "offer up to 12", "MIG nodepool 'gpu-rtx': 1 node(s)", "Karpenter NodePool gpu-rtx")
    stack[0] = resource(STS, with_replicas(model_server(), 12.0))
    assert check_stack(capacity_check, stack) == []


@pytest.mark.parametrize(
    ("pool", "why"),
    [
        (node_pool(max_nodes=None), "its sks-mig.io/max-nodes annotation (the most nodes its limits allow) is missing"),
        (node_pool(max_nodes="two"), "annotation (the most nodes its limits allow) is 'two', not a positive whole number"),
        (node_pool(slices_per_node=None), "its sks-mig.io/slices-per-node node label (GPUs per node x slices per GPU) is missing"),
        (node_pool(slices_per_node="0"), "is '0', not a positive whole number"),
        (node_pool(max_nodes=UNKNOWN_STRING_VALUE), "not known yet"),
    ],
)
def test_karpenter_pool_whose_slices_cannot_be_counted_is_reported(pool: dict[str, object], why: str) -> None:
    stack = [resource(STS, model_server()), resource(NODE_POOL, pool, "gpu-rtx-nodepool")]
    one(check_stack(capacity_check, stack), "Cannot count the slices of Karpenter NodePool gpu-rtx", why)


def test_karpenter_pool_without_a_mig_profile_label_is_no_mig_pool() -> None:
    plain_pool = node_pool()
    del plain_pool["spec"]["template"]["metadata"]["labels"]["sks-mig.io/mig-profile"]
    one(check_stack(capacity_check, [resource(STS, model_server()), resource(NODE_POOL, plain_pool)]), "no MIG nodepool")


def test_karpenter_pool_of_another_profile_offers_nothing_to_a_server() -> None:
    server = with_pod(model_server(), nodeSelector={"sks-mig.io/mig-profile": "2g.48gb"})
    stack = [resource(STS, server), resource(NODE_POOL, node_pool())]
    one(check_stack(capacity_check, stack), "no MIG nodepool (or Karpenter NodePool)", "sks-mig.io/mig-profile=2g.48gb")
