"""What the program registers matches the real schemas: the bridged Exoscale provider's, the
Kubernetes API's for the cluster version, and Pulumi's project schema."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.struct_pb2 import Struct

from tools.checks import exoscale_input_errors, kubernetes_errors, project_file_errors
from tools.mock_run import RegisteredResource, stack_file_config

pytestmark = pytest.mark.usefixtures("schemas_dir")
STACKS = ["dev", "a30", "prod"]


def _run(program: Any, stack: str) -> Any:
    config = stack_file_config(stack)
    config.setdefault("sks-mig:apiKey", {"secure": "v1:set"})
    config.setdefault("sks-mig:hfToken", {"secure": "v1:set"})
    return program(stack, config)


@pytest.mark.parametrize("stack", STACKS)
def test_every_exoscale_resource_matches_the_provider_schema(program: Any, stack: str) -> None:
    resources = [r for r in _run(program, stack).resources if r.type.startswith("exoscale:")]
    assert len(resources) >= 6
    assert [e for r in resources for e in exoscale_input_errors(r)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_object_is_valid_for_the_cluster_version(program: Any, stack: str) -> None:
    resources = [r for r in _run(program, stack).resources if r.type.startswith("kubernetes:")]
    assert len(resources) >= 4
    assert [e for r in resources for e in kubernetes_errors(r, "1.36")] == []


def test_the_exoscale_check_catches_a_wrong_input() -> None:
    bad = RegisteredResource(
        urn="u", type="exoscale:index/sksNodepool:SksNodepool", name="np", custom=True, parent="",
        protect=False, provider="", inputs={"zone": "de-fra-1", "size": "two", "migProfile": "1g.24gb"},
        wire=Struct(),
    )
    errors = "\n".join(exoscale_input_errors(bad))
    assert "'clusterId' is a required property" in errors
    assert "'two' is not of type 'integer'" in errors
    assert "'migProfile' was unexpected" in errors


def test_the_kubernetes_check_catches_an_unknown_field() -> None:
    bad = RegisteredResource(
        urn="u", type="kubernetes:core/v1:Service", name="svc", custom=True, parent="", protect=False,
        provider="", inputs={"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                             "spec": {"ports": [{"port": 8000}], "publish": True}},
        wire=Struct(),
    )
    assert "publish" in "\n".join(kubernetes_errors(bad, "1.36"))


def test_pulumi_yaml_matches_the_project_schema() -> None:
    assert project_file_errors() == []


def test_stack_files_only_use_the_project_namespace() -> None:
    for stack in STACKS:
        assert all(key.startswith("sks-mig:") for key in stack_file_config(stack)), stack
