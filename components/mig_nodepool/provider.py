"""The MIG nodepool's dynamic provider: what the Pulumi engine calls (through the dynamic provider
host) to check, diff, create, read, update and delete an SKS nodepool with NVIDIA MIG profiles.

* `check` validates the inputs offline; `check` and `diff` never call the API, so a preview makes
  no API call at all.
* `create` resolves `family.size` to the API's instance-type id, creates the nodepool, waits for the
  asynchronous operation (bounded by `timeout_seconds`) and returns what the API reports. A pool
  that settles `degraded` or `error` is deleted again (nothing is left outside the Pulumi state)
  and create fails naming its id and name.
* `read` (refresh) reports drift; a nodepool deleted outside Pulumi reads back with an empty id; a
  `degraded` or `error` pool reads back with that `state` and a warning (a refresh never fails on it).
* `diff` replaces on `zone`, `cluster_id`, `instance_type` and `nvidia_mig_profiles` (REPLACE_KEYS:
  a GPU node's MIG layout is fixed when it is created), and warns that the GPU nodes are recreated
  and the servers restart. `DiffResult.delete_before_replace` is the `replace_strategy` input:
  true for deleteFirst (the default), false for createFirst. The host passes it on as the
  response's `deleteBeforeReplace` (pulumi 3.272.0 pulumi/dynamic/__main__.py, `Diff`), and the
  engine follows it unless the resource option `deleteBeforeReplace` overrides it (pulumi/pulumi
  pkg/resource/deploy/step_generator.go, `continueStepsFromDiff`: "The provider is responsible for
  requesting which of these two modes to use"). Everything else is updated in place: `size`
  through `scale-sks-nodepool` up and `evict-sks-nodepool-members` down (`scaling`), the rest
  through `update-sks-nodepool`.
* `update` fails naming the pool if it ends `degraded` or `error`; an operation that fails or does
  not finish in time names the nodepool id.

Credentials never reach the serialized provider: they are read in `configure` (stack config
`exoscale:key` / `exoscale:secret`, kept in a module-level weak map, not on the instance) or from
`EXOSCALE_API_KEY` / `EXOSCALE_API_SECRET` at call time. `EXOSCALE_API_ENDPOINT` (full URL with
`/v2`) overrides the zone's public endpoint `https://api-{zone}.exoscale.com/v2`. The SKS add-on's
provider does the same: both inherit it from `api_provider.ExoscaleApiProvider`.

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

import logging
from typing import Any

from pulumi import dynamic

from components.mig_nodepool import notices, scaling
from components.mig_nodepool.api_client import Api, nodepool_named
from components.mig_nodepool.api_provider import ExoscaleApiProvider
from components.mig_nodepool.errors import MigNodepoolError, NotFound
from components.mig_nodepool.spec import (
    CREATE_FIRST,
    INPUT_KEYS,
    REPLACE_KEYS,
    UPDATE_KWARGS,
    _Spec,
    _validate,
    differs,
    int_if_integral,
    strategy_of,
    timeout_of,
    with_defaults,
)
from components.mig_nodepool.states import FAILED_STATES, READY_STATE

log = logging.getLogger(__name__)


class MigNodepoolProvider(ExoscaleApiProvider):
    """Dynamic provider for :class:`MigNodepool`. Holds no state: pickles to a class reference
    (credentials, configure and the API of a call: `api_provider.ExoscaleApiProvider`)."""

    # -- check / diff: offline ----------------------------------------------------------------

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        inputs = with_defaults(news)
        failures = [dynamic.CheckFailure(prop, reason) for prop, reason in _validate(inputs)]
        return dynamic.CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in INPUT_KEYS if differs(key, olds, news)]
        replaces = [key for key in changed if key in REPLACE_KEYS]
        if replaces:
            notices.warn(notices.replacement(_id, olds, news, replaces))
        elif "size" in changed and _shrinks(olds.get("size"), news.get("size")):
            notices.warn(
                notices.scale_down(_id, str(olds.get("name")), _shown(olds.get("size")), _shown(news.get("size")))
            )
        return dynamic.DiffResult(
            changes=bool(changed),
            replaces=replaces,
            # Not replace_strategy's own change: it is never itself a cause of replacement.
            delete_before_replace=bool(replaces) and strategy_of(news) != CREATE_FIRST,
        )

    # -- create / read / update / delete --------------------------------------------------------

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        spec = _Spec.from_props(props)
        api = self._api(spec.zone, spec.timeout_seconds)
        where = f"cluster {spec.cluster_id} (zone {spec.zone})"
        name = spec.pool_name
        try:
            cluster = api.call(f"reading SKS {where}", "get_sks_cluster", id=spec.cluster_id)
        except NotFound:
            raise MigNodepoolError(
                f"creating nodepool {name!r}: cluster_id {spec.cluster_id!r} was not found in zone {spec.zone!r}"
            ) from None
        existing = nodepool_named(cluster, name)
        if existing is not None:
            same_layout = (
                f" With replace_strategy {CREATE_FIRST} a replacement is named after its zone, cluster, "
                "instance type and MIG profiles: a pool with the same ones exists (a replacement forced "
                "without changing them, or a pool left by a failed create). Use deleteFirst for this "
                "replacement, or delete that pool."
                if spec.replace_strategy == CREATE_FIRST
                else ""
            )
            raise MigNodepoolError(
                f"creating nodepool {name!r}: {where} already has a nodepool with that name "
                f"(id {existing.get('id')}), which Pulumi does not manage. Delete it or choose "
                f"another name.{same_layout}"
            )
        type_id = api.resolve_instance_type(spec.instance_type)
        body = spec.create_kwargs(type_id)
        what = f"creating nodepool {name!r} in {where}"
        nodepool_id, operation = api.create_nodepool(what, spec, body)

        def orphan(np_id: str | None) -> str:
            return (
                f"Nodepool {np_id or '(id unknown)'} exists but is NOT recorded in the Pulumi state: "
                f"inspect it (exo compute sks nodepool show {spec.cluster_id} {np_id} -z {spec.zone}), "
                "then delete it or fix the cause; a rerun refuses to create a second nodepool named "
                f"{name!r} while it exists."
            )

        if operation is not None:
            nodepool_id = api.wait_operation(what, operation, nodepool_id, orphan) or nodepool_id
        if nodepool_id is None:
            # The operation succeeded without naming its resource: find the pool by name.
            cluster = api.call(f"reading SKS {where}", "get_sks_cluster", id=spec.cluster_id)
            found = nodepool_named(cluster, name)
            if found is None:
                raise MigNodepoolError(f"{what}: the operation succeeded but no nodepool named {name!r} exists")
            nodepool_id = str(found["id"])
        nodepool = api.wait_settled(what, spec.cluster_id, nodepool_id, orphan(nodepool_id))
        if nodepool.get("state") in FAILED_STATES:
            raise MigNodepoolError(
                f"{what}: nodepool {nodepool_id} ({name!r}) settled in state {nodepool.get('state')!r} "
                f"instead of {READY_STATE!r}. {self._discard(spec, nodepool_id, orphan(nodepool_id))}"
            )
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
        except NotFound:
            # Deleted outside Pulumi: an empty id drops the resource from the state.
            return dynamic.ReadResult("", {})
        if nodepool.get("state") in FAILED_STATES:
            # A refresh records what is, and says so; failing it would hide the pool's real state.
            notices.warn(
                f"MIG nodepool {id_} ({nodepool.get('name')!r}) of cluster {cluster_id} is in state "
                f"{nodepool.get('state')!r}: its GPU nodes may be missing or unhealthy. Inspect it "
                f"(exo compute sks nodepool show {cluster_id} {id_} -z {zone}); `pulumi up` fails on it "
                "until it is running again."
            )
        outs = api.outputs(props, nodepool)
        inputs = {key: outs[key] for key in INPUT_KEYS}
        return dynamic.ReadResult(id_, outs, inputs)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        spec = _Spec.from_props(news)
        what = f"updating nodepool {_id} ({spec.pool_name!r}) of cluster {spec.cluster_id}"
        for key in REPLACE_KEYS:
            if differs(key, olds, news):  # diff replaces on these: the engine never updates them
                raise MigNodepoolError(
                    f"{what}: {key} cannot change in place (a change replaces the nodepool); "
                    f"{notices.show(olds.get(key))} -> {notices.show(news.get(key))}"
                )
        api = self._api(spec.zone, spec.timeout_seconds)
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
            # From the size the API reports, not the recorded one: the members to evict are real.
            current = api.wait_settled(what, spec.cluster_id, _id, partial)
            scaling.resize(api, spec, _id, current, partial)
        nodepool = api.wait_settled(what, spec.cluster_id, _id, partial)
        if nodepool.get("state") in FAILED_STATES:
            raise MigNodepoolError(
                f"{what}: nodepool {_id} ({nodepool.get('name')!r}) is in state {nodepool.get('state')!r} "
                f"instead of {READY_STATE!r}. It stays in the Pulumi state: inspect it (exo compute sks "
                f"nodepool show {spec.cluster_id} {_id} -z {spec.zone}), then run `pulumi refresh` and "
                "rerun `pulumi up`."
            )
        return dynamic.UpdateResult(api.outputs(news, nodepool))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        zone, cluster_id = str(props.get("zone", "")), str(props.get("cluster_id", ""))
        api = self._api(zone, timeout_of(props))
        kept = f"Nodepool {_id} still exists and stays in the Pulumi state; rerun to retry the delete."
        self._delete(api, cluster_id, _id, kept)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _delete(api: Api, cluster_id: str, nodepool_id: str, advice: str) -> None:
        what = f"deleting nodepool {nodepool_id} of cluster {cluster_id}"
        try:
            operation = api.call(what, "delete_sks_nodepool", id=cluster_id, sks_nodepool_id=nodepool_id)
        except NotFound:
            operation = None  # already gone (or going): that is what we wanted; confirm below
        if operation is not None:
            api.wait_operation(what, operation, nodepool_id, lambda _np: advice)
        api.wait_gone(what, cluster_id, nodepool_id, advice)

    def _discard(self, spec: _Spec, nodepool_id: str, orphan: str) -> str:
        """Delete a pool that create will not return (the engine records nothing for a failed
        create: the host aborts the call), and say whether that worked."""
        try:  # on a deadline of its own: the create may have used up most of its timeout
            self._delete(self._api(spec.zone, spec.timeout_seconds), spec.cluster_id, nodepool_id, orphan)
        except MigNodepoolError as exc:
            return f"Deleting it failed: {exc}"
        return (
            "It was deleted again, so nothing is left outside the Pulumi state; check the zone's GPU "
            "capacity and quota, then rerun `pulumi up`."
        )


def _shrinks(old: Any, new: Any) -> bool:
    """Whether the size goes down (False while the new size is not known yet, at preview)."""
    sizes = [v for v in (old, new) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return len(sizes) == 2 and sizes[1] < sizes[0]


def _shown(value: Any) -> Any:
    return int_if_integral(value)
