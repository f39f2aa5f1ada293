"""Which stacks are production: those whose SksCluster carries an `environment` label listed in a
policy's `productionEnvironments` setting (default ["prod"]; the program labels the cluster with
the stack's sks-mig:environment)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from names import EXOSCALE_SKS_CLUSTER
from pulumi_policy import PolicyConfigSchema, PolicyResource, StackValidationArgs
from wire import as_dict, config_list, plain

DEFAULT_PRODUCTION_ENVIRONMENTS = ["prod"]


def config_schema() -> PolicyConfigSchema:
    """The `productionEnvironments` setting, for each policy that tells production apart (policy
    config is per policy)."""
    return PolicyConfigSchema(
        properties={
            "productionEnvironments": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(DEFAULT_PRODUCTION_ENVIRONMENTS),
                "description": "Values of the SksCluster environment label that mean production.",
            }
        }
    )


@dataclass(frozen=True)
class ProductionCluster:
    resource: PolicyResource
    props: dict[str, Any]
    environment: str


def production_clusters(args: StackValidationArgs) -> list[ProductionCluster]:
    """The stack's SksClusters labelled with a production environment (per the policy's config)."""
    config: Mapping[str, Any] = args.get_config()
    environments = config_list(config, "productionEnvironments", DEFAULT_PRODUCTION_ENVIRONMENTS)
    found = []
    for resource in args.resources:
        if resource.resource_type != EXOSCALE_SKS_CLUSTER:
            continue
        props = plain(resource.props)
        environment = as_dict(props.get("labels")).get("environment")
        if isinstance(environment, str) and environment in environments:
            found.append(ProductionCluster(resource, props, environment))
    return found
