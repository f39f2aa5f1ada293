"""production-hardening (advisory): a production stack runs the pro control plane and protects the
cluster and the MIG nodepool.
"""

from __future__ import annotations

from names import MIG_NODEPOOL
from production_stacks import config_schema, production_clusters
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy
from wire import Unknown, describe


def validate_production_hardening(args: StackValidationArgs, report: ReportViolation) -> None:
    """Production clusters run the pro control plane, and the cluster and GPU nodes are protected."""
    production = production_clusters(args)
    for cluster in production:
        resource, props, environment = cluster.resource, cluster.props, cluster.environment
        name = describe(resource.resource_type, resource.name)
        level = props.get("serviceLevel")
        if level != "pro" and not isinstance(level, Unknown):
            report(
                f"{name} is labelled environment={environment} but runs the {level or 'starter'!r} "
                "control plane, which has no SLA and no highly available control plane; set "
                "cluster.serviceLevel: pro.",
                resource.urn,
            )
        if not resource.opts.protect:
            report(
                f"{name} (environment={environment}) is not protected: one mistaken `pulumi "
                "destroy` or replacement deletes the cluster and everything on it; set "
                "protect=True (the program does so for environment prod).",
                resource.urn,
            )
    if not production:
        return
    for resource in args.resources:
        if resource.resource_type == MIG_NODEPOOL and not resource.opts.protect:
            report(
                f"MIG nodepool '{resource.name}' of a production stack is not protected: a "
                "replacement would delete every GPU node, and every model server with it; set "
                "protect=True.",
                resource.urn,
            )


POLICY = StackValidationPolicy(
    name="production-hardening",
    description=(
        "A production stack (SksCluster label environment in productionEnvironments) runs the "
        "pro control plane, and protects the cluster and the MIG nodepool from deletion. "
        "Advisory by default."
    ),
    validate=validate_production_hardening,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=config_schema(),
)
