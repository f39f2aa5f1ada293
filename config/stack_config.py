"""The stack configuration: pydantic models for every `sks-mig:*` key, validated once, at the edge.

`load_stack_config` turns raw config values into a `StackConfig` or raises `ConfigError`, whose
message names each bad key, the value given and what would be accepted. Cross-key rules (a profile
the GPU has, models that fit their slice, replicas within the slices) live in `StackConfig`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NoReturn

import pulumi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from config.memory_fit import MemoryFit, MemoryFitError, fit_model
from config.mig_catalogue import FAMILIES, GpuFamily, MigProfile, api_zones, family_of
from config.model_catalogue import KNOWN_MODELS, ModelArchitecture

NAMESPACE = "sks-mig"
DEFAULT_VLLM_IMAGE = "vllm/vllm-openai:v0.22.1-cu129-ubuntu2404"

_DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$"
_HUGGING_FACE_ID = r"^[A-Za-z0-9][\w.-]*/[\w.-]+$"
_KUBERNETES_VERSION = r"^1\.\d+(\.\d+)?$"
# What each pattern means, for the error message.
_PATTERN_HELP = {
    _DNS_LABEL: "a DNS label: lowercase letters, digits and '-', starting with a letter, at most 63",
    _QUANTITY: "a Kubernetes quantity such as 50Gi",
    _HUGGING_FACE_ID: "a Hugging Face model id, organisation/name",
    _KUBERNETES_VERSION: 'a Kubernetes version such as "1.36" or "1.36.2"',
}
DnsLabel = Annotated[str, StringConstraints(pattern=_DNS_LABEL, max_length=63)]
Quantity = Annotated[str, StringConstraints(pattern=_QUANTITY)]
HuggingFaceId = Annotated[str, StringConstraints(pattern=_HUGGING_FACE_ID)]


class ConfigError(Exception):
    """Invalid stack configuration; the message is meant for the user as it stands."""


class _Section(BaseModel):
    # camelCase keys as users write them; an unknown key is an error, not silently ignored.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class SystemNodepoolConfig(_Section):
    instance_type: str = "standard.medium"
    size: int = Field(2, gt=0)
    disk_size: int = Field(50, ge=20, le=51200)


class ClusterConfig(_Section):
    name: DnsLabel
    kubernetes_version: Annotated[str, StringConstraints(pattern=_KUBERNETES_VERSION)] | None = None
    service_level: Literal["starter", "pro"] = "starter"
    cni: Literal["calico", "cilium"] = "calico"
    system_nodepool: SystemNodepoolConfig = SystemNodepoolConfig()
    node_port_cidrs: list[str] = []

    @field_validator("node_port_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        for cidr in cidrs:
            try:
                ipaddress.ip_network(cidr, strict=True)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a network in CIDR form, e.g. 203.0.113.0/24") from None
        return cidrs

    @property
    def kubernetes_minor(self) -> str:
        """The "1.36" of the version, for schema checks; the article's version when unset."""
        return ".".join((self.kubernetes_version or "1.36").split(".")[:2])


class GpuNodepoolConfig(_Section):
    name: DnsLabel
    instance_type: str
    size: int = Field(1, gt=0)
    mig_profile: str
    disk_size: int = Field(100, ge=20, le=51200)
    gpus_per_node: int | None = Field(None, gt=0)
    mig_strategy: Literal["single", "mixed"] = "single"

    @field_validator("instance_type")
    @classmethod
    def _mig_capable(cls, instance_type: str) -> str:
        if family_of(instance_type) is None:
            families = ", ".join(f"{f.family}.<size>" for f in FAMILIES.values())
            raise ValueError(f"{instance_type!r} has no MIG-capable GPU; valid: {families}")
        return instance_type

    @property
    def family(self) -> GpuFamily:
        family = family_of(self.instance_type)
        assert family is not None  # checked by _mig_capable
        return family


class ArchitectureConfig(_Section):
    """The numbers of a model the catalogue does not know, from its config.json."""

    parameters_billion: float = Field(gt=0)
    layers: int = Field(gt=0)
    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    context_length: int = Field(gt=0)


class ModelServerConfig(_Section):
    # 52, not 63: a StatefulSet's pods carry the label controller-revision-hash=<name>-<10 chars>.
    name: Annotated[str, StringConstraints(pattern=_DNS_LABEL, max_length=52)]
    model: HuggingFaceId
    served_model_name: str | None = None
    replicas: int = Field(1, ge=0)
    max_model_len: int | None = Field(None, gt=0)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=0.98)
    max_num_seqs: int = Field(16, gt=0)
    dtype: Literal["auto", "bfloat16", "float16", "half", "float32"] = "auto"
    image: Annotated[str, StringConstraints(min_length=1)] = DEFAULT_VLLM_IMAGE
    extra_args: list[str] = []
    env: dict[str, str] = {}
    cache_size: Quantity = "50Gi"
    expose: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    allowed_namespaces: list[DnsLabel] = []
    weights_gb: float | None = Field(None, gt=0)
    architecture: ArchitectureConfig | None = None

    @property
    def served_name(self) -> str:
        return self.served_model_name or self.model

    @property
    def model_architecture(self) -> ModelArchitecture | None:
        if self.architecture is not None:
            return ModelArchitecture(**self.architecture.model_dump())
        return KNOWN_MODELS.get(self.model)


class StackConfig(_Section):
    zone: str
    environment: Literal["dev", "prod"] = "dev"
    namespace: DnsLabel = "inference"
    cluster: ClusterConfig
    gpu_nodepool: GpuNodepoolConfig
    models: list[ModelServerConfig] = []
    # Whether the `hfToken`/`apiKey` secrets are set; filled by the loader, never by users.
    api_key_set: bool = Field(False, exclude=True)

    _fits: dict[str, MemoryFit] = PrivateAttr(default_factory=dict)

    @field_validator("zone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        if zone not in api_zones():
            raise ValueError(f"{zone!r} is not an Exoscale zone; valid: {', '.join(api_zones())}")
        return zone

    @model_validator(mode="after")
    def _cross_checks(self) -> StackConfig:
        pool, family = self.gpu_nodepool, self.gpu_nodepool.family
        if pool.mig_profile not in family.profiles:
            _fail(
                "gpuNodepool.migProfile",
                f"{pool.mig_profile!r} is not a MIG profile of {family.describe()}; "
                f"valid: {', '.join(family.profiles)}",
            )
        if pool.gpus_per_node is None and family.gpus_per_node(pool.instance_type) is None:
            known = ", ".join(f"{family.family}.{size}" for size in family.gpus_per_size)
            _fail(
                "gpuNodepool.gpusPerNode",
                f"required: the catalogue does not know how many GPUs {pool.instance_type!r} has "
                f"(it knows {known}); set it to the instance type's GPU count",
            )
        names = [server.name for server in self.models]
        for index, name in enumerate(names):
            if name in names[:index]:
                _fail(f"models[{index}].name", f"{name!r} is used twice; model names must be unique")
        for index, server in enumerate(self.models):
            if server.expose == "LoadBalancer" and not self.api_key_set:
                _fail(
                    f"models[{index}].expose",
                    "'LoadBalancer' puts the server on the internet and needs an API key; "
                    f"set one with `pulumi config set --secret {NAMESPACE}:apiKey`, "
                    "or use 'ClusterIP'",
                )
            self._fits[server.name] = self._fit(index, server)
        wanted = sum(server.replicas for server in self.models)
        if wanted > self.total_slices:
            _fail(
                "models",
                f"the model servers ask for {wanted} slices (sum of replicas) but the GPU nodepool "
                f"has {self.total_slices} ({pool.size} node(s) x {self.gpus_per_node} GPU(s) x "
                f"{self.mig_profile.slices_per_gpu} {pool.mig_profile} slices); lower replicas, "
                f"raise gpuNodepool.size, or choose a profile with more slices",
            )
        return self

    def _fit(self, index: int, server: ModelServerConfig) -> MemoryFit:
        profile, family = self.mig_profile, self.gpu_nodepool.family
        try:
            return fit_model(
                model=server.model,
                architecture=server.model_architecture,
                weights_gb=server.weights_gb,
                dtype=None if server.dtype == "auto" else server.dtype,
                max_model_len=server.max_model_len,
                gpu_memory_utilization=server.gpu_memory_utilization,
                slice_name=profile.name,
                slice_memory_gb=profile.memory_gb,
                other_profiles={p.name: p.memory_gb for p in family.profiles.values()},
            )
        except MemoryFitError as error:
            key = "maxModelLen" if server.max_model_len is not None else "model"
            _fail(f"models[{index}].{key}", str(error))

    @property
    def mig_profile(self) -> MigProfile:
        return self.gpu_nodepool.family.profiles[self.gpu_nodepool.mig_profile]

    @property
    def gpus_per_node(self) -> int:
        pool = self.gpu_nodepool
        known = pool.family.gpus_per_node(pool.instance_type)
        return pool.gpus_per_node or known or 0

    @property
    def total_slices(self) -> int:
        return self.gpu_nodepool.size * self.gpus_per_node * self.mig_profile.slices_per_gpu

    def fit(self, server: ModelServerConfig) -> MemoryFit:
        """The memory estimate of a model server, computed when the config was validated."""
        return self._fits[server.name]


def _fail(key: str, message: str) -> NoReturn:
    raise ConfigError(f"{NAMESPACE}:{key}: {message}")


def load_stack_config(raw: Mapping[str, Any], *, api_key_set: bool = False) -> StackConfig:
    """Validate the raw `sks-mig:*` values (objects already parsed from JSON) into a StackConfig."""
    try:
        return StackConfig.model_validate({**raw, "apiKeySet": api_key_set}, by_alias=True)
    except ValidationError as error:
        raise ConfigError("\n".join(_describe(e) for e in error.errors())) from None


def _describe(error: Mapping[str, Any]) -> str:
    """One line per pydantic error: the key, the value given and what is accepted."""
    key = _key(error["loc"])
    kind, message = error["type"], str(error["msg"]).removeprefix("Value error, ")
    if kind == "missing":
        return f"{key}: required, but not set"
    if kind == "extra_forbidden":
        parent = _section_fields(error["loc"][:-1])
        return f"{key}: unknown key; valid keys here: {', '.join(parent)}"
    if kind == "value_error":
        return f"{key}: {message}"
    if kind == "string_pattern_mismatch":
        pattern = error["ctx"]["pattern"]
        return f"{key}: {error['input']!r} is not accepted: it must be {_PATTERN_HELP.get(pattern, pattern)}"
    return f"{key}: {error['input']!r} is not accepted: {message}"


def _key(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return f"{NAMESPACE}:{text}"


def _section_fields(loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys accepted at `loc`, for the message about an unknown key."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next(f for n, f in model.model_fields.items() if (f.alias or n) == part)
        annotation = field.annotation
        for candidate in getattr(annotation, "__args__", ()) or (annotation,):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                annotation = candidate
        model = annotation
    return [f.alias or n for n, f in model.model_fields.items() if not f.exclude]


# Top-level keys: scalars are read as text, sections as JSON objects/lists.
_SCALAR_KEYS = ("zone", "environment", "namespace")
_OBJECT_KEYS = ("cluster", "gpuNodepool", "models")


def read_stack_config(config: pulumi.Config) -> StackConfig:
    """Read every `sks-mig:*` key of the running stack and validate it (see `load_stack_config`)."""
    raw: dict[str, Any] = {key: config.get(key) for key in _SCALAR_KEYS}
    raw |= {key: config.get_object(key) for key in _OBJECT_KEYS}
    present = {key: value for key, value in raw.items() if value is not None}
    return load_stack_config(present, api_key_set=config.get_secret("apiKey") is not None)
