"""The simulated Exoscale: what the fake API holds and what its operations do to it.

Instance types, SKS clusters and their nodepools live in memory; async operations go
``pending -> success`` after ``pending_polls`` polls (a poll of the operation or a GET of the
nodepool it references both count as time passing). A few semantic checks the OpenAPI document
cannot express answer HTTP 400 (``ApiError``): an unknown instance-type id, MIG profiles on an
instance type whose GPU is not the profile's key.

Every nodepool has an instance pool (``GET /instance-pool/{id}``) whose members are instances
(``GET /instance/{id}``: name, state, creation time) kept at the nodepool's size: created on
create and scale-up, removed newest first on scale-down, removed exactly by ``:evict``, which also
shrinks the nodepool to ``size - len(instances)`` (the operation's description in the document). An
evicted instance that is not a member is a semantic 400.

Faults on operations: ``fail_next_operation(operation_id, state="failure", reason="fault",
message=...)`` ends the next async operation started by ``operation_id`` in that state;
``stall_next_operation(operation_id)`` keeps it pending forever; ``degrade_next_operation(
operation_id, state="degraded")`` lets it succeed but leaves the nodepool in that state (one of the
document's nodepool states) instead of ``running``. ``delete_nodepool_out_of_band`` /
``update_nodepool_out_of_band`` change the state behind the client's back (drift, a delete that
answers 404); ``set_instance_state`` changes one member's state; ``update_cluster_out_of_band`` /
``delete_cluster_out_of_band`` do the same to a cluster (its add-ons, its state, gone).

Serving it over HTTP, and checking every request against the document, is ``server.py``'s part.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from config.mig_catalogue import MIG_KEY_BY_FAMILY
from tests.fake_exoscale.openapi_check import BASE_PATH, OpenAPIChecker

_NS = uuid.UUID("5b7a6f64-2d0e-4b9c-9d0b-7b3a4f9e2c11")
DEFAULT_CLUSTER_NAME = "sks-mig"

OperationHandler = Callable[[dict[str, str], Any], tuple[int, Any]]


def stable_uuid(name: str) -> str:
    """A deterministic UUID for a name (instance types, clusters and nodepools of the fake)."""
    return str(uuid.uuid5(_NS, name))


DEFAULT_CLUSTER_ID = stable_uuid(f"cluster/{DEFAULT_CLUSTER_NAME}")
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
"""The id of the cluster ``add_cluster()`` creates without arguments."""


@dataclass
class _Operation:
    id: str
    reference: dict[str, str]
    final_state: str = "success"  # success | failure | timeout | stall
    reason: str = "fault"
    message: str = ""
    ticks_left: int = 1
    state: str = "pending"
    on_success: Callable[[], None] | None = None
    on_failure: Callable[[], None] | None = None

    def tick(self) -> None:
        if self.state != "pending" or self.final_state == "stall":
            return
        if self.ticks_left > 0:
            self.ticks_left -= 1
            return
        self.state = self.final_state
        callback = self.on_success if self.state == "success" else self.on_failure
        if callback is not None:
            callback()

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "state": self.state, "reference": dict(self.reference)}
        if self.state in ("failure", "timeout"):
            body["reason"] = self.reason
            body["message"] = self.message
        return body


class ApiError(Exception):
    """An answer other than 200 from an operation; a 400 is recorded as a semantic violation."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def default_instance_types(zone: str = "de-fra-1") -> list[dict[str, Any]]:
    """A small catalogue: three MIG-capable GPU types and a CPU one, with stable UUIDs."""

    def item(family: str, size: str, cpus: int, memory: int, gpus: int | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": stable_uuid(f"instance-type/{family}.{size}"),
            "family": family,
            "size": size,
            "cpus": cpus,
            "memory": memory,
            "authorized": True,
            "zones": [zone],
        }
        if gpus is not None:
            entry["gpus"] = gpus
        return entry

    gib = 1024**3
    return [
        item("gpurtx6000pro", "small", 16, 128 * gib, 1),
        item("gpua30", "small", 12, 56 * gib, 1),
        item("gpub300", "small", 30, 240 * gib, 1),
        item("standard", "medium", 2, 4 * gib, None),
    ]


class SimulatedExoscale:
    """Instance types, SKS clusters, nodepools and async operations, and the API operations on them.

    The HTTP server answers from threads: set-up methods take ``_lock``, and the server holds it
    while an operation runs.
    """

    def __init__(
        self,
        checker: OpenAPIChecker,
        *,
        zone: str = "de-fra-1",
        pending_polls: int = 1,
        instance_types: list[dict[str, Any]] | None = None,
    ) -> None:
        self.checker = checker
        self.zone = zone
        self.pending_polls = pending_polls
        self.instance_types = instance_types if instance_types is not None else default_instance_types(zone)
        self.clusters: dict[str, dict[str, Any]] = {}
        self.nodepools: dict[str, dict[str, dict[str, Any]]] = {}
        self.operations: dict[str, _Operation] = {}
        self.instance_pools: dict[str, dict[str, Any]] = {}
        self.instances: dict[str, dict[str, Any]] = {}
        self._operation_outcomes: dict[str, list[tuple[str, str, str]]] = {}
        self._settle_states: dict[str, list[str]] = {}
        self._counter = 0
        self._lock = threading.RLock()

    # -- set-up and inspection -------------------------------------------------------------------

    def add_cluster(
        self,
        name: str = DEFAULT_CLUSTER_NAME,
        cluster_id: str | None = None,
        *,
        level: str = "pro",
        addons: list[str] | None = None,
    ) -> str:
        with self._lock:
            cluster_id = cluster_id or stable_uuid(f"cluster/{name}")
            self.clusters[cluster_id] = {
                "id": cluster_id,
                "name": name,
                "state": "running",
                "level": level,
                "cni": "cilium",
                "version": "1.33.1",
                "addons": list(addons)
                if addons is not None
                else ["exoscale-cloud-controller", "exoscale-container-storage-interface"],
                "created-at": "2026-01-01T00:00:00Z",
                "endpoint": f"https://{cluster_id}.sks-{self.zone}.exo.io:443",
            }
            self.nodepools.setdefault(cluster_id, {})
            return cluster_id

    def instance_type_id(self, name: str) -> str:
        family, _, size = name.partition(".")
        for item in self.instance_types:
            if item["family"] == family and item["size"] == size:
                return str(item["id"])
        raise KeyError(name)

    def nodepool(self, cluster_id: str, nodepool_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.nodepools[cluster_id][nodepool_id])

    # -- faults on operations, changes behind the client's back --------------------------------

    def fail_next_operation(
        self, operation_id: str, *, state: str = "failure", reason: str = "fault", message: str = "operation failed"
    ) -> None:
        self._check_operation_id(operation_id)
        if state not in ("failure", "timeout"):
            raise ValueError(state)
        if reason not in self.checker.spec["components"]["schemas"]["operation"]["properties"]["reason"]["enum"]:
            raise ValueError(f"{reason!r} is not an operation reason of the API")
        with self._lock:
            self._operation_outcomes.setdefault(operation_id, []).append((state, reason, message))

    def stall_next_operation(self, operation_id: str) -> None:
        self._check_operation_id(operation_id)
        with self._lock:
            self._operation_outcomes.setdefault(operation_id, []).append(("stall", "", ""))

    def degrade_next_operation(self, operation_id: str, state: str = "degraded") -> None:
        """The next ``operation_id`` succeeds but leaves its nodepool in ``state``, not running."""
        self._check_operation_id(operation_id)
        states = self.checker.spec["components"]["schemas"]["sks-nodepool"]["properties"]["state"]["enum"]
        if state not in states:
            raise ValueError(f"{state!r} is not a nodepool state of the API ({', '.join(states)})")
        with self._lock:
            self._settle_states.setdefault(operation_id, []).append(state)

    def members(self, cluster_id: str, nodepool_id: str) -> list[dict[str, Any]]:
        """The instances of a nodepool's instance pool, oldest first."""
        with self._lock:
            pool_id = self.nodepools[cluster_id][nodepool_id]["instance-pool"]["id"]
            refs = self.instance_pools[pool_id]["instances"]
            return [copy.deepcopy(self.instances[ref["id"]]) for ref in refs]

    def set_instance_state(self, instance_id: str, state: str) -> None:
        with self._lock:
            self.instances[instance_id]["state"] = state

    def delete_nodepool_out_of_band(self, cluster_id: str, nodepool_id: str) -> None:
        with self._lock:
            del self.nodepools[cluster_id][nodepool_id]

    def update_nodepool_out_of_band(self, cluster_id: str, nodepool_id: str, **fields: Any) -> None:
        """Change a nodepool behind the client's back; field names in API form (``disk-size``) or
        with underscores (``disk_size``). A new size resizes its instance pool too."""
        with self._lock:
            nodepool = self.nodepools[cluster_id][nodepool_id]
            for name, value in fields.items():
                nodepool[name.replace("_", "-")] = value
            if "size" in fields:
                self._resize_members(nodepool)

    def cluster(self, cluster_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.clusters[cluster_id])

    def update_cluster_out_of_band(self, cluster_id: str, **fields: Any) -> None:
        """Change a cluster behind the client's back (``addons``, ``state``, ``level``, ...)."""
        with self._lock:
            cluster = self.clusters[cluster_id]
            for name, value in fields.items():
                cluster[name.replace("_", "-")] = copy.deepcopy(value)

    def delete_cluster_out_of_band(self, cluster_id: str) -> None:
        with self._lock:
            del self.clusters[cluster_id]
            self.nodepools.pop(cluster_id, None)

    def _check_operation_id(self, operation_id: str) -> None:
        if operation_id not in self.checker.by_operation:
            raise KeyError(f"{operation_id!r} is not an operation of the OpenAPI document")

    def handler(self, operation_id: str) -> OperationHandler | None:
        """The fake's implementation of an operation of the document, or None if it has none."""
        handler: OperationHandler | None = getattr(self, "_op_" + operation_id.replace("-", "_"), None)
        return handler

    # -- operations of the API ------------------------------------------------------------------

    def _new_id(self, kind: str) -> str:
        self._counter += 1
        return stable_uuid(f"{kind}/{self._counter}")

    def _start_operation(
        self,
        operation_id: str,
        reference: dict[str, str],
        on_success: Callable[[], None] | None = None,
        on_failure: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        outcomes = self._operation_outcomes.get(operation_id)
        state, reason, message = outcomes.pop(0) if outcomes else ("success", "", "")
        settle = self._settle_states.get(operation_id)
        if settle and reference.get("command") == "get-sks-nodepool":
            cluster_id = reference["link"].split("/")[-3]  # .../sks-cluster/<cluster>/nodepool/<nodepool>
            on_success = self._then_state(on_success, cluster_id, reference["id"], settle.pop(0))
        op = _Operation(
            id=self._new_id("operation"),
            reference=reference,
            final_state=state,
            reason=reason or "fault",
            message=message,
            ticks_left=self.pending_polls,
            on_success=on_success,
            on_failure=on_failure,
        )
        self.operations[op.id] = op
        return op.as_json()

    def _cluster(self, cluster_id: str) -> dict[str, Any]:
        if cluster_id not in self.clusters:
            raise ApiError(404, f"SKS cluster {cluster_id} not found")
        return self.clusters[cluster_id]

    def _pool(self, cluster_id: str, nodepool_id: str) -> dict[str, Any]:
        self._cluster(cluster_id)
        pool = self.nodepools[cluster_id].get(nodepool_id)
        if pool is None:
            raise ApiError(404, f"SKS nodepool {nodepool_id} not found")
        return pool

    def _instance_type(self, type_id: str) -> dict[str, Any]:
        for item in self.instance_types:
            if item["id"] == type_id:
                return item
        raise ApiError(400, f"invalid instance-type: no instance type with id {type_id}")

    def _check_mig(self, instance_type: dict[str, Any], profiles: dict[str, str] | None) -> None:
        if not profiles:
            return
        expected = MIG_KEY_BY_FAMILY.get(instance_type["family"])
        if expected is None:
            raise ApiError(400, f"nvidia-mig-profiles: instance type family {instance_type['family']} has no MIG GPU")
        for key in profiles:
            if key != expected:
                raise ApiError(
                    400, f"nvidia-mig-profiles: key {key} does not match instance type family {instance_type['family']}"
                )

    def _reference(self, cluster_id: str, nodepool_id: str) -> dict[str, str]:
        return {
            "id": nodepool_id,
            "link": f"{BASE_PATH}/sks-cluster/{cluster_id}/nodepool/{nodepool_id}",
            "command": "get-sks-nodepool",
        }

    def _then_state(
        self, first: Callable[[], None] | None, cluster_id: str, nodepool_id: str, state: str
    ) -> Callable[[], None]:
        def apply() -> None:
            if first is not None:
                first()
            self._set_state(cluster_id, nodepool_id, state)()

        return apply

    # -- the instance pool behind each nodepool --------------------------------------------------

    def _new_instance_pool(self, nodepool_id: str, nodepool: dict[str, Any]) -> str:
        pool_id = self._new_id("instance-pool")
        self.instance_pools[pool_id] = {
            "id": pool_id,
            "name": f"nodepool-{nodepool_id[:8]}",
            "state": "running",
            "instance-type": {"id": nodepool["instance-type"]["id"]},
            "manager": {"id": nodepool_id, "type": "sks-nodepool"},
            "instance-prefix": nodepool["instance-prefix"],
            "instances": [],
        }
        return pool_id

    def _resize_members(self, nodepool: dict[str, Any]) -> None:
        """Add members (newest last) or remove the newest until the pool has the nodepool's size."""
        pool = self.instance_pools[nodepool["instance-pool"]["id"]]
        refs: list[dict[str, str]] = pool["instances"]
        while len(refs) < nodepool["size"]:
            instance_id = self._new_id("instance")
            self.instances[instance_id] = {
                "id": instance_id,
                "name": f"{pool['instance-prefix']}-{pool['id'][:5]}-{instance_id[:5]}",
                "state": "running",
                "created-at": (_EPOCH + timedelta(minutes=self._counter)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "manager": {"id": pool["id"], "type": "instance-pool"},
                "instance-type": copy.deepcopy(self._instance_type(pool["instance-type"]["id"])),
            }
            refs.append({"id": instance_id})
        while len(refs) > nodepool["size"]:
            self.instances.pop(refs.pop()["id"], None)
        pool["size"] = nodepool["size"]

    def _drop_instance_pool(self, nodepool: dict[str, Any]) -> None:
        pool = self.instance_pools.pop(nodepool["instance-pool"]["id"], {})
        for ref in pool.get("instances", []):
            self.instances.pop(ref["id"], None)

    def _set_state(self, cluster_id: str, nodepool_id: str, state: str) -> Callable[[], None]:
        def apply() -> None:
            pool = self.nodepools.get(cluster_id, {}).get(nodepool_id)
            if pool is not None:
                pool["state"] = state

        return apply

    def _op_list_instance_types(self, _params: dict[str, str], _body: Any) -> tuple[int, Any]:
        return 200, {"instance-types": copy.deepcopy(self.instance_types)}

    def _op_get_instance_type(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        for item in self.instance_types:
            if item["id"] == params["id"]:
                return 200, copy.deepcopy(item)
        raise ApiError(404, f"instance type {params['id']} not found")

    def _op_get_sks_cluster(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        cluster = copy.deepcopy(self._cluster(params["id"]))
        cluster["nodepools"] = copy.deepcopy(list(self.nodepools[params["id"]].values()))
        return 200, cluster

    def _op_update_sks_cluster(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        """PUT /sks-cluster/{id}: the body's fields replace the cluster's (``addons`` is the whole
        set, as terraform-provider-exoscale v0.67.0 sends it); the cluster is ``updating`` until the
        operation ends: ``running`` with the change on success, as before on failure."""
        cluster_id = params["id"]
        cluster = self._cluster(cluster_id)
        before = copy.deepcopy(cluster)
        for key, value in body.items():
            if value is None:
                cluster.pop(key, None)
            else:
                cluster[key] = copy.deepcopy(value)
        cluster["state"] = "updating"

        def settle(outcome: dict[str, Any] | None) -> Callable[[], None]:
            def apply() -> None:
                current = self.clusters.get(cluster_id)
                if current is None:
                    return
                if outcome is not None:
                    current.clear()
                    current.update(copy.deepcopy(outcome))
                current["state"] = "running"

            return apply

        reference = {"id": cluster_id, "link": f"{BASE_PATH}/sks-cluster/{cluster_id}", "command": "get-sks-cluster"}
        return 200, self._start_operation(
            "update-sks-cluster", reference, on_success=settle(None), on_failure=settle(before)
        )

    def _op_get_operation(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        op = self.operations.get(params["id"])
        if op is None:
            raise ApiError(404, f"operation {params['id']} not found")
        op.tick()
        return 200, op.as_json()

    def _op_create_sks_nodepool(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        cluster_id = params["id"]
        self._cluster(cluster_id)
        instance_type = self._instance_type(body["instance-type"]["id"])
        self._check_mig(instance_type, body.get("nvidia-mig-profiles"))
        nodepool_id = self._new_id("nodepool")
        pool: dict[str, Any] = {
            "id": nodepool_id,
            "name": body["name"],
            "description": body.get("description", ""),
            "instance-type": {"id": instance_type["id"]},
            "size": body["size"],
            "disk-size": body["disk-size"],
            "state": "creating",
            "template": {"id": stable_uuid("template/sks-1.33.1")},
            "version": "1.33.1",
            "instance-prefix": body.get("instance-prefix", "pool"),
            "public-ip-assignment": body.get("public-ip-assignment", "inet4"),
            "created-at": "2026-01-01T00:00:00Z",
        }
        for key in ("labels", "taints", "nvidia-mig-profiles", "security-groups", "anti-affinity-groups"):
            if body.get(key):
                pool[key] = copy.deepcopy(body[key])
        pool["instance-pool"] = {"id": self._new_instance_pool(nodepool_id, pool)}
        self._resize_members(pool)
        self.nodepools[cluster_id][nodepool_id] = pool
        return 200, self._start_operation(
            "create-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=self._set_state(cluster_id, nodepool_id, "running"),
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_get_sks_nodepool(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        nodepool_id = params["sks-nodepool-id"]
        for op in list(self.operations.values()):  # time passes for the pool's operations
            if op.reference.get("id") == nodepool_id:
                op.tick()
        return 200, copy.deepcopy(self._pool(params["id"], nodepool_id))

    def _op_update_sks_nodepool(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        cluster_id, nodepool_id = params["id"], params["sks-nodepool-id"]
        pool = self._pool(cluster_id, nodepool_id)
        type_id = (body.get("instance-type") or pool["instance-type"])["id"]
        profiles = body["nvidia-mig-profiles"] if "nvidia-mig-profiles" in body else pool.get("nvidia-mig-profiles")
        self._check_mig(self._instance_type(type_id), profiles)
        for key, value in body.items():
            if value is None or (value == {} and key == "nvidia-mig-profiles"):
                pool.pop(key, None)
            else:
                pool[key] = copy.deepcopy(value)
        pool["state"] = "updating"
        return 200, self._start_operation(
            "update-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=self._set_state(cluster_id, nodepool_id, "running"),
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_scale_sks_nodepool(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        cluster_id, nodepool_id = params["id"], params["sks-nodepool-id"]
        pool = self._pool(cluster_id, nodepool_id)
        pool["size"] = body["size"]
        pool["state"] = "scaling"
        self._resize_members(pool)
        return 200, self._start_operation(
            "scale-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=self._set_state(cluster_id, nodepool_id, "running"),
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_delete_sks_nodepool(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        cluster_id, nodepool_id = params["id"], params["sks-nodepool-id"]
        pool = self._pool(cluster_id, nodepool_id)
        pool["state"] = "deleting"

        def remove() -> None:
            removed = self.nodepools.get(cluster_id, {}).pop(nodepool_id, None)
            if removed is not None:
                self._drop_instance_pool(removed)

        return 200, self._start_operation(
            "delete-sks-nodepool",
            self._reference(cluster_id, nodepool_id),
            on_success=remove,
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_evict_sks_nodepool_members(self, params: dict[str, str], body: dict[str, Any]) -> tuple[int, Any]:
        cluster_id, nodepool_id = params["id"], params["sks-nodepool-id"]
        pool = self._pool(cluster_id, nodepool_id)
        evicted = list(body.get("instances") or [])
        refs = self.instance_pools[pool["instance-pool"]["id"]]["instances"]
        members = [ref["id"] for ref in refs]
        if not evicted:
            raise ApiError(400, "instances: name at least one member to evict")
        strangers = [i for i in evicted if i not in members]
        if strangers:
            raise ApiError(400, f"instances: not members of nodepool {nodepool_id}: {', '.join(strangers)}")
        refs[:] = [ref for ref in refs if ref["id"] not in evicted]
        for instance_id in evicted:
            self.instances.pop(instance_id, None)
        pool["size"] -= len(evicted)
        self.instance_pools[pool["instance-pool"]["id"]]["size"] = pool["size"]
        pool["state"] = "scaling"
        return 200, self._start_operation(
            "evict-sks-nodepool-members",
            self._reference(cluster_id, nodepool_id),
            on_success=self._set_state(cluster_id, nodepool_id, "running"),
            on_failure=self._set_state(cluster_id, nodepool_id, "error"),
        )

    def _op_get_instance_pool(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        pool = self.instance_pools.get(params["id"])
        if pool is None:
            raise ApiError(404, f"instance pool {params['id']} not found")
        answer = copy.deepcopy(pool)
        if not answer.get("size"):
            answer.pop("size", None)  # the document's instance-pool size is > 0
        return 200, answer

    def _op_get_instance(self, params: dict[str, str], _body: Any) -> tuple[int, Any]:
        instance = self.instances.get(params["id"])
        if instance is None:
            raise ApiError(404, f"instance {params['id']} not found")
        return 200, copy.deepcopy(instance)
