"""The Exoscale API as the MIG nodepool provider uses it: one call's view of the official client
(`exoscale.api.v2.Client`), with retries and backoff, bounded waits for asynchronous operations and
nodepool states, and the nodepool read back as the resource's outputs. The SKS add-on's provider
(`components.sks_addons`) uses the same client, operation wait and pause.

5xx answers, 429, connection errors and HTTP timeouts are retried with exponential backoff; 4xx
answers fail at once with the API's message and the input at fault (`api_errors`). Every wait is
bounded by the resource's `timeout_seconds`. The client is imported lazily: importing this module
(which the dynamic provider host does when it unpickles the provider) imports no HTTP stack.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from components.mig_nodepool import settings
from components.mig_nodepool.api_errors import api_message, fault_hint, status_of
from components.mig_nodepool.errors import MigNodepoolError, NotFound, _Retryable
from components.mig_nodepool.settings import DEFAULT_TIMEOUT_SECONDS, ENV_KEY, ENV_SECRET, setting
from components.mig_nodepool.spec import _Spec, int_if_integral, pool_name_of, strategy_of
from components.mig_nodepool.states import SETTLING_STATES

if TYPE_CHECKING:
    from exoscale.api.v2 import Client


def new_client(key: str, secret: str, endpoint: str) -> Client:
    from exoscale.api.v2 import Client

    client = Client(key, secret, url=endpoint)
    session = client.http_client
    # The client sets no HTTP timeout; a hung connection must not hang the deployment.
    timeout = setting("SKS_MIG_HTTP_TIMEOUT", settings.HTTP_TIMEOUT_SECONDS)
    setattr(session, "request", functools.partial(session.request, timeout=timeout))  # noqa: B010
    return client


def nodepool_subject(nodepool_id: str | None) -> str:
    """How messages name the nodepool an operation acts on."""
    return f"nodepool {nodepool_id}" if nodepool_id else "the nodepool"


def nodepool_named(cluster: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """The nodepool called `name` in a get-sks-cluster answer, if there is one."""
    for nodepool in cluster.get("nodepools") or []:
        if nodepool.get("name") == name:
            return dict(nodepool)
    return None


class Api:
    """One provider call's view of the API. Lives for one call; never stored or pickled."""

    def __init__(self, client: Client, endpoint: str, timeout_seconds: float) -> None:
        self._client = client
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self.deadline = settings.monotonic() + timeout_seconds

    def __repr__(self) -> str:
        return f"<Api endpoint={self.endpoint}>"

    def _left(self) -> float:
        return self.deadline - settings.monotonic()

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
                f"{what}: the Exoscale API refused the credentials (HTTP {status_of(exc)}): "
                f"{api_message(exc)!r}. Check exoscale:key/exoscale:secret or {ENV_KEY}/{ENV_SECRET} "
                "and the key's IAM role."
            ) from None
        except ExoscaleAPIClientException as exc:
            status = status_of(exc)
            if status == 404:
                raise NotFound(f"{what}: not found (HTTP 404): {api_message(exc)!r}") from None
            if status == 429:
                raise _Retryable(f"HTTP 429: {api_message(exc)!r}") from exc
            raise MigNodepoolError(
                f"{what}: the Exoscale API rejected the request (HTTP {status}): "
                f"{api_message(exc)!r}. {fault_hint(api_message(exc), inputs)}"
            ) from None
        except ExoscaleAPIServerException as exc:
            raise _Retryable(f"HTTP {status_of(exc)}: {api_message(exc)!r}") from exc
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
        attempts = max(1, int(setting("SKS_MIG_RETRY_ATTEMPTS", settings.RETRY_ATTEMPTS)))
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
        base = setting("SKS_MIG_RETRY_BASE_DELAY", settings.RETRY_BASE_DELAY_SECONDS)
        delay = min(
            setting("SKS_MIG_RETRY_MAX_DELAY", settings.RETRY_MAX_DELAY_SECONDS),
            base * 2 ** (attempt - 1),
        )
        if delay > self._left():
            return False
        settings.sleep(delay)
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
        attempts = max(1, int(setting("SKS_MIG_RETRY_ATTEMPTS", settings.RETRY_ATTEMPTS)))
        inputs = spec.sent_inputs(kwargs)
        last = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                cluster = self.call(
                    f"reading SKS cluster {spec.cluster_id}",
                    "get_sks_cluster",
                    id=spec.cluster_id,
                )
                found = nodepool_named(cluster, spec.pool_name)
                if found is not None:  # the failed POST did create it: adopt, do not duplicate
                    return str(found["id"]), None
            try:
                operation = self._attempt(
                    what,
                    "create_sks_nodepool",
                    inputs,
                    {"id": spec.cluster_id, **kwargs},
                )
            except NotFound:
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

    def pool_members(self, what: str, instance_pool_id: str) -> list[dict[str, Any]]:
        """The instances of an instance pool (`get-instance-pool`), each as `get-instance` reports it
        (state, creation time, name); a member gone meanwhile (404) is left out."""
        pool = self.call(f"{what}: reading instance pool {instance_pool_id}", "get_instance_pool", id=instance_pool_id)
        members: list[dict[str, Any]] = []
        for ref in pool.get("instances") or []:
            try:
                members.append(self.call(f"{what}: reading instance {ref.get('id')}", "get_instance", id=ref.get("id")))
            except NotFound:
                continue
        return members

    def evict_members(
        self, what: str, cluster_id: str, nodepool_id: str, instance_ids: list[str], inputs: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """PUT the nodepool's `:evict`; a retried PUT first checks that the failed one did not evict
        them already (eviction is not idempotent: a member evicted twice is an error)."""
        attempts = max(1, int(setting("SKS_MIG_RETRY_ATTEMPTS", settings.RETRY_ATTEMPTS)))
        last = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1 and not set(instance_ids) & set(self._member_ids(what, cluster_id, nodepool_id)):
                return None  # the failed PUT did evict them
            try:
                operation: dict[str, Any] = self._attempt(
                    what,
                    "evict_sks_nodepool_members",
                    inputs,
                    {"id": cluster_id, "sks_nodepool_id": nodepool_id, "instances": list(instance_ids)},
                )
            except _Retryable as exc:
                last = str(exc)
                if attempt == attempts or not self._backoff(attempt):
                    break
                continue
            return operation
        raise MigNodepoolError(
            f"{what}: gave up after {attempt} attempt(s) against {self.endpoint}; last error: {last}"
        )

    def _member_ids(self, what: str, cluster_id: str, nodepool_id: str) -> list[str]:
        nodepool = self._read_nodepool(what, cluster_id, nodepool_id) or {}
        pool_id = (nodepool.get("instance-pool") or {}).get("id")
        if not pool_id:
            return []
        pool = self.call(f"{what}: reading instance pool {pool_id}", "get_instance_pool", id=pool_id)
        return [str(ref.get("id")) for ref in pool.get("instances") or []]

    def wait_operation(
        self,
        what: str,
        operation: Mapping[str, Any],
        resource_id: str | None,
        advice: Callable[[str | None], str],
        subject: Callable[[str | None], str] = nodepool_subject,
        done: Callable[[], bool] | None = None,
    ) -> str | None:
        """Poll an async operation until success; return the id of the resource it references.

        `subject` names what the operation acts on, from that id (in messages); `done`, if given,
        is asked on every poll while the operation is pending and ends the wait when it answers
        True (for an operation that may stay pending after its work is done)."""
        op_id = str(operation.get("id"))
        current: Mapping[str, Any] = operation
        while True:
            reference = current.get("reference") or {}
            resource_id = str(reference["id"]) if reference.get("id") else resource_id
            named = subject(resource_id)
            state = current.get("state")
            if state == "success":
                return resource_id
            if state in ("failure", "timeout"):
                raise MigNodepoolError(
                    f"{what}: operation {op_id} on {named} ended in state {state!r} "
                    f"(reason: {current.get('reason', 'unknown')}, message: {current.get('message', '')!r}). "
                    f"{advice(resource_id)}"
                )
            if state != "pending":
                raise MigNodepoolError(
                    f"{what}: operation {op_id} on {named} is in unexpected state {state!r}. {advice(resource_id)}"
                )
            if done is not None and done():
                return resource_id
            self.pause(what, f"operation {op_id} on {named}, still pending", advice(resource_id))
            try:
                current = self.call(f"{what}: polling operation {op_id}", "get_operation", id=op_id)
            except NotFound:
                raise MigNodepoolError(
                    f"{what}: operation {op_id} on {named} vanished (HTTP 404). {advice(resource_id)}"
                ) from None

    def wait_settled(self, what: str, cluster_id: str, nodepool_id: str, advice: str) -> dict[str, Any]:
        """Read the nodepool until it leaves a transitional state (bounded by the deadline)."""
        while True:
            nodepool = self._read_nodepool(what, cluster_id, nodepool_id)
            if nodepool is None:
                raise MigNodepoolError(f"{what}: nodepool {nodepool_id} disappeared. {advice}")
            if nodepool.get("state") not in SETTLING_STATES:
                return nodepool
            self.pause(what, f"nodepool {nodepool_id} to leave state {nodepool.get('state')!r}", advice)

    def wait_gone(self, what: str, cluster_id: str, nodepool_id: str, advice: str) -> None:
        """Read the nodepool until the API answers 404 (bounded by the deadline)."""
        while (nodepool := self._read_nodepool(what, cluster_id, nodepool_id)) is not None:
            self.pause(what, f"nodepool {nodepool_id} to disappear (state {nodepool.get('state')!r})", advice)

    def _read_nodepool(self, what: str, cluster_id: str, nodepool_id: str) -> dict[str, Any] | None:
        """The nodepool as the API reports it, or None once it is gone (404)."""
        try:
            nodepool: dict[str, Any] = self.call(
                f"{what}: reading nodepool {nodepool_id}",
                "get_sks_nodepool",
                id=cluster_id,
                sks_nodepool_id=nodepool_id,
            )
        except NotFound:
            return None
        return nodepool

    def pause(self, what: str, waiting_for: str, advice: str) -> None:
        """Sleep one poll interval before the next read, or fail once the deadline has passed."""
        left = self._left()
        if left <= 0:
            raise MigNodepoolError(
                f"{what}: timed out after {_fmt_seconds(self.timeout_seconds)} (timeout_seconds) "
                f"waiting for {waiting_for}. {advice}"
            )
        settings.sleep(min(setting("SKS_MIG_POLL_INTERVAL", settings.POLL_INTERVAL_SECONDS), left))

    def outputs(self, props: Mapping[str, Any], nodepool: Mapping[str, Any]) -> dict[str, Any]:
        """The resource's outputs: the inputs as the API reports them, plus computed values."""
        type_id = str((nodepool.get("instance-type") or {}).get("id", ""))
        instance_type = self.instance_type_names().get(type_id, type_id)
        taints = {str(k): f"{v.get('value')}:{v.get('effect')}" for k, v in (nodepool.get("taints") or {}).items()}
        return {
            "zone": props.get("zone"),
            "cluster_id": props.get("cluster_id"),
            "name": _declared_name(props, nodepool.get("name")),
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
            "timeout_seconds": int_if_integral(props.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)),
            "replace_strategy": strategy_of(props),
            "nodepool_id": nodepool.get("id"),
            "state": nodepool.get("state"),
            "instance_pool_id": (nodepool.get("instance-pool") or {}).get("id"),
            "instance_type_id": type_id,
            "nodepool_name": nodepool.get("name"),
        }


def _declared_name(props: Mapping[str, Any], api_name: Any) -> Any:
    """The `name` input behind the pool's name at the API: the declared name while the API name is
    the one the provider gave it (`pool_name_of`, or the recorded `nodepool_name`), else the API's
    name (renamed outside Pulumi: drift, which the next update repairs)."""
    given = {pool_name_of(props), props.get("nodepool_name")}
    return props.get("name") if api_name in given else api_name


def _fmt_seconds(seconds: float) -> str:
    return f"{int_if_integral(seconds)}s"


def _ids(refs: Any, declared: Any) -> list[str]:
    ids = [str(ref.get("id")) for ref in refs or [] if isinstance(ref, Mapping)]
    if isinstance(declared, (list, tuple)) and sorted(map(str, declared)) == sorted(ids):
        return [str(i) for i in declared]  # same set: keep the program's order
    return sorted(ids)
