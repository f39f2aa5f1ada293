"""Hypothesis strategies that mutate the real stack files (dev, a30, prod) into configs that must be
refused, and into configs that must be accepted.

Every invalid case carries the key its message must name: a mutation is only counted as refused
when the refusal blames the right key.
"""

from __future__ import annotations

import copy
import ipaddress
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from config.errors import Path, key
from config.instance_types import api_families, api_sizes
from config.messages import section_keys
from config.owned_settings import OWNED_ENV, OWNED_FLAGS, SHORT_FLAGS
from config.stack_config import StackConfig
from tests.stack_values import secure
from tools.mock_run import stack_file_config

STACKS = ("dev", "a30", "prod")
_BASES = {stack: stack_file_config(stack) for stack in STACKS}
# The prod stack file leaves the API key to `pulumi config set --secret`: a base config has one.
_BASES["prod"]["sks-mig:apiKey"] = secure()


@dataclass
class Case:
    stack: str
    config: dict[str, Any]
    kind: str
    expect: str = ""
    """For an invalid case: text the refusal must contain, the key it blames."""


def base(stack: str) -> dict[str, Any]:
    return copy.deepcopy(_BASES[stack])


def leaves(config: dict[str, Any]) -> Iterator[tuple[Path, Any]]:
    """(path, value) of every value below the namespace: sections, list items, scalars."""
    def walk(path: Path, value: Any) -> Iterator[tuple[Path, Any]]:
        yield path, value
        if isinstance(value, dict) and set(value) != {"secure"}:
            for name, child in value.items():
                yield from walk((*path, name), child)
        elif isinstance(value, list):
            for index, child in enumerate(value):
                yield from walk((*path, index), child)

    for name, value in config.items():
        yield from walk((name.removeprefix("sks-mig:"),), value)


def put(config: dict[str, Any], path: Path, value: Any) -> None:
    target: Any = config
    name: Any = f"sks-mig:{path[0]}"
    for part in path[1:]:
        target = target.setdefault(name, {}) if isinstance(target, dict) else target[name]
        name = part
    target[name] = value


def remove(config: dict[str, Any], path: Path) -> None:
    target: Any = config
    name: Any = f"sks-mig:{path[0]}"
    for part in path[1:]:
        target, name = target[name], part
    del target[name]


Draw = Callable[[st.SearchStrategy[Any]], Any]
Mutation = Callable[[Draw, str, dict[str, Any]], Case]

DNS_LABEL = st.from_regex(r"[a-z]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
# Characters no name, image, version, zone or profile may contain: controls, invisible and bidi
# characters, spaces, non-ASCII letters and symbols.
BAD_CHARS = [*map(chr, range(0x20)), "\x7f", "\x85", "\u00a0", "\u200b", "\u202e", "\ufeff", " ",
             "é", "ß", "İ", "中", "😀", "Ａ", "'", '"', "\\", "@", "*"]


# -- invalid --------------------------------------------------------------------------------------


def wrong_type(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    path, value = draw(st.sampled_from(list(leaves(config))))
    if isinstance(value, str):
        choices: list[Any] = [True, False, 0, 7, 1.5, 1.30, [], ["x"], {}, {"a": "b"}]
    elif isinstance(value, bool):
        choices = [1, "true", "yes", [], {}]
    elif isinstance(value, int):
        choices = [True, False, "2", str(value), 2.0, 1.5, [], [1], {}]
    elif isinstance(value, list):
        choices = ["x", 3, {}, True]
    else:  # a section, a list item or a secret
        choices = ["x", 3, [], True, ["x"]]
    put(config, path, draw(st.sampled_from(choices)))
    return Case(stack, config, "wrong type", key(path))


# (section path builder, key, values out of range)
_NUMBERS: list[tuple[str, str, list[Any]]] = [
    ("gpuNodepool", "size", [0, -1, 65, 10**9]),
    ("gpuNodepool", "diskSize", [0, 19, 51201, 2**40]),
    ("gpuNodepool", "gpusPerNode", [0, -2, 17, 10**6]),
    ("cluster.systemNodepool", "size", [0, -3, 9, 100]),
    ("cluster.systemNodepool", "diskSize", [0, 19, 51201]),
    ("model", "replicas", [-1, 65, 10**6]),
    ("model", "maxNumSeqs", [0, -5, 1025]),
    ("model", "maxModelLen", [0, -1, 10**9]),
    ("model", "gpuMemoryUtilization", [0, -0.1, 0.99, 1.5, float("nan"), float("inf")]),
    ("model", "maxNumBatchedTokens", [0, 2**21]),
    ("model", "memoryHeadroomGb", [-1, 1e6, float("nan")]),
    ("model", "readyTimeoutMinutes", [0, 29, 721]),
    ("model", "weightsGb", [0, -1, 1e9, float("inf")]),
    ("model", "cacheSize", ["0Gi", "10001Gi", "50G", "1.5Gi", "-1Gi", "Gi", "50gi", "500Mi", "1e3Gi"]),
]


def _section(draw: Draw, config: dict[str, Any], name: str) -> Path:
    if name == "model":
        return ("models", draw(st.integers(0, len(config["sks-mig:models"]) - 1)))
    return tuple(name.split("."))


def out_of_range(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    section, name, values = draw(st.sampled_from(_NUMBERS))
    path = (*_section(draw, config, section), name)
    put(config, path, draw(st.sampled_from(values)))
    return Case(stack, config, "out of range", key(path))


def _typo(draw: Draw, word: str) -> str:
    position = draw(st.integers(0, max(0, len(word) - 1)))
    edit = draw(st.sampled_from(["drop", "double", "swap", "case", "append"]))
    if edit == "drop":
        return word[:position] + word[position + 1:]
    if edit == "double":
        return word[:position] + word[position] * 2 + word[position + 1:]
    if edit == "swap" and position + 1 < len(word):
        return word[:position] + word[position + 1] + word[position] + word[position + 2:]
    if edit == "case":
        return word[:position] + word[position].swapcase() + word[position + 1:]
    return word + "s"


_DICTS = [(), ("cluster",), ("cluster", "systemNodepool"), ("gpuNodepool",), ("model",), ("model", "architecture")]


def unknown_key(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    where = draw(st.sampled_from(_DICTS))
    path: Path = (*_section(draw, config, "model"), *where[1:]) if where[:1] == ("model",) else where
    valid = section_keys(StackConfig, path)
    if draw(st.booleans()):
        name = _typo(draw, draw(st.sampled_from(valid)))
    else:
        name = draw(st.text(string.ascii_letters + string.digits + "_-. ", min_size=1, max_size=16))
    if name in valid or name == "migStrategy":
        name = name + "X"
    if not path:
        config[f"sks-mig:{name}"] = draw(st.sampled_from(["x", 1, {"a": 1}]))
    else:
        put(config, (*path, name), draw(st.sampled_from(["x", 1, True, [1]])))
    return Case(stack, config, "unknown key", key((*path, name)))


_TEXT_KEYS = ["zone", "environment", "cluster.name", "cluster.cni", "cluster.systemNodepool.instanceType",
              "gpuNodepool.name", "gpuNodepool.instanceType", "gpuNodepool.migProfile", "model.name",
              "model.model", "model.image", "cluster.kubernetesVersion"]
_DEFAULT_TEXT = {"cluster.cni": "calico", "cluster.systemNodepool.instanceType": "standard.medium",
                 "model.image": "vllm/vllm-openai:v0.22.1-cu129-ubuntu2404", "environment": "dev",
                 "cluster.kubernetesVersion": "1.36.2"}


def bad_text(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    dotted = draw(st.sampled_from(_TEXT_KEYS))
    parts = dotted.split(".")
    path = (*_section(draw, config, "model"), *parts[1:]) if parts[0] == "model" else tuple(parts)
    current = dict(leaves(config)).get(path, _DEFAULT_TEXT.get(dotted, "x"))
    position = draw(st.integers(0, len(current)))
    char = draw(st.sampled_from(BAD_CHARS))
    put(config, path, current[:position] + char + current[position:])
    return Case(stack, config, "unicode or control character", key(path))


def collision(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    models, cluster = config["sks-mig:models"], config["sks-mig:cluster"]["name"]
    choice = draw(st.sampled_from(["same", "pods", "pods-reverse", "system-nodepool", "system-group"]))
    if choice == "same":
        models[1]["name"] = models[0]["name"]
        return Case(stack, config, "collision", "sks-mig:models[1].name")
    if choice == "pods":
        models[1]["name"] = models[0]["name"] + "-pods"
        return Case(stack, config, "collision", "sks-mig:models[1].name")
    if choice == "pods-reverse":
        models[0]["name"] = models[1]["name"] + "-pods"
        return Case(stack, config, "collision", "sks-mig:models[")
    pool = f"{cluster}-system" if choice == "system-nodepool" else "system"
    config["sks-mig:gpuNodepool"]["name"] = pool
    return Case(stack, config, "collision", "sks-mig:gpuNodepool.name")


def misplaced_secret(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    choice = draw(st.sampled_from(["plain apiKey", "plain hfToken", "env", "section", "zone", "weak apiKey",
                                   "empty hfToken"]))
    server = draw(st.integers(0, len(config["sks-mig:models"]) - 1))
    if choice == "plain apiKey":
        config["sks-mig:apiKey"] = draw(st.text(string.printable.strip(), min_size=16, max_size=40))
        return Case(stack, config, "secret in plain text", "sks-mig:apiKey")
    if choice == "plain hfToken":
        config["sks-mig:hfToken"] = "hf_" + draw(st.text(string.ascii_letters, min_size=8, max_size=30))
        return Case(stack, config, "secret in plain text", "sks-mig:hfToken")
    if choice == "env":
        name = draw(st.sampled_from(OWNED_ENV))
        config["sks-mig:models"][server]["env"] = {name: draw(st.sampled_from(["x", secure("hf_abc")]))}
        return Case(stack, config, "secret in env", key(("models", server, "env", name)))
    if choice == "section":
        section = draw(st.sampled_from(["cluster", "gpuNodepool"]))
        path, _ = draw(st.sampled_from([p for p in leaves(config) if p[0][0] == section and len(p[0]) > 1]))
        put(config, path, secure())
        return Case(stack, config, "secret in a section", key((section,)))
    if choice == "zone":
        config["sks-mig:zone"] = secure(config["sks-mig:zone"])
        return Case(stack, config, "secret zone", "sks-mig:zone")
    if choice == "weak apiKey":
        text = draw(st.sampled_from(["", "   ", "short", "0123456789abcde", "with space in it 0123", "line\nbreak-0123456789"]))
        config["sks-mig:apiKey"] = secure(text)
        return Case(stack, config, "weak secret", "sks-mig:apiKey")
    config["sks-mig:hfToken"] = secure(draw(st.sampled_from(["", " ", "\t\n"])))
    return Case(stack, config, "weak secret", "sks-mig:hfToken")


_REPOS = ["vllm/vllm-openai", "ghcr.io/org/vllm", "registry.example.com:5000/team/vllm"]


def unpinned_image(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    repo = draw(st.sampled_from(_REPOS))
    image = draw(st.sampled_from([
        repo, f"{repo}:", f"{repo}:latest", f"{repo}:Latest", f"{repo}:nightly", f"{repo}:main", f"{repo}:stable",
        f"{repo}:edge", f"{repo}:dev", f"{repo}:latest-cu129", f"{repo}:nightly-ubuntu", repo.upper() + ":v1.0",
        f"{repo}:v0.22.1 ", f" {repo}:v0.22.1", f"{repo}@sha256:1234", f"{repo}@md5:" + "a" * 32,
        f"{repo}:" + draw(st.text(string.ascii_letters, min_size=1, max_size=12)),
    ]))
    server = draw(st.integers(0, len(config["sks-mig:models"]) - 1))
    config["sks-mig:models"][server]["image"] = image
    return Case(stack, config, "unpinned image", key(("models", server, "image")))


def owned_setting(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    server = draw(st.integers(0, len(config["sks-mig:models"]) - 1))
    if draw(st.integers(0, 5)) == 0:
        # A word after a flag that takes no value: vLLM reads it as a second model.
        switch = draw(st.sampled_from(["--enable-prefix-caching", "--enforce-eager", "--trust-remote-code",
                                       "--kv-cache-dtype=fp8", "--no-enable-log-requests"]))
        config["sks-mig:models"][server]["extraArgs"] = [switch, draw(st.sampled_from(["other/model", "1", "x"]))]
        return Case(stack, config, "second positional", key(("models", server, "extraArgs")))
    if draw(st.booleans()):
        flag = draw(st.sampled_from([*OWNED_FLAGS, *SHORT_FLAGS]))
        if flag.startswith("--"):
            variants = [flag, f"{flag}=1", flag.replace("-", "_").replace("__", "--", 1), flag[: draw(st.integers(3, len(flag)))]]
        else:  # a short flag: `-tp`, `-tp=1`, an abbreviation (`-t`), a one-letter one with its value (`-n2`)
            variants = [flag, f"{flag}=1", flag[:2], f"{flag}2" if len(flag) == 2 else flag]
        variant = draw(st.sampled_from([*variants, "--"]))
        before = draw(st.sampled_from([[], ["--enable-prefix-caching"], ["--max-loras", "2"]]))
        args = [variant, "1"] if draw(st.integers(0, 5)) else ["microsoft/Phi-4-mini-instruct"]
        config["sks-mig:models"][server]["extraArgs"] = (before if args[0].startswith("-") else []) + args
        return Case(stack, config, "owned flag", key(("models", server, "extraArgs")))
    name = draw(st.one_of(st.sampled_from(OWNED_ENV), st.text(min_size=1, max_size=10).filter(
        lambda text: not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text))))
    config["sks-mig:models"][server]["env"] = {name: "x"}
    return Case(stack, config, "env name", key(("models", server, "env")))


def broken_rule(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    server = draw(st.integers(0, len(config["sks-mig:models"]) - 1))
    model = config["sks-mig:models"][server]
    choice = draw(st.sampled_from(["prod without key", "required key", "lb without cidrs", "lb without key",
                                   "batch below seqs", "other gpu profile", "too many replicas", "minor version",
                                   "mig strategy", "unknown gpus", "size typo", "anti-affinity", "unknown model",
                                   "context too long", "gpus against the catalogue", "kubernetes namespace",
                                   "monitoring in own namespace", "create first beyond the group"]))
    if choice == "kubernetes namespace":
        config["sks-mig:namespace"] = draw(st.sampled_from(["default", "kube-system", "kube-public", "kube-node-lease",
                                                            "kube-x"]))
        return Case(stack, config, choice, "sks-mig:namespace")
    if choice == "monitoring in own namespace":
        config["sks-mig:monitoringNamespace"] = config.get("sks-mig:namespace", "inference")
        return Case(stack, config, choice, "sks-mig:monitoringNamespace")
    if choice in ("prod without key", "required key"):
        config.pop("sks-mig:apiKey", None)
        config["sks-mig:environment" if choice == "prod without key" else "sks-mig:requireApiKey"] = (
            "prod" if choice == "prod without key" else True)
        return Case(stack, config, choice, "sks-mig:apiKey")
    if choice in ("lb without cidrs", "lb without key"):
        model["expose"] = "LoadBalancer"
        config["sks-mig:router"] = {"enabled": False}  # with the router on, only the router is exposed
        if choice == "lb without cidrs":
            config["sks-mig:apiKey"] = secure()
            return Case(stack, config, choice, "sks-mig:cluster.nodePortCidrs")
        config.pop("sks-mig:apiKey", None)
        config["sks-mig:environment"] = "dev"
        config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24"]
        return Case(stack, config, choice, key(("models", server, "expose")))
    if choice == "batch below seqs":
        model["maxNumSeqs"] = draw(st.integers(2, 1024))
        model["maxNumBatchedTokens"] = draw(st.integers(1, model["maxNumSeqs"] - 1))
        return Case(stack, config, choice, key(("models", server, "maxNumBatchedTokens")))
    pool = config["sks-mig:gpuNodepool"]
    if choice == "other gpu profile":
        pool["migProfile"] = "1g.6gb" if pool["instanceType"].startswith("gpurtx") else "1g.24gb"
        return Case(stack, config, choice, "sks-mig:gpuNodepool.migProfile")
    if choice == "too many replicas":
        model["replicas"] = 33
        return Case(stack, config, choice, "sks-mig:models")
    if choice == "minor version":
        config["sks-mig:cluster"]["kubernetesVersion"] = draw(st.sampled_from(["1.36", "1.30", "v1.36.2", "latest", "1.36.x", "2"]))
        return Case(stack, config, choice, "sks-mig:cluster.kubernetesVersion")
    if choice == "mig strategy":
        pool["migStrategy"] = draw(st.sampled_from(["mixed", "single", "none"]))
        return Case(stack, config, choice, "sks-mig:gpuNodepool.migStrategy")
    if choice == "unknown gpus":
        pool["instanceType"] = pool["instanceType"].split(".")[0] + "." + draw(st.sampled_from(["large", "huge", "medium"]))
        return Case(stack, config, choice, "sks-mig:gpuNodepool.gpusPerNode")
    if choice == "size typo":
        pool["instanceType"] = pool["instanceType"].split(".")[0] + "." + draw(st.sampled_from(["smal", "Small", "s", "small "]))
        return Case(stack, config, choice, "sks-mig:gpuNodepool.instanceType")
    if choice == "anti-affinity":
        pool["size"] = draw(st.integers(9, 64))
        return Case(stack, config, choice, "sks-mig:gpuNodepool.size")
    if choice == "gpus against the catalogue":
        pool["gpusPerNode"] = draw(st.integers(2, 16))  # every shipped stack is a .small: 1 GPU
        return Case(stack, config, choice, "sks-mig:gpuNodepool.gpusPerNode")
    if choice == "create first beyond the group":
        pool.update(replaceStrategy="createFirst", size=draw(st.integers(5, 8)))
        pool.pop("antiAffinity", None)
        return Case(stack, config, choice, "sks-mig:gpuNodepool.replaceStrategy")
    if choice == "unknown model":
        model["model"] = "acme/" + draw(st.from_regex(r"[a-z][a-z0-9]{2,12}", fullmatch=True))
        return Case(stack, config, choice, key(("models", server, "model")))
    model["maxModelLen"] = draw(st.integers(10**6, 16_777_216))
    return Case(stack, config, choice, key(("models", server, "maxModelLen")))


def _as_karpenter(config: dict[str, Any], max_nodes: int = 2) -> dict[str, Any]:
    """The stack with Karpenter GPU nodes on the pro control plane (valid as it stands)."""
    pool = config["sks-mig:gpuNodepool"]
    pool.pop("size", None)
    pool.update(provisioner="karpenter", maxNodes=max_nodes)
    config["sks-mig:cluster"]["serviceLevel"] = "pro"
    return pool


def karpenter_or_router_rule(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    """A rule of Karpenter mode or of the router broken (issues 10 and 11)."""
    server = draw(st.integers(0, len(config["sks-mig:models"]) - 1))
    choice = draw(st.sampled_from(["karpenter on starter", "karpenter with size", "karpenter without maxNodes",
                                   "karpenter beyond maxNodes", "karpenter load balancer", "router alias",
                                   "router load balancer without key", "router and exposed server",
                                   "karpenter short expiry", "karpenter key on a fixed pool",
                                   "karpenter disk beyond the node class"]))
    if choice == "karpenter key on a fixed pool":
        name, value = draw(st.sampled_from([("maxNodes", 2), ("consolidateAfter", "5m"), ("nodeOverlay", True)]))
        config["sks-mig:gpuNodepool"][name] = value
        return Case(stack, config, choice, f"sks-mig:gpuNodepool.{name}")
    if choice.startswith("karpenter"):
        pool = _as_karpenter(config)
        if choice == "karpenter disk beyond the node class":
            pool["diskSize"] = draw(st.integers(8001, 51200))
            return Case(stack, config, choice, "sks-mig:gpuNodepool.diskSize")
        if choice == "karpenter short expiry":
            pool["expireAfter"] = draw(st.sampled_from(["0s", "1s", "30m", "59m", "59m59s", "3599s"]))
            return Case(stack, config, choice, "sks-mig:gpuNodepool.expireAfter")
        if choice == "karpenter on starter":
            config["sks-mig:cluster"]["serviceLevel"] = "starter"
            return Case(stack, config, choice, "sks-mig:cluster.serviceLevel")
        if choice == "karpenter with size":
            pool["size"] = draw(st.integers(1, 8))
            return Case(stack, config, choice, "sks-mig:gpuNodepool.size")
        if choice == "karpenter without maxNodes":
            del pool["maxNodes"]
            return Case(stack, config, choice, "sks-mig:gpuNodepool.maxNodes")
        if choice == "karpenter load balancer":
            config["sks-mig:router"] = {"enabled": False}
            config["sks-mig:apiKey"] = secure()
            config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24"]
            config["sks-mig:models"][server]["expose"] = "LoadBalancer"
            return Case(stack, config, choice, key(("models", server, "expose")))
        pool["maxNodes"] = 1
        config["sks-mig:models"][server]["replicas"] = draw(st.integers(9, 64))
        return Case(stack, config, choice, "sks-mig:models")
    if choice == "router alias":
        alias = draw(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True))
        config["sks-mig:router"] = {"aliases": {alias: "no-such-model/" + alias}}
        return Case(stack, config, choice, f"sks-mig:router.aliases.{alias}")
    if choice == "router load balancer without key":
        config.pop("sks-mig:apiKey", None)
        config["sks-mig:environment"] = "dev"
        config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24"]
        config["sks-mig:router"] = {"expose": "LoadBalancer"}
        return Case(stack, config, choice, "sks-mig:router.expose")
    config["sks-mig:apiKey"] = secure()
    config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24"]
    config["sks-mig:models"][server]["expose"] = "LoadBalancer"
    return Case(stack, config, choice, key(("models", server, "expose")))


_REQUIRED = [("zone",), ("cluster",), ("gpuNodepool",), ("cluster", "name"), ("gpuNodepool", "name"),
             ("gpuNodepool", "instanceType"), ("gpuNodepool", "migProfile"), ("model", "name"), ("model", "model")]


def missing(draw: Draw, stack: str, config: dict[str, Any]) -> Case:
    where = draw(st.sampled_from(_REQUIRED))
    path = (*_section(draw, config, "model"), where[1]) if where[0] == "model" else where
    remove(config, path)
    return Case(stack, config, "missing key", key(path))


INVALID: list[Mutation] = [wrong_type, out_of_range, unknown_key, bad_text, collision, misplaced_secret,
                           unpinned_image, owned_setting, broken_rule, karpenter_or_router_rule, missing]


@st.composite
def invalid_config(draw: Draw) -> Case:
    stack = draw(st.sampled_from(STACKS))
    mutation = draw(st.sampled_from(INVALID))
    result: Case = mutation(draw, stack, base(stack))
    return result


# -- valid ------------------------------------------------------------------------------------------------


def _network(draw: Draw) -> str:
    if draw(st.booleans()):
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1)))
        prefix = draw(st.integers(8, 32))
    else:
        address = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
        prefix = draw(st.integers(16, 128))
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


# Arguments of vLLM 0.22.1 the component leaves to the user (vllm/engine/arg_utils.py: no
# --disable-log-requests there any more; --enable-log-requests is a BooleanOptionalAction).
_SAFE_ARGS = [("--enable-prefix-caching",), ("--shutdown-timeout", "30"), ("--kv-cache-dtype=fp8",),
              ("--max-loras", "2"), ("--no-enable-log-requests",), ("--enforce-eager",), ("-q", "fp8"),
              ("--tokenizer-mode", "auto"), ("-dpn", "0")]


def _other_than(own: str) -> Callable[[str], bool]:
    return lambda name: name != own


def valid_changes(draw: Draw, stack: str, config: dict[str, Any]) -> None:
    cluster, pool = config["sks-mig:cluster"], config["sks-mig:gpuNodepool"]
    models = config["sks-mig:models"]
    # In order: the load balancer (13) comes after any change to the NodePort networks (4).
    changes = sorted(draw(st.lists(st.sampled_from(list(range(15))), min_size=1, max_size=5, unique=True)))
    for change in changes:
        if change == 0:
            config["sks-mig:environment"] = draw(st.sampled_from(["dev", "prod"]))
            config.setdefault("sks-mig:apiKey", secure())
        elif change == 1:
            # Not one of Kubernetes' own namespaces, and monitoring elsewhere than the stack's own.
            namespace = draw(DNS_LABEL.filter(lambda name: name != "default" and not name.startswith("kube-")))
            config["sks-mig:namespace"] = namespace
            config["sks-mig:monitoringNamespace"] = draw(DNS_LABEL.filter(_other_than(namespace)))
        elif change == 2:
            cluster["name"] = "c-" + draw(DNS_LABEL)
            cluster["kubernetesVersion"] = f"1.{draw(st.integers(30, 40))}.{draw(st.integers(0, 20))}"
            cluster["serviceLevel"] = draw(st.sampled_from(["starter", "pro"]))
            cluster["cni"] = draw(st.sampled_from(["calico", "cilium"]))
        elif change == 3:
            cluster["systemNodepool"] = {
                "instanceType": f"{draw(st.sampled_from(api_families()))}.{draw(st.sampled_from(api_sizes()))}",
                "size": draw(st.integers(1, 8)), "diskSize": draw(st.integers(20, 51200))}
        elif change == 4:
            cluster["nodePortCidrs"] = list(dict.fromkeys(_network(draw) for _ in range(draw(st.integers(0, 4)))))
        elif change == 5:
            pool["antiAffinity"] = draw(st.booleans())
            pool["replaceStrategy"] = draw(st.sampled_from(["deleteFirst", "createFirst"]))
            # createFirst puts the old and the new pool in the one group for a while: half of it each.
            in_group = 8 // (2 if pool["replaceStrategy"] == "createFirst" else 1)
            pool["size"] = draw(st.integers(2, in_group if pool["antiAffinity"] else 64))
            pool["diskSize"] = draw(st.integers(20, 51200))
            pool["name"] = "gpu-" + draw(DNS_LABEL)
        elif change == 6:
            # gpusPerNode: the catalogue's count for a size it knows, any count for one it does not.
            if draw(st.booleans()):
                pool["gpusPerNode"] = 1  # every shipped stack is a .small: 1 GPU
            else:
                pool["instanceType"] = pool["instanceType"].split(".")[0] + "." + draw(st.sampled_from(["large", "huge"]))
                pool["gpusPerNode"] = draw(st.integers(1, 16))
        elif change == 7:
            config["sks-mig:hfToken"] = secure("hf_" + draw(st.text(string.ascii_letters + string.digits, min_size=8, max_size=40)))
            config["sks-mig:apiKey"] = secure(draw(st.text(string.ascii_letters + string.digits + "-_", min_size=16, max_size=64)))
        elif change == 8:
            config["sks-mig:requireApiKey"] = False
        for model in models:
            _valid_model_change(draw, change, model, config)
    if 14 in changes and 13 not in changes:
        # Last: Karpenter GPU nodes on the pro plane, at least as many as the fixed pool had (so the
        # replicas still fit); a LoadBalancer server (13) cannot reach them, so not with 13.
        pool = _as_karpenter(config, max_nodes=max(config["sks-mig:gpuNodepool"].get("size", 1), 2))
        # An ExoscaleNodeClass takes at most 8000 GiB of disk (a nodepool up to 51200).
        pool["diskSize"] = min(pool.get("diskSize", 100), 8000)


def _valid_model_change(draw: Draw, change: int, model: dict[str, Any], config: dict[str, Any]) -> None:
    if change == 9:
        model["image"] = draw(st.sampled_from([
            f"{draw(st.sampled_from(_REPOS))}:v0.{draw(st.integers(18, 40))}.{draw(st.integers(0, 9))}",
            "vllm/vllm-openai@sha256:" + draw(st.text("0123456789abcdef", min_size=64, max_size=64)),
            "vllm/vllm-openai:nightly-" + draw(st.text("0123456789abcdef", min_size=6, max_size=39)) + "0"]))
        model["revision"] = draw(st.text("0123456789abcdef", min_size=40, max_size=40))
    elif change == 10:
        model["extraArgs"] = [arg for args in draw(st.lists(st.sampled_from(_SAFE_ARGS), max_size=3, unique=True)) for arg in args]
        names = draw(st.lists(st.from_regex(r"[A-Z_][A-Z0-9_]{0,15}", fullmatch=True).filter(lambda n: n not in OWNED_ENV), max_size=4))
        model["env"] = {name: draw(st.one_of(st.text(max_size=30).filter(lambda v: v.isprintable()), st.just(secure())))
                        for name in names}
    elif change == 11:
        model["cacheSize"] = f"{draw(st.integers(1, 10000))}Gi"
        model["readyTimeoutMinutes"] = draw(st.integers(30, 720))
        model["allowedNamespaces"] = draw(st.lists(DNS_LABEL, max_size=3))
        # Behind the router each server needs its own served name: suffixed with the server's name.
        served = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,30}[A-Za-z0-9]", fullmatch=True))
        model["servedModelName"] = f"{served}-{model['name']}"
    elif change == 12:
        model["maxNumSeqs"] = draw(st.integers(1, 32))
        model["maxNumBatchedTokens"] = draw(st.integers(max(model["maxNumSeqs"], 256), 2048))
        model["memoryHeadroomGb"] = draw(st.floats(0, 1.0))
        model["gpuMemoryUtilization"] = draw(st.floats(0.9, 0.98))
    elif change == 13:
        model["expose"] = "LoadBalancer"
        config["sks-mig:router"] = {"enabled": False}  # with the router on, only the router is exposed
        config["sks-mig:apiKey"] = secure()
        config["sks-mig:cluster"].setdefault("nodePortCidrs", ["203.0.113.0/24"])
        if not config["sks-mig:cluster"]["nodePortCidrs"]:
            config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24"]


@st.composite
def valid_config(draw: Draw) -> Case:
    stack = draw(st.sampled_from(STACKS))
    config = base(stack)
    valid_changes(draw, stack, config)
    return Case(stack, config, "valid")
