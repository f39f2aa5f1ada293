"""What the provider tells the user besides errors: warnings, and the texts of the notable ones.

`pulumi.dynamic`'s `DiffResult` carries no message, so a replacement is explained by a warning.
In the dynamic provider host no engine is connected, so `pulumi.log.warn` writes `warning: ...` to
the host's stderr (pulumi/log.py); the CLI shows a dynamic provider's stderr as diagnostics
(pulumi/pulumi sdk/go/common/resource/plugin/plugin.go, `newPlugin`: stderr of a dynamic plugin
binary goes to `ctx.Diag.Infoerrf`). The package logger gets the same text (tests, embedding).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi

from components.mig_nodepool.spec import CREATE_FIRST, REPLACE_KEYS, _contains_unknown, pool_name_of, strategy_of

log = logging.getLogger(__name__)


def warn(message: str) -> None:
    log.warning(message)
    with contextlib.suppress(Exception):  # a warning must never break the call that emits it
        pulumi.log.warn(message)


def show(value: Any) -> str:
    if _contains_unknown(value):
        return "(known after apply)"
    return json.dumps(value, sort_keys=True, default=str) if value else "none"


def replacement(nodepool_id: str, olds: Mapping[str, Any], news: Mapping[str, Any], replaces: Sequence[str]) -> str:
    """Why the nodepool is replaced, what happens to its GPU nodes and servers, and in which order."""
    changes = "; ".join(f"{key} changes from {show(olds.get(key))} to {show(news.get(key))}" for key in replaces)
    text = f"MIG nodepool {olds.get('name')!r} ({nodepool_id}) is REPLACED: {changes}. "
    if "nvidia_mig_profiles" in replaces:
        text += (
            "The MIG profile is set when a GPU node is created and cannot be changed on it, so a MIG "
            "change recycles the GPU nodes: "
        )
    text += (
        "the GPU nodes are recreated, and the model servers on them restart on the new nodes "
        "(new slices, new memory fit). "
    )
    if strategy_of(news) == CREATE_FIRST:
        known = not any(_contains_unknown(news.get(key)) for key in (*REPLACE_KEYS, "name"))
        new_name = repr(pool_name_of(news)) if known else "named once its inputs are known"
        text += (
            f"replace_strategy {CREATE_FIRST}: the new nodepool ({new_name}) is created first "
            "and the old one deleted once it is up; the GPU quota must hold both pools meanwhile."
        )
    else:
        text += (
            "replace_strategy deleteFirst: the old nodepool is deleted first, so its GPU slices are "
            "unavailable until the new GPU nodes have joined (set createFirst where the GPU quota "
            "holds two pools)."
        )
    return text


def scale_down(nodepool_id: str, name: str, size: Any, target: Any) -> str:
    """What a scale-down does, said at preview (diff), before any node is removed."""
    return (
        f"MIG nodepool {name!r} ({nodepool_id}) scales down from {size} to {target}: the provider evicts "
        "the members being removed (instances not running first, then the newest) through the "
        "nodepool's evict endpoint. Eviction does not drain Kubernetes: the model servers on those "
        "GPU nodes are stopped with them and restart where a slice is free (else they stay Pending). "
        "To move them gracefully, drain those GPU nodes first (kubectl get nodes "
        "--sort-by=.metadata.creationTimestamp; kubectl drain NODE)."
    )
