"""The sks-mig policies: what must hold for model servers on MIG slices, checked on every preview.

One validator function per policy, then the `Policy` objects the pack serves (`POLICIES`).
Validators read properties in wire form (camelCase for provider resources, snake_case for the
dynamic MIG nodepool), treat values unknown during preview as "cannot judge yet" and name, in every
violation, the resource, the value and the rule.

The MIG geometry comes from the project's own catalogue (`config/mig_catalogue.py`) and the startup
budget from `config/memory_fit.py`, so the pack and the program cannot disagree on how many slices
a nodepool has: the project root (the parent of this directory) is put on `sys.path` for that,
and the pack's virtualenv needs the catalogue's one dependency, `exoscale` (its OpenAPI document
lists the MIG profiles).
"""

from __future__ import annotations

import ipaddress
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)
from secret_marks import is_secret

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.append(str(PROJECT_ROOT))

from config.memory_fit import startup_budget_seconds  # noqa: E402 - needs the project root
from config.mig_catalogue import family_of  # noqa: E402

PACK_NAME = "sks-mig-policies"
PACK_DESCRIPTION = (
    "Guards for an SKS cluster whose GPUs are cut into NVIDIA MIG slices and serve vLLM models: "
    "one slice per server, pinned images, models that fit, no open endpoints, secrets kept "
    "secret, rollouts that cannot wait forever for a slice, and capacity for every replica."
)

# Labels, annotations and taints the program uses (components/gpu_nodepool.py, vllm_service.py).
PREFIX = "sks-mig.io"
MIG_PROFILE_LABEL = f"{PREFIX}/mig-profile"
ANNOTATION_MODEL = f"{PREFIX}/model"
ANNOTATION_ESTIMATED = f"{PREFIX}/estimated-memory-gb"
ANNOTATION_SLICE = f"{PREFIX}/slice-memory-gb"
ANNOTATION_WEIGHTS = f"{PREFIX}/weights-gb"
ANNOTATION_STARTUP = f"{PREFIX}/startup-budget-seconds"
ANNOTATION_API_KEY = f"{PREFIX}/requires-api-key"
COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_SERVER = "model-server"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"

# Type tokens.
SKS_CLUSTER = "exoscale:index/sksCluster:SksCluster"
SKS_KUBECONFIG = "exoscale:index/sksKubeconfig:SksKubeconfig"
SECURITY_GROUP = "exoscale:index/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "exoscale:index/securityGroupRule:SecurityGroupRule"
MIG_NODEPOOL = "pulumi-python:dynamic/nodepool:MigNodepool"
MIG_NODEPOOL_COMPONENT = "sks-mig:index:MigGpuNodepool"
K8S_PROVIDER = "pulumi:providers:kubernetes"
EXOSCALE_PROVIDER = "pulumi:providers:exoscale"
K8S_SECRET = "kubernetes:core/v1:Secret"
K8S_SERVICE = "kubernetes:core/v1:Service"

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

# Kubernetes defaults the checks rely on.
_DEFAULT_PROBE_PERIOD = 10
_DEFAULT_PROBE_FAILURES = 3
_DEFAULT_MAX_SURGE = "25%"


# ---------------------------------------------------------------------------------------------
# Reading properties
# ---------------------------------------------------------------------------------------------

_UNKNOWN_SENTINELS = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


class Unknown:
    """A value the engine does not know yet (a preview of something not created yet)."""

    __slots__ = ("secret",)

    def __init__(self, secret: bool) -> None:
        self.secret = secret

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = Unknown(secret=False)
SECRET_UNKNOWN = Unknown(secret=True)


def _unknown(sentinel: Any) -> Unknown:
    return SECRET_UNKNOWN if is_secret(sentinel) else UNKNOWN


def plain(value: Any) -> Any:
    """`value` (the SDK's unknown-checking proxies, or plain data) as dicts, lists and scalars.

    A value unknown during preview becomes an `Unknown` instead of raising; secret marks on
    scalars (see secret_marks.py) are kept.
    """
    if isinstance(value, str):
        return _unknown(value) if value in _UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        result: dict[str, Any] = {}
        for key in value:
            try:
                result[key] = plain(value[key])
            except UnknownValueError as error:
                result[key] = _unknown(error.unknown_type_sentinel)
        return result
    if isinstance(value, Sequence):
        items: list[Any] = []
        for index in range(len(value)):
            try:
                items.append(plain(value[index]))
            except UnknownValueError as error:
                items.append(_unknown(error.unknown_type_sentinel))
        return items
    return value


def dig(value: Any, *path: str) -> Any:
    """`value[path[0]][path[1]]...`; None when a step is missing, UNKNOWN when one is unknown."""
    for key in path:
        if isinstance(value, Unknown):
            return value
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    """A plain number or numeric string as float; None for anything else (unknowns included)."""
    if isinstance(value, (bool, Unknown)) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_QUANTITY_FACTORS = {
    None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60,
}


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity ("1", 1, "500m", "2Gi") as a number; None if it is not one."""
    if isinstance(value, bool) or value is None or isinstance(value, Unknown):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        return None
    return float(match[1]) * _QUANTITY_FACTORS[match[2]]


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def short_type(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def describe(resource_type: str, name: str, props: Mapping[str, Any] | None = None) -> str:
    """How a violation names a resource: `StatefulSet inference/vllm-qwen`, `SksCluster 'x'`."""
    if resource_type.startswith("kubernetes:") and props is not None:
        metadata = as_dict(props.get("metadata"))
        object_name = metadata.get("name")
        object_name = object_name if isinstance(object_name, str) else name
        namespace = metadata.get("namespace")
        if isinstance(namespace, str) and namespace:
            return f"{short_type(resource_type)} {namespace}/{object_name}"
        return f"{short_type(resource_type)} {object_name}"
    if resource_type.startswith("pulumi:providers:"):
        return f"{short_type(resource_type)} provider '{name}'"
    return f"{short_type(resource_type)} '{name}'"


# ---------------------------------------------------------------------------------------------
# Workloads, model servers and MIG nodepools
# ---------------------------------------------------------------------------------------------


def is_slice_resource(resource_name: str) -> bool:
    """Whether an extended resource name is a GPU or a MIG slice of one."""
    return resource_name == "nvidia.com/gpu" or resource_name.startswith("nvidia.com/mig-")


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
        return _number(value)

    def mig_profile_selected(self) -> Any:
        """The MIG profile label value the pods select (nodeSelector), or None."""
        return as_dict(self.pod_spec.get("nodeSelector")).get(MIG_PROFILE_LABEL)

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


def model_servers(resources: Iterable[PolicyResource]) -> list[Workload]:
    found = []
    for resource in resources:
        workload = workload_of(resource.resource_type, plain(resource.props), resource.urn, resource.name)
        if workload is not None and workload.is_model_server:
            found.append(workload)
    return found


@dataclass(frozen=True)
class Pool:
    """A MIG nodepool and the slices it gives, as far as the catalogue can tell."""

    urn: str
    name: str
    profile_label: Any  # the sks-mig.io/mig-profile node label value
    slices: int | None
    arithmetic: str  # how `slices` was worked out, or why it could not be


def pools_of(resources: Sequence[PolicyResource]) -> list[Pool]:
    """The stack's MIG nodepools (the dynamic resource the MigGpuNodepool component creates)."""
    by_urn = {resource.urn: resource for resource in resources}
    pools = []
    for resource in resources:
        if resource.resource_type != MIG_NODEPOOL:
            continue
        props = plain(resource.props)
        labels = as_dict(props.get("labels"))
        slices, arithmetic = _pool_slices(props, _parent_of(resource, by_urn))
        pools.append(
            Pool(resource.urn, resource.name, labels.get(MIG_PROFILE_LABEL), slices, arithmetic)
        )
    return pools


def _parent_of(resource: PolicyResource, by_urn: Mapping[str, PolicyResource]) -> PolicyResource | None:
    if resource.parent is not None:
        return resource.parent
    parent_urn = getattr(resource.opts, "parent", None)
    return by_urn.get(parent_urn) if isinstance(parent_urn, str) else None


def _pool_slices(props: Mapping[str, Any], parent: PolicyResource | None) -> tuple[int | None, str]:
    instance_type, size = props.get("instance_type"), _number(props.get("size"))
    profiles = props.get("nvidia_mig_profiles")
    if not isinstance(instance_type, str) or size is None or not isinstance(profiles, dict):
        return None, "its instance type, size or MIG profile is not known yet"
    family = family_of(instance_type)
    if family is None:
        return None, f"instance type {instance_type} has no MIG-capable GPU in the catalogue"
    profile_name = profiles.get(family.api_key)
    profile = family.profiles.get(profile_name) if isinstance(profile_name, str) else None
    if profile is None:
        return None, (
            f"MIG profile {profiles!r} is not one of {family.describe()} "
            f"({', '.join(family.profiles)})"
        )
    gpus = family.gpus_per_node(instance_type)
    if gpus is None:
        # The catalogue does not know the size's GPU count; the component worked it out from the
        # stack's gpusPerNode and registered it as an output.
        total = _number(as_dict(plain(parent.props)).get("total_slices")) if parent else None
        if total is None:
            return None, (
                f"the catalogue does not know how many GPUs a {instance_type} has, and its "
                "MigGpuNodepool component registered no total_slices"
            )
        return int(total), f"{_count(total)} slices registered by its MigGpuNodepool component"
    slices = int(size) * gpus * profile.slices_per_gpu
    return slices, (
        f"{_count(size)} node(s) x {gpus} GPU(s) x {profile.slices_per_gpu} {profile.name} slices"
    )


@dataclass(frozen=True)
class SliceGroup:
    """Model servers that compete for the same slices, and the nodepools that offer them."""

    profile_label: Any  # None: servers that do not select a profile, against every pool
    servers: list[Workload]
    pools: list[Pool]

    def demand(self) -> float | None:
        total = 0.0
        for server in self.servers:
            replicas, per_pod = server.replicas(), server.slices_per_pod()
            if replicas is None or per_pod is None:
                return None
            total += replicas * per_pod
        return total

    def supply(self) -> int | None:
        if any(pool.slices is None for pool in self.pools):
            return None
        return sum(pool.slices or 0 for pool in self.pools)

    def describe_demand(self) -> str:
        parts = []
        for server in self.servers:
            replicas, per_pod = server.replicas(), server.slices_per_pod()
            if replicas is not None and per_pod is not None:
                parts.append(f"{server.display} {_count(replicas)} x {_count(per_pod)}")
        return ", ".join(parts)

    def describe_supply(self) -> str:
        if not self.pools:
            return "no MIG nodepool"
        return "; ".join(f"nodepool '{pool.name}': {pool.arithmetic}" for pool in self.pools)


def slice_groups(resources: Sequence[PolicyResource]) -> list[SliceGroup]:
    """Slice-consuming model servers grouped by the MIG profile they select.

    Servers that select no profile land in a group of their own, measured against every pool;
    a profile no pool has gets a group with no pools (no capacity at all).
    """
    pools = pools_of(resources)
    servers = [s for s in model_servers(resources) if s.requests_slices()]
    groups: dict[Any, list[Workload]] = {}
    for server in servers:
        profile = server.mig_profile_selected()
        if isinstance(profile, Unknown):
            continue
        groups.setdefault(profile if isinstance(profile, str) else None, []).append(server)
    result = []
    for profile, members in groups.items():
        matching = pools if profile is None else [p for p in pools if p.profile_label == profile]
        result.append(SliceGroup(profile, members, matching))
    return result


# ---------------------------------------------------------------------------------------------
# gpu-slice-exactly-one
# ---------------------------------------------------------------------------------------------


def tolerates_gpu_taint(tolerations: Any) -> bool:
    """Whether the tolerations let a pod onto nodes tainted nvidia.com/gpu=present:NoSchedule."""
    for toleration in as_list(tolerations):
        if not isinstance(toleration, dict):
            continue
        effect = toleration.get("effect")
        if effect not in (None, "", "NoSchedule"):
            continue
        key, operator = toleration.get("key"), toleration.get("operator") or "Equal"
        if operator == "Exists" and key in (None, "", GPU_TAINT_KEY):
            return True
        if operator == "Equal" and key == GPU_TAINT_KEY and toleration.get("value") == GPU_TAINT_VALUE:
            return True
    return False


def selects_mig_nodepool(pod_spec: Mapping[str, Any]) -> bool:
    """A nodeSelector (or required node affinity) on the sks-mig.io/mig-profile node label."""
    selected = as_dict(pod_spec.get("nodeSelector")).get(MIG_PROFILE_LABEL)
    if isinstance(selected, Unknown) or (isinstance(selected, str) and selected):
        return True
    terms = dig(
        pod_spec,
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    )
    term_list = [as_dict(term) for term in as_list(terms)]
    return bool(term_list) and all(
        any(
            as_dict(expression).get("key") == MIG_PROFILE_LABEL
            and as_dict(expression).get("operator") in ("In", "Exists")
            for expression in as_list(term.get("matchExpressions"))
        )
        for term in term_list
    )


def validate_gpu_slice_exactly_one(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A container asking for a GPU slice asks for exactly one, and its pod can reach one."""
    workload = workload_of(args.resource_type, plain(args.props), args.urn, args.name)
    if workload is None:
        return
    # A container asking for 0 of a slice resource asks for none (some charts switch GPUs off so).
    consumers = [c for c in workload.containers() if c.slice_requests() and c.slices() != 0]
    for container in consumers:
        requests = container.slice_requests()
        where = f"{workload.display}, {container.label}"
        if len(requests) > 1:
            names = ", ".join(sorted(requests))
            report(
                f"{where} requests several slice resources ({names}): that is more than one MIG "
                "device, and one CUDA process sees only one. Request exactly one, e.g. "
                "nvidia.com/gpu: 1.",
                None,
            )
            continue
        for resource_name, amounts in requests.items():
            for section, amount in amounts.items():
                value = quantity(amount)
                if isinstance(amount, Unknown) or value == 1:
                    continue
                report(
                    f"{where} sets resources.{section}[{resource_name}] to {amount!r}; a CUDA "
                    "process sees one MIG device, so a model server takes exactly 1 slice "
                    f"({resource_name}: 1). Serve a larger model from a larger MIG profile, "
                    "not from several slices.",
                    None,
                )
    if not consumers:
        return
    tolerations = workload.pod_spec.get("tolerations")
    if not isinstance(tolerations, Unknown) and not tolerates_gpu_taint(tolerations):
        report(
            f"{workload.display} requests a GPU slice but its pods do not tolerate the "
            f"{GPU_TAINT_KEY}={GPU_TAINT_VALUE}:NoSchedule taint of the MIG nodepool, so they can "
            f"never be scheduled. Add the toleration {{key: {GPU_TAINT_KEY}, operator: Exists, "
            "effect: NoSchedule}.",
            None,
        )
    if not selects_mig_nodepool(workload.pod_spec):
        report(
            f"{workload.display} requests a GPU slice but has no nodeSelector on "
            f"{MIG_PROFILE_LABEL}: with more than one GPU nodepool its pods may land on a GPU cut "
            "into a different profile than the one the model was sized for. Select the MIG "
            f"nodepool (nodeSelector {{{MIG_PROFILE_LABEL}: <profile>}}).",
            None,
        )


# ---------------------------------------------------------------------------------------------
# model-image-pinned
# ---------------------------------------------------------------------------------------------

_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_MOVING_TAGS = frozenset({"latest", "nightly", "main", "master", "stable", "edge", "dev"})


def image_problem(image: str) -> str | None:
    """Why `image` is not pinned to a version or a digest, or None when it is."""
    if "@" in image:
        digest = image.split("@", 1)[1]
        if _DIGEST.match(digest):
            return None
        return f"its digest {digest!r} is not of the form sha256:<hex>"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "it has no tag, which means :latest"
    tag = last.rsplit(":", 1)[1]
    if not tag:
        return "its tag is empty, which means :latest"
    if tag.lower() in _MOVING_TAGS:
        return f"its tag {tag!r} moves to a new build whenever one is pushed"
    if not any(ch.isdigit() for ch in tag):
        return f"its tag {tag!r} names no version"
    return None


def validate_model_image_pinned(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Model-server images carry a version tag or a digest."""
    workload = workload_of(args.resource_type, plain(args.props), args.urn, args.name)
    if workload is None or not workload.is_model_server:
        return
    for container in workload.containers():
        image = container.spec.get("image")
        if isinstance(image, Unknown):
            continue
        if not isinstance(image, str) or not image.strip():
            report(f"{workload.display}, {container.label} has no image.", None)
            continue
        problem = image_problem(image.strip())
        if problem is not None:
            report(
                f"{workload.display}, {container.label}: image {image!r} is not pinned: "
                f"{problem}. Use a version tag (vllm/vllm-openai:v0.22.1-cu129-ubuntu2404) or a "
                "digest (@sha256:...), so every replica and every restart runs the build that "
                "was sized and tested for this slice.",
                None,
            )


# ---------------------------------------------------------------------------------------------
# model-fits-slice
# ---------------------------------------------------------------------------------------------


def validate_model_fits_slice(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """A model server's estimated memory is at most its slice's memory."""
    workload = workload_of(args.resource_type, plain(args.props), args.urn, args.name)
    if workload is None or not workload.is_model_server:
        return
    values: dict[str, float] = {}
    for key in (ANNOTATION_ESTIMATED, ANNOTATION_SLICE):
        raw = workload.annotation(key)
        if isinstance(raw, Unknown):
            return
        number = _number(raw)
        if raw is None:
            report(
                f"{workload.display} has no {key} annotation, so nobody can tell whether its model "
                f"fits its MIG slice. Annotate the pod template with {ANNOTATION_ESTIMATED} (the "
                f"memory estimate, GB) and {ANNOTATION_SLICE} (the slice's memory, GB).",
                None,
            )
        elif number is None or number < 0:
            report(f"{workload.display}: annotation {key}={raw!r} is not a size in GB.", None)
        else:
            values[key] = number
    if len(values) < 2:
        return
    estimated, slice_memory = values[ANNOTATION_ESTIMATED], values[ANNOTATION_SLICE]
    if estimated > slice_memory:
        profile = workload.annotation(ANNOTATION_MODEL)
        model = f" ({profile})" if isinstance(profile, str) else ""
        report(
            f"{workload.display}{model} needs an estimated {estimated:g} GB "
            f"({ANNOTATION_ESTIMATED}) but its MIG slice has {slice_memory:g} GB "
            f"({ANNOTATION_SLICE}): vLLM would fail to start with CUDA out of memory and "
            "restart forever. Choose a larger MIG profile, a smaller or quantized model, or a "
            "shorter max-model-len.",
            None,
        )


# ---------------------------------------------------------------------------------------------
# no-open-model-server
# ---------------------------------------------------------------------------------------------


def _config_list(config: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = config.get(key, default)
    return [str(item) for item in value] if isinstance(value, list) else list(default)


def _network(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return None


def _same_namespace(a: Any, b: Any) -> bool:
    return isinstance(a, Unknown) or isinstance(b, Unknown) or a == b


def selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a non-empty label selector (plain key/value map) matches `labels`."""
    if not selector:
        return False
    return all(
        isinstance(value, Unknown) or labels.get(key) == value for key, value in selector.items()
    )


def validate_no_open_model_server(args: StackValidationArgs, report: ReportViolation) -> None:
    """No model server reachable from outside the cluster without an API key; no rule open to all."""
    config = args.get_config()
    allowed = {net for cidr in _config_list(config, "allowedCidrs", []) if (net := _network(cidr))}
    servers = model_servers(args.resources)
    for resource in args.resources:
        props = plain(resource.props)
        if resource.resource_type == K8S_SERVICE:
            _check_service(resource, props, servers, report)
        elif resource.resource_type == SECURITY_GROUP_RULE:
            _check_rule(resource, props, allowed, report)
        elif resource.resource_type == SECURITY_GROUP:
            for source in as_list(props.get("externalSources")):
                network = _network(source) if isinstance(source, str) else None
                if network is not None and network.prefixlen == 0 and network not in allowed:
                    report(
                        f"{describe(resource.resource_type, resource.name)} lists {source} as an "
                        "external source: every address on the internet. Name the networks that "
                        "need access, or add the CIDR to the policy's allowedCidrs on purpose.",
                        resource.urn,
                    )


def _check_service(
    resource: PolicyResource, props: dict[str, Any], servers: list[Workload], report: ReportViolation
) -> None:
    spec = as_dict(props.get("spec"))
    service_type = spec.get("type")
    if service_type not in ("LoadBalancer", "NodePort"):
        return
    selector = as_dict(spec.get("selector"))
    namespace = as_dict(props.get("metadata")).get("namespace") or "default"
    for server in servers:
        if not _same_namespace(namespace, server.namespace) or not selects(selector, server.pod_labels):
            continue
        requires = server.annotation(ANNOTATION_API_KEY)
        if isinstance(requires, Unknown) or str(requires).strip().lower() == "true":
            continue
        shown = "missing" if requires is None else repr(requires)
        report(
            f"{describe(resource.resource_type, resource.name, props)} is of type {service_type} "
            f"and selects the pods of {server.display}, whose {ANNOTATION_API_KEY} annotation is "
            f"{shown}: the model server would answer anyone who finds the address. Keep it "
            "ClusterIP, or set an API key (pulumi config set --secret sks-mig:apiKey) so the "
            f"server requires it and says so with {ANNOTATION_API_KEY}: \"true\".",
            resource.urn,
        )


def _check_rule(
    resource: PolicyResource,
    props: dict[str, Any],
    allowed: set[ipaddress.IPv4Network | ipaddress.IPv6Network],
    report: ReportViolation,
) -> None:
    cidr = props.get("cidr")
    direction = props.get("type")
    if not isinstance(cidr, str) or (isinstance(direction, str) and direction.upper() == "EGRESS"):
        return
    network = _network(cidr)
    if network is None or network.prefixlen != 0 or network in allowed:
        return
    protocol = props.get("protocol") or "any protocol"
    start, end = _number(props.get("startPort")), _number(props.get("endPort"))
    ports = ""
    if start is not None:
        ports = f" port {_count(start)}" if end in (None, start) else f" ports {_count(start)}-{_count(end or 0)}"
    report(
        f"{describe(resource.resource_type, resource.name)} opens {protocol}{ports} to {cidr}, "
        "every address on the internet. Open it to the networks that need it (the stack's "
        "cluster.nodePortCidrs), or add the CIDR to this policy's allowedCidrs on purpose.",
        resource.urn,
    )


# ---------------------------------------------------------------------------------------------
# secrets-are-secret
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_SENSITIVE_LAST_WORDS = frozenset(
    {"token", "password", "passwd", "passphrase", "secret", "kubeconfig", "credential", "credentials", "apikey"}
)
_SENSITIVE_LAST_PAIRS = frozenset(
    {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key"), ("client", "key")}
)
# Maps whose keys are data (label names, annotation names), not property names.
_NAME_MAPS = frozenset({"labels", "annotations", "selector", "matchLabels", "nodeSelector"})
_API_KEY_FLAGS = ("--api-key",)


def words(name: str) -> list[str]:
    """`hfToken` -> [hf, token]; `VLLM_API_KEY` -> [vllm, api, key]; `client-key-data` -> [...]."""
    return [word.lower() for word in _WORD.findall(name)]


def is_sensitive_name(name: str) -> bool:
    """Whether a property (or environment variable) named `name` holds a credential."""
    parts = words(name)
    if not parts:
        return False
    if parts[-1] in _SENSITIVE_LAST_WORDS:
        return True
    return len(parts) >= 2 and (parts[-2], parts[-1]) in _SENSITIVE_LAST_PAIRS


def _is_secret_value(value: Any) -> bool:
    return value.secret if isinstance(value, Unknown) else is_secret(value)


def _plain_leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(path, value) of every scalar in `value` that is not secret."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _plain_leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _plain_leaves(item, f"{path}[{index}]")
    elif (
        isinstance(value, (str, int, float, Unknown))
        and not isinstance(value, bool)
        and not _is_secret_value(value)
        and value != ""
    ):
        yield path, value


def _sensitive_plain_values(value: Any, path: str, name: str = "") -> Iterator[str]:
    """Paths of plain (not secret) strings whose property name says they hold a credential."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _NAME_MAPS:
                continue
            yield from _sensitive_plain_values(item, f"{path}.{key}" if path else key, key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _sensitive_plain_values(item, f"{path}[{index}]", name)
    elif (
        isinstance(value, (str, Unknown))
        and is_sensitive_name(name)
        and not _is_secret_value(value)
        and value != ""
    ):
        yield path


def _inline_credentials(workload: Workload) -> Iterator[str]:
    """Credentials written into a pod spec: env values and --api-key arguments."""
    for container in workload.containers():
        for item in as_list(container.spec.get("env")):
            env_name, value = as_dict(item).get("name"), as_dict(item).get("value")
            if isinstance(env_name, str) and is_sensitive_name(env_name) and value not in (None, ""):
                yield (
                    f"{container.label} sets {env_name} inline in the pod spec, readable by anyone "
                    "who can read the workload; take it from a Secret (valueFrom.secretKeyRef)"
                )
        arguments = as_list(container.spec.get("command")) + as_list(container.spec.get("args"))
        for index, argument in enumerate(arguments):
            if not isinstance(argument, str):
                continue
            flag, _, inline = argument.partition("=")
            if flag not in _API_KEY_FLAGS:
                continue
            value = inline if inline else (arguments[index + 1] if index + 1 < len(arguments) else "")
            if isinstance(value, str) and value and not value.startswith("$("):
                yield (
                    f"{container.label} passes {flag} on its command line, readable by anyone who "
                    "can read the workload or list processes; set VLLM_API_KEY from a Secret instead"
                )


def validate_secrets_are_secret(args: StackValidationArgs, report: ReportViolation) -> None:
    """Credentials travel as Pulumi secrets: encrypted in the state, hidden in previews and logs."""
    for resource in args.resources:
        props = plain(resource.props)
        for problem in _secret_problems(resource, props):
            report(f"{describe(resource.resource_type, resource.name, props)}: {problem}.", resource.urn)


def _promised_secret(value: Any) -> Any:
    """`value` with its unknowns marked secret: the engine makes them secret once known."""
    if isinstance(value, Unknown):
        return SECRET_UNKNOWN
    if isinstance(value, dict):
        return {key: _promised_secret(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_promised_secret(item) for item in value]
    return value


def _secret_problems(resource: PolicyResource, props: dict[str, Any]) -> list[str]:
    # An output listed in additionalSecretOutputs that is not known yet (a preview) will be made
    # secret by the engine when it is; a known plain value is still reported.
    declared = set(getattr(resource.opts, "additional_secret_outputs", None) or [])
    props = {key: _promised_secret(v) if key in declared else v for key, v in props.items()}
    problems: list[str] = []
    covered: set[str] = set()  # top-level properties a type-specific check below already judged

    def must_be_secret(key: str, why: str) -> None:
        covered.add(key)
        value = props.get(key)
        if value not in (None, "") and not _is_secret_value(value):
            problems.append(why)

    resource_type = resource.resource_type
    if resource_type in (SKS_KUBECONFIG, K8S_PROVIDER):
        must_be_secret(
            "kubeconfig",
            "its kubeconfig (cluster-admin credentials) is not a secret; wrap it in "
            "pulumi.Output.secret(...)",
        )
    if resource_type.startswith("pulumi-python:dynamic"):
        must_be_secret(
            "__provider",
            "its serialized dynamic provider (__provider) is not a secret, and it may carry "
            "credentials",
        )
    if resource_type == EXOSCALE_PROVIDER:
        for key in ("key", "secret"):
            must_be_secret(
                key,
                f"the Exoscale API {key} is not a secret; set it with pulumi config set --secret "
                f"exoscale:{key}, or use EXOSCALE_API_KEY/EXOSCALE_API_SECRET in the environment",
            )
    if resource_type == K8S_SECRET:
        for field in ("data", "stringData"):
            covered.add(field)
            for path, _ in _plain_leaves(props.get(field), field):
                problems.append(
                    f"{path} is not a Pulumi secret, so its value is stored in plain text in the "
                    "state; wrap it in pulumi.Output.secret(...)"
                )
    for key, value in props.items():
        if key in covered or key in _NAME_MAPS:
            continue
        for path in _sensitive_plain_values(value, key, key):
            problems.append(
                f"{path} is named like a credential but is not a Pulumi secret; wrap it in "
                "pulumi.Output.secret(...) or set it with pulumi config set --secret"
            )
    workload = workload_of(resource_type, props, resource.urn, resource.name)
    if workload is not None:
        problems.extend(_inline_credentials(workload))
    return problems


# ---------------------------------------------------------------------------------------------
# rollout-cannot-deadlock
# ---------------------------------------------------------------------------------------------


def _scaled(value: Any, replicas: float, round_up: bool) -> float | None:
    """An int-or-percent field (maxSurge, minAvailable...) as a number of pods."""
    if isinstance(value, str) and value.strip().endswith("%"):
        percent = _number(value.strip()[:-1])
        if percent is None:
            return None
        pods = replicas * percent / 100
        return float(math.ceil(pods) if round_up else math.floor(pods))
    return _number(value)


def _pdbs(resources: Sequence[PolicyResource]) -> list[tuple[PolicyResource, dict[str, Any]]]:
    return [
        (resource, plain(resource.props))
        for resource in resources
        if resource.resource_type.startswith("kubernetes:policy/")
        and resource.resource_type.endswith(":PodDisruptionBudget")
    ]


def validate_rollout_cannot_deadlock(args: StackValidationArgs, report: ReportViolation) -> None:
    """Rollouts, drains and restarts of model servers cannot wait forever for a slice."""
    spare: dict[str, float] = {}  # URN of a server -> free slices in its group
    for group in slice_groups(args.resources):
        demand, supply = group.demand(), group.supply()
        if demand is not None and supply is not None and group.pools:
            for server in group.servers:
                spare[server.urn] = supply - demand
    pdbs = _pdbs(args.resources)
    for server in model_servers(args.resources):
        replicas = server.replicas()
        _check_surge(server, replicas, spare.get(server.urn), report)
        _check_disruption_budgets(server, replicas, pdbs, report)
        links = server.pod_spec.get("enableServiceLinks")
        if links is not False and not isinstance(links, Unknown):
            shown = "unset (default true)" if links is None else str(links).lower()
            report(
                f"{server.display}: enableServiceLinks is {shown}. Kubernetes then injects "
                "<SERVICE>_PORT variables for every Service in the namespace; a Service named "
                "vllm sets VLLM_PORT=tcp://..., which vLLM reads as its own setting and crashes "
                "on, restart after restart. Set enableServiceLinks: false.",
                server.urn,
            )
        _check_startup_probe(server, report)


def _check_surge(
    server: Workload, replicas: float | None, spare: float | None, report: ReportViolation
) -> None:
    if server.kind != "Deployment" or replicas is None or replicas == 0 or spare is None:
        return
    strategy = as_dict(server.spec.get("strategy"))
    if (strategy.get("type") or "RollingUpdate") != "RollingUpdate":
        return
    raw = as_dict(strategy.get("rollingUpdate")).get("maxSurge", _DEFAULT_MAX_SURGE)
    surge = _scaled(raw, replicas, round_up=True)
    per_pod = server.slices_per_pod() or 0
    if surge is None or surge <= 0 or surge * per_pod <= spare:
        return
    report(
        f"{server.display} rolls out with maxSurge {raw!r} ({_count(surge)} extra pod(s), "
        f"{_count(surge * per_pod)} slice(s)) but only {_count(max(spare, 0))} MIG slice(s) are "
        "free: the surge pods stay Pending and the rollout never finishes. Use strategy "
        "Recreate, or RollingUpdate with maxSurge: 0 and maxUnavailable: 1.",
        server.urn,
    )


def _check_disruption_budgets(
    server: Workload,
    replicas: float | None,
    pdbs: list[tuple[PolicyResource, dict[str, Any]]],
    report: ReportViolation,
) -> None:
    if replicas is None or replicas == 0:
        return
    for resource, props in pdbs:
        namespace = as_dict(props.get("metadata")).get("namespace") or "default"
        selector = as_dict(dig(props, "spec", "selector", "matchLabels"))
        if not _same_namespace(namespace, server.namespace) or not selects(selector, server.pod_labels):
            continue
        spec = as_dict(props.get("spec"))
        blocked = None
        if "minAvailable" in spec:
            minimum = _scaled(spec["minAvailable"], replicas, round_up=True)
            if minimum is not None and minimum >= replicas:
                blocked = f"minAvailable {spec['minAvailable']!r}"
        if "maxUnavailable" in spec:
            maximum = _scaled(spec["maxUnavailable"], replicas, round_up=True)
            if maximum is not None and maximum <= 0:
                blocked = f"maxUnavailable {spec['maxUnavailable']!r}"
        if blocked is not None:
            report(
                f"{describe(resource.resource_type, resource.name, props)} sets {blocked} over "
                f"{server.display} ({_count(replicas)} replica(s)): no pod may ever be evicted, so "
                "draining or upgrading a GPU node waits forever, and with every slice taken a "
                "replacement has nowhere else to go. Allow one disruption (maxUnavailable: 1).",
                resource.urn,
            )


def _check_startup_probe(server: Workload, report: ReportViolation) -> None:
    required, reason = _startup_requirement(server)
    if required is None:
        if reason:
            report(f"{server.display}: {reason}", server.urn)
        return
    container = server.slice_container()
    probe = as_dict(container.spec.get("startupProbe")) if container else {}
    where = f"{server.display}, {container.label}" if container else server.display
    if not probe:
        report(
            f"{where} has no startupProbe: the liveness probe starts at once and kills vLLM "
            f"while it still downloads and loads the model (about {_count(required)} s here), so "
            "it restarts forever. Add a startupProbe on /health allowing at least that long.",
            server.urn,
        )
        return
    fields = [probe.get(k) for k in ("initialDelaySeconds", "periodSeconds", "failureThreshold")]
    if any(isinstance(f, Unknown) for f in fields):
        return
    delay = _number(fields[0]) or 0
    period = _number(fields[1]) or _DEFAULT_PROBE_PERIOD
    failures = _number(fields[2]) or _DEFAULT_PROBE_FAILURES
    budget = delay + period * failures
    if budget < required:
        report(
            f"{where}: its startupProbe allows {_count(budget)} s (initialDelaySeconds "
            f"{_count(delay)} + periodSeconds {_count(period)} x failureThreshold "
            f"{_count(failures)}) but loading the model takes up to {_count(required)} s "
            f"({reason}); the kubelet would kill vLLM before it is up, and again on every "
            "restart. Raise failureThreshold.",
            server.urn,
        )


def _startup_requirement(server: Workload) -> tuple[float | None, str]:
    """Seconds the startup probe must allow, and where the number comes from."""
    annotated = server.annotation(ANNOTATION_STARTUP)
    weights = server.annotation(ANNOTATION_WEIGHTS)
    if isinstance(annotated, Unknown) or isinstance(weights, Unknown):
        return None, ""
    candidates: list[tuple[float, str]] = []
    if annotated is not None:
        number = _number(annotated)
        if number is None:
            return None, f"annotation {ANNOTATION_STARTUP}={annotated!r} is not a number of seconds."
        candidates.append((number, f"{ANNOTATION_STARTUP}"))
    weights_gb = _number(weights)
    if weights_gb is not None and weights_gb >= 0:
        candidates.append(
            (float(startup_budget_seconds(weights_gb)), f"{weights_gb:g} GB of weights ({ANNOTATION_WEIGHTS})")
        )
    if not candidates:
        return None, (
            f"no {ANNOTATION_STARTUP} (or {ANNOTATION_WEIGHTS}) annotation, so the startup "
            "probe cannot be checked against the time the model takes to load; annotate the pod "
            "template."
        )
    return max(candidates)


# ---------------------------------------------------------------------------------------------
# slices-within-capacity
# ---------------------------------------------------------------------------------------------


def validate_slices_within_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    """The model servers' replicas need no more slices than the MIG nodepools provide."""
    for group in slice_groups(args.resources):
        demand = group.demand()
        if demand is None:
            continue
        which = (
            "model servers that select no MIG profile"
            if group.profile_label is None
            else f"model servers on MIG profile {group.profile_label}"
        )
        if not group.pools:
            report(
                f"The {which} ({group.describe_demand()}) need {_count(demand)} slice(s) but no MIG "
                "nodepool of the stack offers "
                + ("any." if group.profile_label is None else f"nodes labelled {MIG_PROFILE_LABEL}="
                   f"{group.profile_label}.")
                + " Their pods would stay Pending.",
                group.servers[0].urn,
            )
            continue
        supply = group.supply()
        if supply is None:
            unknown = next(pool for pool in group.pools if pool.slices is None)
            report(
                f"Cannot count the slices of MIG nodepool '{unknown.name}': {unknown.arithmetic}. "
                f"The {which} need {_count(demand)} slice(s).",
                unknown.urn,
            )
            continue
        if demand > supply:
            report(
                f"The {which} need {_count(demand)} slice(s) (replicas x slices per pod: "
                f"{group.describe_demand()}) but the MIG nodepools offer {supply} "
                f"({group.describe_supply()}): {_count(demand - supply)} pod(s) would stay "
                "Pending. Lower replicas, add nodes, or choose a profile with more slices.",
                group.pools[0].urn if len(group.pools) == 1 else None,
            )


# ---------------------------------------------------------------------------------------------
# production-hardening
# ---------------------------------------------------------------------------------------------


def validate_production_hardening(args: StackValidationArgs, report: ReportViolation) -> None:
    """Production clusters run the pro control plane, and the cluster and GPU nodes are protected."""
    environments = _config_list(args.get_config(), "productionEnvironments", ["prod"])
    production = []
    for resource in args.resources:
        if resource.resource_type != SKS_CLUSTER:
            continue
        props = plain(resource.props)
        environment = as_dict(props.get("labels")).get("environment")
        if isinstance(environment, str) and environment in environments:
            production.append((resource, props, environment))
    for resource, props, environment in production:
        name = describe(resource.resource_type, resource.name)
        level = props.get("serviceLevel")
        if level != "pro" and not isinstance(level, Unknown):
            report(
                f"{name} is labelled environment={environment} but runs the {level or 'starter'!r} "
                "control plane, which has no SLA and no highly available control plane; set "
                "cluster.serviceLevel: pro.",
                resource.urn,
            )
        if not resource.opts.protect:
            report(
                f"{name} (environment={environment}) is not protected: one mistaken `pulumi "
                "destroy` or replacement deletes the cluster and everything on it; set "
                "protect=True (the program does so for environment prod).",
                resource.urn,
            )
    if not production:
        return
    for resource in args.resources:
        if resource.resource_type == MIG_NODEPOOL and not resource.opts.protect:
            report(
                f"MIG nodepool '{resource.name}' of a production stack is not protected: a "
                "replacement would delete every GPU node, and every model server with it; set "
                "protect=True.",
                resource.urn,
            )


# ---------------------------------------------------------------------------------------------
# The policies
# ---------------------------------------------------------------------------------------------

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="gpu-slice-exactly-one",
        description=(
            "A container that requests a GPU slice (nvidia.com/gpu or nvidia.com/mig-*) requests "
            "exactly one, because one CUDA process sees one MIG device; and its pod tolerates the "
            "nvidia.com/gpu taint and selects the MIG nodepool, or it can never be scheduled "
            "where its model was sized to run."
        ),
        validate=validate_gpu_slice_exactly_one,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="model-image-pinned",
        description=(
            "Model-server images carry a version tag or a digest, never latest or no tag: a "
            "moving tag lets replicas and restarts run a different vLLM than the one sized and "
            "tested for the slice."
        ),
        validate=validate_model_image_pinned,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="model-fits-slice",
        description=(
            "A model server's estimated memory (sks-mig.io/estimated-memory-gb) is at most its "
            "MIG slice's memory (sks-mig.io/slice-memory-gb); a model that does not fit crashes "
            "with CUDA out of memory and restarts forever."
        ),
        validate=validate_model_fits_slice,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="no-open-model-server",
        description=(
            "No LoadBalancer or NodePort Service exposes a model server that does not require an "
            "API key, and no security-group rule opens to 0.0.0.0/0 or ::/0 unless listed in "
            "allowedCidrs: an open vLLM endpoint gives anyone free use of the GPUs."
        ),
        validate=validate_no_open_model_server,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(
            properties={
                "allowedCidrs": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                    "description": "CIDRs that security-group rules may open to, 0.0.0.0/0 included.",
                }
            }
        ),
    ),
    StackValidationPolicy(
        name="secrets-are-secret",
        description=(
            "Kubeconfigs, Kubernetes Secret data and every property named like a token, key, "
            "password or secret are Pulumi secrets, and pod specs take credentials from Secrets: "
            "anything else is stored in plain text in the state and shown in previews and logs."
        ),
        validate=validate_secrets_are_secret,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="rollout-cannot-deadlock",
        description=(
            "Model-server rollouts and node drains cannot wait forever for a slice: no surge when "
            "no slice is free, no PodDisruptionBudget that forbids every eviction, "
            "enableServiceLinks false (injected VLLM_PORT crashes vLLM), and a startup probe that "
            "allows the time the model takes to download and load."
        ),
        validate=validate_rollout_cannot_deadlock,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="slices-within-capacity",
        description=(
            "The model servers' replicas x slices per pod fit in the slices the MIG nodepools "
            "provide (nodes x GPUs x slices per GPU, from the project's MIG catalogue); the pods "
            "beyond that stay Pending."
        ),
        validate=validate_slices_within_capacity,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="production-hardening",
        description=(
            "A production stack (SksCluster label environment in productionEnvironments) runs the "
            "pro control plane, and protects the cluster and the MIG nodepool from deletion. "
            "Advisory by default."
        ),
        validate=validate_production_hardening,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(
            properties={
                "productionEnvironments": {
                    "type": "array",
                    "items": {"type": "string"},
                    "default": ["prod"],
                    "description": "Values of the SksCluster environment label that mean production.",
                }
            }
        ),
    ),
]
