"""The cluster layer's security and dev/prod properties, read from the offline plans."""

from __future__ import annotations

import json

import pytest

from components.config.cluster import CONTROL_PLANE_LOG_TYPES
from conftest import PlanView

K8S_PROVIDER = "pulumi:providers:kubernetes"


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
        group = plans[stack].one("aws:cloudwatch/logGroup:LogGroup")
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
    entry = inputs["accessEntries"]["platform-admin-0"]
    policy = entry["accessPolicies"]["cluster-admin"]
    assert policy["policyArn"].endswith(":cluster-access-policy/AmazonEKSClusterAdminPolicy")
    assert policy["accessScope"] == {"type": "cluster"}
    assert inputs["skipDefaultNodeGroup"] is True and inputs["createOidcProvider"] is True


def test_vpc_cni_enforces_network_policy_and_addons_are_pinned(plan: PlanView):
    inputs = plan.one("eks:index:Cluster")["inputs"]
    assert inputs["vpcCniOptions"]["enableNetworkPolicy"] is True
    assert inputs.get("useDefaultVpcCni") in (None, False)
    for key in ("vpcCniOptions", "corednsAddonOptions", "kubeProxyAddonOptions"):
        version = inputs[key].get("addonVersion") or inputs[key].get("version")
        assert version and "eksbuild" in version
    ebs = plan.one("eks:index:Addon")["inputs"]
    assert ebs["addonName"] == "aws-ebs-csi-driver" and "eksbuild" in ebs["addonVersion"]
    assert ebs["serviceAccountRoleArn"].startswith("arn:aws:iam::")


def test_launch_templates_require_imdsv2_and_encrypted_gp3(plan: PlanView):
    templates = plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert len(templates) == len(plan.of_type("eks:index:ManagedNodeGroup")) == 2
    for template in templates:
        metadata = template["inputs"]["metadataOptions"]
        assert metadata["httpTokens"] == "required" and metadata["httpPutResponseHopLimit"] == 1
        volume = template["inputs"]["blockDeviceMappings"][0]["ebs"]
        assert volume["encrypted"] == "true" and volume["volumeType"] == "gp3"


def test_node_groups_use_their_launch_template_and_autoscaler_tags(plan: PlanView):
    templates = {t["name"]: t for t in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate")}
    for group in plan.of_type("eks:index:ManagedNodeGroup"):
        inputs = group["inputs"]
        template = templates[f"{group['name']}-lt"]
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
    role = next(r for r in plan.children(component) if r["type"] == "aws:iam/role:Role")
    return json.loads(role["inputs"]["assumeRolePolicy"])


@pytest.mark.parametrize("component, subject", [
    ("addons-ebs-csi", "system:serviceaccount:kube-system:ebs-csi-controller-sa"),
    ("autoscaler-irsa", "system:serviceaccount:kube-system:cluster-autoscaler"),
])
def test_irsa_roles_trust_exactly_one_service_account(plan: PlanView, component, subject):
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
    recommended = json.loads((reference / "iam" / "cluster-autoscaler-iam-policy.json").read_text())
    component = plan.one("eks-platform:iam:IrsaRole", "autoscaler-irsa")
    policy = json.loads(next(r for r in plan.children(component)
                             if r["type"] == "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    assert [s["Action"] for s in policy["Statement"]] == [s["Action"] for s in recommended["Statement"]]
    mutating = policy["Statement"][1]
    assert mutating["Condition"]["StringEquals"] == {
        f"aws:ResourceTag/k8s.io/cluster-autoscaler/eks-platform-{plan.data['stack']}": "owned"}


def test_autoscaler_discovers_by_cluster_and_matches_the_kubernetes_minor(plan: PlanView):
    release = plan.one("kubernetes:helm.sh/v3:Release", "autoscaler-chart")["inputs"]
    values = release["values"]
    assert values["autoDiscovery"]["clusterName"] == f"eks-platform-{plan.data['stack']}"
    version = plan.one("eks:index:Cluster")["inputs"]["version"]
    assert values["image"]["tag"].startswith(f"v{version}.")
    assert values["rbac"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert values["extraArgs"]["expander"] == "least-waste"


def test_stack_outputs(plan: PlanView):
    outputs = plan.data["outputs"]
    assert outputs["clusterName"] == f"eks-platform-{plan.data['stack']}"
    assert outputs["kubeconfig"] == "[secret]"
    assert outputs["oidcProviderArn"].startswith("arn:aws:iam::") and outputs["vpcId"].startswith("vpc-")
