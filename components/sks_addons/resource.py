"""The SKS add-on as a program declares it: `SksAddon` and its inputs, `SksAddonArgs`."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

import pulumi
from pulumi import dynamic

from components.mig_nodepool.spec import check_arg_names
from components.sks_addons.provider import SksAddonProvider
from components.sks_addons.spec import (
    INPUT_KEYS,
    OUTPUT_KEYS,
    REQUIRED_KEYS,
    SKS_ADDON_MODULE,
    SKS_ADDON_NAME,
    api_addons,
    with_defaults,
)


class SksAddonArgs(TypedDict):
    """Inputs of an ``SksAddon`` (plain values or Pulumi Inputs)."""

    zone: pulumi.Input[str]
    cluster_id: pulumi.Input[str]
    addon: pulumi.Input[str]
    """One of the API's add-ons (`update-sks-cluster` body, `addons` enum), e.g. "karpenter"."""
    timeout_seconds: NotRequired[pulumi.Input[int]]
    """How long create, update and delete may wait for the cluster and the API (default 1200)."""


class SksAddon(dynamic.Resource, module=SKS_ADDON_MODULE, name=SKS_ADDON_NAME):
    """An add-on enabled on an existing SKS cluster through the Exoscale API, whether the cluster
    is new or not (the bridged `SksCluster` cannot add one later: see the package docstring).

    Type token ``pulumi-python:dynamic/sks:SksAddon``; the id is ``<cluster id>/<add-on>``.
    Deleting it removes the add-on from the cluster.
    """

    zone: pulumi.Output[str]
    cluster_id: pulumi.Output[str]
    addon: pulumi.Output[str]
    timeout_seconds: pulumi.Output[int]
    enabled: pulumi.Output[bool]
    """Whether the API lists the add-on on the cluster (true after create; a refresh may find it false)."""
    addons: pulumi.Output[list[str]]
    """All the cluster's add-ons, as last read."""

    def __init__(self, resource_name: str, args: SksAddonArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_arg_names("SksAddon", resource_name, args, INPUT_KEYS, REQUIRED_KEYS)
        addon = args["addon"]
        if isinstance(addon, str) and addon not in api_addons():
            # A refusal, not a traceback: the program stops with this message.
            raise pulumi.RunError(
                f"SksAddon {resource_name!r}: addon {addon!r} is not an SKS add-on; "
                f"the API knows {', '.join(api_addons())}"
            )
        props: dict[str, Any] = with_defaults({key: args.get(key) for key in INPUT_KEYS})
        for key in OUTPUT_KEYS:
            props[key] = None
        super().__init__(SksAddonProvider(), resource_name, props, opts)
