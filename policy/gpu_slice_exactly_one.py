"""gpu-slice-exactly-one: a container asking for a GPU slice asks for exactly one, and its pod can
reach one (tolerates the GPU taint, selects the MIG pool).

Both kinds of MIG pool give their nodes the same contract: the fixed MIG nodepool (its labels and
taints) and a Karpenter NodePool (the labels and taints of its node template) carry the
`sks-mig.io/mig-profile` label and the nvidia.com/gpu=present:NoSchedule taint, so a server that
selects the one and tolerates the other can run on either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from names import GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE, LABEL_MIG_PROFILE
from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy
from wire import Unknown, as_dict, as_list, dig, plain, quantity
from workloads import workload_of


def tolerates_gpu_taint(tolerations: Any) -> bool:
    """Whether the tolerations let a pod onto nodes tainted nvidia.com/gpu=present:NoSchedule."""
    for toleration in as_list(tolerations):
        if not isinstance(toleration, dict):
            continue
        effect = toleration.get("effect")
        if effect not in (None, "", GPU_TAINT_EFFECT):
            continue
        key, operator = toleration.get("key"), toleration.get("operator") or "Equal"
        if operator == "Exists" and key in (None, "", GPU_TAINT_KEY):
            return True
        if operator == "Equal" and key == GPU_TAINT_KEY and toleration.get("value") == GPU_TAINT_VALUE:
            return True
    return False


def selects_mig_nodepool(pod_spec: Mapping[str, Any]) -> bool:
    """A nodeSelector (or required node affinity) on the sks-mig.io/mig-profile node label."""
    selected = as_dict(pod_spec.get("nodeSelector")).get(LABEL_MIG_PROFILE)
    if isinstance(selected, Unknown) or (isinstance(selected, str) and selected):
        return True
    terms = dig(
        pod_spec,
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )
    term_list = [as_dict(term) for term in as_list(terms)]
    return bool(term_list) and all(
        any(
            as_dict(expression).get("key") == LABEL_MIG_PROFILE
            and as_dict(expression).get("operator") in ("In", "Exists")
            for expression in as_list(term.get("matchExpressions"))
        )
        for term in term_list
    )


def validate_gpu_slice_exactly_one(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A container asking for a GPU slice asks for exactly one, and its pod can reach one."""
    workload = workload_of(args.resource_type, plain(args.props), args.urn, args.name)
    if workload is None:
        return
    # A container asking for 0 of a slice resource asks for none (some charts switch GPUs off so).
    consumers = [c for c in workload.containers() if c.slice_requests() and c.slices() != 0]
    for container in consumers:
        requests = container.slice_requests()
        where = f"{workload.display}, {container.label}"
        if len(requests) > 1:
            resource_names = ", ".join(sorted(requests))
            report(
                f"{where} requests several slice resources ({resource_names}): that is more than one MIG "
                "device, and one CUDA process sees only one. Request exactly one, e.g. "
                "nvidia.com/gpu: 1.",
                None,
            )
            continue
        for resource_name, amounts in requests.items():
            for section, amount in amounts.items():
                value = quantity(amount)
                if isinstance(amount, Unknown) or value == 1:
                    continue
                report(
                    f"{where} sets resources.{section}[{resource_name}] to {amount!r}; a CUDA "
                    "process sees one MIG device, so a model server takes exactly 1 slice "
                    f"({resource_name}: 1). Serve a larger model from a larger MIG profile, "
                    "not from several slices.",
                    None,
                )
    if not consumers:
        return
    tolerations = workload.pod_spec.get("tolerations")
    if not isinstance(tolerations, Unknown) and not tolerates_gpu_taint(tolerations):
        report(
            f"{workload.display} requests a GPU slice but its pods do not tolerate the "
            f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT} taint of the MIG nodes (fixed nodepool "
            f"or Karpenter NodePool), so they can never be scheduled. Add the toleration {{key: {GPU_TAINT_KEY}, operator: Exists, "
            f"effect: {GPU_TAINT_EFFECT}}}.",
            None,
        )
    if not selects_mig_nodepool(workload.pod_spec):
        report(
            f"{workload.display} requests a GPU slice but has no nodeSelector on "
            f"{LABEL_MIG_PROFILE}: with more than one GPU nodepool its pods may land on a GPU cut "
            "into a different profile than the one the model was sized for. Select the MIG "
            f"pool's nodes (nodeSelector {{{LABEL_MIG_PROFILE}: <profile>}}).",
            None,
        )


POLICY = ResourceValidationPolicy(
    name="gpu-slice-exactly-one",
    description=(
        "A container that requests a GPU slice (nvidia.com/gpu or nvidia.com/mig-*) requests "
        "exactly one, because one CUDA process sees one MIG device; and its pod tolerates the "
        "nvidia.com/gpu taint and selects the MIG nodes (the fixed nodepool's, or a Karpenter "
        "NodePool's), or it can never be scheduled where its model was sized to run."
    ),
    validate=validate_gpu_slice_exactly_one,
    enforcement_level=EnforcementLevel.MANDATORY,
)
