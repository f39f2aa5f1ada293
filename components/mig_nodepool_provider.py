"""A Pulumi dynamic resource for an Exoscale SKS nodepool with NVIDIA MIG profiles.

pulumiverse-exoscale's ``SksNodepool`` has no MIG argument, so this module drives the official
``exoscale`` client (``exoscale.api.v2.Client``) directly, the way a careful Terraform provider would:

* ``check`` validates the inputs offline (sizes, taint strings, MIG profiles against the enums of the
  OpenAPI document shipped in the ``exoscale`` package); ``check`` and ``diff`` never call the API, so
  a preview makes no API call at all.
* ``create`` resolves ``family.size`` to the API's instance-type id, creates the nodepool, waits for the
  asynchronous operation (bounded by ``timeout_seconds``) and returns what the API reports.
* ``read`` (refresh) reports drift; a nodepool deleted outside Pulumi reads back with an empty id.
* ``diff`` replaces on ``zone``, ``cluster_id`` and ``instance_type`` (delete first: GPU quota and the
  nodepool name are both taken by the old pool); everything else is updated in place: ``size`` through
  ``scale-sks-nodepool``, the rest through ``update-sks-nodepool`` (whose body accepts ``name``,
  ``disk-size``, labels, taints, description, security and anti-affinity groups and MIG profiles).
  A MIG change logs a warning: it recycles the GPU nodes.
* 5xx answers, connection errors and HTTP timeouts are retried with exponential backoff; 4xx answers
  fail at once with the API's message and the input at fault; an operation that fails or does not
  finish in time names the nodepool id.

Credentials never reach the serialized provider: they are read in ``configure`` (stack config
``exoscale:key`` / ``exoscale:secret``, kept in a module-level weak map, not on the instance) or from
``EXOSCALE_API_KEY`` / ``EXOSCALE_API_SECRET`` at call time. ``EXOSCALE_API_ENDPOINT`` (full URL with
``/v2``) overrides the zone's public endpoint ``https://api-{zone}.exoscale.com/v2``.

Importing this module has no side effects: the dynamic provider host re-imports it by reference.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import time
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NotRequired, TypedDict

import pulumi
from pulumi import dynamic
from pulumi.output import Unknown

from config.mig_catalogue import MIG_KEY_BY_FAMILY, api_gpu_keys, api_profile_names, openapi_document

if TYPE_CHECKING:
    from exoscale.api.v2 import Client

__all__ = [
    "DEFAULT_DISK_SIZE",
    "DEFAULT_TIMEOUT_SECONDS",
    "INPUT_KEYS",
    "OUTPUT_KEYS",
    "REPLACE_KEYS",
    "MigNodepool",
    "MigNodepoolArgs",
    "MigNodepoolError",
    "MigNodepoolProvider",
]

log = logging.getLogger(__name__)
# pulumi.log shows the warnings to the user; the logger is for tests and embedding programs and must
# not print them a second time through logging's last-resort handler.
log.addHandler(logging.NullHandler())

# --------------------------------------------------------------------------------------------------
# Settings. Module constants that tests may patch; the environment overrides them at call time.
# --------------------------------------------------------------------------------------------------

DEFAULT_TIMEOUT_SECONDS: Final = 1200
DEFAULT_DISK_SIZE: Final = 50

POLL_INTERVAL_SECONDS: float = 5.0  # env SKS_MIG_POLL_INTERVAL
RETRY_ATTEMPTS: int = 5  # env SKS_MIG_RETRY_ATTEMPTS (total attempts per API call)
RETRY_BASE_DELAY_SECONDS: float = 1.0  # env SKS_MIG_RETRY_BASE_DELAY (doubles on each retry)
RETRY_MAX_DELAY_SECONDS: float = 30.0  # env SKS_MIG_RETRY_MAX_DELAY
HTTP_TIMEOUT_SECONDS: float = 30.0  # env SKS_MIG_HTTP_TIMEOUT (per HTTP request)

ENV_ENDPOINT: Final = "EXOSCALE_API_ENDPOINT"
ENV_KEY: Final = "EXOSCALE_API_KEY"
ENV_SECRET: Final = "EXOSCALE_API_SECRET"
CONFIG_KEY: Final = "exoscale:key"
CONFIG_SECRET: Final = "exoscale:secret"

# The clock, indirected so that tests can run the waits on a virtual clock.
_sleep: Callable[[float], None] = time.sleep
_monotonic: Callable[[], float] = time.monotonic


INPUT_KEYS: Final = (
    "zone",
    "cluster_id",
    "name",
    "instance_type",
    "size",
    "disk_size",
    "nvidia_mig_profiles",
    "labels",
    "taints",
    "security_group_ids",
    "anti_affinity_group_ids",
    "description",
    "timeout_seconds",
)
OUTPUT_KEYS: Final = ("nodepool_id", "state", "instance_pool_id", "instance_type_id")
REQUIRED_KEYS: Final = ("zone", "cluster_id", "name", "instance_type", "size")
REPLACE_KEYS: Final = ("zone", "cluster_id", "instance_type")
# Inputs sent through update-sks-nodepool -> the client's keyword argument.
_UPDATE_KWARGS: Final[Mapping[str, str]] = {
    "name": "name",
    "disk_size": "disk_size",
    "nvidia_mig_profiles": "nvidia_mig_profiles",
    "labels": "labels",
    "taints": "taints",
    "description": "description",
    "security_group_ids": "security_groups",
    "anti_affinity_group_ids": "anti_affinity_groups",
}
# Request-body field of the API -> input name, to name the input an API error is about.
_API_FIELD_TO_INPUT: Final[Mapping[str, str]] = {
    "instance-type": "instance_type",
    "disk-size": "disk_size",
    "nvidia-mig-profiles": "nvidia_mig_profiles",
    "security-groups": "security_group_ids",
    "anti-affinity-groups": "anti_affinity_group_ids",
    "labels": "labels",
    "taints": "taints",
    "description": "description",
    "size": "size",
    "name": "name",
}
_DEFAULTS: Final[Mapping[str, Any]] = {
    "disk_size": DEFAULT_DISK_SIZE,
    "nvidia_mig_profiles": {},
    "labels": {},
    "taints": {},
    "security_group_ids": [],
    "anti_affinity_group_ids": [],
    "description": "",
    "timeout_seconds": DEFAULT_TIMEOUT_SECONDS,
}
_SETTLING_STATES: Final = frozenset({"creating", "updating", "scaling", "renewing-token", "deleting"})
# What the engine sends for a value not known yet during preview.
_UNKNOWN: Final = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
_ZONE_RE: Final = re.compile(r"^[a-z]{2}-[a-z]+-[0-9]+$")


class MigNodepoolError(Exception):
    """A nodepool operation failed; the message says what, why, and which nodepool/input."""


class _NotFound(MigNodepoolError):
    """The API answered 404 (callers that expect it catch it; elsewhere it is a plain error)."""


class _Retryable(Exception):
    """A failure worth retrying (5xx, 429, connection error, HTTP timeout)."""


# --------------------------------------------------------------------------------------------------
# Resource
# --------------------------------------------------------------------------------------------------


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


class MigNodepool(dynamic.Resource, module="nodepool", name="MigNodepool"):
    """An SKS nodepool whose GPUs are partitioned with NVIDIA MIG.

    Type token ``pulumi-python:dynamic/nodepool:MigNodepool``; the resource id is the nodepool id.
    """

    nodepool_id: pulumi.Output[str]
    state: pulumi.Output[str]
    instance_pool_id: pulumi.Output[str]
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

    def __init__(
        self,
        resource_name: str,
        args: MigNodepoolArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        unknown = sorted(set(args) - set(INPUT_KEYS))
        if unknown:
            raise TypeError(f"MigNodepool {resource_name!r}: unknown argument(s) {', '.join(unknown)}")
        missing = [key for key in REQUIRED_KEYS if args.get(key) is None]
        if missing:
            raise TypeError(f"MigNodepool {resource_name!r}: missing argument(s) {', '.join(missing)}")
        props: dict[str, Any] = {key: args.get(key) for key in INPUT_KEYS}
        for key, default in _DEFAULTS.items():
            if props[key] is None:
                props[key] = _copy(default)
        for key in OUTPUT_KEYS:
            props[key] = None
        super().__init__(MigNodepoolProvider(), resource_name, props, opts)


# --------------------------------------------------------------------------------------------------
# Provider
# --------------------------------------------------------------------------------------------------

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
        inputs = dict(news)
        for key, default in _DEFAULTS.items():
            if inputs.get(key) is None:
                inputs[key] = _copy(default)
        failures = [dynamic.CheckFailure(prop, reason) for prop, reason in _validate(inputs)]
        return dynamic.CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in INPUT_KEYS if _differs(key, olds, news)]
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
        existing = _nodepool_named(cluster, spec.name)
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
            found = _nodepool_named(cluster, spec.name)
            if found is None:
                raise MigNodepoolError(f"{what}: the operation succeeded but no nodepool named {spec.name!r} exists")
            nodepool_id = str(found["id"])
        nodepool = api.wait_settled(what, spec.cluster_id, nodepool_id, orphan(nodepool_id))
        if nodepool.get("state") == "error":
            raise MigNodepoolError(f"{what}: nodepool {nodepool_id} ended in state 'error'. {orphan(nodepool_id)}")
        return dynamic.CreateResult(nodepool_id, api.outputs(props, nodepool))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        zone, cluster_id = str(props.get("zone", "")), str(props.get("cluster_id", ""))
        api = self._api(zone, _timeout_of(props))
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
        for key, kwarg in _UPDATE_KWARGS.items():
            if _differs(key, olds, news):
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
        if _differs("size", olds, news):
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
        api = self._api(zone, _timeout_of(props))
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
            if not _ZONE_RE.match(zone):
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


# --------------------------------------------------------------------------------------------------
# API access: retries, error messages, waiting
# --------------------------------------------------------------------------------------------------


def _new_client(key: str, secret: str, endpoint: str) -> Client:
    from exoscale.api.v2 import Client

    client = Client(key, secret, url=endpoint)
    session = client.http_client
    # The client sets no HTTP timeout; a hung connection must not hang the deployment.
    timeout = _setting("SKS_MIG_HTTP_TIMEOUT", HTTP_TIMEOUT_SECONDS)
    setattr(session, "request", functools.partial(session.request, timeout=timeout))  # noqa: B010
    return client


class _Api:
    """One provider call's view of the API. Lives for one call; never stored or pickled."""

    def __init__(self, client: Client, endpoint: str, timeout_seconds: float) -> None:
        self._client = client
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self.deadline = _monotonic() + timeout_seconds

    def __repr__(self) -> str:
        return f"<_Api endpoint={self.endpoint}>"

    def _left(self) -> float:
        return self.deadline - _monotonic()

    def _attempt(
        self,
        what: str,
        operation: str,
        inputs: Mapping[str, Any] | None,
        kwargs: dict[str, Any],
    ) -> Any:
        import requests
        from exoscale.api.exceptions import (
            ExoscaleAPIAuthException,
            ExoscaleAPIClientException,
            ExoscaleAPIServerException,
        )

        try:
            return getattr(self._client, operation)(**kwargs)
        except ExoscaleAPIAuthException as exc:
            raise MigNodepoolError(
                f"{what}: the Exoscale API refused the credentials (HTTP {_status(exc)}): "
                f"{_api_message(exc)!r}. Check exoscale:key/exoscale:secret or {ENV_KEY}/{ENV_SECRET} "
                "and the key's IAM role."
            ) from None
        except ExoscaleAPIClientException as exc:
            status = _status(exc)
            if status == 404:
                raise _NotFound(f"{what}: not found (HTTP 404): {_api_message(exc)!r}") from None
            if status == 429:
                raise _Retryable(f"HTTP 429: {_api_message(exc)!r}") from exc
            raise MigNodepoolError(
                f"{what}: the Exoscale API rejected the request (HTTP {status}): "
                f"{_api_message(exc)!r}. {_fault_hint(_api_message(exc), inputs)}"
            ) from None
        except ExoscaleAPIServerException as exc:
            raise _Retryable(f"HTTP {_status(exc)}: {_api_message(exc)!r}") from exc
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise _Retryable(f"{type(exc).__name__} talking to {self.endpoint}: {exc}") from exc
        except ValueError as exc:  # a 2xx answer that is not JSON (a proxy's page, say)
            raise MigNodepoolError(f"{what}: unreadable answer from {self.endpoint}: {exc}") from exc

    def call(
        self,
        what: str,
        operation: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call a client operation, retrying retryable failures with exponential backoff."""
        attempts = max(1, int(_setting("SKS_MIG_RETRY_ATTEMPTS", RETRY_ATTEMPTS)))
        last = ""
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(what, operation, inputs, kwargs)
            except _Retryable as exc:
                last = str(exc)
                if attempt == attempts or not self._backoff(attempt):
                    break
        raise MigNodepoolError(
            f"{what}: gave up after {attempt} attempt(s) against {self.endpoint}; last error: {last}"
        )

    def _backoff(self, attempt: int) -> bool:
        """Sleep before the next attempt; False when that would pass the deadline."""
        base = _setting("SKS_MIG_RETRY_BASE_DELAY", RETRY_BASE_DELAY_SECONDS)
        delay = min(
            _setting("SKS_MIG_RETRY_MAX_DELAY", RETRY_MAX_DELAY_SECONDS),
            base * 2 ** (attempt - 1),
        )
        if delay > self._left():
            return False
        _sleep(delay)
        return True

    def resolve_instance_type(self, instance_type: str) -> str:
        family, _, size = instance_type.partition(".")
        listing = self.call("listing instance types", "list_instance_types")
        types = listing.get("instance-types", [])
        for item in types:
            if item.get("family") == family and item.get("size") == size:
                return str(item["id"])
        sizes = sorted(str(t.get("size")) for t in types if t.get("family") == family)
        known = f"; sizes of {family!r}: {', '.join(sizes)}" if sizes else f"; no family {family!r}"
        raise MigNodepoolError(f"instance_type {instance_type!r} is not offered by the Exoscale API{known}")

    def instance_type_names(self) -> dict[str, str]:
        listing = self.call("listing instance types", "list_instance_types")
        return {str(t["id"]): f"{t.get('family')}.{t.get('size')}" for t in listing.get("instance-types", [])}

    def create_nodepool(
        self, what: str, spec: _Spec, kwargs: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any] | None]:
        """POST the nodepool; a retried POST first checks that the failed one did not create it."""
        attempts = max(1, int(_setting("SKS_MIG_RETRY_ATTEMPTS", RETRY_ATTEMPTS)))
        inputs = spec.sent_inputs(kwargs)
        last = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                cluster = self.call(
                    f"reading SKS cluster {spec.cluster_id}",
                    "get_sks_cluster",
                    id=spec.cluster_id,
                )
                found = _nodepool_named(cluster, spec.name)
                if found is not None:  # the failed POST did create it: adopt, do not duplicate
                    return str(found["id"]), None
            try:
                operation = self._attempt(
                    what,
                    "create_sks_nodepool",
                    inputs,
                    {"id": spec.cluster_id, **kwargs},
                )
            except _NotFound:
                raise MigNodepoolError(f"{what}: cluster_id {spec.cluster_id!r} was not found") from None
            except _Retryable as exc:
                last = str(exc)
                if attempt == attempts or not self._backoff(attempt):
                    break
                continue
            reference = operation.get("reference") or {}
            return (str(reference["id"]) if reference.get("id") else None), operation
        raise MigNodepoolError(
            f"{what}: gave up after {attempt} attempt(s) against {self.endpoint}; last error: {last}. "
            "No nodepool was created."
        )

    def wait_operation(
        self,
        what: str,
        operation: Mapping[str, Any],
        nodepool_id: str | None,
        advice: Callable[[str | None], str],
    ) -> str | None:
        """Poll an async operation until success; return the id of the resource it references."""
        op_id = str(operation.get("id"))
        current: Mapping[str, Any] = operation
        while True:
            reference = current.get("reference") or {}
            nodepool_id = str(reference["id"]) if reference.get("id") else nodepool_id
            named = f"nodepool {nodepool_id}" if nodepool_id else "the nodepool"
            state = current.get("state")
            if state == "success":
                return nodepool_id
            if state in ("failure", "timeout"):
                raise MigNodepoolError(
                    f"{what}: operation {op_id} on {named} ended in state {state!r} "
                    f"(reason: {current.get('reason', 'unknown')}, message: {current.get('message', '')!r}). "
                    f"{advice(nodepool_id)}"
                )
            if state != "pending":
                raise MigNodepoolError(
                    f"{what}: operation {op_id} on {named} is in unexpected state {state!r}. {advice(nodepool_id)}"
                )
            self._pause(what, f"operation {op_id} on {named}, still pending", advice(nodepool_id))
            try:
                current = self.call(f"{what}: polling operation {op_id}", "get_operation", id=op_id)
            except _NotFound:
                raise MigNodepoolError(
                    f"{what}: operation {op_id} on {named} vanished (HTTP 404). {advice(nodepool_id)}"
                ) from None

    def wait_settled(self, what: str, cluster_id: str, nodepool_id: str, advice: str) -> dict[str, Any]:
        """Read the nodepool until it leaves a transitional state (bounded by the deadline)."""
        while True:
            nodepool = self._read_nodepool(what, cluster_id, nodepool_id)
            if nodepool is None:
                raise MigNodepoolError(f"{what}: nodepool {nodepool_id} disappeared. {advice}")
            if nodepool.get("state") not in _SETTLING_STATES:
                return nodepool
            self._pause(what, f"nodepool {nodepool_id} to leave state {nodepool.get('state')!r}", advice)

    def wait_gone(self, what: str, cluster_id: str, nodepool_id: str, advice: str) -> None:
        """Read the nodepool until the API answers 404 (bounded by the deadline)."""
        while (nodepool := self._read_nodepool(what, cluster_id, nodepool_id)) is not None:
            self._pause(what, f"nodepool {nodepool_id} to disappear (state {nodepool.get('state')!r})", advice)

    def _read_nodepool(self, what: str, cluster_id: str, nodepool_id: str) -> dict[str, Any] | None:
        """The nodepool as the API reports it, or None once it is gone (404)."""
        try:
            nodepool: dict[str, Any] = self.call(
                f"{what}: reading nodepool {nodepool_id}",
                "get_sks_nodepool",
                id=cluster_id,
                sks_nodepool_id=nodepool_id,
            )
        except _NotFound:
            return None
        return nodepool

    def _pause(self, what: str, waiting_for: str, advice: str) -> None:
        """Sleep one poll interval before the next read, or fail once the deadline has passed."""
        left = self._left()
        if left <= 0:
            raise MigNodepoolError(
                f"{what}: timed out after {_fmt_seconds(self.timeout_seconds)} (timeout_seconds) "
                f"waiting for {waiting_for}. {advice}"
            )
        _sleep(min(_setting("SKS_MIG_POLL_INTERVAL", POLL_INTERVAL_SECONDS), left))

    def outputs(self, props: Mapping[str, Any], nodepool: Mapping[str, Any]) -> dict[str, Any]:
        """The resource's outputs: the inputs as the API reports them, plus computed values."""
        type_id = str((nodepool.get("instance-type") or {}).get("id", ""))
        instance_type = self.instance_type_names().get(type_id, type_id)
        taints = {str(k): f"{v.get('value')}:{v.get('effect')}" for k, v in (nodepool.get("taints") or {}).items()}
        return {
            "zone": props.get("zone"),
            "cluster_id": props.get("cluster_id"),
            "name": nodepool.get("name"),
            "instance_type": instance_type,
            "size": nodepool.get("size"),
            "disk_size": nodepool.get("disk-size"),
            "nvidia_mig_profiles": dict(nodepool.get("nvidia-mig-profiles") or {}),
            "labels": dict(nodepool.get("labels") or {}),
            "taints": taints,
            "security_group_ids": _ids(nodepool.get("security-groups"), props.get("security_group_ids")),
            "anti_affinity_group_ids": _ids(
                nodepool.get("anti-affinity-groups"),
                props.get("anti_affinity_group_ids"),
            ),
            "description": nodepool.get("description") or "",
            "timeout_seconds": _int_if_integral(props.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            "nodepool_id": nodepool.get("id"),
            "state": nodepool.get("state"),
            "instance_pool_id": (nodepool.get("instance-pool") or {}).get("id"),
            "instance_type_id": type_id,
        }


# --------------------------------------------------------------------------------------------------
# Inputs: validation and normalisation (offline)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """Validated, normalised inputs (ints are ints, not the engine's floats)."""

    zone: str
    cluster_id: str
    name: str
    instance_type: str
    size: int
    disk_size: int
    nvidia_mig_profiles: dict[str, str]
    labels: dict[str, str]
    taints: dict[str, str]
    security_group_ids: list[str]
    anti_affinity_group_ids: list[str]
    description: str
    timeout_seconds: float

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> _Spec:
        merged: dict[str, Any] = {key: props.get(key) for key in INPUT_KEYS}
        for key, default in _DEFAULTS.items():
            if merged[key] is None:
                merged[key] = _copy(default)
        problems = _validate(merged)
        if problems:
            raise MigNodepoolError(
                "invalid MigNodepool inputs: " + "; ".join(f"{prop}: {reason}" for prop, reason in problems)
            )
        return cls(
            zone=str(merged["zone"]),
            cluster_id=str(merged["cluster_id"]),
            name=str(merged["name"]),
            instance_type=str(merged["instance_type"]).lower(),
            size=int(merged["size"]),
            disk_size=int(merged["disk_size"]),
            nvidia_mig_profiles={str(k): str(v) for k, v in merged["nvidia_mig_profiles"].items()},
            labels={str(k): str(v) for k, v in merged["labels"].items()},
            taints={str(k): str(v) for k, v in merged["taints"].items()},
            security_group_ids=[str(v) for v in merged["security_group_ids"]],
            anti_affinity_group_ids=[str(v) for v in merged["anti_affinity_group_ids"]],
            description=str(merged["description"]),
            timeout_seconds=float(merged["timeout_seconds"]),
        )

    def api_value(self, key: str) -> Any:
        """The value of input `key` as the client's keyword argument expects it."""
        if key == "taints":
            return {k: _taint_object(v) for k, v in self.taints.items()}
        if key in ("security_group_ids", "anti_affinity_group_ids"):
            return [{"id": i} for i in getattr(self, key)]
        if key == "nvidia_mig_profiles":
            # `null` switches MIG off on update (the body declares the field nullable).
            return dict(self.nvidia_mig_profiles) or None
        return getattr(self, key)

    def create_kwargs(self, instance_type_id: str) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "name": self.name,
            "instance_type": {"id": instance_type_id},
            "size": self.size,
            "disk_size": self.disk_size,
        }
        for key, kwarg in _UPDATE_KWARGS.items():
            if kwarg not in kwargs and getattr(self, key):
                kwargs[kwarg] = self.api_value(key)
        return kwargs

    def sent_inputs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs behind a request's keyword arguments, to name them in error messages."""
        by_kwarg = {kwarg: key for key, kwarg in _UPDATE_KWARGS.items()}
        sent: dict[str, Any] = {}
        for kwarg in kwargs:
            key = by_kwarg.get(kwarg, kwarg)
            if key in INPUT_KEYS:
                sent[key] = getattr(self, key)
        return sent


def _validate(props: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Offline validation; values not known yet (preview) are skipped. Returns (property, reason)."""
    problems: list[tuple[str, str]] = []

    def known(key: str) -> bool:
        return not _contains_unknown(props.get(key))

    for key in REQUIRED_KEYS:
        if props.get(key) is None or props.get(key) == "":
            problems.append((key, "is required"))
    if problems:
        return problems

    if known("zone") and not (isinstance(props["zone"], str) and _ZONE_RE.match(props["zone"])):
        problems.append(
            (
                "zone",
                f"{props['zone']!r} is not an Exoscale zone name such as 'de-fra-1'",
            )
        )
    if known("cluster_id") and not _is_uuid(props["cluster_id"]):
        problems.append(("cluster_id", f"{props['cluster_id']!r} is not a cluster UUID"))
    if known("name"):
        name = props["name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            problems.append(("name", "must be a string of 1 to 255 characters"))
        elif name != name.lower():
            problems.append(
                (
                    "name",
                    f"{name!r} must be lowercase (the API accepts lowercase names only)",
                )
            )
    family = ""
    if known("instance_type"):
        instance_type = props["instance_type"]
        family, dot, size = str(instance_type).lower().partition(".")
        families, sizes = _instance_type_enums()
        if not isinstance(instance_type, str) or not dot or not family or not size:
            problems.append(
                (
                    "instance_type",
                    f"{instance_type!r} must be 'family.size', e.g. 'gpurtx6000pro.small'",
                )
            )
            family = ""
        elif families and family not in families:
            problems.append(
                (
                    "instance_type",
                    f"unknown family {family!r} (known: {', '.join(families)})",
                )
            )
        elif sizes and size not in sizes:
            problems.append(("instance_type", f"unknown size {size!r} (known: {', '.join(sizes)})"))
    for key, low, high in (("size", 1, None), ("disk_size", 20, 51200)):
        if known(key):
            problem = _int_problem(props.get(key), low, high)
            if problem:
                problems.append((key, problem))
    if known("timeout_seconds"):
        timeout = props.get("timeout_seconds")
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
            problems.append(("timeout_seconds", f"{timeout!r} must be a positive number of seconds"))
    for key in ("labels", "taints", "nvidia_mig_profiles"):
        value = props.get(key)
        if known(key) and not (
            isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        ):
            problems.append((key, f"{value!r} must be a map of strings to strings"))
    if known("taints") and isinstance(props.get("taints"), Mapping):
        effects = _taint_effects()
        for taint_key, raw in props["taints"].items():
            if not isinstance(raw, str):
                continue
            value, sep, effect = raw.rpartition(":")
            if not sep or not value or not taint_key:
                problems.append(
                    (
                        "taints",
                        f"taint {taint_key!r}: {raw!r} must be 'value:Effect', e.g. 'present:NoSchedule'",
                    )
                )
            elif len(value) > 255:
                problems.append(("taints", f"taint {taint_key!r}: value longer than 255 characters"))
            elif effects and effect not in effects:
                problems.append(
                    (
                        "taints",
                        f"taint {taint_key!r}: effect {effect!r} is not one of {', '.join(effects)}",
                    )
                )
    if known("nvidia_mig_profiles") and isinstance(props.get("nvidia_mig_profiles"), Mapping):
        problems.extend(_mig_problems(props["nvidia_mig_profiles"], family))
    for key, most in (("security_group_ids", 16), ("anti_affinity_group_ids", 8)):
        ids = props.get(key)
        if not known(key):
            continue
        if not isinstance(ids, (list, tuple)):
            problems.append((key, f"{ids!r} must be a list of UUIDs"))
            continue
        bad = [i for i in ids if not _is_uuid(i)]
        if bad:
            problems.append((key, f"not UUIDs: {', '.join(map(repr, bad))}"))
        if len(set(map(str, ids))) != len(ids):
            problems.append((key, "contains duplicates"))
        if len(ids) > most:
            problems.append((key, f"at most {most} allowed"))
    if known("description"):
        description = props.get("description")
        if not isinstance(description, str) or len(description) > 255:
            problems.append(("description", "must be a string of at most 255 characters"))
    return problems


def _mig_problems(profiles: Mapping[str, Any], family: str) -> list[tuple[str, str]]:
    reasons: list[str] = []
    accepted = {key: api_profile_names(key) for key in api_gpu_keys()}
    expected_key = MIG_KEY_BY_FAMILY.get(family)
    for key, profile in profiles.items():
        if key not in accepted:
            known = ", ".join(sorted(accepted))
            reasons.append(f"unknown GPU key {key!r} (the API knows {known})")
            continue
        if profile not in accepted[key]:
            choices = ", ".join(accepted[key])
            reasons.append(f"{key}: {profile!r} is not a MIG profile of this GPU (one of {choices})")
        if family and expected_key is None:
            reasons.append(f"instance family {family!r} has no MIG-capable GPU")
        elif family and key != expected_key:
            reasons.append(f"key {key!r} does not match instance family {family!r} (expects {expected_key!r})")
    return [("nvidia_mig_profiles", reason) for reason in reasons]


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = openapi_document().get("components", {}).get("schemas", {})
    return schemas


@functools.cache
def _taint_effects() -> tuple[str, ...]:
    effect = _schemas().get("sks-nodepool-taint", {}).get("properties", {}).get("effect", {})
    return tuple(effect.get("enum", ("NoExecute", "NoSchedule", "PreferNoSchedule")))


@functools.cache
def _instance_type_enums() -> tuple[tuple[str, ...], tuple[str, ...]]:
    props = _schemas().get("instance-type", {}).get("properties", {})
    return tuple(props.get("family", {}).get("enum", ())), tuple(props.get("size", {}).get("enum", ()))


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _setting(env: str, default: float) -> float:
    raw = os.environ.get(env)
    if raw:
        try:
            return float(raw)
        except ValueError:
            log.warning("ignoring %s=%r: not a number", env, raw)
    return float(default)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


def _warn(message: str) -> None:
    log.warning(message)
    with contextlib.suppress(Exception):  # a warning must never break the diff
        pulumi.log.warn(message)


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if value else "none"


def _contains_unknown(value: Any) -> bool:
    # Check and Diff get unknowns as pulumi.output.Unknown (deserialized with keep_unknowns=True);
    # the raw wire sentinel string is accepted too.
    if isinstance(value, Unknown):
        return True
    if isinstance(value, str):
        return value == _UNKNOWN
    if isinstance(value, Mapping):
        return any(_contains_unknown(k) or _contains_unknown(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_contains_unknown(v) for v in value)
    return False


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _int_problem(value: Any, low: int, high: int | None) -> str | None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        return f"{value!r} must be a whole number"
    if high is None and value < low:
        return f"{_int_if_integral(value)} must be at least {low}"
    if high is not None and not low <= value <= high:
        return f"{_int_if_integral(value)} must be between {low} and {high}"
    return None


def _int_if_integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _normal(key: str, value: Any) -> Any:
    """A comparable form of an input (engine floats, absent defaults, unordered id lists)."""
    if value is None:
        value = _DEFAULTS.get(key)
    if key in ("security_group_ids", "anti_affinity_group_ids") and isinstance(value, (list, tuple)):
        return sorted(map(str, value))
    if key == "instance_type" and isinstance(value, str):
        return value.lower()
    if isinstance(value, Mapping):
        return {str(k): _normal("", v) for k, v in value.items()}
    return _int_if_integral(value)


def _differs(key: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> bool:
    new = news.get(key)
    if _contains_unknown(new):
        return True
    return bool(_normal(key, olds.get(key)) != _normal(key, new))


def _timeout_of(props: Mapping[str, Any]) -> float:
    value = props.get("timeout_seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return float(DEFAULT_TIMEOUT_SECONDS)


def _fmt_seconds(seconds: float) -> str:
    return f"{_int_if_integral(seconds)}s"


def _taint_object(raw: str) -> dict[str, str]:
    value, _, effect = raw.rpartition(":")
    return {"value": value, "effect": effect}


def _ids(refs: Any, declared: Any) -> list[str]:
    ids = [str(ref.get("id")) for ref in refs or [] if isinstance(ref, Mapping)]
    if isinstance(declared, (list, tuple)) and sorted(map(str, declared)) == sorted(ids):
        return [str(i) for i in declared]  # same set: keep the program's order
    return sorted(ids)


def _nodepool_named(cluster: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    for nodepool in cluster.get("nodepools") or []:
        if nodepool.get("name") == name:
            return dict(nodepool)
    return None


def _status(exc: Exception) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _api_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is None:
        return str(exc)
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and body.get("message"):
        return str(body["message"])
    text = getattr(response, "text", "") or str(exc)
    return str(text).strip()[:500]


def _fault_hint(message: str, inputs: Mapping[str, Any] | None) -> str:
    """Name the input(s) an API error message is about, with the value that was sent."""
    if not inputs:
        return ""
    lowered = message.lower()
    at_fault: list[str] = []
    for field, key in _API_FIELD_TO_INPUT.items():
        if key not in inputs or key in at_fault:
            continue
        names = {field, key, key.replace("_", " ")}
        if any(re.search(rf"(?<![a-z0-9-]){re.escape(n)}(?![a-z0-9-])", lowered) for n in names):
            at_fault.append(key)
    for key, value in inputs.items():
        if key in at_fault:
            continue
        texts = [value] if isinstance(value, str) else []
        if isinstance(value, Mapping):
            texts = [*map(str, value.keys()), *map(str, value.values())]
        elif isinstance(value, (list, tuple)):
            texts = [str(v) for v in value]
        if any(t and len(t) > 2 and t.lower() in lowered for t in texts):
            at_fault.append(key)
    if at_fault:
        return "Input at fault: " + ", ".join(f"{key}={_show_value(inputs[key])}" for key in at_fault) + "."
    return "Inputs sent: " + ", ".join(f"{key}={_show_value(value)}" for key, value in inputs.items()) + "."


def _show_value(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
