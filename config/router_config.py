"""`sks-mig:router`: one OpenAI-compatible endpoint in front of every model server.

The router (LiteLLM's proxy, see components/model_router.py) sends each request to the server
whose served model name, or one of its aliases, is the request's `model`. The section is checked
alone here; `router_problems` holds the rules that need the rest of the stack (environment, API
key, the servers), for StackConfig to call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from config.errors import Path, echo, problem
from config.field_types import DnsLabel, PlainText, Section
from config.images import image_problem
from config.limits import MAX_LIST_ITEMS

# LiteLLM's proxy, in its non-root image; the same version as requirements-router.txt, which the
# tests run (tests/test_model_router.py checks the two agree). Release notes of v1.108.7 (LTS):
# "cosign verify ... ghcr.io/berriai/litellm:v1.108.7 — same command for litellm-database,
# litellm-non_root and the docker.io/litellm/* images".
ROUTER_VERSION = "1.108.7"
DEFAULT_ROUTER_IMAGE = f"ghcr.io/berriai/litellm-non_root:v{ROUTER_VERSION}"
MAX_ROUTER_REPLICAS = 16
PRODUCTION_MIN_REPLICAS = 2


def _pinned_image(image: str) -> str:
    reason = image_problem(image)
    if reason is not None:
        raise ValueError(f"{echo(image)} is not accepted: {reason}")
    return image


def _model_name(name: str) -> str:
    # What clients send as `model`: one token, as OpenAI's API and vLLM's --served-model-name take it.
    if any(char.isspace() for char in name):
        raise ValueError(f"{echo(name)} contains a space; a model name is one word such as qwen-7b")
    return name


ModelName = Annotated[PlainText, AfterValidator(_model_name)]


class RouterConfig(Section):
    enabled: bool | None = None
    """Unset: on when there are model servers."""
    replicas: int = Field(PRODUCTION_MIN_REPLICAS, ge=1, le=MAX_ROUTER_REPLICAS)
    image: Annotated[PlainText, AfterValidator(_pinned_image)] = DEFAULT_ROUTER_IMAGE
    expose: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"
    aliases: dict[ModelName, ModelName] = Field(default_factory=dict)
    """Another name clients may send → the served model name it stands for."""
    allowed_namespaces: list[DnsLabel] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    """Namespaces (besides the stack's own) whose pods may call the router."""

    @field_validator("aliases")
    @classmethod
    def _not_too_many(cls, aliases: dict[str, str]) -> dict[str, str]:
        if len(aliases) > MAX_LIST_ITEMS:
            raise ValueError(f"{len(aliases)} aliases is more than the {MAX_LIST_ITEMS} accepted")
        return aliases

    def is_on(self, model_count: int) -> bool:
        return self.enabled if self.enabled is not None else model_count > 0


def router_problems(
    router: RouterConfig,
    *,
    environment: str,
    api_key_set: bool,
    served_names: Sequence[str],
    server_exposes: Mapping[int, str],
    node_port_cidrs: Sequence[str] = (),
) -> list[str]:
    """The rules that need the rest of the stack. `served_names[i]` is models[i]'s served model
    name, `server_exposes[i]` its `expose`, `node_port_cidrs` the cluster's nodePortCidrs.
    Returns one message per problem, each naming its key."""
    section: Path = ("router",)
    if not router.is_on(len(served_names)):
        return []
    problems: list[str] = []
    if not served_names:
        problems.append(problem((*section, "enabled"), "true is not accepted: there are no models to route to; "
                                "add models or set it to false"))
    if environment == "prod" and router.replicas < PRODUCTION_MIN_REPLICAS:
        problems.append(problem(
            (*section, "replicas"),
            f"{router.replicas} is not accepted for a prod stack: one router is one pod between every "
            f"client and every model; use {PRODUCTION_MIN_REPLICAS} or more",
        ))
    if router.expose == "LoadBalancer" and not api_key_set:
        problems.append(problem(
            (*section, "expose"),
            "'LoadBalancer' puts the router on the internet and needs an API key; set one with "
            "`pulumi config set --secret sks-mig:apiKey ...`, or use 'ClusterIP'",
        ))
    if router.expose == "LoadBalancer" and not node_port_cidrs:
        # As for the model servers: the Exoscale load balancer forwards to the nodes' NodePorts,
        # which the security group opens only to these networks.
        problems.append(problem(
            ("cluster", "nodePortCidrs"),
            "empty, but router.expose is LoadBalancer: the Exoscale load balancer reaches the router "
            "through the nodes' NodePorts, which are closed to every address not listed here; list "
            "the networks that may reach it",
        ))
    for index, expose in sorted(server_exposes.items()):
        if expose != "ClusterIP":
            problems.append(problem(
                ("models", index, "expose"),
                f"{echo(expose)} is not accepted while the router is on: only the router may be reached "
                "from outside the cluster; use 'ClusterIP' and expose the router (router.expose)",
            ))
    seen: dict[str, int] = {}
    for index, name in enumerate(served_names):
        if name in seen:
            problems.append(problem(
                ("models", index, "servedModelName"),
                f"{echo(name)} is already the served name of models[{seen[name]}]; behind one router "
                "each server needs its own name (set servedModelName)",
            ))
        seen.setdefault(name, index)
    served = ", ".join(dict.fromkeys(served_names)) or "none"
    for alias, target in router.aliases.items():
        if alias in seen:
            problems.append(problem(
                (*section, "aliases", alias),
                f"{echo(alias)} is already a served model name; an alias must be a new name",
            ))
        elif target not in seen:
            problems.append(problem(
                (*section, "aliases", alias),
                f"{echo(target)} is not a served model name; valid: {served}",
            ))
    return problems
