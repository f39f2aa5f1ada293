"""rollout-cannot-deadlock: rollouts, drains and restarts of model servers cannot wait forever for a
slice (surge, disruption budgets, service links, startup probes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from mig_pools import slice_groups
from names import ANNOTATION_STARTUP_BUDGET_SECONDS
from pulumi_policy import EnforcementLevel, PolicyResource, ReportViolation, StackValidationArgs, StackValidationPolicy
from wire import Unknown, as_dict, count, describe, dig, number, plain
from workloads import Workload, model_servers, same_namespace, selects

# Kubernetes defaults the checks rely on.
_DEFAULT_PROBE_PERIOD = 10
_DEFAULT_PROBE_FAILURES = 3
_DEFAULT_MAX_SURGE = "25%"

def _scaled(value: Any, replicas: float, round_up: bool) -> float | None:
    """An int-or-percent field (maxSurge, minAvailable...) as a number of pods."""
    if isinstance(value, str) and value.strip().endswith("%"):
        percent = number(value.strip()[:-1])
        if percent is None:
            return None
        pods = replicas * percent / 100
        return float(math.ceil(pods) if round_up else math.floor(pods))
    return number(value)


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
        f"{server.display} rolls out with maxSurge {raw!r} ({count(surge)} extra pod(s), "
        f"{count(surge * per_pod)} slice(s)) but only {count(max(spare, 0))} MIG slice(s) are "
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
        if not same_namespace(namespace, server.namespace) or not selects(selector, server.pod_labels):
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
                f"{server.display} ({count(replicas)} replica(s)): no pod may ever be evicted, so "
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
            f"while it still loads the model (up to {count(required)} s here, the load alone: the "
            "download runs before, in the init container), so it restarts forever. Add a "
            "startupProbe on /health allowing at least that long.",
            server.urn,
        )
        return
    fields = [probe.get(k) for k in ("initialDelaySeconds", "periodSeconds", "failureThreshold")]
    if any(isinstance(f, Unknown) for f in fields):
        return
    delay = number(fields[0]) or 0
    period = number(fields[1]) or _DEFAULT_PROBE_PERIOD
    failures = number(fields[2]) or _DEFAULT_PROBE_FAILURES
    budget = delay + period * failures
    if budget < required:
        report(
            f"{where}: its startupProbe allows {count(budget)} s (initialDelaySeconds "
            f"{count(delay)} + periodSeconds {count(period)} x failureThreshold "
            f"{count(failures)}) but loading the model takes up to {count(required)} s "
            f"({reason}; the load alone: the download runs before, in the init container); the "
            "kubelet would kill vLLM before it is up, and again on every restart. Raise "
            "failureThreshold.",
            server.urn,
        )


def _startup_requirement(server: Workload) -> tuple[float | None, str]:
    """Seconds the startup probe must allow, and where the number comes from.

    The program works out each server's load time (config/memory_fit.py, by the size of the
    weights: cache to slice, profiling, CUDA graphs) and writes it as an annotation; the pack takes
    it from there rather than keep a copy of that model. The download is not in it: it runs before,
    in an init container, with its own budget (sks-mig.io/download-budget-seconds).
    """
    annotated = server.annotation(ANNOTATION_STARTUP_BUDGET_SECONDS)
    if isinstance(annotated, Unknown):
        return None, ""
    if annotated is None:
        return None, (
            f"no {ANNOTATION_STARTUP_BUDGET_SECONDS} annotation, so the startup probe cannot be "
            "checked against the time the model takes to load; annotate the pod template."
        )
    seconds = number(annotated)
    if seconds is None:
        return None, f"annotation {ANNOTATION_STARTUP_BUDGET_SECONDS}={annotated!r} is not a number of seconds."
    return seconds, ANNOTATION_STARTUP_BUDGET_SECONDS


POLICY = StackValidationPolicy(
    name="rollout-cannot-deadlock",
    description=(
        "Model-server rollouts and node drains cannot wait forever for a slice: no surge when "
        "no slice is free, no PodDisruptionBudget that forbids every eviction, "
        "enableServiceLinks false (injected VLLM_PORT crashes vLLM), and a startup probe that "
        "allows the time the model takes to load (the download runs before, in an init "
        "container)."
    ),
    validate=validate_rollout_cannot_deadlock,
    enforcement_level=EnforcementLevel.MANDATORY,
)
