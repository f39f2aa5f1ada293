"""The MIG nodepool as a program declares it: `MigNodepool` and its inputs, `MigNodepoolArgs`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import pulumi
from pulumi import dynamic

import contract
from components.mig_nodepool.provider import MigNodepoolProvider
from components.mig_nodepool.spec import INPUT_KEYS, OUTPUT_KEYS, REQUIRED_KEYS, check_arg_names, with_defaults


class MigNodepoolArgs(TypedDict):
    """Inputs of a ``MigNodepool`` (plain values or Pulumi Inputs)."""

    zone: pulumi.Input[str]
    cluster_id: pulumi.Input[str]
    name: pulumi.Input[str]
    instance_type: pulumi.Input[str]
    size: pulumi.Input[int]
    disk_size: NotRequired[pulumi.Input[int]]
    nvidia_mig_profiles: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    labels: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    taints: NotRequired[pulumi.Input[Mapping[str, pulumi.Input[str]]]]
    security_group_ids: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    anti_affinity_group_ids: NotRequired[pulumi.Input[Sequence[pulumi.Input[str]]]]
    description: NotRequired[pulumi.Input[str]]
    timeout_seconds: NotRequired[pulumi.Input[int]]
    replace_strategy: NotRequired[pulumi.Input[str]]
    """How a change of zone, cluster, instance type or MIG profiles replaces the pool: "deleteFirst"
    (default: GPU quota rarely holds two pools) or "createFirst" (no gap in GPU capacity; the new pool
    is named `<name>-<8 hex digits>`). Never sent to the API, never itself a cause of replacement."""


class MigNodepool(dynamic.Resource, module=contract.MIG_NODEPOOL_MODULE, name=contract.MIG_NODEPOOL_NAME):
    """An SKS nodepool whose GPUs are partitioned with NVIDIA MIG.

    Type token ``pulumi-python:dynamic/nodepool:MigNodepool`` (`contract.MIG_NODEPOOL`); the
    resource id is the nodepool id.
    """

    nodepool_id: pulumi.Output[str]
    state: pulumi.Output[str]
    instance_pool_id: pulumi.Output[str]
    """The Exoscale instance pool behind the nodepool (what the CCM's
    `service.beta.kubernetes.io/exoscale-loadbalancer-service-instancepool-id` annotation names)."""
    nodepool_name: pulumi.Output[str]
    """The pool's name at the API: `name`, or `name-<8 hex digits>` if created with createFirst."""
    instance_type_id: pulumi.Output[str]
    zone: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    name: pulumi.Output[str]
    instance_type: pulumi.Output[str]
    size: pulumi.Output[int]
    disk_size: pulumi.Output[int]
    nvidia_mig_profiles: pulumi.Output[dict[str, str]]
    labels: pulumi.Output[dict[str, str]]
    taints: pulumi.Output[dict[str, str]]
    security_group_ids: pulumi.Output[list[str]]
    anti_affinity_group_ids: pulumi.Output[list[str]]
    description: pulumi.Output[str]
    timeout_seconds: pulumi.Output[int]
    replace_strategy: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: MigNodepoolArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        check_arg_names("MigNodepool", resource_name, args, INPUT_KEYS, REQUIRED_KEYS)
        props: dict[str, Any] = with_defaults({key: args.get(key) for key in INPUT_KEYS})
        for key in OUTPUT_KEYS:
            props[key] = None
        super().__init__(MigNodepoolProvider(), resource_name, props, opts)
