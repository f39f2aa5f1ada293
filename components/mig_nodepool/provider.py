"""The MIG nodepool's dynamic provider: what the Pulumi engine calls (through the dynamic provider
host) to check, diff, create, read, update and delete an SKS nodepool with NVIDIA MIG profiles.

* `check` validates the inputs offline; `check` and `diff` never call the API, so a preview makes
  no API call at all.
* `create` resolves `family.size` to the API's instance-type id, creates the nodepool, waits for the
  asynchronous operation (bounded by `timeout_seconds`) and returns what the API reports.
* `read` (refresh) reports drift; a nodepool deleted outside Pulumi reads back with an empty id.
* `diff` replaces on `zone`, `cluster_id` and `instance_type` (delete first: GPU quota and the
  nodepool name are both taken by the old pool); everything else is updated in place: `size`
  through `scale-sks-nodepool`, the rest through `update-sks-nodepool` (whose body accepts `name`,
  `disk-size`, labels, taints, description, security and anti-affinity groups and MIG profiles).
  A MIG change logs a warning: it recycles the GPU nodes.
* An operation that fails or does not finish in time names the nodepool id.

Credentials never reach the serialized provider: they are read in `configure` (stack config
`exoscale:key` / `exoscale:secret`, kept in a module-level weak map, not on the instance) or from
`EXOSCALE_API_KEY` / `EXOSCALE_API_SECRET` at call time. `EXOSCALE_API_ENDPOINT` (full URL with
`/v2`) overrides the zone's public endpoint `https://api-{zone}.exoscale.com/v2`.

How the engine finds this class again: `pulumi.dynamic.Resource` pickles the provider instance
with dill into the resource's `__provider` property (pulumi/dynamic/dynamic.py,
`serialize_provider`), and the dynamic provider host (`python -u -m pulumi.dynamic`, started in
the program's directory) unpickles it from the properties of each call (pulumi/dynamic/__main__.py,
`get_provider`). The instance has no state, so the pickle is only a reference to this class by its
`__module__` and name: new state names `components.mig_nodepool.provider`; state written before
the package existed names `components.mig_nodepool_provider`, which re-exports this class and must
stay (Read and Delete unpickle the `__provider` recorded in the state's outputs).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import weakref
from typing import Any

import pulumi
from pulumi import dynamic

from components.mig_nodepool.api_client import _Api, _new_client, nodepool_named
from components.mig_nodepool.errors import MigNodepoolError, _NotFound
from components.mig_nodepool.settings import CONFIG_KEY, CONFIG_SECRET, ENV_ENDPOINT, ENV_KEY, ENV_SECRET
from components.mig_nodepool.spec import (
    INPUT_KEYS,
    REPLACE_KEYS,
    UPDATE_KWARGS,
    ZONE_RE,
    _Spec,
    _validate,
    differs,
    timeout_of,
    with_defaults,
)

log = logging.getLogger(__name__)

# Credentials from `configure`, keyed weakly by provider instance: never an attribute of the
# instance, so they cannot end up in a pickle of it.
_CONFIGURED: weakref.WeakKeyDictionary[MigNodepoolProvider, tuple[str, str]] = weakref.WeakKeyDictionary()


class MigNodepoolProvider(dynamic.ResourceProvider):
    """Dynamic provider for :class:`MigNodepool`. Holds no state: pickles to a class reference."""

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        pass

    def configure(self, req: dynamic.ConfigureRequest) -> None:
        key = req.config.get(CONFIG_KEY)
        secret = req.config.get(CONFIG_SECRET)
        if key and secret:
            _CONFIGURED[self] = (str(key), str(secret))

    # -- check / diff: offline ----------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs = with_defaults(news)
        failures = [dynamic.CheckFailure(prop, reason) for prop, reason in _validate(inputs)]
        return dynamic.CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in INPUT_KEYS if differs(key, olds, news)]
        replaces = [key for key in changed if key in REPLACE_KEYS]
        if "nvidia_mig_profiles" in changed and not replaces:
            _warn(
                f"MIG nodepool {olds.get('name')!r} ({_id}): nvidia_mig_profiles changes from "
                f"{_show(olds.get('nvidia_mig_profiles'))} to {_show(news.get('nvidia_mig_profiles'))}. "
                "A MIG change recycles the GPU nodes: the new MIG layout only applies to nodes "
                "provisioned with it, so expect the GPU nodes and the model servers on them to be "
                "replaced, with the pool's GPU slices unavailable while that happens."
            )
        return dynamic.DiffResult(
            changes=bool(changed),
            replaces=replaces,
            delete_before_replace=bool(replaces),
        )

    # -- create / read / update / delete --------------------------------------------------------

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        spec = _Spec.from_props(props)
        api = self._api(spec.zone, spec.timeout_seconds)
        where = f"cluster {spec.cluster_id} (zone {spec.zone})"
        try:
            cluster = api.call(f"reading SKS {where}", "get_sks_cluster", id=spec.cluster_id)
        except _NotFound:
            raise MigNodepoolError(
                f"creating nodepool {spec.name!r}: cluster_id {spec.cluster_id!r} was not found in zone {spec.zone!r}"
            ) from None
        existing = nodepool_named(cluster, spec.name)
        if existing is not None:
            raise MigNodepoolError(
                f"creating nodepool {spec.name!r}: {where} already has a nodepool with that name "
                f"(id {existing.get('id')}), which Pulumi does not manage. Delete it or choose "
                "another name."
            )
        type_id = api.resolve_instance_type(spec.instance_type)
        body = spec.create_kwargs(type_id)
        what = f"creating nodepool {spec.name!r} in {where}"
        nodepool_id, operation = api.create_nodepool(what, spec, body)

        def orphan(np_id: str | None) -> str:
            return (
                f"Nodepool {np_id or '(id unknown)'} exists but is NOT recorded in the Pulumi state: "
                f"inspect it (exo compute sks nodepool show {spec.cluster_id} {np_id} -z {spec.zone}), "
                "then delete it or fix the cause; a rerun refuses to create a second nodepool named "
                f"{spec.name!r} while it exists."
            )

        if operation is not None:
            nodepool_id = api.wait_operation(what, operation, nodepool_id, orphan) or nodepool_id
        if nodepool_id is None:
            # The operation succeeded without naming its resource: find the pool by name.
            cluster = api.call(f"reading SKS {where}", "get_sks_cluster", id=spec.cluster_id)
            found = nodepool_named(cluster, spec.name)
            if found is None:
                raise MigNodepoolError(f"{what}: the operation succeeded but no nodepool named {spec.name!r} exists")
            nodepool_id = str(found["id"])
        nodepool = api.wait_settled(what, spec.cluster_id, nodepool_id, orphan(nodepool_id))
        if nodepool.get("state") == "error":
            raise MigNodepoolError(f"{what}: nodepool {nodepool_id} ended in state 'error'. {orphan(nodepool_id)}")
        return dynamic.CreateResult(nodepool_id, api.outputs(props, nodepool))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        zone, cluster_id = str(props.get("zone", "")), str(props.get("cluster_id", ""))
        api = self._api(zone, timeout_of(props))
        try:
            nodepool = api.call(
                f"reading nodepool {id_} of cluster {cluster_id}",
                "get_sks_nodepool",
                id=cluster_id,
                sks_nodepool_id=id_,
            )
        except _NotFound:
            # Deleted outside Pulumi: an empty id drops the resource from the state.
            return dynamic.ReadResult("", {})
        outs = api.outputs(props, nodepool)
        inputs = {key: outs[key] for key in INPUT_KEYS}
        return dynamic.ReadResult(id_, outs, inputs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        spec = _Spec.from_props(news)
        api = self._api(spec.zone, spec.timeout_seconds)
        what = f"updating nodepool {_id} ({spec.name!r}) of cluster {spec.cluster_id}"
        partial = (
            f"Nodepool {_id} may be partly updated; run `pulumi refresh` to record its real state "
            "and rerun `pulumi up`."
        )
        kwargs: dict[str, Any] = {}
        for key, kwarg in UPDATE_KWARGS.items():
            if differs(key, olds, news):
                kwargs[kwarg] = spec.api_value(key)
        if kwargs:
            operation = api.call(
                what,
                "update_sks_nodepool",
                inputs=spec.sent_inputs(kwargs),
                id=spec.cluster_id,
                sks_nodepool_id=_id,
                **kwargs,
            )
            api.wait_operation(what, operation, _id, lambda _np: partial)
        if differs("size", olds, news):
            scaling = f"scaling nodepool {_id} ({spec.name!r}) to {spec.size}"
            operation = api.call(
                scaling,
                "scale_sks_nodepool",
                inputs={"size": spec.size},
                id=spec.cluster_id,
                sks_nodepool_id=_id,
                size=spec.size,
            )
            api.wait_operation(scaling, operation, _id, lambda _np: partial)
        nodepool = api.wait_settled(what, spec.cluster_id, _id, partial)
        return dynamic.UpdateResult(api.outputs(news, nodepool))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        zone, cluster_id = str(props.get("zone", "")), str(props.get("cluster_id", ""))
        api = self._api(zone, timeout_of(props))
        what = f"deleting nodepool {_id} of cluster {cluster_id}"
        kept = f"Nodepool {_id} still exists and stays in the Pulumi state; rerun to retry the delete."
        try:
            operation = api.call(what, "delete_sks_nodepool", id=cluster_id, sks_nodepool_id=_id)
        except _NotFound:
            operation = None  # already gone (or going): that is what we wanted; confirm below
        if operation is not None:
            api.wait_operation(what, operation, _id, lambda _np: kept)
        api.wait_gone(what, cluster_id, _id, kept)

    # -- helpers ------------------------------------------------------------------------------

    def _api(self, zone: str, timeout_seconds: float) -> _Api:
        key, secret = self._credentials()
        endpoint = os.environ.get(ENV_ENDPOINT, "").strip().rstrip("/")
        if not endpoint:
            if not ZONE_RE.match(zone):
                raise MigNodepoolError(f"zone {zone!r} is not an Exoscale zone name (e.g. de-fra-1)")
            endpoint = f"https://api-{zone}.exoscale.com/v2"
        return _Api(_new_client(key, secret, endpoint), endpoint, timeout_seconds)

    def _credentials(self) -> tuple[str, str]:
        configured = _CONFIGURED.get(self)
        if configured is not None:
            return configured
        key, secret = os.environ.get(ENV_KEY, ""), os.environ.get(ENV_SECRET, "")
        if not key or not secret:
            raise MigNodepoolError(
                "no Exoscale credentials: set the stack config exoscale:key and exoscale:secret "
                f"(secret), or the environment variables {ENV_KEY} and {ENV_SECRET}"
            )
        return key, secret


def _warn(message: str) -> None:
    log.warning(message)
    with contextlib.suppress(Exception):  # a warning must never break the diff
        pulumi.log.warn(message)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if value else "none"
