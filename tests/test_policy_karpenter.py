"""karpenter-mig-pool, called directly (tests/pack_resources.py): an ExoscaleNodeClass that cuts GPUs
into MIG slices and the Karpenter NodePools that start nodes with it, as components/karpenter_gpu_pool.py
registers them, and what the seed article and the provider's own docs get wrong.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

import contract
from tests.pack_resources import (
    NODE_CLASS,
    NODE_POOL,
    STS,
    Props,
    article_node_class,
    check_resource,
    check_stack,
    mig_user_data,
    model_server,
    node_class,
    node_pool,
    one,
    resource,
    with_instance_types,
    with_limits,
    with_pod,
    with_requirements,
    with_user_data,
)

# isort: split
import gpu_slice_exactly_one  # the pack's modules, top-level (tests.pack_resources puts policy/ on the path)
import karpenter_mig_pool

karpenter_check = karpenter_mig_pool.validate_karpenter_mig_pool


def pool_stack(class_props: Props | None = None, pool_props: Props | None = None) -> list[Any]:
    """A NodeClass and a NodePool using it (by default the Karpenter stack's: RTX PRO 6000, 1g.24gb)."""
    return [
        resource(NODE_CLASS, class_props if class_props is not None else node_class(), "gpu-rtx-nodeclass"),
        resource(NODE_POOL, pool_props if pool_props is not None else node_pool(), "gpu-rtx-nodepool"),
    ]


def test_the_programs_pool_passes() -> None:
    assert check_stack(karpenter_check, pool_stack()) == []


@pytest.mark.parametrize(("family", "gpu", "profile"), [("gpua30", "a30.24gb", "2g.12gb"), ("gpub300", "b300.269gb", "1g.34gb+me")])
def test_every_mig_family_with_its_own_gpu_key_passes(family: str, gpu: str, profile: str) -> None:
    pool = node_pool(instance_types=[f"{family}.small"], gpu=gpu, profile=profile.replace("+", "_"))
    assert check_stack(karpenter_check, pool_stack(node_class(user_data=mig_user_data(gpu, profile)), pool)) == []


# -- the GPU key against the instance family ----------------------------------------------------


def test_the_articles_node_class_with_an_a30_pool_is_refused() -> None:
    """The article's NodeClass is named for an A30 cut into 2g.12gb but keys its profile by the RTX
    PRO 6000: on A30 nodes nothing says how to cut their GPU."""
    pool = node_pool("gpu-a30", "nvidia-a30-2g-12gb", ["gpua30.small"], "a30.24gb", "2g.12gb", "2")
    one(
        check_stack(karpenter_check, pool_stack(article_node_class(), pool)),
        'ExoscaleNodeClass nvidia-a30-2g-12gb sets the MIG profile of GPU "rtxpro6000.96gb"',
        'NodePool gpu-a30 starts gpua30.small nodes with it, whose GPU is "a30.24gb"',
        'Key the profile by "a30.24gb" (its profiles: 1g.6gb, 1g.6gb+me, 2g.12gb, 2g.12gb+me, 4g.24gb)',
    )


def test_a_family_requirement_names_the_gpu_too() -> None:
    by_family = [{"key": "exoscale.com/instance-family", "operator": "In", "values": ["gpurtx6000pro"]}]
    assert check_stack(karpenter_check, pool_stack(pool_props=with_requirements(node_pool(), by_family))) == []
    by_family[0]["values"] = ["gpua30"]
    one(check_stack(karpenter_check, pool_stack(pool_props=with_requirements(node_pool(), by_family))), "gpua30.* nodes", '"a30.24gb"')


def test_both_requirements_narrow_each_other() -> None:
    both = [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["gpurtx6000pro.small", "gpua30.small"]},
        {"key": "exoscale.com/instance-family", "operator": "In", "values": ["gpurtx6000pro"]},
    ]
    assert check_stack(karpenter_check, pool_stack(pool_props=with_requirements(node_pool(), both))) == []


# -- the user data ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_data",
    [
        mig_user_data().replace('"1g.24gb"', "1g.24gb"),
        "[settings.kubelet-device-plugins.nvidia\ndevice-partitioning-strategy = \"mig\"\n",
        "H4sIAAAAAAAA/yv", # gzip + base64: the provider merges raw TOML only
    ],
)
def test_user_data_that_is_not_toml_is_refused(user_data: str) -> None:
    one(
        check_stack(karpenter_check, pool_stack(node_class(user_data=user_data))),
        "ExoscaleNodeClass gpu-rtx: spec.userData is not valid TOML",
        "starts the nodes without it",
    )


def test_a_bare_dotted_gpu_key_is_a_table_not_the_gpu() -> None:
    """TOML reads `rtxpro6000.96gb = ...` as the key "96gb" of a table "rtxpro6000": quote the key."""
    dotted = mig_user_data().replace('"rtxpro6000.96gb"', "rtxpro6000.96gb")
    one(
        check_stack(karpenter_check, pool_stack(node_class(user_data=dotted))),
        "GPU 'rtxpro6000' has no MIG profiles in the Exoscale API",
    )


@pytest.mark.parametrize(("strategy", "shown"), [("none", "'none'"), (None, "unset (the node agent's default, \"none\")")])
def test_profiles_without_the_mig_strategy_are_refused(strategy: str | None, shown: str) -> None:
    one(
        check_stack(karpenter_check, pool_stack(node_class(user_data=mig_user_data(strategy=strategy)))),
        f"device-partitioning-strategy is {shown}",
        "whole GPUs",
    )


def test_the_mig_strategy_without_a_profile_is_refused() -> None:
    bare = '[settings.kubelet-device-plugins.nvidia]\ndevice-partitioning-strategy = "mig"\n'
    one(check_stack(karpenter_check, pool_stack(node_class(user_data=bare))), "maps no GPU to a MIG profile")


@pytest.mark.parametrize(
    ("gpu", "profile", "why"),
    [
        ("rtxpro6000.96gb", "2g.12gb", "MIG profile '2g.12gb' is not one the Exoscale API accepts for rtxpro6000.96gb"),
        # The provider's doc/user-data.md spells the key so, against its own `{gpu-model}.{memory}gb`.
        ("rtxpro6000.96g", "1g.24gb", "GPU 'rtxpro6000.96g' has no MIG profiles in the Exoscale API"),
        ("rtxpro6000.96gb", "4", "a number of partitions"),
    ],
)
def test_a_profile_the_gpu_does_not_have_is_refused(gpu: str, profile: str, why: str) -> None:
    one(
        check_stack(karpenter_check, [resource(NODE_CLASS, node_class(user_data=mig_user_data(gpu, profile)))]),
        f'"{gpu}" = {profile!r}',
        why,
    )


def test_a_partition_count_as_a_toml_number_is_refused_too() -> None:
    as_number = mig_user_data().replace('"1g.24gb"', "4")
    one(check_stack(karpenter_check, [resource(NODE_CLASS, node_class(user_data=as_number))]), "= 4:", "a number of partitions")


def test_user_data_without_nvidia_settings_is_no_mig_class() -> None:
    kubelet = '[settings.kubernetes]\nmax-pods = 110\n'
    unlabelled = node_pool(instance_types=["standard.large"])
    del unlabelled["spec"]["template"]["metadata"]["labels"][contract.LABEL_MIG_PROFILE]
    assert check_stack(karpenter_check, pool_stack(node_class(user_data=kubelet), unlabelled)) == []


# -- the NodePool -------------------------------------------------------------------------------


@pytest.mark.parametrize("types", [["standard.large"], ["gpurtx6000pro.small", "gpu3.small"]])
def test_a_non_mig_instance_type_is_refused(types: list[str]) -> None:
    other = types[-1]
    one(
        check_stack(karpenter_check, pool_stack(pool_props=with_instance_types(node_pool(), *types))),
        f"NodePool gpu-rtx may start {other} nodes",
        f"instance family '{other.split('.')[0]}' has no MIG-capable GPU",
        "gpua30, gpurtx6000pro, gpub300",
    )


@pytest.mark.parametrize(
    "requirements",
    [[], [{"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["standard.large"]}]],
)
def test_a_pool_that_may_start_any_instance_type_is_refused(requirements: list[Props]) -> None:
    one(
        check_stack(karpenter_check, pool_stack(pool_props=with_requirements(node_pool(), requirements))),
        "has no requirement node.kubernetes.io/instance-type In [...]",
        "any instance type",
    )


@pytest.mark.parametrize(("limits", "shown"), [(None, "missing"), ({}, "empty")])
def test_a_pool_without_limits_is_refused(limits: Props | None, shown: str) -> None:
    one(
        check_stack(karpenter_check, pool_stack(pool_props=with_limits(node_pool(), limits))),
        f"NodePool gpu-rtx: spec.limits is {shown}",
        "without bound",
    )


def test_every_karpenter_pool_needs_limits_even_without_its_class() -> None:
    elsewhere = with_limits(node_pool(node_class_name="cpu"), None)
    one(check_stack(karpenter_check, [resource(NODE_POOL, elsewhere)]), "spec.limits is missing")


@pytest.mark.parametrize(
    ("label", "value"), [(contract.LABEL_MIG_PROFILE, "2g.48gb"), (contract.LABEL_GPU, "a30.24gb")]
)
def test_node_labels_that_lie_about_the_slices_are_refused(label: str, value: str) -> None:
    pool = node_pool()
    pool["spec"]["template"]["metadata"]["labels"][label] = value
    one(check_stack(karpenter_check, pool_stack(pool_props=pool)), f"labels its nodes {label}={value}", "sized for another slice")


def test_a_profile_with_a_plus_is_labelled_with_an_underscore() -> None:
    cut = node_class(user_data=mig_user_data(profile="1g.24gb+me"))
    assert check_stack(karpenter_check, pool_stack(cut, node_pool(profile="1g.24gb_me"))) == []


def test_a_mig_labelled_pool_on_a_class_without_mig_is_refused() -> None:
    one(
        check_stack(karpenter_check, pool_stack(with_user_data(node_class(), None))),
        "NodePool gpu-rtx labels its nodes sks-mig.io/mig-profile=1g.24gb",
        "does not cut GPUs into MIG slices",
    )


@pytest.mark.parametrize(
    "unknown",
    [
        lambda: with_user_data(node_class(), UNKNOWN_STRING_VALUE),
        lambda: with_requirements(node_pool(), UNKNOWN_ARRAY_VALUE),  # type: ignore[arg-type]
        lambda: with_limits(node_pool(), UNKNOWN_OBJECT_VALUE),  # type: ignore[arg-type]
    ],
)
def test_values_unknown_during_preview_are_not_judged(unknown: Any) -> None:
    changed = unknown()
    stack = pool_stack(changed) if changed["kind"] == "ExoscaleNodeClass" else pool_stack(pool_props=changed)
    assert check_stack(karpenter_check, stack) == []


# -- the model servers on the Karpenter pool ----------------------------------------------------


def test_a_server_on_the_karpenter_pool_tolerates_its_taint_and_selects_its_labels() -> None:
    """gpu-slice-exactly-one: the pool's template taint and labels are the MIG nodes' contract."""
    taints = node_pool()["spec"]["template"]["spec"]["taints"]
    tolerations = [{"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]} for t in taints]
    assert check_resource(gpu_slice_exactly_one.validate_gpu_slice_exactly_one, STS, with_pod(model_server(), tolerations=tolerations)) == []
    one(
        check_resource(gpu_slice_exactly_one.validate_gpu_slice_exactly_one, STS, with_pod(model_server(), tolerations=[])),
        "fixed nodepool or Karpenter NodePool",
    )
