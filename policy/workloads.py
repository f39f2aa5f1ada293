"""The workload model: Kubernetes objects that run pods, seen through their pod template, and
which of them are model servers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from names import (
    ANNOTATION_MODEL,
    COMPONENT_LABEL,
    LABEL_MIG_PROFILE,
    MIG_RESOURCE_PREFIX,
    MODEL_ROUTER,
    MODEL_ROUTER_COMPONENT,
    MODEL_SERVER,
    SLICE_RESOURCE,
)
from pulumi_policy import PolicyResource
from wire import Unknown, as_dict, as_list, describe, dig, number, plain, quantity

# Where each workload kind keeps its pod template (path below the object; () is a bare Pod).
_POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
_WORKLOAD_GROUPS = ("core/", "apps/", "batch/", "extensions/")


def is_slice_resource(resource_name: str) -> bool:
    """Whether an extended resource name is a GPU or a MIG slice of one."""
    return resource_name == SLICE_RESOURCE or resource_name.startswith(MIG_RESOURCE_PREFIX)


@dataclass(frozen=True)
class Container:
    name: str
    init: bool
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{'init container' if self.init else 'container'} '{self.name}'"

    def slice_requests(self) -> dict[str, dict[str, Any]]:
        """{resource name: {"limits": quantity, "requests": quantity}} for GPU/MIG resources."""
        found: dict[str, dict[str, Any]] = {}
        resources = as_dict(self.spec.get("resources"))
        for section in ("limits", "requests"):
            for resource_name, amount in as_dict(resources.get(section)).items():
                if is_slice_resource(resource_name):
                    found.setdefault(resource_name, {})[section] = amount
        return found

    def slices(self) -> float | None:
        """Slices this container takes (limits win, as for the scheduler); None if not known."""
        total = 0.0
        for amounts in self.slice_requests().values():
            value = quantity(amounts.get("limits", amounts.get("requests")))
            if value is None:
                return None
            total += value
        return total


@dataclass(frozen=True)
class Workload:
    """A Kubernetes object that runs pods, seen through its pod template."""

    urn: str
    name: str  # the Pulumi resource name
    resource_type: str
    kind: str
    metadata: dict[str, Any]
    pod_metadata: dict[str, Any]
    pod_spec: dict[str, Any]
    spec: dict[str, Any]
    opts_protect: bool = False

    @property
    def display(self) -> str:
        return describe(self.resource_type, self.name, {"metadata": self.metadata})

    @property
    def namespace(self) -> Any:
        namespace = self.metadata.get("namespace")
        return "default" if namespace is None or namespace == "" else namespace

    @property
    def labels(self) -> dict[str, Any]:
        return as_dict(self.metadata.get("labels"))

    @property
    def pod_labels(self) -> dict[str, Any]:
        return as_dict(self.pod_metadata.get("labels"))

    def annotation(self, key: str) -> Any:
        """An annotation of the pod template, else of the object itself; None when absent."""
        for metadata in (self.pod_metadata, self.metadata):
            value = as_dict(metadata.get("annotations")).get(key)
            if value is not None:
                return value
        return None

    def containers(self, include_init: bool = True) -> list[Container]:
        found = [
            Container(str(c.get("name", f"#{i}")), False, c)
            for i, c in enumerate(as_list(self.pod_spec.get("containers")))
            if isinstance(c, dict)
        ]
        if include_init:
            found += [
                Container(str(c.get("name", f"#{i}")), True, c)
                for i, c in enumerate(as_list(self.pod_spec.get("initContainers")))
                if isinstance(c, dict)
            ]
        return found

    def requests_slices(self) -> bool:
        return any(c.slice_requests() and c.slices() != 0 for c in self.containers())

    @property
    def is_model_router(self) -> bool:
        """Labelled as the router in front of the model servers (components/model_router.py)."""
        return MODEL_ROUTER in (self.labels.get(COMPONENT_LABEL), self.pod_labels.get(COMPONENT_LABEL))

    @property
    def is_model_server(self) -> bool:
        """Labelled a model server, annotated with a model, or asking for a GPU slice."""
        return (
            MODEL_SERVER in (self.labels.get(COMPONENT_LABEL), self.pod_labels.get(COMPONENT_LABEL))
            or self.annotation(ANNOTATION_MODEL) is not None
            or self.requests_slices()
        )

    def slices_per_pod(self) -> float | None:
        """A pod's slices as the scheduler counts them: max(sum of containers, largest init)."""
        regular = [c.slices() for c in self.containers(include_init=False)]
        init = [c.slices() for c in self.containers() if c.init]
        if any(value is None for value in regular + init):
            return None
        return max(sum(v for v in regular if v is not None), max((v for v in init if v), default=0))

    def replicas(self) -> float | None:
        """Pods the workload keeps running; None when not known (or, for DaemonSets, per node)."""
        if self.kind in ("Pod",):
            return 1.0
        if self.kind == "DaemonSet":
            return None
        if self.kind in ("Job", "CronJob"):
            spec = self.spec if self.kind == "Job" else as_dict(dig(self.spec, "jobTemplate", "spec"))
            value = spec.get("parallelism", 1)
        else:
            value = self.spec.get("replicas", 1)
        return number(value)

    def mig_profile_selected(self) -> Any:
        """The MIG profile label value the pods select (nodeSelector), or None."""
        return as_dict(self.pod_spec.get("nodeSelector")).get(LABEL_MIG_PROFILE)

    def slice_container(self) -> Container | None:
        """The container that runs the model: the one asking for a slice, else the first."""
        containers = self.containers(include_init=False)
        for container in containers:
            if container.slice_requests():
                return container
        return containers[0] if containers else None


def workload_of(
    resource_type: str, props: Mapping[str, Any], urn: str, name: str, protect: bool = False
) -> Workload | None:
    """The workload a resource is, or None (props already `plain`)."""
    parts = resource_type.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes" or not parts[1].startswith(_WORKLOAD_GROUPS):
        return None
    kind = parts[2]
    if kind not in _POD_TEMPLATES:
        return None
    template: Any = dict(props)
    for key in _POD_TEMPLATES[kind]:
        template = as_dict(template).get(key)
    template = as_dict(template)
    return Workload(
        urn=urn,
        name=name,
        resource_type=resource_type,
        kind=kind,
        metadata=as_dict(props.get("metadata")),
        pod_metadata=as_dict(template.get("metadata")),
        pod_spec=as_dict(template.get("spec")),
        spec=as_dict(props.get("spec")),
        opts_protect=protect,
    )


def workloads(resources: Iterable[PolicyResource]) -> list[Workload]:
    found = []
    for resource in resources:
        workload = workload_of(resource.resource_type, plain(resource.props), resource.urn, resource.name)
        if workload is not None:
            found.append(workload)
    return found


def model_servers(resources: Iterable[PolicyResource]) -> list[Workload]:
    return [workload for workload in workloads(resources) if workload.is_model_server]


def model_routers(resources: Iterable[PolicyResource]) -> list[Workload]:
    return [workload for workload in workloads(resources) if workload.is_model_router]


def has_model_router(resources: Iterable[PolicyResource]) -> bool:
    """Whether the stack has a router in front of its model servers: its component or its pods."""
    listed = list(resources)
    return bool(model_routers(listed)) or any(r.resource_type == MODEL_ROUTER_COMPONENT for r in listed)


def same_namespace(a: Any, b: Any) -> bool:
    return isinstance(a, Unknown) or isinstance(b, Unknown) or a == b


def selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a non-empty label selector (plain key/value map) matches `labels`."""
    if not selector:
        return False
    return all(
        isinstance(value, Unknown) or labels.get(key) == value for key, value in selector.items()
    )


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool | None:
    """Whether a Kubernetes LabelSelector (matchLabels, matchExpressions) matches `labels`; an empty
    selector matches everything. None when part of it is unknown during preview."""
    if isinstance(selector, Unknown):
        return None
    selector = as_dict(selector)
    match_labels, expressions = selector.get("matchLabels"), selector.get("matchExpressions")
    if isinstance(match_labels, Unknown) or isinstance(expressions, Unknown):
        return None
    result: bool | None = True
    for key, value in as_dict(match_labels).items():
        if isinstance(value, Unknown):
            result = None
        elif labels.get(key) != value:
            return False
    for expression in as_list(expressions):
        matched = _expression_matches(as_dict(expression), labels)
        if matched is False:
            return False
        if matched is None:
            result = None
    return result


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, Any]) -> bool | None:
    key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values")
    if any(isinstance(v, Unknown) for v in (key, operator, values)) or not isinstance(key, str):
        return None
    present = key in labels
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    listed = as_list(values)
    if operator == "In":
        return present and labels.get(key) in listed
    if operator == "NotIn":
        return not present or labels.get(key) not in listed
    return None


def is_empty_selector(selector: Any) -> bool:
    """A LabelSelector with no matchLabels and no matchExpressions: it selects everything."""
    selector = as_dict(selector)
    return not as_dict(selector.get("matchLabels")) and not as_list(selector.get("matchExpressions"))
