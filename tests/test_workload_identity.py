"""EKS Pod Identity (issue #17, item 1): the agent add-on, and one helper that gives a workload
an IAM role through Pod Identity or IRSA, trusted by exactly one ServiceAccount of this cluster."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from components.config import StackConfigError, parse_stack_config
from components.workload_identity import cluster_arn, pod_identity_trust_policy
from config_cases import stack_values
from conftest import ROOT, STACKS, PlanView, plan_stack
from helpers import ASSOCIATION, app_pod, k8s, managed_addon, shipped_config, with_app
from network_policy_model import address, allowed, plan_policies
from readiness_support import assess, of_check, one, registrations
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


# -- Apps (issue #17, item 2): awsPolicyArns follow workloadIdentity, irsaPolicyArns stay IRSA ----------

S3_READ = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"


def app_problems(**app) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(with_app(stack_values("dev"), **app))
    return [str(issue) for issue in caught.value.issues]


def test_an_app_has_one_aws_role_and_the_error_names_the_fix():
    found = app_problems(irsaPolicyArns=[S3_READ], awsPolicyArns=[S3_READ])
    assert any(p.startswith("teams[0].apps[0]: irsaPolicyArns and awsPolicyArns are both set")
               and "move the ARNs to awsPolicyArns" in p and "identity: irsa" in p for p in found), found
    found = app_problems(identity="irsa")
    assert any("identity: irsa is set but awsPolicyArns is empty" in p for p in found), found
    assert any(p.startswith("teams[0].apps[0].awsPolicyArns.0") or p.startswith("teams[0].apps[0].awsPolicyArns")
               for p in app_problems(awsPolicyArns=["arn:aws:iam::123456789012:role/app"])), "a role is no policy"
    assert any(p.startswith("teams[0].apps[0].identity") for p in app_problems(awsPolicyArns=[S3_READ], identity="kiam"))


def test_which_mechanism_an_app_gets():
    config = parse_stack_config(with_app(stack_values("dev"), awsPolicyArns=[S3_READ]))
    assert config.workload_identity == "pod-identity", "the default"
    app = config.teams[0].apps[0]
    assert app.aws_identity("pod-identity") == "pod-identity" and app.aws_identity("irsa") == "irsa"
    app = parse_stack_config(with_app(stack_values("dev"), awsPolicyArns=[S3_READ], identity="irsa")).teams[0].apps[0]
    assert app.aws_identity("pod-identity") == "irsa"
    # irsaPolicyArns keep meaning IRSA whatever the stack's default: no silent change of mechanism.
    app = parse_stack_config(with_app(stack_values("dev"), irsaPolicyArns=[S3_READ])).teams[0].apps[0]
    assert app.aws_identity("pod-identity") == "irsa"
    assert parse_stack_config(with_app(stack_values("dev"))).teams[0].apps[0].aws_identity("pod-identity") is None
    raw = stack_values("dev")
    raw["workloadIdentity"] = "kiam"
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    assert any(str(issue).startswith("workloadIdentity") for issue in caught.value.issues)


@pytest.fixture(scope="module")
def app_roles(tmp_path_factory) -> PlanView:
    """dev with three apps that call AWS: backend on awsPolicyArns (the stack's default, Pod
    Identity), frontend on irsaPolicyArns, database on awsPolicyArns with identity: irsa."""
    tmp = tmp_path_factory.mktemp("app-roles")
    stack = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    apps = {app["name"]: app for app in stack["config"]["eks-platform:teams"][0]["apps"]}
    apps["backend"]["awsPolicyArns"] = [S3_READ]
    apps["frontend"]["irsaPolicyArns"] = [S3_READ]
    apps["database"].update(awsPolicyArns=[S3_READ], identity="irsa")
    config = tmp / "Pulumi.dev.yaml"
    config.write_text(yaml.safe_dump(stack))
    return plan_stack("dev", tmp, config)


def role_component(plan: PlanView, name: str) -> dict:
    found = [r for r in plan.resources if r["name"] == name and r["type"].startswith("eks-platform:iam:")]
    assert len(found) == 1, name
    return found[0]


def test_an_app_on_pod_identity_gets_an_association_pinned_to_its_service_account(app_roles):
    role = role_component(app_roles, "team-shop-backend-pod-identity")
    assert role["type"] == "eks-platform:iam:WorkloadRole"
    association, = [r for r in app_roles.children(role) if r["type"] == ASSOCIATION]
    inputs = association["inputs"]
    assert (inputs["namespace"], inputs["serviceAccount"], inputs["disableSessionTags"]) == ("shop", "backend", False)
    trust_policy = trust(app_roles, "team-shop-backend-pod-identity")
    statement, = trust_policy["Statement"]
    assert statement["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-namespace"] == "shop"
    assert statement["Condition"]["StringEquals"]["aws:RequestTag/kubernetes-service-account"] == "backend"
    attachment, = [r for r in app_roles.children(role) if r["type"].endswith("RolePolicyAttachment")]
    assert attachment["inputs"]["policyArn"] == S3_READ
    # No annotation: the association binds the role. Pods start only once it exists.
    account = k8s(app_roles, "kubernetes:core/v1:ServiceAccount", "shop")["backend"]
    assert "eks.amazonaws.com/role-arn" not in (account["metadata"].get("annotations") or {})
    deployment = k8s(app_roles, "kubernetes:apps/v1:Deployment", "shop")["backend"]
    assert association["urn"] in deployment["_resource"]["dependencies"]


@pytest.mark.parametrize("app, why", [("frontend", "irsaPolicyArns"), ("database", "identity: irsa")])
def test_an_app_on_irsa_keeps_the_role_it_had(app_roles, app, why):
    # The type and name IrsaRole gave it: the same URNs, so `pulumi up` changes nothing.
    role = role_component(app_roles, f"team-shop-{app}-irsa")
    assert role["type"] == "eks-platform:iam:IrsaRole", why
    assert not [r for r in app_roles.children(role) if r["type"] == ASSOCIATION]
    role_resource = app_roles.one("aws:iam/role:Role", f"team-shop-{app}-irsa-role")
    assert role_resource["inputs"]["description"] == f"IRSA role of shop/{app}"
    statement, = json.loads(role_resource["inputs"]["assumeRolePolicy"])["Statement"]
    assert f"system:serviceaccount:shop:{app}" in statement["Condition"]["StringEquals"].values()
    account = k8s(app_roles, "kubernetes:core/v1:ServiceAccount", "shop")[app]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")


def test_pod_identity_apps_reach_the_agent_and_aws_through_the_default_deny(app_roles):
    policies = plan_policies(app_roles)
    agent, aws_api = address("169.254.170.23"), address("52.94.0.10")
    backend, frontend, database = (app_pod("shop", name) for name in ("backend", "frontend", "database"))
    assert allowed(policies, backend, agent, 80), "Pod Identity credentials come from the node's agent"
    assert not allowed(policies, backend, agent, 2703), "port 80 only"
    assert not allowed(policies, backend, address("169.254.169.254"), 80), "never the instance metadata"
    for caller in (backend, frontend, database):
        assert allowed(policies, caller, aws_api, 443)
    for irsa_app in (frontend, database):
        assert not allowed(policies, irsa_app, agent, 80), "IRSA pods do not need the agent"
    assert not allowed(policies, app_pod("shop", "nobody"), agent, 80), "only apps with a role"


def test_the_gate_wants_pod_identity_paths_and_names_a_missing_one(app_roles):
    """The reachability check reads the plan's PodIdentityAssociations as it reads the IRSA
    annotation: a Pod Identity pod must reach AWS on 443 and the agent on 80."""
    regs = registrations(app_roles)
    result = assess(regs)
    wanted = {(c["from"], c["to"], c["port"]): c for c in result.connections}
    assert wanted[("shop/backend", "EKS Pod Identity agent", 80)]["allowed"]
    assert wanted[("shop/backend", "AWS APIs", 443)]["allowed"]
    assert ("shop/frontend", "EKS Pod Identity agent", 80) not in wanted, "frontend is on IRSA"
    assert not [f for f in of_check(result, "readiness-network-undeclared") if "Pod Identity agent" in f.message]
    # The agent rule taken out of the backend's policy: the gate names the blocked path.
    policy = one(regs, "team-shop-backend-netpol")
    policy.inputs["spec"]["egress"] = [rule for rule in policy.inputs["spec"]["egress"]
                                       if "169.254.170.23/32" not in str(rule)]
    blocked = [f for f in of_check(assess(regs), "readiness-network-blocked")
               if "shop/backend -> EKS Pod Identity agent :80/TCP" in f.message]
    assert blocked and "Pod Identity" in blocked[0].message


# -- Platform components (issue #17, item 2): every AWS caller on the stack's workloadIdentity ---------

# (role component, namespace, ServiceAccount, bound by): every AWS-calling component of a stack.
PLATFORM_ROLES = {
    "cluster-vpc-cni": ("kube-system", "aws-node", "vpc-cni"),
    "addons-ebs-csi": ("kube-system", "ebs-csi-controller-sa", "aws-ebs-csi-driver"),
    "autoscaler-pod-identity": ("kube-system", "cluster-autoscaler", None),
    "karpenter-controller": ("kube-system", "karpenter", None),
    "load-balancer-controller-role": ("aws-load-balancer-controller", "aws-load-balancer-controller", None),
}


def test_the_shipped_stacks_bind_every_aws_caller_through_pod_identity(plan: PlanView):
    config = shipped_config(plan.data["stack"])
    account = plan.data["outputs"]["oidcProviderArn"].split(":")[4]
    eks_cluster_arn = cluster_arn("aws", config.region, account, f"eks-platform-{plan.data['stack']}")
    assert config.workload_identity == "pod-identity"
    assert not plan.of_type("eks-platform:iam:IrsaRole"), "no IRSA role on a Pod Identity stack"
    assert "eks.amazonaws.com/role-arn" not in json.dumps(plan.resources)
    present = [name for name in PLATFORM_ROLES if any(
        r["name"] == name and r["type"] == "eks-platform:iam:WorkloadRole" for r in plan.resources)]
    expected = {"cluster-vpc-cni", "addons-ebs-csi", "load-balancer-controller-role",
                "karpenter-controller" if config.autoscaler.kind == "karpenter" else "autoscaler-pod-identity"}
    assert set(present) == expected
    for name in present:
        namespace, service_account, addon_name = PLATFORM_ROLES[name]
        assert trust(plan, name) == json.loads(pod_identity_trust_policy(eks_cluster_arn, namespace, service_account))
        role_arn_prefix = f"arn:aws:iam::{account}:role/{name}-role-"
        if addon_name:
            # A managed add-on binds the role itself; no second, standalone association.
            addon = managed_addon(plan, addon_name)
            binding, = addon["inputs"]["podIdentityAssociations"]
            assert binding["serviceAccount"] == service_account and binding["roleArn"].startswith(role_arn_prefix)
            assert not [a for a in plan.of_type(ASSOCIATION) if a["inputs"]["serviceAccount"] == service_account]
        else:
            association, = [a for a in plan.of_type(ASSOCIATION) if a["name"] == f"{name}-association"]
            inputs = association["inputs"]
            assert (inputs["namespace"], inputs["serviceAccount"]) == (namespace, service_account)
            assert inputs["roleArn"].startswith(role_arn_prefix) and inputs["disableSessionTags"] is False


def urn_for(parent_type: str, resource: dict) -> str:
    """The URN the engine resolves an alias to: this resource's type and name under `parent_type`."""
    stack, project = resource["urn"].split("::")[0].split(":")[-1], resource["urn"].split("::")[1]
    return f"urn:pulumi:{stack}::{project}::{parent_type}${resource['type']}::{resource['name']}"


def test_an_addon_moved_to_pod_identity_keeps_the_urn_pulumi_eks_gave_it(plans, irsa_plans):
    """pulumi_eks 4.4 cannot set an add-on's associations, so a Pod Identity add-on is an
    aws.eks.Addon; it names, as its former parent, the component that made it, so `pulumi up`
    updates the add-on EKS runs instead of creating a second one (which EKS refuses)."""
    for stack in STACKS:
        plan, irsa = plans[stack], irsa_plans[stack]
        def qualified(urn: str) -> str:
            # The mock runtime writes a top-level parent's URN with the Stack in it; the engine does not.
            return urn.split("::")[2].removeprefix("pulumi:pulumi:Stack$")

        cni = managed_addon(plan, "vpc-cni")
        old = irsa.one("eks:index:VpcCniAddon", "cluster-vpc-cni")
        # The aws.eks.Addon pulumi-eks made as the component's child, under the component's name.
        assert cni["name"] == old["name"]
        assert cni["aliases"] == [urn_for(qualified(old["urn"]), cni)], cni["aliases"]
        # eks.Addon is parented by pulumi-eks to the cluster it is given, not to the caller.
        ebs = managed_addon(plan, "aws-ebs-csi-driver")
        eks_cluster = plan.one("eks:index:Cluster")
        assert ebs["aliases"] == [urn_for(f"{qualified(eks_cluster['urn'])}$eks:index:Addon", ebs)], ebs["aliases"]
        assert set(cni["inputs"]) >= {"clusterName", "addonName", "addonVersion", "preserve", "configurationValues"}


def test_the_gate_orders_workloads_after_their_association(plans):
    regs = registrations(plans["dev"])
    assert not of_check(assess(regs), "readiness-order-pod-identity")
    chart = one(regs, "karpenter-chart")
    role = one(regs, "karpenter-controller")
    dropped = {role.urn} | {r.urn for r in regs if r.parent == role.urn}
    chart.dependencies = [d for d in chart.dependencies if d not in dropped]
    found = [f for f in of_check(assess(regs), "readiness-order-pod-identity") if "karpenter-chart" in f.resource]
    assert found and "kube-system/karpenter" in found[0].message and "karpenter-controller-association" in found[0].message
    # An association that does not wait for the agent serves pods on nodes without one.
    regs = registrations(plans["dev"])
    association = one(regs, "karpenter-controller-association")
    agent = next(r.urn for r in regs if r.inputs.get("addonName") == "eks-pod-identity-agent")
    association.dependencies = [d for d in association.dependencies if d != agent]
    found = of_check(assess(regs), "readiness-order-pod-identity")
    assert [f for f in found if "karpenter-controller-association" in f.resource and "agent" in f.message]


def test_only_the_workload_identity_helper_binds_roles():
    """IRSA's annotation and role are made in one place (components/workload_identity.py)."""
    offenders = []
    for path in sorted((ROOT / "components").glob("*.py")):
        text = path.read_text()
        if path.name != "workload_identity.py" and ("components.irsa" in text or "eks.amazonaws.com/role-arn" in text
                                                     or "PodIdentityAssociation(" in text):
            offenders.append(path.name)
    assert offenders == []
