"""Every invalid value fails before any resource exists, with one message naming key, value and
what is accepted."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.conftest import refused
from tools.mock_run import SECRET_PLACEHOLDER


def _with(config: dict[str, Any], key: str, **changes: Any) -> dict[str, Any]:
    section = f"sks-mig:{key}"
    config[section] = {**config[section], **changes}
    return config


def test_unknown_mig_profile_names_the_family_and_the_valid_profiles(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "gpuNodepool", migProfile="3g.40gb"))
    assert "sks-mig:gpuNodepool.migProfile: '3g.40gb' is not a MIG profile of gpurtx6000pro" in str(failure)
    assert "valid: 1g.24gb, 1g.24gb+gfx, 1g.24gb+me" in str(failure)
    assert failure.registered == []


def test_profile_of_another_gpu_is_refused(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "gpuNodepool", instanceType="gpua30.small"))
    assert "'1g.24gb' is not a MIG profile of gpua30 (A30 24GB); valid: 1g.6gb" in str(failure)


def test_instance_type_without_mig_is_refused(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "gpuNodepool", instanceType="gpu3.small"))
    assert "sks-mig:gpuNodepool.instanceType: 'gpu3.small' has no MIG-capable GPU" in str(failure)
    assert "gpua30.<size>, gpurtx6000pro.<size>, gpub300.<size>" in str(failure)
    assert failure.registered == []


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("gpuNodepool", "size", 0), ("gpuNodepool", "size", -2), ("gpuNodepool", "gpusPerNode", 0)],
)
def test_non_positive_sizes_are_refused(dev_config: dict[str, Any], section: str, key: str, value: int) -> None:
    failure = refused(_with(dev_config, section, **{key: value}))
    assert f"sks-mig:{section}.{key}: {value} is not accepted: Input should be greater than 0" in str(failure)


def test_system_nodepool_size_zero_is_refused(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:cluster"]["systemNodepool"]["size"] = 0
    assert "sks-mig:cluster.systemNodepool.size: 0 is not accepted" in str(refused(dev_config))


def test_duplicate_model_names_are_refused(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:models"][1]["name"] = "vllm-phi"
    failure = refused(dev_config)
    assert "sks-mig:models[1].name: 'vllm-phi' is used twice; model names must be unique" in str(failure)
    assert failure.registered == []


def test_non_dns_model_name_is_refused_with_the_rule(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:models"][0]["name"] = "Phi_4"
    failure = refused(dev_config)
    assert "sks-mig:models[0].name: 'Phi_4' is not accepted" in str(failure)
    assert "DNS label" in str(failure)


@pytest.mark.parametrize(("key", "value", "accepted"), [("cni", "flannel", "'calico' or 'cilium'"),
                                                        ("serviceLevel", "gold", "'starter' or 'pro'")])
def test_unknown_cni_or_service_level_is_refused(dev_config: dict[str, Any], key: str, value: str, accepted: str) -> None:
    failure = refused(_with(dev_config, "cluster", **{key: value}))
    assert f"sks-mig:cluster.{key}: '{value}' is not accepted: Input should be {accepted}" in str(failure)


@pytest.mark.parametrize("missing", ["sks-mig:zone", "sks-mig:cluster", "sks-mig:gpuNodepool"])
def test_missing_required_keys_are_named(dev_config: dict[str, Any], missing: str) -> None:
    del dev_config[missing]
    assert f"{missing}: required, but not set" in str(refused(dev_config))


def test_missing_nested_key_is_named(dev_config: dict[str, Any]) -> None:
    del dev_config["sks-mig:gpuNodepool"]["migProfile"]
    assert "sks-mig:gpuNodepool.migProfile: required, but not set" in str(refused(dev_config))


def test_misspelt_key_lists_the_valid_keys(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "gpuNodepool", migProfil="1g.24gb"))
    assert "sks-mig:gpuNodepool.migProfil: unknown key; valid keys here: name, instanceType" in str(failure)


def test_unknown_zone_lists_the_api_zones(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:zone"] = "eu-west-1"
    assert "sks-mig:zone: 'eu-west-1' is not an Exoscale zone; valid: at-vie-1" in str(refused(dev_config))


def test_unknown_instance_size_needs_gpus_per_node(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "gpuNodepool", instanceType="gpurtx6000pro.large"))
    assert "sks-mig:gpuNodepool.gpusPerNode: required" in str(failure)


def test_bad_node_port_cidr_is_refused(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "cluster", nodePortCidrs=["10.0.0.1/8"]))
    assert "sks-mig:cluster.nodePortCidrs: '10.0.0.1/8' is not a network in CIDR form" in str(failure)


def test_load_balancer_without_api_key_is_refused(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:models"][0]["expose"] = "LoadBalancer"
    failure = refused(dev_config)
    assert "sks-mig:models[0].expose: 'LoadBalancer' puts the server on the internet and needs an API key" in str(failure)


def test_load_balancer_with_an_api_key_is_accepted(program: Any, dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:models"][0]["expose"] = "LoadBalancer"
    dev_config["sks-mig:router"] = {"enabled": False}  # with the router on, only the router is exposed
    dev_config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24"]  # the LB reaches the NodePorts
    dev_config["sks-mig:apiKey"] = {"secure": "v1:encrypted-in-the-stack-file"}
    run = program("dev", dev_config)
    services = [r for r in run.of_type("kubernetes:core/v1:Service") if r.inputs["spec"].get("type") == "LoadBalancer"]
    assert len(services) == 1
    assert SECRET_PLACEHOLDER not in str([r.inputs for r in run.resources if r.type != "kubernetes:core/v1:Secret"])


def test_invalid_json_object_is_a_clear_error(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:cluster"] = "{not json"
    assert "sks-mig:cluster" in str(refused(dev_config))


def test_several_errors_are_reported_together(dev_config: dict[str, Any]) -> None:
    _with(dev_config, "cluster", cni="flannel")
    _with(dev_config, "gpuNodepool", size=0)
    message = str(refused(dev_config))
    assert "sks-mig:cluster.cni" in message and "sks-mig:gpuNodepool.size" in message


def test_more_replicas_than_slices_is_refused_with_both_numbers() -> None:
    from tools.mock_run import stack_file_config

    config = stack_file_config("a30")
    config["sks-mig:models"].append({"name": "vllm-llama", "model": "meta-llama/Llama-3.2-1B-Instruct"})
    failure = refused(config, "a30")
    assert "sks-mig:models: the model servers ask for 3 slices (sum of replicas) but the GPU nodepool has 2" in str(failure)
    assert failure.registered == []


def test_a_model_too_big_for_its_slice_is_refused_before_anything_exists() -> None:
    from tools.mock_run import stack_file_config

    config = stack_file_config("a30")
    config["sks-mig:gpuNodepool"]["migProfile"] = "1g.6gb"
    config["sks-mig:models"] = [{"name": "vllm-qwen", "model": "Qwen/Qwen2.5-7B-Instruct"}]
    failure = refused(config, "a30")
    assert "sks-mig:models[0].model:" in str(failure)
    assert "15.22 GB" in str(failure) and "1g.6gb" in str(failure) and "4g.24gb" in str(failure)
    assert failure.registered == []


def test_an_explicit_context_too_long_for_the_slice_names_the_largest_that_fits(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:gpuNodepool"]["migProfile"] = "1g.24gb"
    dev_config["sks-mig:models"][0]["maxModelLen"] = 131072
    failure = refused(dev_config)
    assert "sks-mig:models[0].maxModelLen:" in str(failure)
    # The largest context that fits 1g.24gb's usable 24192 MiB with 1 GB kept free (issue 9).
    assert "98304" in str(failure)


def test_unknown_model_without_weights_asks_for_them(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:models"][0]["model"] = "acme/secret-model-9b"
    failure = refused(dev_config)
    assert "sks-mig:models[0].model:" in str(failure) and "weightsGb" in str(failure)


# -- the reviewer's findings: settings the program accepted that break at deploy -------------------


def test_gpus_per_node_contradicting_the_catalogue_is_refused_naming_both(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "gpuNodepool", gpusPerNode=4))
    assert ("sks-mig:gpuNodepool.gpusPerNode: 4 contradicts the catalogue: gpurtx6000pro.small has 1 GPU(s); "
            "remove gpusPerNode") in str(failure)
    assert failure.registered == []


def test_gpus_per_node_agreeing_with_the_catalogue_or_for_an_unknown_size_is_accepted(program: Any, dev_config: dict[str, Any]) -> None:
    assert program("dev", _with(dev_config, "gpuNodepool", gpusPerNode=1)).outputs["migCapacity"].value["totalSlices"] == 4
    unknown = _with(dev_config, "gpuNodepool", instanceType="gpurtx6000pro.large", gpusPerNode=2)
    assert program("dev", unknown).outputs["migCapacity"].value["totalSlices"] == 8


@pytest.mark.parametrize("namespace", ["default", "kube-system", "kube-public", "kube-node-lease", "kube-custom"])
def test_a_kubernetes_namespace_is_refused_as_the_stacks_own(dev_config: dict[str, Any], namespace: str) -> None:
    dev_config["sks-mig:namespace"] = namespace
    failure = refused(dev_config)
    assert f"sks-mig:namespace: '{namespace}' is one of Kubernetes' own namespaces" in str(failure)
    assert "`pulumi destroy` would delete it" in str(failure)
    assert failure.registered == []


def test_the_monitoring_namespace_may_not_be_the_stacks_own(dev_config: dict[str, Any]) -> None:
    dev_config["sks-mig:monitoringNamespace"] = "inference"
    failure = refused(dev_config)
    assert "sks-mig:monitoringNamespace: 'inference' is the stack's own namespace (namespace)" in str(failure)
    assert "not only the router" in str(failure)


@pytest.mark.parametrize(("size", "refused_"), [(4, False), (5, True)])
def test_create_first_with_anti_affinity_fits_both_pools_in_the_group(
    program: Any, dev_config: dict[str, Any], size: int, refused_: bool
) -> None:
    dev_config["sks-mig:gpuNodepool"].update(size=size, replaceStrategy="createFirst")
    if not refused_:
        assert program("dev", dev_config).one("pulumi-python:dynamic/nodepool:MigNodepool").inputs["size"] == size
        return
    message = str(refused(dev_config))
    assert ("sks-mig:gpuNodepool.replaceStrategy: 'createFirst' with antiAffinity: true and size: 5: during a "
            "replacement the old and the new pool share the anti-affinity group, 10 instances") in message
    assert "use size <= 4, replaceStrategy: deleteFirst, or antiAffinity: false" in message
    dev_config["sks-mig:gpuNodepool"]["antiAffinity"] = False
    program("dev", dev_config)  # no group, no limit


def test_a_karpenter_key_on_a_fixed_pool_is_blamed_on_that_key(dev_config: dict[str, Any]) -> None:
    failure = refused(_with(dev_config, "gpuNodepool", maxNodes=3))
    assert ("sks-mig:gpuNodepool.maxNodes: 3 is set, but maxNodes applies only with provisioner 'karpenter' "
            "(provisioner is 'nodepool')") in str(failure)


def _karpenter(config: dict[str, Any], **pool: Any) -> dict[str, Any]:
    """A copy of `config` with Karpenter GPU nodes (on the pro control plane) and `pool` keys."""
    config = copy.deepcopy(config)
    config["sks-mig:cluster"]["serviceLevel"] = "pro"
    config["sks-mig:gpuNodepool"].pop("size", None)
    return _with(config, "gpuNodepool", provisioner="karpenter", maxNodes=2, **pool)


@pytest.mark.parametrize("expire_after", ["0s", "30m", "59m59s"])
def test_an_expiry_shorter_than_an_hour_is_refused(dev_config: dict[str, Any], expire_after: str) -> None:
    failure = refused(_karpenter(dev_config, expireAfter=expire_after))
    assert f"sks-mig:gpuNodepool.expireAfter: '{expire_after}' is too short: Karpenter replaces every GPU node" in str(failure)
    assert "use at least 1h" in str(failure)


def test_karpenter_durations_are_explained_and_bounded(program: Any, dev_config: dict[str, Any]) -> None:
    message = str(refused(_karpenter(dev_config, consolidateAfter="ten minutes")))
    assert ("sks-mig:gpuNodepool.consolidateAfter: 'ten minutes' is not accepted: it must be a duration such as "
            "10m, 1h30m or Never") in message
    assert "^((" not in message  # no raw pattern
    assert "longer than Karpenter can read" in str(refused(_karpenter(dev_config, expireAfter="9999999999h")))
    program("dev", _karpenter(dev_config, expireAfter="1h", consolidateAfter="0s"))


def test_karpenter_disk_size_is_bounded_by_the_node_class_crd(program: Any, dev_config: dict[str, Any]) -> None:
    # Found by the valid fuzz through the real program: 8001 GiB fits a nodepool, not a NodeClass.
    import yaml

    from config.limits import KARPENTER_DISK_MAX_GIB
    from tools.checks import SCHEMAS_DIR

    crd = yaml.safe_load((SCHEMAS_DIR / "crds" / "exoscalenodeclasses.karpenter.exoscale.com.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert spec["diskSize"]["maximum"] == KARPENTER_DISK_MAX_GIB
    message = str(refused(_karpenter(dev_config, diskSize=8001)))
    assert "sks-mig:gpuNodepool.diskSize: 8001 GiB is more than Karpenter's GPU nodes can have" in message
    assert "at most 8000" in message
    program("dev", _karpenter(dev_config, diskSize=8000))
    assert program("dev", _with(dev_config, "gpuNodepool", diskSize=8001)).one(
        "pulumi-python:dynamic/nodepool:MigNodepool").inputs["disk_size"] == 8001
