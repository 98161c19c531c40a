"""The cluster layer's security and dev/prod properties, read from the offline plans."""

from __future__ import annotations

import copy
import json
import re

import pytest

from components.config import StackConfigError, parse_stack_config
from components.config.cluster import CONTROL_PLANE_LOG_TYPES
from conftest import ROOT, STACKS, PlanView
from helpers import ADDON_TYPES, ASSOCIATION, iam_role_of, managed_addon, workload_role
from preflight.check import Subject, evaluate
from preflight.stackfile import read_stack_file

K8S_PROVIDER = "pulumi:providers:kubernetes"


def needs_cluster_autoscaler(plan: PlanView) -> None:
    """cluster-autoscaler's tests apply to stacks that run it (prod); dev runs Karpenter
    (tests/test_karpenter.py checks which stack runs which)."""
    if not [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r["name"] == "autoscaler-chart"]:
        pytest.skip(f"{plan.data['stack']} runs Karpenter, not cluster-autoscaler")


def test_secrets_are_encrypted_with_a_rotating_dedicated_key(plan: PlanView):
    key = plan.one("aws:kms/key:Key")
    assert key["inputs"]["enableKeyRotation"] is True
    cluster = plan.one("eks:index:Cluster")
    assert cluster["inputs"]["encryptionConfigKeyArn"].startswith("arn:aws:kms:")
    assert key["urn"] in cluster["dependencies"]


def test_all_control_plane_logs_with_retention(plans):
    for stack, days in (("dev", 30), ("prod", 365)):
        cluster = plans[stack].one("eks:index:Cluster")
        assert cluster["inputs"]["enabledClusterLogTypes"] == list(CONTROL_PLANE_LOG_TYPES)
        group = plans[stack].one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")
        assert group["inputs"]["name"] == f"/aws/eks/eks-platform-{stack}/cluster"
        assert group["inputs"]["retentionInDays"] == days
        assert group["urn"] in cluster["dependencies"], "the log group must exist before EKS writes to it"


def test_endpoint_private_in_prod_and_restricted_in_dev(plans):
    prod = plans["prod"].one("eks:index:Cluster")["inputs"]
    assert prod["endpointPrivateAccess"] is True and prod["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in prod
    dev = plans["dev"].one("eks:index:Cluster")["inputs"]
    assert dev["endpointPublicAccess"] is True
    assert dev["publicAccessCidrs"] and "0.0.0.0/0" not in dev["publicAccessCidrs"]


def test_api_authentication_with_access_entries(plan: PlanView):
    inputs = plan.one("eks:index:Cluster")["inputs"]
    assert inputs["authenticationMode"] == "API"
    entry = inputs["accessEntries"]["role-platform-admin-123456789012"]
    policy = entry["accessPolicies"]["cluster-admin"]
    assert policy["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert policy["accessScope"] == {"type": "cluster"}
    assert inputs["skipDefaultNodeGroup"] is True and inputs["createOidcProvider"] is True


def test_vpc_cni_enforces_network_policy_and_addons_are_pinned(plan: PlanView):
    # Pod Identity (the shipped stacks): aws.eks.Addon, configured as eks.VpcCniAddon would be.
    cni = managed_addon(plan, "vpc-cni")
    assert cni["type"] == "aws:eks/addon:Addon"
    assert json.loads(cni["inputs"]["configurationValues"])["enableNetworkPolicy"] == "true"
    assert cni["inputs"]["preserve"] is True, "deleting the resource must not remove aws-node"
    inputs = plan.one("eks:index:Cluster")["inputs"]
    assert "vpcCniOptions" not in inputs, "the cluster's own VPC CNI would be a second, role-less one"
    versions = [inputs["kubeProxyAddonOptions"]["version"]]
    versions += [a["inputs"]["addonVersion"] for t in ADDON_TYPES for a in plan.of_type(t)]
    assert len(versions) == 5 and all("eksbuild" in v for v in versions)
    ebs = addon(plan, "aws-ebs-csi-driver")["inputs"]
    assert "serviceAccountRoleArn" not in ebs and len(ebs["podIdentityAssociations"]) == 1


@pytest.mark.parametrize("stack", STACKS)
def test_on_irsa_the_addons_are_the_pulumi_eks_components_they_were(irsa_plans, stack):
    plan = irsa_plans[stack]
    cni = plan.one("eks:index:VpcCniAddon")["inputs"]
    assert cni["enableNetworkPolicy"] is True
    assert cni["serviceAccountRoleArn"].startswith("arn:aws:iam::")
    ebs = managed_addon(plan, "aws-ebs-csi-driver")
    assert ebs["type"] == "eks:index:Addon" and ebs["inputs"]["serviceAccountRoleArn"].startswith("arn:aws:iam::")
    assert not plan.of_type("aws:eks/addon:Addon") and not plan.of_type(ASSOCIATION)


def test_launch_templates_require_imdsv2_and_encrypted_gp3(plan: PlanView):
    templates = plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    groups = {g["inputs"]["labels"]["eks-platform/node-group"] for g in plan.of_type("eks:index:ManagedNodeGroup")}
    assert len(templates) == len(groups), "one launch template per group, shared by its zones"
    for template in templates:
        metadata = template["inputs"]["metadataOptions"]
        assert metadata["httpTokens"] == "required" and metadata["httpPutResponseHopLimit"] == 1
        volume = template["inputs"]["blockDeviceMappings"][0]["ebs"]
        assert volume["encrypted"] == "true" and volume["volumeType"] == "gp3"


def test_node_groups_use_their_launch_template_and_autoscaler_tags(plan: PlanView):
    templates = {t["name"]: t for t in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        inputs = group["inputs"]
        template = templates[f"nodes-{inputs['labels']['eks-platform/node-group']}-lt"]
        assert inputs["launchTemplate"]["id"].startswith("lt-")
        assert template["urn"] in group["dependencies"]
        assert inputs["ignoreScalingChanges"] is True
        assert inputs["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
        assert f"k8s.io/cluster-autoscaler/eks-platform-{plan.data['stack']}" in inputs["tags"]
        assert "diskSize" not in inputs, "disk size belongs to the launch template"


def test_capacity_type_spot_in_dev_on_demand_in_prod(plans):
    assert {g["inputs"]["capacityType"] for g in plans["dev"].of_type("eks:index:ManagedNodeGroup")} == {"SPOT"}
    assert {g["inputs"]["capacityType"] for g in plans["prod"].of_type("eks:index:ManagedNodeGroup")} == {"ON_DEMAND"}


def test_network_spans_zones_with_nat_per_environment(plans):
    for stack, zones, nats in (("dev", 2, 1), ("prod", 3, 3)):
        subnets = plans[stack].of_type("aws:ec2/subnet:Subnet")
        public = [s for s in subnets if s["inputs"]["tags"].get("kubernetes.io/role/elb") == "1"]
        private = [s for s in subnets if s["inputs"]["tags"].get("kubernetes.io/role/internal-elb") == "1"]
        assert len(public) == len(private) == zones
        assert len({s["inputs"]["availabilityZone"] for s in private}) == zones
        assert all(s["inputs"]["tags"][f"kubernetes.io/cluster/eks-platform-{stack}"] == "shared" for s in subnets)
        assert len(plans[stack].of_type("aws:ec2/natGateway:NatGateway")) == nats
        assert not any(s["inputs"].get("mapPublicIpOnLaunch") for s in subnets)


def test_prod_protects_cluster_and_key_dev_does_not(plans):
    for resource_type in ("eks:index:Cluster", "aws:kms/key:Key"):
        assert plans["prod"].one(resource_type)["protect"] is True
        assert plans["dev"].one(resource_type)["protect"] is False


def irsa_trust(plan: PlanView, component_name: str) -> dict:
    component = plan.one("eks-platform:iam:IrsaRole", component_name)
    return json.loads(iam_role_of(plan, component)["inputs"]["assumeRolePolicy"])


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("component, subject", [
    ("cluster-vpc-cni", "system:serviceaccount:kube-system:aws-node"),
    ("addons-ebs-csi", "system:serviceaccount:kube-system:ebs-csi-controller-sa"),
    ("autoscaler-irsa", "system:serviceaccount:kube-system:cluster-autoscaler"),
])
def test_irsa_roles_trust_exactly_one_service_account(irsa_plans, stack, component, subject):
    """`workloadIdentity: irsa` gives today's IRSA roles: same components, names and trust."""
    plan = irsa_plans[stack]
    if component == "autoscaler-irsa":
        needs_cluster_autoscaler(plan)
    statement, = irsa_trust(plan, component)["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    provider_arn = statement["Principal"]["Federated"]
    assert provider_arn == plan.data["outputs"]["oidcProviderArn"]
    issuer = provider_arn.split(":oidc-provider/", 1)[1]
    assert statement["Condition"] == {"StringEquals": {
        f"{issuer}:sub": subject, f"{issuer}:aud": "sts.amazonaws.com"}}


def test_every_in_cluster_resource_uses_the_cluster_provider(plan: PlanView):
    provider = plan.one(K8S_PROVIDER)
    assert json.loads(provider["inputs"]["kubeconfig"])["kind"] == "Config"
    in_cluster = [r for r in plan.resources if r["type"].startswith("kubernetes:")]
    assert in_cluster
    assert all(r["provider"] == provider["urn"] for r in in_cluster), \
        [r["name"] for r in in_cluster if r["provider"] != provider["urn"]]


def test_autoscaler_policy_is_the_recommended_one_scoped_to_this_cluster(plan: PlanView, reference):
    needs_cluster_autoscaler(plan)
    recommended = json.loads((reference / "iam" / "cluster-autoscaler-iam-policy.json").read_text())
    component = workload_role(plan, "autoscaler-pod-identity")
    policy = json.loads(next(r for r in plan.children(component)
                             if r["type"] == "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    assert [s["Action"] for s in policy["Statement"]] == [s["Action"] for s in recommended["Statement"]]
    mutating = policy["Statement"][1]
    assert mutating["Condition"]["StringEquals"] == {
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/eks-platform-{plan.data['stack']}": "owned"}


def test_autoscaler_discovers_by_cluster_and_matches_the_kubernetes_minor(plan: PlanView):
    needs_cluster_autoscaler(plan)
    release = plan.one("kubernetes:helm.sh/v3:Release", "autoscaler-chart")["inputs"]
    values = release["values"]
    assert values["autoDiscovery"]["clusterName"] == f"eks-platform-{plan.data['stack']}"
    version = plan.one("eks:index:Cluster")["inputs"]["version"]
    assert values["image"]["tag"].startswith(f"v{version}.")
    # Pod Identity: no annotation; the release waits for the association that gives it AWS.
    assert values["rbac"]["serviceAccount"] == {"name": "cluster-autoscaler", "annotations": {}}
    association = plan.one(ASSOCIATION, "autoscaler-pod-identity-association")
    assert association["urn"] in plan.one("kubernetes:helm.sh/v3:Release", "autoscaler-chart")["dependencies"]
    assert values["extraArgs"]["expander"] == "least-waste"


def test_stack_outputs(plan: PlanView):
    outputs = plan.data["outputs"]
    assert outputs["clusterName"] == f"eks-platform-{plan.data['stack']}"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["oidcProviderArn"].startswith("arn:aws:iam::") and outputs["vpcId"].startswith("vpc-")


# -- the first `pulumi up` (issue #12) ------------------------------------------------------

MNG = "eks:index:ManagedNodeGroup"
POD_ADDONS = ("coredns", "aws-ebs-csi-driver")


def addon(plan: PlanView, addon_name: str) -> dict:
    return managed_addon(plan, addon_name)


def node_group_urns(plan: PlanView) -> set[str]:
    urns = {g["urn"] for g in plan.of_type(MNG)}
    assert urns
    return urns


def test_coredns_is_not_created_inside_the_cluster_before_any_node(plan: PlanView):
    # The Python SDK turns CoreDnsAddonOptionsArgs(version=...) into enabled: true, and
    # pulumi-eks then creates CoreDNS inside eks.Cluster, before the node groups exist.
    options = plan.one("eks:index:Cluster")["inputs"].get("corednsAddonOptions") or {}
    assert options.get("enabled") is False


@pytest.mark.parametrize("addon_name", POD_ADDONS)
def test_addons_that_run_pods_wait_for_every_node_group(plan: PlanView, addon_name):
    inputs = addon(plan, addon_name)
    assert node_group_urns(plan) <= set(inputs["dependencies"])
    assert inputs["inputs"]["resolveConflictsOnCreate"] == "OVERWRITE"
    assert inputs["inputs"]["resolveConflictsOnUpdate"] == "OVERWRITE"
    assert "eksbuild" in inputs["inputs"]["addonVersion"]


@pytest.mark.parametrize("release", ["addons-metrics-server", "autoscaler-chart", "karpenter-chart"])
def test_kube_system_releases_wait_for_every_node_group(plan: PlanView, release):
    if release == "autoscaler-chart":
        needs_cluster_autoscaler(plan)
    elif release == "karpenter-chart" and not plan.of_type("eks-platform:cluster:Karpenter"):
        pytest.skip(f"{plan.data['stack']} runs cluster-autoscaler")
    chart = plan.one("kubernetes:helm.sh/v3:Release", release)
    assert node_group_urns(plan) <= set(chart["dependencies"])


def test_one_node_group_per_group_and_zone(plans):
    # dev runs Karpenter: only the group its controller runs on is a managed node group.
    for stack, zones, names in (("dev", 2, {"system"}), ("prod", 3, {"system", "workload"})):
        plan = plans[stack]
        groups = plan.of_type(MNG)
        assert len(groups) == len(names) * zones
        by_group: dict[str, set[str]] = {}
        for group in groups:
            subnets = group["inputs"]["subnetIds"]
            assert len(subnets) == 1, "a managed node group in several AZs cannot keep zonal volumes' pods"
            name = group["inputs"]["labels"]["eks-platform/node-group"]
            by_group.setdefault(name, set()).add(subnets[0])
        assert set(by_group) == names
        assert all(len(subnets) == zones for subnets in by_group.values())
        assert len(set.union(*by_group.values())) == zones, "every group uses the same private subnets"
    values = plans["prod"].one("kubernetes:helm.sh/v3:Release", "autoscaler-chart")["inputs"]["values"]
    assert values["extraArgs"]["balance-similar-node-groups"] == "true"


def test_node_groups_are_named_by_prefix_and_follow_the_cluster_version(plan: PlanView):
    version = plan.one("eks:index:Cluster")["inputs"]["version"]
    prefixes = set()
    for group in plan.of_type(MNG):
        inputs = group["inputs"]
        assert "nodeGroupName" not in inputs, "a fixed name makes every replacement fail with 'already exists'"
        prefix = inputs["nodeGroupNamePrefix"]
        assert prefix.startswith(f"eks-platform-{plan.data['stack']}-") and prefix.endswith("-")
        assert len(prefix) <= 37, "EKS names are at most 63 characters; the prefix leaves 26 for the suffix"
        prefixes.add(prefix)
        assert inputs["version"] == version
    assert len(prefixes) == len(plan.of_type(MNG))


def test_kubernetes_in_standard_support_with_an_explicit_upgrade_policy(plan: PlanView):
    inputs = plan.one("eks:index:Cluster")["inputs"]
    assert inputs["version"] == "1.35"
    assert inputs["upgradePolicy"] == {"supportType": "STANDARD"}
    kube_proxy = inputs["kubeProxyAddonOptions"]["version"]
    assert kube_proxy.startswith("v1.35.")


def test_prod_protects_the_control_plane_log_group(plans):
    assert plans["prod"].one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")["protect"] is True
    assert plans["dev"].one("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")["protect"] is False


def test_no_unused_default_security_groups_or_public_ip_setting(plan: PlanView):
    inputs = plan.one("eks:index:Cluster")["inputs"]
    assert inputs["skipDefaultSecurityGroups"] is True
    assert "nodeAssociatePublicIpAddress" not in inputs


def attached_policies(plan: PlanView, role: dict) -> set[str]:
    return {a["inputs"]["policyArn"].rsplit("/", 1)[1]
            for a in plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if role["urn"] in a["dependencies"]}


def test_nodes_pull_images_only_and_aws_node_has_its_own_role(plan: PlanView):
    node_role = plan.one("aws:iam/role:Role", "nodes-node-role")
    policies = attached_policies(plan, node_role)
    assert "AmazonEC2ContainerRegistryPullOnly" in policies
    assert not policies & {"AmazonEKS_CNI_Policy", "AmazonEC2ContainerRegistryReadOnly"}

    cni_role = iam_role_of(plan, workload_role(plan, "cluster-vpc-cni"))
    statement, = json.loads(cni_role["inputs"]["assumeRolePolicy"])["Statement"]
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "aws-node"
    assert attached_policies(plan, cni_role) == {"AmazonEKS_CNI_Policy"}

    cni = managed_addon(plan, "vpc-cni")["inputs"]
    association, = cni["podIdentityAssociations"]
    assert association["serviceAccount"] == "aws-node"
    assert re.match(rf"^arn:aws:iam::\d{{12}}:role/{cni_role['name']}-", association["roleArn"])
    assert "eksbuild" in cni["addonVersion"]
    assert plan.one("eks:index:Cluster")["inputs"]["useDefaultVpcCni"] is True
    # Nodes join only once aws-node can reach EC2 with its own role.
    cni_urn = managed_addon(plan, "vpc-cni")["urn"]
    assert all(cni_urn in g["dependencies"] for g in plan.of_type(MNG))


def test_autoscaler_may_remove_nodes_whose_pods_only_have_scratch_emptydirs(plan: PlanView):
    needs_cluster_autoscaler(plan)
    values = plan.one("kubernetes:helm.sh/v3:Release", "autoscaler-chart")["inputs"]["values"]
    assert values["extraArgs"]["skip-nodes-with-local-storage"] == "false"


# -- the gate and the config catch these before anything is created ------------------------

def addon_ordering_violations(subjects: list[Subject]) -> list[str]:
    return [v.message for v in evaluate(subjects, {"all": "mandatory"}) if v.policy == "eks-addons-wait-for-nodes"]


def test_gate_flags_coredns_enabled_inside_the_cluster_component():
    options = {"enabled": True, "resolveConflictsOnCreate": "OVERWRITE", "version": "v1.14.3-eksbuild.3"}
    inline = Subject("eks:index:Cluster", "c", "urn:c", {"skipDefaultNodeGroup": True, "corednsAddonOptions": options})
    assert addon_ordering_violations([inline])
    disabled = Subject("eks:index:Cluster", "c", "urn:c",
                       {"skipDefaultNodeGroup": True, "corednsAddonOptions": {**options, "enabled": False}})
    assert not addon_ordering_violations([disabled])


def test_gate_flags_pod_running_addons_that_do_not_wait_for_a_node_group():
    node_group = Subject(MNG, "ng", "urn:ng", {"clusterName": "c"})
    daemonset_only = Subject("aws:eks/addon:Addon", "kp", "urn:kp", {"addonName": "kube-proxy"})
    early = Subject("eks:index:Addon", "dns", "urn:dns", {"addonName": "coredns"})
    assert len(addon_ordering_violations([node_group, daemonset_only, early])) == 1

    waits = Subject("eks:index:Addon", "dns", "urn:dns", {"addonName": "coredns"}, dependencies=["urn:ng"])
    assert not addon_ordering_violations([node_group, waits])
    # In a real run the component has no props and its aws:eks/addon:Addon child is checked:
    # it waits through its parent's dependencies, and through anything it depends on.
    component = Subject("eks:index:Addon", "dns", "urn:comp", {}, dependencies=["urn:between"])
    between = Subject("pulumi:pulumi:Component", "b", "urn:between", {}, dependencies=["urn:ng"])
    child = Subject("aws:eks/addon:Addon", "dns", "urn:child", {"addonName": "coredns"}, parent="urn:comp")
    assert not addon_ordering_violations([node_group, component, between, child])
    orphan = Subject("aws:eks/addon:Addon", "ebs", "urn:ebs", {"addonName": "aws-ebs-csi-driver"}, parent="urn:c")
    assert addon_ordering_violations([node_group, orphan])


def stack_values(stack: str) -> dict:
    return copy.deepcopy(read_stack_file(ROOT / f"Pulumi.{stack}.yaml").project_values)


def config_problems(raw: dict) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return [str(issue) for issue in caught.value.issues]


def test_kube_proxy_pin_must_match_the_kubernetes_minor():
    raw = stack_values("prod")
    raw["cluster"]["kubernetesVersion"] = "1.34"
    found = config_problems(raw)
    assert any(p.startswith("addons.kubeProxy: ") and "1.34" in p for p in found), found


def test_coredns_pin_must_be_one_aws_lists_for_the_kubernetes_minor():
    raw = stack_values("dev")
    raw.setdefault("addons", {})["coredns"] = "v1.11.4-eksbuild.24"
    found = config_problems(raw)
    assert any(p.startswith("addons.coredns: ") for p in found), found


def test_node_group_names_leave_room_for_the_unique_suffix():
    raw = stack_values("dev")
    raw["nodeGroups"][0]["name"] = "a-rather-long-group-name"
    found = config_problems(raw)
    assert any(p.startswith("nodeGroups[0].name: ") for p in found), found
