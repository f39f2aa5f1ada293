"""The stack configuration: every `sks-mig:*` key, validated once, before any resource exists.

`read_stack_config` reads all keys of the namespace from the running Pulumi program;
`load_stack_config` takes the same values as the engine hands them over (`sks-mig:<key>` -> text,
objects as JSON text) and returns a `StackConfig`, or raises `ConfigError` with one line per
problem: the key, the value given and what would be accepted. The sections live in
`cluster_config.py`, `gpu_config.py` and `model_config.py`; the rules across keys are here.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path as FilePath
from typing import Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator

from config.cluster_config import ClusterConfig
from config.errors import NAMESPACE, ConfigError, Path, did_you_mean, echo, problem
from config.field_types import DnsLabel, Section
from config.gpu_config import GpuNodepoolConfig
from config.karpenter_config import karpenter_rule_errors
from config.limits import (
    ANTI_AFFINITY_GROUP_MAX_INSTANCES,
    KARPENTER_DISK_MAX_GIB,
    MAX_MODEL_SERVERS,
    NODEPOOL_DISK_MAX_GIB,
)
from config.memory_fit import MemoryFit, MemoryFitError, fit_model
from config.messages import describe, section_keys
from config.mig_catalogue import MigProfile, api_zones
from config.model_config import ModelServerConfig
from config.names import name_collisions
from config.router_config import RouterConfig, router_problems
from config.stack_file import StackFileFacts, read_stack_file

# The only keys whose whole value may be secret; `models` may hold secrets in `env` values.
SECRET_KEYS = ("hfToken", "apiKey")
# A key long enough that guessing it is hopeless; refused below this, with a way to make one.
MIN_API_KEY_LENGTH = 16
_MAKE_API_KEY = f'pulumi config set --secret {NAMESPACE}:apiKey "$(openssl rand -hex 24)"'

# The namespaces every cluster starts with; names starting with `kube-` are reserved for the
# system ("Initial namespaces" and "Avoid creating namespaces with the prefix kube-",
# https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/).
KUBERNETES_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

# How each top-level key arrives from the engine: objects as JSON text, scalars as text.
_JSON_KEYS = {"cluster": "a mapping (key: value lines)", "gpuNodepool": "a mapping (key: value lines)",
              "models": "a list of mappings", "router": "a mapping (key: value lines)"}
_BOOLEAN_KEYS = ("requireApiKey",)


class StackConfig(Section):
    zone: str = Field(description="an Exoscale zone")
    environment: Literal["dev", "prod"] = "dev"
    namespace: DnsLabel = "inference"
    cluster: ClusterConfig
    gpu_nodepool: GpuNodepoolConfig
    models: list[ModelServerConfig] = Field([], max_length=MAX_MODEL_SERVERS)
    router: RouterConfig = RouterConfig()
    hf_token: SecretStr | None = None
    api_key: SecretStr | None = None
    require_api_key: bool | None = None
    monitoring_namespace: DnsLabel | None = None

    _fits: dict[str, MemoryFit] = PrivateAttr(default_factory=dict)
    _secret_env: dict[int, frozenset[str]] = PrivateAttr(default_factory=dict)

    @field_validator("zone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        if zone not in api_zones():
            raise ValueError(
                f"{echo(zone)} is not an Exoscale zone; valid: {', '.join(api_zones())}{did_you_mean(zone, api_zones())}"
            )
        return zone

    @field_validator("namespace")
    @classmethod
    def _own_namespace(cls, namespace: str) -> str:
        # The program creates this namespace and owns it: server-side apply takes over one that
        # exists, and `pulumi destroy` deletes it with everything in it.
        if namespace in KUBERNETES_NAMESPACES or namespace.startswith("kube-"):
            raise ValueError(
                f"{echo(namespace)} is one of Kubernetes' own namespaces (default, and the kube- ones "
                "are reserved for the system): the stack creates and owns its namespace, so it "
                "would take it over and `pulumi destroy` would delete it; choose a namespace of "
                "its own, such as 'inference'"
            )
        return namespace

    @field_validator("hf_token", "api_key")
    @classmethod
    def _secret_text(cls, secret: SecretStr | None) -> SecretStr | None:
        # Never echoed: the message says what is wrong with the value, not what it is.
        if secret is None:
            return None
        text = secret.get_secret_value()
        if not text.strip():
            raise ValueError("the secret is empty (or only spaces); set the real value")
        if any(char.isspace() or not char.isprintable() for char in text):
            raise ValueError("the secret contains spaces, line breaks or control characters; set it without them")
        return secret

    @field_validator("api_key")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < MIN_API_KEY_LENGTH:
            raise ValueError(
                f"the API key has {len(secret.get_secret_value())} characters; use at least "
                f"{MIN_API_KEY_LENGTH}, e.g. a random one: `{_MAKE_API_KEY}`"
            )
        return secret

    @property
    def api_key_required(self) -> bool:
        """Whether the stack refuses to run without `apiKey` (by default: production stacks)."""
        return self.require_api_key if self.require_api_key is not None else self.environment == "prod"

    @property
    def mig_profile(self) -> MigProfile:
        return self.gpu_nodepool.family.profiles[self.gpu_nodepool.mig_profile]

    @property
    def gpus_per_node(self) -> int:
        pool = self.gpu_nodepool
        return pool.gpus_per_node or pool.family.gpus_per_node(pool.instance_type) or 0

    @property
    def total_slices(self) -> int:
        """The slices of the GPU pool; with Karpenter, the most its node limit allows."""
        return self.gpu_nodepool.nodes * self.gpus_per_node * self.mig_profile.slices_per_gpu

    @property
    def karpenter(self) -> bool:
        return self.gpu_nodepool.provisioner == "karpenter"

    @property
    def router_on(self) -> bool:
        return self.router.is_on(len(self.models))

    @property
    def load_balanced(self) -> bool:
        """Whether any Service is a LoadBalancer (the router's or a model server's)."""
        router_lb = self.router_on and self.router.expose == "LoadBalancer"
        return router_lb or any(server.expose == "LoadBalancer" for server in self.models)

    @property
    def used_slices(self) -> int:
        return sum(server.replicas for server in self.models)

    def fit(self, server: ModelServerConfig) -> MemoryFit:
        """The memory estimate of a model server, computed once, when the config was validated."""
        return self._fits[server.name]

    def secret_env_names(self, index: int) -> frozenset[str]:
        """The `env` names of `models[index]` whose values were set as secrets."""
        return self._secret_env.get(index, frozenset())

    def cross_key_problems(self) -> list[str]:
        """The rules across keys; fills in each server's memory fit."""
        problems = self._nodepool_problems() + name_collisions(self) + self._exposure_problems()
        if self.monitoring_namespace is not None and self.monitoring_namespace == self.namespace:
            # The servers admit the monitoring namespace's pods: their own namespace would admit
            # every pod in it, not only the router.
            problems.append(problem(
                ("monitoringNamespace",),
                f"{echo(self.monitoring_namespace)} is the stack's own namespace (namespace): the model "
                "servers would then admit every pod of it, not only the router; set the namespace "
                "Prometheus runs in (such as 'monitoring'), or remove the key",
            ))
        problems += router_problems(
            self.router,
            environment=self.environment,
            api_key_set=self.api_key is not None,
            served_names=[server.served_name for server in self.models],
            server_exposes={index: server.expose for index, server in enumerate(self.models)},
            node_port_cidrs=self.cluster.node_port_cidrs,
        )
        for index, server in enumerate(self.models):
            if server.max_num_batched_tokens is not None and server.max_num_batched_tokens < server.max_num_seqs:
                # vLLM refuses to start otherwise (vllm/config/scheduler.py, verify_max_model_len).
                problems.append(problem(
                    ("models", index, "maxNumBatchedTokens"),
                    f"{server.max_num_batched_tokens} is less than maxNumSeqs ({server.max_num_seqs}); "
                    "vLLM needs at least one token per sequence in a batch",
                ))
        if problems:
            return problems
        for index, server in enumerate(self.models):
            try:
                self._fits[server.name] = self._fit(server)
            except MemoryFitError as error:
                key = "maxModelLen" if server.max_model_len is not None else "model"
                problems.append(problem(("models", index, key), str(error)))
        if self.used_slices > self.total_slices:
            pool = self.gpu_nodepool
            nodes, more = (
                (f"up to {pool.nodes} node(s) (maxNodes)", "raise gpuNodepool.maxNodes")
                if self.karpenter
                else (f"{pool.size} node(s)", "raise gpuNodepool.size")
            )
            problems.append(problem(
                ("models",),
                f"the model servers ask for {self.used_slices} slices (sum of replicas) but the GPU "
                f"nodepool has {'up to ' if self.karpenter else ''}{self.total_slices} ({nodes} x "
                f"{self.gpus_per_node} GPU(s) x {self.mig_profile.slices_per_gpu} {pool.mig_profile} "
                f"slices); lower replicas, {more}, or choose a profile with more slices",
            ))
        return problems

    def _nodepool_problems(self) -> list[str]:
        pool, family = self.gpu_nodepool, self.gpu_nodepool.family
        problems: list[str] = []
        if pool.mig_profile not in family.profiles:
            problems.append(problem(
                ("gpuNodepool", "migProfile"),
                f"{echo(pool.mig_profile)} is not a MIG profile of {family.describe()}; "
                f"valid: {', '.join(family.profiles)}{did_you_mean(pool.mig_profile, family.profiles)}",
            ))
        catalogue_gpus = family.gpus_per_node(pool.instance_type)
        if pool.gpus_per_node is not None and catalogue_gpus is not None and pool.gpus_per_node != catalogue_gpus:
            # The slices promised (and the servers placed) follow gpusPerNode: more GPUs than the
            # instance has leaves servers Pending for slices that do not exist.
            problems.append(problem(
                ("gpuNodepool", "gpusPerNode"),
                f"{pool.gpus_per_node} contradicts the catalogue: {pool.instance_type} has "
                f"{catalogue_gpus} GPU(s); remove gpusPerNode (it is only for instance types the "
                f"catalogue does not know) or set it to {catalogue_gpus}",
            ))
        if pool.gpus_per_node is None and catalogue_gpus is None:
            known = ", ".join(f"{family.family}.{size}" for size in family.gpus_per_size)
            problems.append(problem(
                ("gpuNodepool", "gpusPerNode"),
                f"required: the catalogue does not know how many GPUs {pool.instance_type!r} has "
                f"(it knows {known}); set it to the instance type's GPU count",
            ))
        for key, message in karpenter_rule_errors(
            pool, size_set="size" in pool.model_fields_set, service_level=self.cluster.service_level
        ):
            problems.append(problem(tuple(key.split(".")), message))
        if self.karpenter and pool.disk_size > KARPENTER_DISK_MAX_GIB:
            problems.append(problem(
                ("gpuNodepool", "diskSize"),
                f"{pool.disk_size} GiB is more than Karpenter's GPU nodes can have: an ExoscaleNodeClass "
                f"takes at most {KARPENTER_DISK_MAX_GIB} GiB (a fixed nodepool up to {NODEPOOL_DISK_MAX_GIB}); "
                f"use at most {KARPENTER_DISK_MAX_GIB} with provisioner 'karpenter'",
            ))
        if pool.anti_affinity and pool.nodes > ANTI_AFFINITY_GROUP_MAX_INSTANCES:
            problems.append(problem(
                ("gpuNodepool", "maxNodes" if self.karpenter else "size"),
                f"{pool.nodes} GPU nodes do not fit their anti-affinity group: an Exoscale anti-affinity "
                f"group holds at most {ANTI_AFFINITY_GROUP_MAX_INSTANCES} instances; use at most "
                f"{ANTI_AFFINITY_GROUP_MAX_INSTANCES}, or set gpuNodepool.antiAffinity: false "
                "(the nodes may then share a host)",
            ))
        elif (
            pool.anti_affinity
            and not self.karpenter
            and pool.replace_strategy == "createFirst"
            and 2 * pool.size > ANTI_AFFINITY_GROUP_MAX_INSTANCES
        ):
            # createFirst starts the new pool before deleting the old one, both in the one group.
            problems.append(problem(
                ("gpuNodepool", "replaceStrategy"),
                f"'createFirst' with antiAffinity: true and size: {pool.size}: during a replacement the "
                f"old and the new pool share the anti-affinity group, {2 * pool.size} instances, but "
                f"a group holds at most {ANTI_AFFINITY_GROUP_MAX_INSTANCES}; use size <= "
                f"{ANTI_AFFINITY_GROUP_MAX_INSTANCES // 2}, replaceStrategy: deleteFirst, or "
                "antiAffinity: false",
            ))
        return problems

    def _exposure_problems(self) -> list[str]:
        problems: list[str] = []
        if self.api_key_required and self.api_key is None:
            reason = "requireApiKey is true" if self.require_api_key else "the environment is prod"
            problems.append(problem(
                ("apiKey",),
                f"required, but not set: {reason}, so every model server needs an API key; "
                f"set one with `{_MAKE_API_KEY}`",
            ))
        for index, server in enumerate(self.models):
            if server.expose != "LoadBalancer":
                continue
            if self.karpenter:
                # The Exoscale CCM load-balances only to nodes of an instance pool; Karpenter's GPU
                # nodes are single instances (exoscale-cloud-controller-manager, docs/service-loadbalancer.md).
                problems.append(problem(
                    ("models", index, "expose"),
                    "'LoadBalancer' cannot reach GPU nodes Karpenter starts: the Exoscale load "
                    "balancer forwards only to an instance pool's nodes; use 'ClusterIP' (behind the "
                    "router), or gpuNodepool.provisioner: nodepool",
                ))
            if self.api_key is None:
                problems.append(problem(
                    ("models", index, "expose"),
                    "'LoadBalancer' puts the server on the internet and needs an API key; "
                    f"set one with `{_MAKE_API_KEY}`, or use 'ClusterIP'",
                ))
            if not self.cluster.node_port_cidrs:
                # The Exoscale CCM's load balancer forwards to the nodes' NodePorts, which the
                # security group only opens to these CIDRs (exoscale-cloud-controller-manager,
                # docs/service-loadbalancer.md).
                problems.append(problem(
                    ("cluster", "nodePortCidrs"),
                    f"empty, but models[{index}] ({server.name!r}) has expose: LoadBalancer: the "
                    "Exoscale load balancer reaches the server through the nodes' NodePorts, which "
                    "are closed to every address not listed here; list the networks that may reach it",
                ))
        return problems

    def _fit(self, server: ModelServerConfig) -> MemoryFit:
        profile, family = self.mig_profile, self.gpu_nodepool.family
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
            slice_usable_gb=profile.usable_memory_gb,
            other_profiles_usable_gb={p.name: p.usable_memory_gb for p in family.profiles.values()},
            max_num_batched_tokens=server.max_num_batched_tokens,
            max_num_seqs=server.max_num_seqs,
            headroom_gb=server.memory_headroom_gb,
        )


def load_stack_config(
    values: Mapping[str, Any],
    *,
    secret_keys: Collection[str] = (),
    facts: StackFileFacts | None = None,
) -> StackConfig:
    """Validate the `sks-mig:*` values as the engine hands them over (other namespaces are
    ignored): `values` maps full keys to text, objects as JSON text; `secret_keys` are the full
    keys marked secret; `facts` what the stack file adds (number literals, `secure:` leaves)."""
    facts = facts or StackFileFacts()
    raw, unreadable, problems = _parse(values)
    problems += _non_text_scalars(raw, facts, unreadable)
    for name in unreadable:
        raw.pop(name, None)  # refused already: not validated (and reported) again
    secret = {name for name in raw if f"{NAMESPACE}:{name}" in secret_keys}
    misplaced = _secret_placement(raw, secret, facts)
    if misplaced:
        # Stop here: validating further could quote the secret in a message.
        raise ConfigError(_redacted(problems + misplaced, raw, facts, secret))
    secure_env = _secure_env(raw, secret, facts)
    try:
        stack = StackConfig.model_validate(raw)
    except ValidationError as error:
        problems += [
            describe(e, StackConfig, literal=facts.literal, hidden=_hidden, unquoted=facts.unquoted)
            for e in error.errors()
            # A key whose text could not be read is already reported; not again as missing.
            if not (e["type"] == "missing" and e["loc"][0] in unreadable)
        ]
    if not problems:
        stack._secret_env = secure_env
        problems = stack.cross_key_problems()
    if problems:
        raise ConfigError(_redacted(problems, raw, facts, secret))
    return stack


def read_stack_config(stack_file: FilePath | None = None) -> StackConfig:
    """Read every `sks-mig:*` key of the running program and validate it (`load_stack_config`).

    The runtime holds the whole config (the language host passes it all, `PULUMI_CONFIG`, and
    the secret keys, `PULUMI_CONFIG_SECRET_KEYS`), so keys no one reads are seen and refused.
    `stack_file`, when given and readable, adds what only the file knows."""
    from pulumi.runtime import config as runtime_config

    try:
        values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    except ValueError:  # PULUMI_CONFIG that is not JSON: use what was set explicitly
        values = dict(runtime_config.CONFIG.get())
    secret = {name for name in values if runtime_config.is_config_secret(name)}
    facts = read_stack_file(stack_file) if stack_file is not None else None
    return load_stack_config(values, secret_keys=secret, facts=facts)


def _parse(values: Mapping[str, Any]) -> tuple[dict[str, Any], set[str], list[str]]:
    """The namespace's keys with objects parsed, the keys that could not be, and why."""
    raw: dict[str, Any] = {}
    unreadable: set[str] = set()
    problems: list[str] = []
    prefix = f"{NAMESPACE}:"
    for full_key, value in values.items():
        if not full_key.startswith(prefix):
            continue
        name = full_key.removeprefix(prefix)
        if name in _JSON_KEYS and isinstance(value, str):
            try:
                raw[name] = json.loads(value)
            except (ValueError, RecursionError):
                unreadable.add(name)
                problems.append(problem((name,), f"{echo(value)} is not accepted: it must be {_JSON_KEYS[name]}"))
        elif name in _BOOLEAN_KEYS and isinstance(value, str):
            if value not in ("true", "false"):
                unreadable.add(name)
                problems.append(problem((name,), f"{echo(value)} is not accepted: write true or false"))
            else:
                raw[name] = value == "true"
        else:
            raw[name] = value
    return raw, unreadable, problems


# Top-level keys whose value is text: the engine passes every scalar as text, so only the stack
# file tells `namespace: true` (a YAML boolean) from `namespace: "true"`.
_TEXT_KEYS = ("zone", "environment", "namespace", "monitoringNamespace")


def _non_text_scalars(raw: Mapping[str, Any], facts: StackFileFacts, unreadable: set[str]) -> list[str]:
    problems: list[str] = []
    for name in _TEXT_KEYS:
        written = facts.literals.get((name,))
        if name in raw and written is not None and not isinstance(written[1], str):
            unreadable.add(name)
            kind = {bool: "a boolean", type(None): "null"}.get(type(written[1]), "a number")
            problems.append(problem(
                (name,), f"{written[0]} is {kind} in YAML, not text; write the text you mean, quoted if need be"
            ))
    return problems


def _secret_placement(raw: Mapping[str, Any], secret: set[str], facts: StackFileFacts) -> list[str]:
    """Secrets only where the program keeps them secret: the `hfToken` and `apiKey` keys, and
    `models[].env` values. Anywhere else the value would end up in plain resource inputs."""
    problems: list[str] = []
    for name in SECRET_KEYS:
        if name in raw and name not in secret:
            problems.append(problem(
                (name,),
                f"set in plain text; set it as a secret: `pulumi config set --secret {NAMESPACE}:{name} ...`",
            ))
    for name in sorted(secret - {*SECRET_KEYS, "models"}):
        if name in section_keys(StackConfig, ()):
            problems.append(problem(
                (name,),
                "holds a secret (`secure:`) value, but nothing under this key is kept secret: it "
                "ends up in plain resource names and inputs; only hfToken, apiKey and "
                "models[].env values may be secret",
            ))
    for path in sorted(facts.secure_paths, key=str):
        if path[0] in secret and not _is_env_value(path):
            problems.append(problem(
                path,
                "a secret (`secure:`) value here ends up in plain resource inputs; only "
                "models[].env values, hfToken and apiKey may be secret",
            ))
    return problems


def _secure_env(raw: Mapping[str, Any], secret: set[str], facts: StackFileFacts) -> dict[int, frozenset[str]]:
    """Per model server, the env names whose values are secret. The stack file says exactly which;
    without it, every env value of a secret `models` key is kept secret."""
    models = raw.get("models")
    if "models" not in secret or not isinstance(models, list):
        return {}
    exact = [path for path in facts.secure_paths if path[0] == "models" and _is_env_value(path)]
    result: dict[int, frozenset[str]] = {}
    for index, server in enumerate(models):
        env = server.get("env") if isinstance(server, dict) else None
        if not isinstance(env, dict):
            continue
        names = [str(p[3]) for p in exact if p[1] == index] if exact else list(env)
        result[index] = frozenset(names)
    return result


def _is_env_value(path: Path) -> bool:
    return len(path) == 4 and path[0] == "models" and isinstance(path[1], int) and path[2] == "env"


def _hidden(path: Path) -> bool:
    """Values never echoed: the secrets, and every env value (where secrets go)."""
    return bool(path) and (path[0] in SECRET_KEYS or _is_env_value(path))


def _redacted(problems: list[str], raw: Mapping[str, Any], facts: StackFileFacts, secret: set[str]) -> list[str]:
    """The problems with every known secret value replaced, whichever message quoted it."""
    values = [raw[name] for name in {*SECRET_KEYS, *secret} if isinstance(raw.get(name), str)]
    for path in facts.secure_paths:
        if path[0] in secret:
            values.append(_at(raw, path))
    for text in (v for v in values if isinstance(v, str) and len(v) >= 4):
        problems = [p.replace(text, "[secret]").replace(repr(text)[1:-1], "[secret]") for p in problems]
    return problems


def _at(value: Any, path: Path) -> Any:
    for part in path:
        if isinstance(value, dict) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return None
    return value
