"""model-revision-pinned: in a production stack, every model server loads weights pinned to a Hugging
Face commit, as its image is pinned to a version.

Unpinned, each replica downloads whatever the model's `main` branch is when its cache is first
filled: two replicas, or a replica and its replacement, may serve different weights. The program
annotates a pinned server with the commit (sks-mig.io/model-revision) and passes it to the download
and to vLLM (`--revision`); the pack reads the annotation, and the argument when present.
"""

from __future__ import annotations

import re

from names import ANNOTATION_MODEL, ANNOTATION_MODEL_REVISION
from production_stacks import config_schema, production_clusters
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy
from wire import Unknown, as_list
from workloads import Workload, model_servers

# A Hugging Face revision is a branch, a tag or a commit; only a full commit hash cannot move.
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def validate_model_revision_pinned(args: StackValidationArgs, report: ReportViolation) -> None:
    """Production model servers carry a 40-hex commit as their revision, and serve that one."""
    production = production_clusters(args)
    if not production:
        return
    environment = production[0].environment
    for server in model_servers(args.resources):
        revision = server.annotation(ANNOTATION_MODEL_REVISION)
        if isinstance(revision, Unknown):
            continue
        model = server.annotation(ANNOTATION_MODEL)
        which = f" ({model})" if isinstance(model, str) else ""
        if revision is None or not isinstance(revision, str) or not COMMIT.fullmatch(revision):
            shown = "no" if revision is None else f"the {ANNOTATION_MODEL_REVISION} {revision!r}, not a"
            report(
                f"{server.display}{which} is in a production stack (environment={environment}) with "
                f"{shown} pinned revision: each replica would download whatever the model's main "
                "branch is when its cache is first filled, so replicas and replacements may serve "
                "different weights. Pin the model's `revision` to the full 40-character commit hash "
                f"(models[].revision), which the program writes as {ANNOTATION_MODEL_REVISION}.",
                server.urn,
            )
            continue
        served = _served_revision(server)
        if served is not None and served != revision:
            report(
                f"{server.display}{which} is annotated {ANNOTATION_MODEL_REVISION}={revision} but "
                f"vLLM is started with --revision {served!r}: the pinned weights are not the ones "
                "served. Start it with the annotated revision.",
                server.urn,
            )


def _served_revision(server: Workload) -> str | None:
    """The --revision argument of the model container, when it has one (and it is known)."""
    container = server.slice_container()
    # The container runs command + args, in that order.
    arguments = as_list(container.spec.get("command")) + as_list(container.spec.get("args")) if container else []
    for index, argument in enumerate(arguments):
        if not isinstance(argument, str):
            continue
        if argument.startswith("--revision="):
            return argument.partition("=")[2]
        if argument == "--revision" and index + 1 < len(arguments) and isinstance(arguments[index + 1], str):
            value: str = arguments[index + 1]
            return value
    return None


POLICY = StackValidationPolicy(
    name="model-revision-pinned",
    description=(
        "In a production stack (SksCluster label environment in productionEnvironments), every "
        "model server's weights are pinned to a Hugging Face commit (sks-mig.io/model-revision, "
        "40 hex digits) and vLLM serves that revision: an unpinned model follows its main branch, "
        "so replicas and restarts may serve different weights."
    ),
    validate=validate_model_revision_pinned,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=config_schema(),
)
