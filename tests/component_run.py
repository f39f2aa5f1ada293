"""One component registered alone under Pulumi's mocks, with a Kubernetes provider named `cluster`,
and read back as the objects it asks Kubernetes for: what the tests of VllmService and ModelRouter
share (each adds the views of its own objects)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest

from tools.checks import kubernetes_manifest as manifest
from tools.mock_run import RegisteredResource, StackRun, is_secret

Register = Callable[[Callable[[], object]], StackRun]


@dataclass
class ComponentRun:
    """What the component registered, and its outputs. A subclass names in `workload` the type and
    name of the object whose pod template makes the component's pods (for `pod` and `container`)."""

    workload: ClassVar[tuple[str, str]]
    registrations: list[RegisteredResource]
    outputs: dict[str, Any]

    def of(self, typ: str) -> list[RegisteredResource]:
        return [r for r in self.registrations if r.type == typ]

    def one(self, typ: str, name: str) -> dict[str, Any]:
        matches = [r for r in self.of(typ) if r.name == name]
        assert len(matches) == 1, f"expected one {typ} named {name}, got {len(matches)}"
        return matches[0].inputs

    @property
    def kubernetes_objects(self) -> list[RegisteredResource]:
        return [r for r in self.registrations if r.type.startswith("kubernetes:")]

    @property
    def pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.one(*self.workload)["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        """The pod's container, which must be its only one."""
        (container,) = self.pod["containers"]
        return dict(container)


def run_component(
    register: Register, build: Callable[[pulumi.ResourceOptions], object], outputs: Sequence[str]
) -> tuple[list[RegisteredResource], dict[str, Any]]:
    """Register the component `build` makes (given the options that name the cluster's provider)
    through the shared recording mock engine; what it registered and the values of `outputs`."""

    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        component = build(pulumi.ResourceOptions(provider=provider))
        for name in outputs:
            pulumi.export(name, getattr(component, name))

    run = register(program)
    return run.resources, {name: run.outputs[name].value for name in outputs}


def with_overrides(args: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`args` with `overrides` applied; an override of None leaves the argument out."""
    args.update(overrides)
    for key in [k for k, v in args.items() if v is None]:
        del args[key]
    return args


def plain_strings(value: Any) -> Iterator[str]:
    """Every string outside a secret wrapper (keys included)."""
    if is_secret(value):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from plain_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from plain_strings(v)
    elif isinstance(value, str):
        yield value


def assert_valid_kubernetes(registrations: Sequence[RegisteredResource], version: str = "1.36") -> None:
    """Every object validates against Kubernetes `version`'s schemas, strictly (unknown fields fail)."""
    for registration in registrations:
        try:
            kubernetes_validate.validate(manifest(registration), version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.absolute_path)
            pytest.fail(f"{registration.type} {registration.name}: {path}: {error.message}")
