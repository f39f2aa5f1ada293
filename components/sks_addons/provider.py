"""The SKS add-on's dynamic provider: what the Pulumi engine calls (through the dynamic provider
host) to check, diff, create, read, update and delete "add-on X is enabled on cluster C".

* `check` and `diff` never call the API (a preview makes no API call).
* `create` reads the cluster; if the add-on is missing it waits for the cluster to be quiet, PUTs
  `addons` = the cluster's add-ons plus this one (`update-sks-cluster`), waits for the operation
  (bounded by `timeout_seconds`), then reads the cluster back and confirms the add-on is listed.
  An add-on already enabled is adopted without any PUT. Karpenter on a cluster whose service level
  is not `pro` is refused before any PUT.
* `read` (refresh) reports whether the add-on is still enabled (`enabled`), and warns if not; a
  cluster gone (404) drops the resource from the state.
* `diff` replaces on `zone`, `cluster_id` and `addon` (delete first: a replacement on the same
  cluster must not end with the old resource removing what the new one enabled); an add-on that
  refresh found disabled is an in-place change that `update` repairs.
* `delete` PUTs the cluster's add-ons minus this one and waits; a cluster already gone (404) or
  being deleted, or an add-on already absent, needs no request.

Credentials never reach the serialized provider, exactly as for the MIG nodepool's provider (both
inherit `components.mig_nodepool.api_provider.ExoscaleApiProvider`): `configure` keeps the stack
config's `exoscale:key` / `exoscale:secret` in a module-level weak map (not on the instance);
otherwise `EXOSCALE_API_KEY` / `EXOSCALE_API_SECRET` are read at call time. `EXOSCALE_API_ENDPOINT`
overrides the zone's endpoint `https://api-{zone}.exoscale.com/v2`. The instance has no state, so
its dill pickle is a reference to this class by module and name; importing this module has no side
effects (the dynamic provider host imports it to unpickle the provider).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi import dynamic

from components.mig_nodepool import notices
from components.mig_nodepool.api_provider import ExoscaleApiProvider
from components.mig_nodepool.errors import MigNodepoolError
from components.mig_nodepool.spec import int_if_integral
from components.sks_addons.cluster_api import addons_of, put_addons, read_cluster, wait_quiet
from components.sks_addons.errors import SksAddonError
from components.sks_addons.spec import (
    INPUT_KEYS,
    REPLACE_KEYS,
    REQUIRED_LEVEL,
    differs,
    problems,
    timeout_of,
    with_defaults,
)


def addon_id(cluster_id: str, addon: str) -> str:
    """The resource id: one add-on on one cluster."""
    return f"{cluster_id}/{addon}"


class SksAddonProvider(ExoscaleApiProvider):
    """Dynamic provider for :class:`SksAddon`. Holds no state: pickles to a class reference
    (credentials, configure and the API of a call: the MIG nodepool's `ExoscaleApiProvider`)."""

    # -- check / diff: offline ----------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs = with_defaults(news)
        return dynamic.CheckResult(inputs, [dynamic.CheckFailure(key, reason) for key, reason in problems(inputs)])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in INPUT_KEYS if differs(key, olds, news)]
        replaces = [key for key in changed if key in REPLACE_KEYS]
        drifted = olds.get("enabled") is False  # a refresh found the add-on disabled
        return dynamic.DiffResult(
            changes=bool(changed) or drifted,
            replaces=replaces,
            delete_before_replace=bool(replaces),
        )

    # -- create / read / update / delete --------------------------------------------------------

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        with _as_addon_error():
            outs = self._ensure_enabled(props)
        return dynamic.CreateResult(addon_id(str(props["cluster_id"]), str(props["addon"])), outs)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        with _as_addon_error():
            return dynamic.UpdateResult(self._ensure_enabled(news))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        cluster_id, addon = str(props.get("cluster_id", "")), str(props.get("addon", ""))
        with _as_addon_error():
            api = self._api(str(props.get("zone", "")), timeout_of(props))
            cluster = read_cluster(api, f"reading add-on {addon} of SKS cluster {cluster_id}", cluster_id)
        if cluster is None:
            return dynamic.ReadResult("", {})  # the cluster is gone, and its add-ons with it
        outs = _outputs(props, cluster)
        if not outs["enabled"]:
            notices.warn(
                f"SKS add-on {addon!r} is no longer enabled on cluster {cluster_id} (its add-ons: "
                f"{', '.join(outs['addons']) or 'none'}); `pulumi up` enables it again."
            )
        return dynamic.ReadResult(id_, outs, {key: outs[key] for key in INPUT_KEYS})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        cluster_id, addon = str(props.get("cluster_id", "")), str(props.get("addon", ""))
        what = f"removing add-on {addon} from SKS cluster {cluster_id}"
        advice = f"Add-on {addon} may still be enabled on cluster {cluster_id}; rerun to retry the delete."
        with _as_addon_error():
            api = self._api(str(props.get("zone", "")), timeout_of(props))
            cluster = read_cluster(api, what, cluster_id)
            if cluster is None or cluster.get("state") == "deleting":
                return  # the add-on goes with its cluster
            if addon not in addons_of(cluster):
                return
            cluster = wait_quiet(api, what, cluster_id, cluster, advice)
            remaining = [name for name in addons_of(cluster) if name != addon]
            cluster = put_addons(api, what, cluster_id, remaining, addon, advice)
            if cluster is not None and addon in addons_of(cluster):
                raise SksAddonError(
                    f"{what}: the API accepted the update, but the cluster still lists {addon} "
                    f"(add-ons: {', '.join(addons_of(cluster))}). {advice}"
                )

    # -- helpers ------------------------------------------------------------------------------

    def _ensure_enabled(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """The add-on enabled on the cluster (a PUT only if it is missing); the outputs."""
        zone, cluster_id, addon = str(props["zone"]), str(props["cluster_id"]), str(props["addon"])
        what = f"enabling add-on {addon} on SKS cluster {cluster_id} (zone {zone})"
        advice = f"Inspect the cluster (exo compute sks show {cluster_id} -z {zone}) and rerun `pulumi up`."
        api = self._api(zone, timeout_of(props))
        cluster = read_cluster(api, what, cluster_id)
        if cluster is None:
            raise SksAddonError(f"{what}: cluster_id {cluster_id!r} was not found in zone {zone!r}")
        needed = REQUIRED_LEVEL.get(addon)
        if needed and cluster.get("level") != needed and addon not in addons_of(cluster):
            raise SksAddonError(
                f"{what}: add-on {addon} needs the {needed!r} service level, and cluster {cluster_id} "
                f"is {cluster.get('level')!r} (Exoscale SKS docs, how-to/karpenter). Nothing was changed."
            )
        if addon not in addons_of(cluster):
            cluster = wait_quiet(api, what, cluster_id, cluster, advice)
        if addon not in addons_of(cluster):
            wanted = [*addons_of(cluster), addon]
            found = put_addons(api, what, cluster_id, wanted, addon, advice)
            if found is None:
                raise SksAddonError(f"{what}: cluster {cluster_id} disappeared (HTTP 404) during the update")
            cluster = found
            if addon not in addons_of(cluster):
                raise SksAddonError(
                    f"{what}: the API accepted the update, but cluster {cluster_id} does not list {addon} "
                    f"(add-ons: {', '.join(addons_of(cluster)) or 'none'}). {advice}"
                )
        return _outputs(props, cluster)


def _outputs(props: Mapping[str, Any], cluster: Mapping[str, Any]) -> dict[str, Any]:
    addons = addons_of(cluster)
    return {
        "zone": props.get("zone"),
        "cluster_id": props.get("cluster_id"),
        "addon": props.get("addon"),
        "timeout_seconds": int_if_integral(timeout_of(props)),
        "enabled": props.get("addon") in addons,
        "addons": addons,
    }


@contextlib.contextmanager
def _as_addon_error() -> Iterator[None]:
    """The API client's errors (which already name the call, the cluster id and quote the API),
    and the shared provider's (credentials, zone), as this resource's own error type."""
    try:
        yield
    except MigNodepoolError as exc:
        raise SksAddonError(str(exc)) from None
