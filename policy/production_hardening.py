"""production-hardening (advisory): a production stack runs the pro control plane and protects the
cluster and the MIG nodepool.
"""

from __future__ import annotations

from names import EXOSCALE_SKS_CLUSTER, MIG_NODEPOOL
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from wire import Unknown, as_dict, config_list, describe, plain


def validate_production_hardening(args: StackValidationArgs, report: ReportViolation) -> None:
    """Production clusters run the pro control plane, and the cluster and GPU nodes are protected."""
    environments = config_list(args.get_config(), "productionEnvironments", ["prod"])
    production = []
    for resource in args.resources:
        if resource.resource_type != EXOSCALE_SKS_CLUSTER:
            continue
        props = plain(resource.props)
        environment = as_dict(props.get("labels")).get("environment")
        if isinstance(environment, str) and environment in environments:
            production.append((resource, props, environment))
    for resource, props, environment in production:
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
    config_schema=PolicyConfigSchema(
        properties={
            "productionEnvironments": {
                "type": "array",
                "items": {"type": "string"},
                "default": ["prod"],
                "description": "Values of the SksCluster environment label that mean production.",
            }
        }
    ),
)
