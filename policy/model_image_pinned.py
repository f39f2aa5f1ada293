"""model-image-pinned: model-server images carry a version tag or a digest.
"""

from __future__ import annotations

import re

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy
from wire import Unknown, plain
from workloads import workload_of

_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_MOVING_TAGS = frozenset({"latest", "nightly", "main", "master", "stable", "edge", "dev"})


def image_problem(image: str) -> str | None:
    """Why `image` is not pinned to a version or a digest, or None when it is."""
    if "@" in image:
        digest = image.split("@", 1)[1]
        if _DIGEST.match(digest):
            return None
        return f"its digest {digest!r} is not of the form sha256:<hex>"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "it has no tag, which means :latest"
    tag = last.rsplit(":", 1)[1]
    if not tag:
        return "its tag is empty, which means :latest"
    if tag.lower() in _MOVING_TAGS:
        return f"its tag {tag!r} moves to a new build whenever one is pushed"
    if not any(ch.isdigit() for ch in tag):
        return f"its tag {tag!r} names no version"
    return None


def validate_model_image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Model-server images carry a version tag or a digest."""
    workload = workload_of(args.resource_type, plain(args.props), args.urn, args.name)
    if workload is None or not workload.is_model_server:
        return
    for container in workload.containers():
        image = container.spec.get("image")
        if isinstance(image, Unknown):
            continue
        if not isinstance(image, str) or not image.strip():
            report(f"{workload.display}, {container.label} has no image.", None)
            continue
        problem = image_problem(image.strip())
        if problem is not None:
            report(
                f"{workload.display}, {container.label}: image {image!r} is not pinned: "
                f"{problem}. Use a version tag (vllm/vllm-openai:v0.22.1-cu129-ubuntu2404) or a "
                "digest (@sha256:...), so every replica and every restart runs the build that "
                "was sized and tested for this slice.",
                None,
            )


POLICY = ResourceValidationPolicy(
    name="model-image-pinned",
    description=(
        "Model-server images carry a version tag or a digest, never latest or no tag: a "
        "moving tag lets replicas and restarts run a different vLLM than the one sized and "
        "tested for the slice."
    ),
    validate=validate_model_image_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
)
