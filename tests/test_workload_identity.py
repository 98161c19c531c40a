"""EKS Pod Identity (issue #17, item 1): the agent add-on, and one helper that gives a workload
an IAM role through Pod Identity or IRSA, trusted by exactly one ServiceAccount of this cluster."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.config import parse_stack_config
from components.workload_identity import cluster_arn, pod_identity_trust_policy
from config_cases import stack_values
from conftest import ROOT, STACKS, PlanView
from preflight.check import Subject, evaluate

CLUSTER_ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/eks-platform-dev"

# Both kinds of WorkloadRole for the same ServiceAccount, run under the preflight mock runtime
# in a fresh process (the runtime is process-wide); prints every registration as JSON.
TWO_ROLES = """
import json, sys
import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from preflight.mocks import PlatformMocks
from preflight.monitor import RecordingMonitor

monitor = RecordingMonitor(PlatformMocks(region="eu-west-1"))
pulumi.runtime.set_mocks(monitor.mocks, project="eks-platform", stack="dev", preview=False, monitor=monitor)

def program():
    import pulumi_aws as aws
    from components.workload_identity import ClusterIdentity, WorkloadRole, WorkloadRoleArgs
    cluster = aws.eks.Cluster("eks", role_arn="arn:aws:iam::123456789012:role/eks",
                              vpc_config=aws.eks.ClusterVpcConfigArgs(subnet_ids=["subnet-1"]))
    identity = ClusterIdentity(cluster=cluster, cluster_name="eks-platform-dev",
                               cluster_arn="arn:aws:eks:eu-west-1:123456789012:cluster/eks-platform-dev",
                               oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.example/id/ABC",
                               oidc_issuer="oidc.example/id/ABC")
    for kind in ("pod-identity", "irsa"):
        WorkloadRole(kind, WorkloadRoleArgs(identity=identity, namespace="shop", service_account="api", kind=kind,
                                            inline_policy='{"Version": "2012-10-17", "Statement": []}'))

_sync_await(run_pulumi_func(program))
print(json.dumps([r.as_json() for r in monitor.registrations]))
"""


@pytest.fixture(scope="module")
def two_roles() -> PlanView:
    result = subprocess.run([sys.executable, "-c", TWO_ROLES], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return PlanView({"resources": json.loads(result.stdout.strip().splitlines()[-1])})


def trust(plan: PlanView, component: str) -> dict:
    role = next(r for r in plan.resources if r["type"] == "aws:iam/role:Role" and r["name"] == f"{component}-role")
    return json.loads(role["inputs"]["assumeRolePolicy"])


def test_pod_identity_trust_is_narrowed_to_one_service_account_of_one_cluster():
    statement, = json.loads(pod_identity_trust_policy(CLUSTER_ARN, "kube-system", "karpenter"))["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession"]
    assert statement["Condition"] == {"StringEquals": {
        "aws:RequestTag/eks-cluster-arn": CLUSTER_ARN,
        "aws:RequestTag/kubernetes-namespace": "kube-system",
        "aws:RequestTag/kubernetes-service-account": "karpenter",
    }}
    assert cluster_arn("aws", "eu-west-1", "123456789012", "eks-platform-dev") == CLUSTER_ARN


def test_one_argument_switches_between_pod_identity_and_irsa(two_roles: PlanView):
    pod_identity, irsa = trust(two_roles, "pod-identity"), trust(two_roles, "irsa")
    assert pod_identity == json.loads(pod_identity_trust_policy(CLUSTER_ARN, "shop", "api"))
    irsa_statement, = irsa["Statement"]
    assert irsa_statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert irsa_statement["Condition"]["StringEquals"] == {
        "oidc.example/id/ABC:sub": "system:serviceaccount:shop:api", "oidc.example/id/ABC:aud": "sts.amazonaws.com"}
    # Only Pod Identity has an association; both get the role's own policy.
    associations = two_roles.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert [a["name"] for a in associations] == ["pod-identity-association"]
    association = associations[0]["inputs"]
    assert (association["clusterName"], association["namespace"], association["serviceAccount"]) == (
        "eks-platform-dev", "shop", "api")
    assert association["disableSessionTags"] is False, "the trust policy matches on the session tags"
    assert association["roleArn"].startswith("arn:aws:iam::123456789012:role/pod-identity-role-")
    cluster = two_roles.one("aws:eks/cluster:Cluster")
    assert cluster["urn"] in associations[0]["dependencies"], "an association needs its cluster"
    assert {p["name"] for p in two_roles.of_type("aws:iam/rolePolicy:RolePolicy")} == {
        "pod-identity-policy", "irsa-policy"}


@pytest.mark.parametrize("stack", STACKS)
def test_the_agent_addon_is_pinned_and_created_with_the_early_addons(plans, stack):
    plan = plans[stack]
    agent, = [a for a in plan.of_type("eks:index:Addon") if a["inputs"]["addonName"] == "eks-pod-identity-agent"]
    config = parse_stack_config(stack_values(stack))
    assert agent["inputs"]["addonVersion"] == config.addons.pod_identity_agent
    assert agent["inputs"]["resolveConflictsOnCreate"] == "OVERWRITE"
    # A DaemonSet: it need not wait for nodes, and the gate agrees.
    assert not {g["urn"] for g in plan.of_type("eks:index:ManagedNodeGroup")} & set(agent["dependencies"])
    subject = Subject("eks:index:Addon", agent["name"], agent["urn"], agent["inputs"])
    assert not [v for v in evaluate([subject], {"all": "mandatory"}) if v.policy == "eks-addons-wait-for-nodes"]


def test_the_agent_version_is_an_eks_build_and_configurable():
    raw = stack_values("prod")
    raw.setdefault("addons", {})["podIdentityAgent"] = "1.3.10"
    with pytest.raises(Exception) as caught:
        parse_stack_config(raw)
    assert "addons.podIdentityAgent" in str(caught.value)
    raw["addons"]["podIdentityAgent"] = "v1.3.11-eksbuild.1"
    assert parse_stack_config(raw).addons.pod_identity_agent == "v1.3.11-eksbuild.1"
