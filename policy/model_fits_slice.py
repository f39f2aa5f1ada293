"""model-fits-slice: a model server's estimated memory is at most its MIG slice's memory, as the
components annotate both.
"""

from __future__ import annotations

from names import ANNOTATION_ESTIMATED_MEMORY_GB, ANNOTATION_MODEL, ANNOTATION_SLICE_MEMORY_GB
from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy
from wire import Unknown, number, plain
from workloads import workload_of


def validate_model_fits_slice(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A model server's estimated memory is at most its slice's memory."""
    workload = workload_of(args.resource_type, plain(args.props), args.urn, args.name)
    if workload is None or not workload.is_model_server:
        return
    values: dict[str, float] = {}
    for key in (ANNOTATION_ESTIMATED_MEMORY_GB, ANNOTATION_SLICE_MEMORY_GB):
        raw = workload.annotation(key)
        if isinstance(raw, Unknown):
            return
        value = number(raw)
        if raw is None:
            report(
                f"{workload.display} has no {key} annotation, so nobody can tell whether its model "
                f"fits its MIG slice. Annotate the pod template with {ANNOTATION_ESTIMATED_MEMORY_GB} (the "
                f"memory estimate, GB) and {ANNOTATION_SLICE_MEMORY_GB} (the slice's memory, GB).",
                None,
            )
        elif value is None or value < 0:
            report(f"{workload.display}: annotation {key}={raw!r} is not a size in GB.", None)
        else:
            values[key] = value
    if len(values) < 2:
        return
    estimated, slice_memory = values[ANNOTATION_ESTIMATED_MEMORY_GB], values[ANNOTATION_SLICE_MEMORY_GB]
    if estimated > slice_memory:
        profile = workload.annotation(ANNOTATION_MODEL)
        model = f" ({profile})" if isinstance(profile, str) else ""
        report(
            f"{workload.display}{model} needs an estimated {estimated:g} GB "
            f"({ANNOTATION_ESTIMATED_MEMORY_GB}) but its MIG slice has {slice_memory:g} GB "
            f"({ANNOTATION_SLICE_MEMORY_GB}): vLLM would fail to start with CUDA out of memory and "
            "restart forever. Choose a larger MIG profile, a smaller or quantized model, or a "
            "shorter max-model-len.",
            None,
        )


POLICY = ResourceValidationPolicy(
    name="model-fits-slice",
    description=(
        "A model server's estimated memory (sks-mig.io/estimated-memory-gb) is at most its "
        "MIG slice's memory (sks-mig.io/slice-memory-gb); a model that does not fit crashes "
        "with CUDA out of memory and restarts forever."
    ),
    validate=validate_model_fits_slice,
    enforcement_level=EnforcementLevel.MANDATORY,
)
