"""An SKS cluster's add-ons through the Exoscale API: read the cluster, wait until it is quiet,
PUT a new add-on set and wait until it applies, every wait bounded by the resource's timeout.

It drives the MIG nodepool's API client (`components.mig_nodepool.api_client.Api`: retries 5xx,
429 and connection errors with backoff; 4xx fails at once quoting the API; its operation wait and
pause, bounded by the deadline). A PUT of the whole add-on set is idempotent, so retrying it is
safe. The client raises `MigNodepoolError`; the provider reports it as `SksAddonError`.

How the update is waited for follows terraform-provider-exoscale (v0.66.0,
exoscale/resource_exoscale_sks_cluster.go, `resourceSKSClusterUpdate`): the operation is awaited,
and because "due to a bug it's possible for the update operation to remain in pending state
forever", the cluster's state is watched too: once it has been `updating` and is no longer, the
update is done (`waitForClusterUpdateToSucceed`). Here that second way also needs the add-on set
to read back as asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.mig_nodepool.api_client import Api
from components.mig_nodepool.errors import NotFound
from components.sks_addons.errors import SksAddonError
from components.sks_addons.spec import CLUSTER_FAILED, CLUSTER_SETTLING


def addons_of(cluster: Mapping[str, Any]) -> list[str]:
    """The cluster's add-ons as the API lists them (absent when it has none)."""
    return [str(addon) for addon in cluster.get("addons") or []]


def read_cluster(api: Api, what: str, cluster_id: str) -> dict[str, Any] | None:
    """The cluster (get-sks-cluster), or None once the API answers 404."""
    try:
        cluster: dict[str, Any] = api.call(
            f"{what}: reading SKS cluster {cluster_id}", "get_sks_cluster", id=cluster_id
        )
    except NotFound:
        return None
    return cluster


def wait_quiet(api: Api, what: str, cluster_id: str, cluster: dict[str, Any], advice: str) -> dict[str, Any]:
    """Wait while the cluster is in a transitional state (creating, updating, upgrading, ...), so a
    PUT does not meet another operation; fail if it is in `error` or disappears."""
    while (state := cluster.get("state")) in CLUSTER_SETTLING:
        api.pause(what, f"SKS cluster {cluster_id} to leave state {state!r}", advice)
        found = read_cluster(api, what, cluster_id)
        if found is None:
            raise SksAddonError(f"{what}: SKS cluster {cluster_id} disappeared (HTTP 404)")
        cluster = found
    if state in CLUSTER_FAILED:
        raise SksAddonError(
            f"{what}: SKS cluster {cluster_id} is in state {state!r}; inspect it (exo compute sks show "
            f"{cluster_id}) and rerun once it is running. {advice}"
        )
    return cluster


def put_addons(
    api: Api, what: str, cluster_id: str, addons: list[str], addon: str, advice: str
) -> dict[str, Any] | None:
    """PUT the cluster's whole add-on set and wait until it applies; the cluster as it then reads,
    or None if it disappeared meanwhile (404)."""
    wanted = addon in addons
    try:
        operation: Mapping[str, Any] = api.call(
            what, "update_sks_cluster", inputs={"addons": list(addons)}, id=cluster_id, addons=list(addons)
        )
    except NotFound:
        return None
    seen_updating = gone = False

    def applied() -> bool:
        """Whether the cluster shows the update done while the operation is still pending (see
        the module docstring), or is gone."""
        nonlocal seen_updating, gone
        cluster = read_cluster(api, what, cluster_id)
        if cluster is None:
            gone = True
            return True
        if cluster.get("state") == "updating":
            seen_updating = True
            return False
        return seen_updating and (addon in addons_of(cluster)) == wanted

    api.wait_operation(
        what,
        operation,
        cluster_id,
        lambda _id: advice,
        subject=lambda _id: f"SKS cluster {cluster_id}",
        done=applied,
    )
    if gone:
        return None
    cluster = read_cluster(api, what, cluster_id)
    return None if cluster is None else wait_quiet(api, what, cluster_id, cluster, advice)
