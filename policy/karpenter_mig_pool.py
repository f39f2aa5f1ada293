"""karpenter-mig-pool: a Karpenter pool of MIG GPU nodes cuts the GPUs it starts into the slices the
model servers were sized for, starts only instance types with that GPU, and has limits.

What it reads is in karpenter_pools.py (the ExoscaleNodeClass's user data and the NodePool), the
GPU of each instance family and the profiles of each GPU in mig_profiles.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from karpenter_pools import (
    MIG_STRATEGY,
    NVIDIA_TABLE,
    PROFILE_TABLE,
    STRATEGY_KEY,
    NodeClass,
    NodePool,
    node_classes,
    node_pools,
)
from mig_profiles import GPU_KEY_BY_FAMILY, family_of, is_gpu_key, profile_names, profile_problem
from names import INSTANCE_FAMILY_LABEL, INSTANCE_TYPE_LABEL, LABEL_GPU, LABEL_MIG_PROFILE
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy
from wire import Unknown, as_dict

_MIG_FAMILIES = ", ".join(GPU_KEY_BY_FAMILY)


def validate_karpenter_mig_pool(args: StackValidationArgs, report: ReportViolation) -> None:
    """NodeClasses cut GPUs into profiles their GPU has; NodePools start the GPU their NodeClass
    names, with limits."""
    classes = node_classes(args.resources)
    for node_class in classes:
        _check_node_class(node_class, report)
    for pool in node_pools(args.resources):
        _check_limits(pool, report)
        used = pool.node_class(classes)
        if used is not None:
            _check_pool_with_class(pool, used, report)


def _check_node_class(node_class: NodeClass, report: ReportViolation) -> None:
    if node_class.toml_error is not None:
        report(
            f"{node_class.display}: spec.userData is not valid TOML ({node_class.toml_error}). "
            "Exoscale's Karpenter provider logs such user data and starts the nodes without it, so "
            "their GPUs would not be cut into MIG slices. Fix the TOML, e.g. "
            f'[{PROFILE_TABLE}] "rtxpro6000.96gb" = "1g.24gb".',
            node_class.urn,
        )
        return
    settings = node_class.settings
    if settings is None or not settings.wanted:
        return
    if settings.strategy != MIG_STRATEGY and not isinstance(settings.strategy, Unknown):
        shown = 'unset (the node agent\'s default, "none")' if settings.strategy is None else repr(settings.strategy)
        report(
            f"{node_class.display}: [{NVIDIA_TABLE}] {STRATEGY_KEY} is {shown}, yet its userData maps "
            f"GPUs to MIG profiles: the node agent cuts GPUs only with {STRATEGY_KEY} = "
            f'"{MIG_STRATEGY}", so the nodes would offer whole GPUs. Set it to "{MIG_STRATEGY}".',
            node_class.urn,
        )
    if not settings.profiles:
        report(
            f'{node_class.display}: {STRATEGY_KEY} is "{MIG_STRATEGY}" but [{PROFILE_TABLE}] maps no '
            "GPU to a MIG profile, so nothing says how to cut the GPUs. Add "
            f'"<GPU>" = "<profile>" (GPUs with MIG: {", ".join(GPU_KEY_BY_FAMILY.values())}).',
            node_class.urn,
        )
    for gpu_key, profile in settings.profiles.items():
        if isinstance(profile, Unknown):
            continue
        problem = profile_problem({gpu_key: profile})
        if problem is None:
            continue
        count_hint = (
            " The node agent also takes a number of partitions, but then the slice size the model "
            "servers were sized for is nobody's to check: name the profile."
            if (isinstance(profile, int) and not isinstance(profile, bool))
            or (isinstance(profile, str) and profile.strip().isdigit())
            else ""
        )
        report(
            f'{node_class.display}: [{PROFILE_TABLE}] "{gpu_key}" = {profile!r}: {problem}; the '
            f"node agent cannot cut the GPU so.{count_hint}",
            node_class.urn,
        )


def _check_limits(pool: NodePool, report: ReportViolation) -> None:
    limits = pool.spec.get("limits")
    if isinstance(limits, Unknown) or as_dict(limits):
        return
    shown = "missing" if limits is None else "empty"
    report(
        f"{pool.display}: spec.limits is {shown}, so Karpenter may start nodes without bound "
        "(without a NodeOverlay it counts a node's physical GPUs, not its MIG slices, and may start "
        "a GPU node per pending server), each billed by the hour. Set limits, e.g. nvidia.com/gpu: "
        "<max nodes x GPUs per node> (the program sets them from gpuNodepool.maxNodes).",
        pool.urn,
    )


def _check_pool_with_class(pool: NodePool, node_class: NodeClass, report: ReportViolation) -> None:
    labels = pool.template_labels
    if isinstance(labels, Unknown) or isinstance(node_class.user_data, Unknown) or node_class.toml_error:
        return
    settings = node_class.settings
    if settings is None or not settings.wanted:
        label = as_dict(labels).get(LABEL_MIG_PROFILE)
        if isinstance(label, str):
            report(
                f"{pool.display} labels its nodes {LABEL_MIG_PROFILE}={label}, so model servers select "
                f"it, but {node_class.display} does not cut GPUs into MIG slices (no [{PROFILE_TABLE}] "
                f'with {STRATEGY_KEY} = "{MIG_STRATEGY}"): the servers would land on whole GPUs '
                "that were never cut into the slices they were sized for.",
                pool.urn,
            )
        return
    choice = pool.instance_choice()
    if choice is None:
        return
    if not choice.bounded:
        report(
            f"{pool.display} starts nodes with {node_class.display}, which cuts GPUs into MIG slices, "
            f"but has no requirement {INSTANCE_TYPE_LABEL} In [...] (or {INSTANCE_FAMILY_LABEL} In "
            "[...]): Karpenter may choose any instance type, also one without a MIG GPU. Require "
            f"the MIG instance type, e.g. {INSTANCE_TYPE_LABEL} In [gpurtx6000pro.small].",
            pool.urn,
        )
        return
    by_family: dict[str, list[str]] = {}
    if choice.types is not None:
        for instance_type in choice.types:
            family = family_of(instance_type)
            if choice.families is None or family in choice.families:
                by_family.setdefault(family, []).append(instance_type)
    else:
        for family in choice.families or []:
            by_family.setdefault(family.lower(), []).append(f"{family}.*")
    # A class whose own profile table is wrong is reported as such (_check_node_class), not again here.
    keys_known = bool(settings.profiles) and all(is_gpu_key(key) for key in settings.profiles)
    for family, shown in by_family.items():
        started = ", ".join(shown)
        gpu_key = GPU_KEY_BY_FAMILY.get(family)
        if gpu_key is None:
            report(
                f"{pool.display} may start {started} nodes with {node_class.display}, which cuts GPUs "
                f"into MIG slices, but instance family {family!r} has no MIG-capable GPU (MIG "
                f"families: {_MIG_FAMILIES}). Require only instance types of a MIG family.",
                pool.urn,
            )
        elif not keys_known:
            continue
        elif gpu_key not in settings.profiles:
            named = ", ".join(f'"{key}"' for key in settings.profiles)
            valid = ", ".join(profile_names(gpu_key))
            report(
                f"{node_class.display} sets the MIG profile of GPU {named}, but {pool.display} starts "
                f'{started} nodes with it, whose GPU is "{gpu_key}": the profile is keyed by GPU, so '
                "these nodes' GPUs would not be cut as the class says, and the model servers sized "
                f'for its slices would not fit. Key the profile by "{gpu_key}" (its profiles: '
                f"{valid}), or start the instance type of the GPU it names.",
                node_class.urn,
            )
        else:
            _check_labels(pool, node_class, gpu_key, settings.profiles[gpu_key], as_dict(labels), report)


def _check_labels(
    pool: NodePool,
    node_class: NodeClass,
    gpu_key: str,
    profile: Any,
    labels: Mapping[str, Any],
    report: ReportViolation,
) -> None:
    """The labels the model servers select must say what the nodes really are."""
    if not isinstance(profile, str) or profile_problem({gpu_key: profile}) is not None:
        return  # no profile the GPU has: reported on the class
    # Label values allow no "+": the program writes profile names with "_" instead.
    expected = {LABEL_GPU: gpu_key, LABEL_MIG_PROFILE: profile.replace("+", "_")}
    for key, value in expected.items():
        label = labels.get(key)
        if isinstance(label, str) and label != value:
            report(
                f"{pool.display} labels its nodes {key}={label}, but {node_class.display} cuts "
                f'their GPU "{gpu_key}" into {profile} slices: model servers that select {key}={label} '
                f"were sized for another slice. Label them {key}={value}.",
                pool.urn,
            )


POLICY = StackValidationPolicy(
    name="karpenter-mig-pool",
    description=(
        "A Karpenter pool of MIG GPU nodes: the ExoscaleNodeClass's userData is valid TOML with "
        "device-partitioning-strategy \"mig\" and a profile the GPU has (the provider skips "
        "invalid TOML, and the nodes start without MIG); the NodePools using it start only "
        "instance types whose GPU is the one its profile is keyed by, label their nodes with that "
        "GPU and profile, and every Karpenter NodePool has limits."
    ),
    validate=validate_karpenter_mig_pool,
    enforcement_level=EnforcementLevel.MANDATORY,
)
