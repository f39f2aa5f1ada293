"""Resizing a nodepool: up through `scale-sks-nodepool`, down by evicting the members removed.

Scale-down evicts. `PUT /sks-cluster/{id}/nodepool/{sks-nodepool-id}:evict` (operationId
`evict-sks-nodepool-members`, body `{"instances": [uuid, ...]}`) "evicts the specified Compute
instances member from the Nodepool, shrinking it to <current nodepool size> - <# evicted
members>" (its description in the OpenAPI document of the installed `exoscale` package): evicting
N members IS the scale-down by N, and the provider, not the SKS manager, picks which nodes go. The
Exoscale CLI says the same (`exo compute sks nodepool scale`: "In case of a scale-down, operators
should use the 'exo compute sks nodepool evict' command, allowing them to specify which specific
Nodes should be evicted"; exoscale/cli cmd/compute/sks/sks_nodepool_scale.go @dafc113). The
Terraform provider scales down with `scale` only (resource_exoscale_sks_nodepool.go @b692022).

Which members: the nodepool's instance pool lists them (`GET /instance-pool/{id}`, `instances`),
each instance's state and creation time come from `GET /instance/{id}`. Evicted first: instances
that are not running (they serve nothing), then the newest (the oldest nodes keep their pulled
images and the pods that settled on them), ties by id: deterministic, and said at preview.

Eviction does not drain Kubernetes: "Kubernetes Nodes should be drained from their workload prior
to being evicted from their Nodepool, e.g. using kubectl drain" (exoscale/cli
cmd/compute/sks/sks_nodepool_evict.go @dafc113). The provider holds no Kubernetes credentials (a
dynamic provider keeps no secrets beyond the Exoscale key), so the preview warns and names the rule
(`notices.scale_down`) and the update logs the nodes it evicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from components.mig_nodepool import notices
from components.mig_nodepool.api_client import Api
from components.mig_nodepool.errors import MigNodepoolError
from components.mig_nodepool.spec import _Spec
from components.mig_nodepool.states import READY_STATE


def eviction_order(members: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Members in the order they are evicted: not running first, then newest first, then by id."""

    def key(member: Mapping[str, Any]) -> tuple[bool, float, str]:
        return (member.get("state") == READY_STATE, -_created(member), str(member.get("id")))

    return sorted(members, key=key)


def resize(api: Api, spec: _Spec, nodepool_id: str, nodepool: Mapping[str, Any], advice: str) -> None:
    """Bring the nodepool from the size the API reports to `spec.size`."""
    size = int(nodepool.get("size") or 0)
    target = spec.size
    label = f"nodepool {nodepool_id} ({spec.pool_name!r})"
    if target == size:
        return
    if target > size:
        what = f"scaling {label} up from {size} to {target}"
        operation = api.call(
            what,
            "scale_sks_nodepool",
            inputs={"size": target},
            id=spec.cluster_id,
            sks_nodepool_id=nodepool_id,
            size=target,
        )
        api.wait_operation(what, operation, nodepool_id, lambda _np: advice)
        return

    count = size - target
    what = f"scaling {label} down from {size} to {target}"
    pool_id = (nodepool.get("instance-pool") or {}).get("id")
    if not pool_id:
        raise MigNodepoolError(f"{what}: the API reports no instance pool, so no member can be chosen. {advice}")
    members = api.pool_members(what, str(pool_id))
    chosen = eviction_order(members)[:count]
    if len(chosen) < count:
        raise MigNodepoolError(
            f"{what}: instance pool {pool_id} lists {len(members)} member(s), fewer than the {count} to "
            f"evict; rerun once the pool has settled. {advice}"
        )
    evicted = ", ".join(f"{m.get('name') or 'unnamed'} ({m.get('id')}, {m.get('state')})" for m in chosen)
    notices.warn(f"{what}: evicting {count} member(s): {evicted}")
    operation = api.evict_members(
        what, spec.cluster_id, nodepool_id, [str(m["id"]) for m in chosen], inputs={"size": target}
    )
    if operation is not None:
        api.wait_operation(what, operation, nodepool_id, lambda _np: advice)


def _created(member: Mapping[str, Any]) -> float:
    """The member's creation time as a timestamp; 0 (oldest) when the API gives none."""
    raw = member.get("created-at")
    if not isinstance(raw, str):
        return 0.0
    try:
        return datetime.fromisoformat(raw).timestamp()
    except ValueError:
        return 0.0
