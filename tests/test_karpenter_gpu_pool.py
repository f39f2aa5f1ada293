"""KarpenterGpuPool under Pulumi's mocks: the ExoscaleNodeClass, NodePool and NodeOverlay it asks the
cluster for, checked against their CRD schemas, with userData parsed back as the node agent reads it."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.karpenter_gpu_pool import KarpenterGpuPool, KarpenterGpuPoolArgs, mig_user_data
from components.mig_placement import resolve_placement
from config.karpenter_config import KarpenterPoolConfig, karpenter_rule_errors
from config.mig_catalogue import FAMILIES
from tools.checks import kubernetes_manifest
from tools.crd_check import CRD_DIR, custom_resource_errors, is_custom_resource, load_crds, schema_errors
from tools.mock_run import PROJECT_DIR, ProgramFailed, StackRun, run_program

NODE_CLASS = "kubernetes:karpenter.exoscale.com/v1:ExoscaleNodeClass"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_OVERLAY = "kubernetes:karpenter.sh/v1alpha1:NodeOverlay"
OUTPUTS = [
    "node_class_name", "node_pool_name", "gpu_model", "mig_profile", "slices_per_gpu", "memory_per_slice_gb",
    "total_slices", "resource_name", "node_selector", "tolerations",
]  # fmt: skip
# The seed article's ExoscaleNodeClass userData ("MIG usage with Karpenter"), as it prints it.
ARTICLE_USER_DATA = """\
[settings.kubelet-device-plugins.nvidia]
device-partitioning-strategy = "mig"

[settings.kubelet-device-plugins.nvidia.mig.profile]
"rtxpro6000.96gb" = "1g.24gb"
"""
# Example ids, as the SksCluster component hands them over.
SECURITY_GROUP = "0f3b9a62-4c1e-4d0a-9c55-7e1f2a3b4c5d"
ANTI_AFFINITY_GROUP = "7a2d4e91-1b3c-4f5e-8a6b-9c0d1e2f3a4b"


def typical_args(**overrides: Any) -> KarpenterGpuPoolArgs:
    """The Karpenter stack's pool: RTX PRO 6000, 1g.24gb, at most two nodes."""
    args: dict[str, Any] = {
        "security_group_id": pulumi.Output.from_input(SECURITY_GROUP),
        "anti_affinity_group_id": pulumi.Output.from_input(ANTI_AFFINITY_GROUP),
        "instance_type": "gpurtx6000pro.small",
        "mig_profile": "1g.24gb",
        "disk_size": 200,
        "max_nodes": 2,
    }
    args.update(overrides)
    for key in [k for k, v in args.items() if v is None]:
        del args[key]
    return args  # type: ignore[return-value]


def deploy(name: str = "gpu-rtx", **overrides: Any) -> StackRun:
    """Register one pool through the recording mock engine, under a cluster's Kubernetes provider."""

    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        pool = KarpenterGpuPool(name, typical_args(**overrides), pulumi.ResourceOptions(provider=provider))
        for output in OUTPUTS:
            pulumi.export(output, getattr(pool, output))

    return run_program(program)


def one(run: StackRun, type_: str) -> dict[str, Any]:
    manifest: dict[str, Any] = kubernetes_manifest(run.one(type_))
    return manifest


def outputs(run: StackRun) -> dict[str, Any]:
    return {name: output.value for name, output in run.outputs.items()}


@pytest.fixture(scope="module")
def pool() -> StackRun:
    return deploy()


@pytest.fixture(scope="module")
def pool_with_overlay() -> StackRun:
    return deploy(node_overlay=True)


# --- the ExoscaleNodeClass ---------------------------------------------------------------------------


def test_node_class_is_the_article_node_class_with_the_clusters_groups(pool: StackRun) -> None:
    assert one(pool, NODE_CLASS) == {
        "apiVersion": "karpenter.exoscale.com/v1",
        "kind": "ExoscaleNodeClass",
        "metadata": {"name": "gpu-rtx"},
        "spec": {
            "imageTemplateSelector": {"variant": "nvidia"},
            "diskSize": 200,
            "securityGroupSelectorTerms": [{"id": SECURITY_GROUP}],
            "antiAffinityGroupSelectorTerms": [{"id": ANTI_AFFINITY_GROUP}],
            "userData": ARTICLE_USER_DATA,
        },
    }


def test_node_class_without_anti_affinity_group_selects_none() -> None:
    spec = one(deploy(anti_affinity_group_id=None), NODE_CLASS)["spec"]
    assert "antiAffinityGroupSelectorTerms" not in spec
    assert spec["securityGroupSelectorTerms"] == [{"id": SECURITY_GROUP}]


def test_user_data_is_what_the_node_agent_reads_for_every_gpu_family() -> None:
    def program() -> None:
        for family in FAMILIES.values():
            first = next(iter(family.profiles))
            args = typical_args(instance_type=f"{family.family}.small", mig_profile=first)
            KarpenterGpuPool(f"gpu-{family.family}", args)

    run = run_program(program)
    classes = {r.name: kubernetes_manifest(r)["spec"]["userData"] for r in run.of_type(NODE_CLASS)}
    assert len(classes) == len(FAMILIES)
    for family in FAMILIES.values():
        settings = tomllib.loads(classes[f"gpu-{family.family}-nodeclass"])
        assert settings == {
            "settings": {
                "kubelet-device-plugins": {
                    "nvidia": {
                        "device-partitioning-strategy": "mig",
                        "mig": {"profile": {family.api_key: next(iter(family.profiles))}},
                    }
                }
            }
        }


@pytest.mark.parametrize("family", list(FAMILIES.values()), ids=list(FAMILIES))
def test_user_data_names_every_profile_under_the_api_gpu_key(family: Any) -> None:
    for profile in family.profiles:
        text = mig_user_data(resolve_placement("test", "gpu", f"{family.family}.small", profile))
        nvidia = tomllib.loads(text)["settings"]["kubelet-device-plugins"]["nvidia"]
        assert nvidia == {"device-partitioning-strategy": "mig", "mig": {"profile": {family.api_key: profile}}}


# --- the NodePool ------------------------------------------------------------------------------------


def test_node_pool_starts_only_the_instance_type_with_the_server_contract(pool: StackRun) -> None:
    assert one(pool, NODE_POOL) == {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "gpu-rtx", "annotations": {"sks-mig.io/max-nodes": "2"}},
        "spec": {
            "template": {
                "metadata": {
                    "labels": {
                        "sks-mig.io/gpu": "rtxpro6000.96gb",
                        "sks-mig.io/mig-profile": "1g.24gb",
                        "sks-mig.io/nodepool": "gpu-rtx",
                        "sks-mig.io/slices-per-node": "4",
                    }
                },
                "spec": {
                    "nodeClassRef": {"group": "karpenter.exoscale.com", "kind": "ExoscaleNodeClass", "name": "gpu-rtx"},
                    "requirements": [
                        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["gpurtx6000pro.small"]}
                    ],
                    "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
                    "expireAfter": "720h",
                },
            },
            # Without the overlay a new node counts its 1 physical GPU: 2 nodes x 1 GPU.
            "limits": {"nvidia.com/gpu": "2"},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m"},
        },
    }


def test_disruption_and_expiry_settings_reach_the_node_pool() -> None:
    spec = one(
        deploy(consolidation_policy="WhenEmptyOrUnderutilized", consolidate_after="30m", expire_after="Never"),
        NODE_POOL,
    )["spec"]
    assert spec["disruption"] == {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "30m"}
    assert spec["template"]["spec"]["expireAfter"] == "Never"


def test_model_servers_select_and_tolerate_the_pools_nodes(pool: StackRun) -> None:
    values, template = outputs(pool), one(pool, NODE_POOL)["spec"]["template"]
    labels, taints = template["metadata"]["labels"], template["spec"]["taints"]
    assert values["node_selector"].items() <= labels.items()
    for taint in taints:
        assert any(
            t["key"] == taint["key"] and t["operator"] == "Exists" and t["effect"] == taint["effect"]
            for t in values["tolerations"]
        )


def test_node_pool_is_created_after_its_node_class(pool: StackRun) -> None:
    node_pool, node_class = pool.one(NODE_POOL), pool.one(NODE_CLASS)
    assert node_class.urn in node_pool.dependencies
    assert pool.of_type(NODE_OVERLAY) == []


# --- the NodeOverlay ---------------------------------------------------------------------------------


def test_overlay_tells_karpenter_the_slices_of_this_pools_nodes(pool_with_overlay: StackRun) -> None:
    assert one(pool_with_overlay, NODE_OVERLAY) == {
        "apiVersion": "karpenter.sh/v1alpha1",
        "kind": "NodeOverlay",
        "metadata": {"name": "gpu-rtx-mig-slices"},
        "spec": {
            "requirements": [
                {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["gpu-rtx"]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["gpurtx6000pro.small"]},
            ],
            "capacity": {"nvidia.com/gpu": "4"},
        },
    }


def test_with_the_overlay_limits_count_slices_and_the_pool_waits_for_it(pool_with_overlay: StackRun) -> None:
    # Karpenter then sees 4 nvidia.com/gpu per new node, as registered MIG nodes report: 2 nodes x 4.
    assert one(pool_with_overlay, NODE_POOL)["spec"]["limits"] == {"nvidia.com/gpu": "8"}
    assert pool_with_overlay.one(NODE_OVERLAY).urn in pool_with_overlay.one(NODE_POOL).dependencies


def test_limits_scale_with_gpus_per_node() -> None:
    plain = one(deploy(instance_type="gpurtx6000pro.large", gpus_per_node=4, max_nodes=3), NODE_POOL)
    overlaid = one(
        deploy(instance_type="gpurtx6000pro.large", gpus_per_node=4, max_nodes=3, node_overlay=True), NODE_POOL
    )
    assert plain["spec"]["limits"] == {"nvidia.com/gpu": "12"}  # 3 nodes x 4 GPUs
    assert overlaid["spec"]["limits"] == {"nvidia.com/gpu": "48"}  # 3 nodes x 4 GPUs x 4 slices


# --- outputs: what VllmService and the stack read ----------------------------------------------------


def test_outputs_are_the_fixed_nodepools_so_model_servers_need_no_change(pool: StackRun) -> None:
    from components.gpu_nodepool import MigGpuNodepool

    # Karpenter's nodes are single instances: no nodepool id and no instance pool (so no LoadBalancer).
    fixed = set(MigGpuNodepool.__annotations__) - {"nodepool_id", "instance_pool_id"}
    assert fixed <= set(KarpenterGpuPool.__annotations__)
    assert outputs(pool) == {
        "node_class_name": "gpu-rtx",
        "node_pool_name": "gpu-rtx",
        "gpu_model": "RTX PRO 6000 96GB",
        "mig_profile": "1g.24gb",
        "slices_per_gpu": 4,
        "memory_per_slice_gb": 24,
        "total_slices": 8,  # up to: 2 nodes x 1 GPU x 4 slices
        "resource_name": "nvidia.com/gpu",
        "node_selector": {"sks-mig.io/gpu": "rtxpro6000.96gb", "sks-mig.io/mig-profile": "1g.24gb"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    }


def test_the_component_host_infers_every_input_and_output() -> None:
    from pulumi.provider.experimental.analyzer import Analyzer

    component = Analyzer("sks-mig").analyze([KarpenterGpuPool])["component_definitions"]["KarpenterGpuPool"]
    assert {"securityGroupId", "instanceType", "migProfile", "diskSize", "maxNodes"} == {
        name for name, spec in component.inputs.items() if not spec.optional
    }
    assert {"nodeOverlay", "antiAffinityGroupId", "consolidationPolicy", "expireAfter"} <= set(component.inputs)
    assert {"totalSlices", "resourceName", "nodeSelector", "tolerations", "memoryPerSliceGb"} <= set(component.outputs)


def test_custom_resources_are_children_under_the_clusters_provider(pool_with_overlay: StackRun) -> None:
    component = pool_with_overlay.one("sks-mig:index:KarpenterGpuPool")
    provider = pool_with_overlay.one("pulumi:providers:kubernetes")
    custom = [r for r in pool_with_overlay.resources if r.type.startswith("kubernetes:karpenter")]
    assert len(custom) == 3
    for resource in custom:
        assert resource.parent == component.urn
        assert resource.provider.startswith(provider.urn)
        assert "namespace" not in resource.inputs["metadata"]  # all three kinds are cluster-scoped


# --- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instance_type": "standard.medium"}, "instance_type 'standard.medium' has no MIG-capable GPU; valid: gpua30"),
        (
            {"mig_profile": "3g.40gb"},
            "mig_profile '3g.40gb' is not a MIG profile of gpurtx6000pro (RTX PRO 6000 96GB); valid: 1g.24gb",
        ),
        ({"instance_type": "gpurtx6000pro.huge"}, "gpus_per_node is required for 'gpurtx6000pro.huge'"),
        ({"max_nodes": 0}, "max_nodes must be at least 1, not 0"),
        ({"consolidation_policy": "Always"}, "consolidation_policy 'Always' is not one of WhenEmpty"),
        ({"consolidate_after": "10 minutes"}, "consolidate_after '10 minutes' is not a Karpenter duration"),
        ({"expire_after": "30d"}, "expire_after '30d' is not a Karpenter duration"),
    ],
)
def test_bad_input_stops_the_program_before_anything_is_registered(overrides: dict[str, Any], message: str) -> None:
    def program() -> None:
        KarpenterGpuPool("gpu-rtx", typical_args(**overrides))

    with pytest.raises(ProgramFailed) as failure:
        run_program(program)
    assert f"KarpenterGpuPool gpu-rtx: {message}" in str(failure.value)
    assert failure.value.registered == []


# --- the CRD schemas ---------------------------------------------------------------------------------


def karpenter_objects(run: StackRun) -> list[dict[str, Any]]:
    return [kubernetes_manifest(r) for r in run.resources if r.type.startswith("kubernetes:karpenter")]


@pytest.mark.parametrize("overlay", [False, True], ids=["plain", "overlay"])
def test_every_custom_resource_passes_its_crd(overlay: bool) -> None:
    run = deploy(node_overlay=overlay)
    objects = karpenter_objects(run)
    assert len(objects) == (3 if overlay else 2)
    for obj in objects:
        assert custom_resource_errors(obj) == []


@pytest.mark.parametrize("family", list(FAMILIES.values()), ids=list(FAMILIES))
def test_every_gpu_family_and_profile_passes_the_crds(family: Any) -> None:
    def program() -> None:
        for index, profile in enumerate(family.profiles):
            args = typical_args(instance_type=f"{family.family}.small", mig_profile=profile, node_overlay=True)
            KarpenterGpuPool(f"gpu-{index}", args)

    for obj in karpenter_objects(run_program(program)):
        assert custom_resource_errors(obj) == []


def mutated(obj: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    broken = copy.deepcopy(obj)
    change(broken)
    return broken


def test_the_check_refuses_what_the_api_server_would(pool_with_overlay: StackRun) -> None:
    node_class, node_pool, overlay = (one(pool_with_overlay, t) for t in (NODE_CLASS, NODE_POOL, NODE_OVERLAY))
    cases = [
        # A misspelt field: the API server would prune it, and the nodes would start without MIG.
        (mutated(node_class, lambda o: o["spec"].update(userdata=o["spec"].pop("userData"))),
         "spec: Additional properties are not allowed ('userdata' was unexpected)"),
        (mutated(node_class, lambda o: o["spec"].update(diskSize=5)), "spec.diskSize: 5 is less than the minimum of 10"),
        (mutated(node_class, lambda o: o["spec"].update(templateID="20000000-0000-0000-0000-000000000001")),
         "spec: exactly one of templateID or imageTemplateSelector must be specified"),
        (mutated(node_class, lambda o: o["spec"]["securityGroupSelectorTerms"][0].update(name="nodes")),
         "spec.securityGroupSelectorTerms.0: exactly one of id or name must be specified"),
        (mutated(node_class, lambda o: o["spec"]["imageTemplateSelector"].update(variant="cuda")),
         "spec.imageTemplateSelector.variant: 'cuda' is not one of ['standard', 'nvidia']"),
        (mutated(node_pool, lambda o: o["spec"]["template"]["spec"]["requirements"][0].update(values=[])),
         "spec.template.spec.requirements: requirements with operator 'In' must have a value defined"),
        (mutated(node_pool, lambda o: o["spec"]["template"]["metadata"]["labels"].update({"karpenter.sh/gpu": "x"})),
         'spec.template.metadata.labels: label domain "karpenter.sh" is restricted'),
        (mutated(node_pool, lambda o: o["spec"]["disruption"].update(consolidateAfter="10 minutes")),
         "spec.disruption.consolidateAfter: '10 minutes' does not match"),
        (mutated(node_pool, lambda o: o["spec"]["template"]["spec"].pop("nodeClassRef")),
         "spec.template.spec: 'nodeClassRef' is a required property"),
        (mutated(overlay, lambda o: o["spec"]["capacity"].update(cpu="4")), "spec.capacity: invalid resource restricted"),
        (mutated(overlay, lambda o: o["metadata"].update(namespace="inference")),
         "metadata.namespace: 'inference' set on a cluster-scoped kind"),
        (mutated(overlay, lambda o: o.update(apiVersion="karpenter.sh/v1")), "no CRD schema for apiVersion 'karpenter.sh/v1'"),
    ]  # fmt: skip
    for broken, message in cases:
        errors = custom_resource_errors(broken)
        assert any(message in error for error in errors), (message, errors)


def test_the_node_class_schema_keeps_the_user_data_field() -> None:
    """spec.userData is not in the published CRD (main e70bc63): it comes from the Go types of the
    user-data branch (6a13461). Without it the API server prunes the MIG settings silently."""
    schema = load_crds()[("karpenter.exoscale.com/v1", "ExoscaleNodeClass")].schema
    spec = schema["properties"]["spec"]
    assert spec["properties"]["userData"] == {"type": "string"}
    assert "userData" not in spec.get("required", [])
    # The field matters: the same NodeClass fails a schema that lacks it.
    without = copy.deepcopy(schema)
    del without["properties"]["spec"]["properties"]["userData"]
    node_class = {"apiVersion": "karpenter.exoscale.com/v1", "kind": "ExoscaleNodeClass", "metadata": {"name": "gpu"},
                  "spec": {"imageTemplateSelector": {"variant": "nvidia"}, "userData": ARTICLE_USER_DATA}}  # fmt: skip
    assert schema_errors(node_class, schema) == []
    assert schema_errors(node_class, without) == [
        "spec: Additional properties are not allowed ('userData' was unexpected)"
    ]


def test_the_plan_can_tell_custom_resources_from_built_in_kinds(pool_with_overlay: StackRun) -> None:
    custom = {r.type for r in pool_with_overlay.resources if is_custom_resource(r.type)}
    assert custom == {NODE_CLASS, NODE_POOL, NODE_OVERLAY}
    assert not is_custom_resource("kubernetes:apps/v1:StatefulSet")
    assert not is_custom_resource("kubernetes:karpenter.sh/v1:NodeClaim")


def test_crd_schemas_name_their_sources() -> None:
    sources = (CRD_DIR / "SOURCES.md").read_text(encoding="utf-8")
    for crd in load_crds().values():
        assert crd.source in sources
    for commit in (
        "e70bc63cd7a4d83003cf342878d99af410f168a5",  # karpenter-provider-exoscale main
        "6a13461230506b7cf39b81c33425b767a5cf0485",  # its user-data branch
        "07260ac5ef063be4285845a3b25800903af3ad5f",  # kubernetes-sigs/karpenter v1.10.0
    ):
        assert commit in sources
    assert sources.count("Apache-2.0") >= 4


# --- the Karpenter config keys and the stack file ----------------------------------------------------


def karpenter_stack() -> dict[str, Any]:
    document = yaml.safe_load((PROJECT_DIR / "Pulumi.karpenter.yaml").read_text(encoding="utf-8"))
    config: dict[str, Any] = document["config"]
    return config


def karpenter_keys(pool: dict[str, Any]) -> dict[str, Any]:
    known = {field.alias for field in KarpenterPoolConfig.model_fields.values()}
    return {key: value for key, value in pool.items() if key in known}


def test_karpenter_stack_is_the_articles_pool_on_a_pro_cluster() -> None:
    config = karpenter_stack()
    pool = config["sks-mig:gpuNodepool"]
    settings = KarpenterPoolConfig.model_validate(karpenter_keys(pool), by_alias=True)
    assert (settings.provisioner, settings.max_nodes, settings.node_overlay) == ("karpenter", 2, True)
    assert (pool["instanceType"], pool["migProfile"], "size" in pool) == ("gpurtx6000pro.small", "1g.24gb", False)
    assert config["sks-mig:cluster"]["name"] == "sks-mig-karpenter"
    assert config["sks-mig:zone"] == "de-fra-1"
    assert [m["model"] for m in config["sks-mig:models"]] == [
        "microsoft/Phi-4-mini-instruct",
        "Qwen/Qwen2.5-7B-Instruct",
    ]
    errors = karpenter_rule_errors(settings, size_set=False, service_level=config["sks-mig:cluster"]["serviceLevel"])
    assert errors == []


def test_karpenter_stack_pool_passes_the_crds() -> None:
    pool = karpenter_stack()["sks-mig:gpuNodepool"]
    run = deploy(
        pool["name"],
        instance_type=pool["instanceType"],
        mig_profile=pool["migProfile"],
        disk_size=pool["diskSize"],
        max_nodes=pool["maxNodes"],
        node_overlay=pool["nodeOverlay"],
    )
    assert [custom_resource_errors(obj) for obj in karpenter_objects(run)] == [[], [], []]
    assert outputs(run)["total_slices"] == 8


def test_karpenter_keys_default_to_the_fixed_nodepool() -> None:
    settings = KarpenterPoolConfig.model_validate({})
    assert settings.model_dump() == {
        "provisioner": "nodepool",
        "max_nodes": None,
        "consolidation_policy": "WhenEmpty",
        "consolidate_after": "10m",
        "expire_after": "720h",
        "node_overlay": False,
    }
    assert karpenter_rule_errors(settings, size_set=True, service_level="starter") == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"provisioner": "autoscaler"}, "Input should be 'nodepool' or 'karpenter'"),
        ({"provisioner": "karpenter", "maxNodes": 0}, "Input should be greater than 0"),
        ({"provisioner": "karpenter", "maxNode": 2}, "Extra inputs are not permitted"),
        ({"provisioner": "karpenter", "consolidateAfter": "ten minutes"}, "String should match pattern"),
        ({"provisioner": "karpenter", "consolidationPolicy": "Always"}, "'WhenEmpty' or 'WhenEmptyOrUnderutilized'"),
        ({"maxNodes": 2}, "maxNodes applies only with provisioner 'karpenter' (provisioner is 'nodepool')"),
        ({"provisioner": "nodepool", "nodeOverlay": True}, "nodeOverlay applies only with provisioner 'karpenter'"),
    ],
)
def test_karpenter_keys_refuse_bad_values(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as refusal:
        KarpenterPoolConfig.model_validate(raw, by_alias=True)
    assert message in str(refusal.value)


def test_karpenter_mode_cross_key_rules_name_their_keys() -> None:
    settings = KarpenterPoolConfig.model_validate({"provisioner": "karpenter"}, by_alias=True)
    errors = dict(karpenter_rule_errors(settings, size_set=True, service_level="starter"))
    assert set(errors) == {"cluster.serviceLevel", "gpuNodepool.size", "gpuNodepool.maxNodes"}
    assert "'starter' cannot run Karpenter" in errors["cluster.serviceLevel"]
    assert "'pro'" in errors["cluster.serviceLevel"]
    assert "up to gpuNodepool.maxNodes" in errors["gpuNodepool.size"]
    assert "required with provisioner 'karpenter'" in errors["gpuNodepool.maxNodes"]
