"""The SKS cluster component's graph, as the program registers it for the dev and a30 stacks."""

from __future__ import annotations

from typing import Any

import pytest

from tools.mock_run import StackRun, is_secret, stack_file_config

RULE = "exoscale:index/securityGroupRule:SecurityGroupRule"


def _rules(run: StackRun) -> set[tuple[str, int, int]]:
    def port(r: Any, key: str, icmp: str) -> int:
        return int(r.inputs.get(key) if r.inputs.get(key) is not None else r.inputs[icmp])

    return {
        (r.inputs["protocol"], port(r, "startPort", "icmpType"), port(r, "endPort", "icmpCode"))
        for r in run.of_type(RULE)
    }


def test_dev_cluster_has_one_of_each_part_under_the_component(dev: StackRun) -> None:
    component = dev.one("sks-mig:index:SksCluster")
    for type_ in (
        "exoscale:index/sksCluster:SksCluster",
        "exoscale:index/securityGroup:SecurityGroup",
        "exoscale:index/sksNodepool:SksNodepool",
        "exoscale:index/sksKubeconfig:SksKubeconfig",
        "pulumi:providers:kubernetes",
    ):
        assert dev.one(type_).parent == component.urn, type_
    assert all(rule.parent == component.urn for rule in dev.of_type(RULE))
    # The system nodes' anti-affinity group and the GPU nodes' own (at most 8 instances each).
    groups = dev.of_type("exoscale:index/antiAffinityGroup:AntiAffinityGroup")
    assert sorted(g.name for g in groups) == ["sks-mig-dev-gpu-rtx", "sks-mig-dev-system"]
    assert all(group.parent == component.urn for group in groups)


def test_cluster_enables_ccm_and_csi_and_follows_config(dev: StackRun) -> None:
    cluster = dev.one("exoscale:index/sksCluster:SksCluster").inputs
    assert cluster["exoscaleCcm"] is True and cluster["exoscaleCsi"] is True
    assert (cluster["zone"], cluster["cni"], cluster["serviceLevel"]) == ("de-fra-1", "calico", "starter")
    assert "version" not in cluster  # unset: the API's latest
    system = dev.one("exoscale:index/sksNodepool:SksNodepool").inputs
    assert (system["instanceType"], system["size"]) == ("standard.medium", 2)


def test_calico_opens_kubelet_and_vxlan_4789_to_the_group_only(dev: StackRun) -> None:
    assert _rules(dev) == {("TCP", 10250, 10250), ("UDP", 4789, 4789)}
    group = dev.one("exoscale:index/securityGroup:SecurityGroup")
    for rule in dev.of_type(RULE):
        assert rule.inputs["type"] == "INGRESS"
        assert rule.inputs.get("cidr") is None
        assert rule.inputs["userSecurityGroupId"] == rule.inputs["securityGroupId"]
    assert group.name == "sks-mig-dev-nodes"


def test_cilium_opens_vxlan_8472_health_4240_and_icmp_echo(a30: StackRun) -> None:
    assert _rules(a30) == {("TCP", 10250, 10250), ("UDP", 8472, 8472), ("TCP", 4240, 4240), ("ICMP", 8, 0)}


def test_no_node_port_rule_unless_cidrs_are_configured(program: Any, dev: StackRun, dev_config: dict[str, Any]) -> None:
    assert not [r for r in dev.of_type(RULE) if r.inputs.get("cidr")]
    dev_config["sks-mig:cluster"]["nodePortCidrs"] = ["203.0.113.0/24", "2001:db8::/64"]
    run = program("dev", dev_config)
    opened = {(r.inputs["cidr"], r.inputs["startPort"], r.inputs["endPort"]) for r in run.of_type(RULE) if r.inputs.get("cidr")}
    assert opened == {("203.0.113.0/24", 30000, 32767), ("2001:db8::/64", 30000, 32767)}


def test_kubeconfig_is_secret_in_outputs_and_in_the_provider(dev: StackRun) -> None:
    assert dev.outputs["kubeconfig"].secret is True
    assert is_secret(dev.one("pulumi:providers:kubernetes").inputs["kubeconfig"])
    kubeconfig = dev.one("exoscale:index/sksKubeconfig:SksKubeconfig").inputs
    assert kubeconfig["groups"] == ["system:masters"] and kubeconfig["user"] == "kubernetes-admin"


def test_stack_exports_what_an_operator_needs(dev: StackRun) -> None:
    assert {"clusterId", "clusterEndpoint", "kubernetesVersion", "kubeconfig", "gpuNodepoolId",
            "migCapacity", "endpoints", "sliceUse"} <= set(dev.outputs)
    assert dev.outputs["clusterEndpoint"].value.startswith("https://")
    assert not dev.outputs["endpoints"].secret


@pytest.mark.parametrize("stack", ["dev", "a30"])
def test_only_prod_is_protected(program: Any, stack: str) -> None:
    assert not any(r.protect for r in program(stack).resources)


def test_prod_protects_the_cluster_and_the_gpu_nodepool(program: Any) -> None:
    prod = program("prod", {**stack_file_config("prod"), "sks-mig:apiKey": {"secure": "v1:x"}})
    assert prod.one("exoscale:index/sksCluster:SksCluster").protect
    assert prod.one("pulumi-python:dynamic/nodepool:MigNodepool").protect
    assert prod.one("exoscale:index/sksCluster:SksCluster").inputs["serviceLevel"] == "pro"


def test_prod_protects_exactly_the_cluster_and_the_gpu_nodepool(program: Any) -> None:
    """`protect` reaches only what must survive a mistaken destroy or replacement. The kubeconfig
    is replaced by design when its renewal is due (terraform-provider-exoscale: ForceNew on
    ready_for_renewal), which a protected resource refuses; rules, the system nodepool and the
    Kubernetes provider must stay free to change."""
    prod = program("prod", {**stack_file_config("prod"), "sks-mig:apiKey": {"secure": "v1:x"}})
    protected = {(r.type, r.name) for r in prod.resources if r.protect}
    assert protected == {
        ("exoscale:index/sksCluster:SksCluster", "sks-mig-prod"),
        ("pulumi-python:dynamic/nodepool:MigNodepool", "gpu-rtx"),
    }
    for type_ in (
        "exoscale:index/sksKubeconfig:SksKubeconfig",
        "pulumi:providers:kubernetes",
        "exoscale:index/sksNodepool:SksNodepool",
        "exoscale:index/securityGroup:SecurityGroup",
        "sks-mig:index:SksCluster",
        "sks-mig:index:MigGpuNodepool",
    ):
        assert not prod.one(type_).protect, type_
    assert prod.of_type(RULE) and not any(rule.protect for rule in prod.of_type(RULE))


def test_prod_with_karpenter_protects_the_cluster_and_the_node_pool(program: Any) -> None:
    config = {**stack_file_config("karpenter"), "sks-mig:environment": "prod", "sks-mig:apiKey": {"secure": "v1:x"}}
    run = program("karpenter", config)
    protected = {r.type for r in run.resources if r.protect}
    assert protected == {"exoscale:index/sksCluster:SksCluster", "kubernetes:karpenter.sh/v1:NodePool"}
