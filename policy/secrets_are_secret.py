"""secrets-are-secret: credentials travel as Pulumi secrets (secret_marks.py makes that visible), and
pod specs take them from Kubernetes Secrets.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from names import DYNAMIC_RESOURCE_PREFIX, EXOSCALE_PROVIDER, EXOSCALE_SKS_KUBECONFIG, K8S_PROVIDER, K8S_SECRET
from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy
from secret_marks import is_secret
from wire import SECRET_UNKNOWN, Unknown, as_dict, as_list, describe, plain
from workloads import Workload, workload_of

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
    if resource_type in (EXOSCALE_SKS_KUBECONFIG, K8S_PROVIDER):
        must_be_secret(
            "kubeconfig",
            "its kubeconfig (cluster-admin credentials) is not a secret; wrap it in "
            "pulumi.Output.secret(...)",
        )
    if resource_type.startswith(DYNAMIC_RESOURCE_PREFIX):
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


POLICY = StackValidationPolicy(
    name="secrets-are-secret",
    description=(
        "Kubeconfigs, Kubernetes Secret data and every property named like a token, key, "
        "password or secret are Pulumi secrets, and pod specs take credentials from Secrets: "
        "anything else is stored in plain text in the state and shown in previews and logs."
    ),
    validate=validate_secrets_are_secret,
    enforcement_level=EnforcementLevel.MANDATORY,
)
