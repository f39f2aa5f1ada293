"""slices-within-capacity: the model servers' replicas need no more slices than the MIG pools offer:
the fixed nodepools' slices, and at most what the Karpenter NodePools may start (mig_pools.py
counts both).
"""

from __future__ import annotations

from mig_pools import slice_groups
from names import LABEL_MIG_PROFILE
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy
from wire import count


def validate_slices_within_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    """The model servers' replicas need no more slices than the MIG nodepools provide."""
    for group in slice_groups(args.resources):
        demand = group.demand()
        if demand is None:
            continue
        which = (
            "model servers that select no MIG profile"
            if group.profile_label is None
            else f"model servers on MIG profile {group.profile_label}"
        )
        if not group.pools:
            report(
                f"The {which} ({group.describe_demand()}) need {count(demand)} slice(s) but no MIG "
                "nodepool (or Karpenter NodePool) of the stack offers "
                + ("any." if group.profile_label is None else f"nodes labelled {LABEL_MIG_PROFILE}="
                   f"{group.profile_label}.")
                + " Their pods would stay Pending.",
                group.servers[0].urn,
            )
            continue
        supply = group.supply()
        if supply is None:
            unknown = next(pool for pool in group.pools if pool.slices is None)
            report(
                f"Cannot count the slices of {unknown.display}: {unknown.arithmetic}. "
                f"The {which} need {count(demand)} slice(s).",
                unknown.urn,
            )
            continue
        if demand > supply:
            up_to = "up to " if group.at_most else ""
            more = "raise the node limit (gpuNodepool.maxNodes)" if group.at_most else "add nodes"
            report(
                f"The {which} need {count(demand)} slice(s) (replicas x slices per pod: "
                f"{group.describe_demand()}) but the MIG nodepools offer {up_to}{supply} "
                f"({group.describe_supply()}): {count(demand - supply)} pod(s) would stay "
                f"Pending. Lower replicas, {more}, or choose a profile with more slices.",
                group.pools[0].urn if len(group.pools) == 1 else None,
            )


POLICY = StackValidationPolicy(
    name="slices-within-capacity",
    description=(
        "The model servers' replicas x slices per pod fit in the slices the MIG nodepools "
        "provide (nodes x GPUs x slices per GPU, from the project's MIG catalogue), or at most "
        "the slices a Karpenter NodePool may start (its max-nodes x slices per node); the pods "
        "beyond that stay Pending."
    ),
    validate=validate_slices_within_capacity,
    enforcement_level=EnforcementLevel.MANDATORY,
)
