"""The names the program derives from the config, and the rule that no two of them collide.

Every Exoscale and Kubernetes name the components generate is listed here, with the config key
it comes from, so two keys that would produce the same object (a server `x` and a server
`x-pods` both make the Service `x-pods`) are refused before anything exists, naming both keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from config.errors import Path, key, problem

if TYPE_CHECKING:
    from config.stack_config import StackConfig


def security_group_name(cluster: str) -> str:
    return f"{cluster}-nodes"


def system_nodepool_name(cluster: str) -> str:
    return f"{cluster}-system"


def system_anti_affinity_group_name(cluster: str) -> str:
    return f"{cluster}-system"


def gpu_anti_affinity_group_name(cluster: str, gpu_nodepool: str) -> str:
    """The GPU nodes' own anti-affinity group (SksCluster creates it under this name)."""
    return f"{cluster}-{gpu_nodepool}"


# The model router's objects: its Deployment, Service and NetworkPolicy, and `-config`, `-api-key`.
ROUTER_NAME = "model-router"


def headless_service_name(server: str) -> str:
    return f"{server}-pods"


def hf_token_secret_name(server: str) -> str:
    return f"{server}-hf-token"


def api_key_secret_name(server: str) -> str:
    return f"{server}-api-key"


def env_secret_name(server: str) -> str:
    """The Secret holding a server's `secure:` env values."""
    return f"{server}-env"


@dataclass(frozen=True)
class GeneratedName:
    kind: str
    """What kind of object."""
    scope: str
    """Where its name must be unique."""
    name: str
    source: Path
    """The config key the name is derived from."""
    role: str
    """Which of the key's objects it is."""


def generated_names(stack: StackConfig) -> list[GeneratedName]:
    cluster, pool = stack.cluster.name, stack.gpu_nodepool.name
    cluster_key: Path = ("cluster", "name")
    pool_key: Path = ("gpuNodepool", "name")
    names = [
        GeneratedName("security group", "of the organization", security_group_name(cluster), cluster_key,
                      "the nodes' security group"),
        GeneratedName("anti-affinity group", "of the organization", system_anti_affinity_group_name(cluster),
                      cluster_key, "the system nodes' group"),
        GeneratedName("nodepool", f"of cluster {cluster!r}", system_nodepool_name(cluster), cluster_key,
                      "the system nodepool"),
        GeneratedName("nodepool", f"of cluster {cluster!r}", pool, pool_key, "the GPU nodepool"),
    ]
    if stack.gpu_nodepool.anti_affinity:
        names.append(GeneratedName("anti-affinity group", "of the organization",
                                   gpu_anti_affinity_group_name(cluster, pool), pool_key, "the GPU nodes' group"))
    namespace = f"in namespace {stack.namespace!r}"
    if stack.router_on:
        router_key: Path = ("router", "enabled")
        names += [
            GeneratedName("Service", namespace, ROUTER_NAME, router_key, "the router's Service"),
            GeneratedName("Secret", namespace, api_key_secret_name(ROUTER_NAME), router_key, "the router's API key"),
        ]
    for index, server in enumerate(stack.models):
        source: Path = ("models", index, "name")
        names += [
            GeneratedName("Service", namespace, server.name, source, "its Service"),
            GeneratedName("Service", namespace, headless_service_name(server.name), source, "its headless Service"),
            GeneratedName("Secret", namespace, hf_token_secret_name(server.name), source, "its Hugging Face token"),
            GeneratedName("Secret", namespace, api_key_secret_name(server.name), source, "its API key"),
            GeneratedName("Secret", namespace, env_secret_name(server.name), source, "its secret environment"),
        ]
    return names


def name_collisions(stack: StackConfig) -> list[str]:
    """One problem per generated name that two keys (or two items) would both create."""
    problems: list[str] = []
    # The StatefulSet, Services, NetworkPolicy and Secrets of a server are named after it.
    servers: dict[str, int] = {}
    duplicates: set[Path] = set()
    for index, server in enumerate(stack.models):
        if servers.setdefault(server.name, index) != index:
            duplicates.add(("models", index, "name"))
            problems.append(problem(("models", index, "name"), f"{server.name!r} is used twice; model names must be unique"))
    first: dict[tuple[str, str, str], GeneratedName] = {}
    for generated in generated_names(stack):
        if generated.source in duplicates:
            continue
        earlier = first.setdefault((generated.kind, generated.scope, generated.name), generated)
        if earlier is not generated and earlier.source != generated.source:
            problems.append(
                problem(
                    generated.source,
                    f"would create the {generated.kind} {generated.name!r} {generated.scope} "
                    f"({generated.role}), which {key(earlier.source)} already creates "
                    f"({earlier.role}); rename one of them",
                )
            )
    return problems
