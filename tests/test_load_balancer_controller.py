"""The AWS Load Balancer Controller owns Traefik's NLB (issue #17, item 4): its chart, its Pod
Identity role with the official IAM policy, Traefik's Service of its class, and the order that
lets `pulumi destroy` delete the NLB before the controller goes."""

from __future__ import annotations

import json

import pytest

from components.config.services import IngressConfig
from components.ingress_controller import traefik_values
from components.load_balancer_controller import controller_values
from components.load_balancer_controller_iam import controller_policy, controller_policy_document
from components.names import INGRESS_NAMESPACE, LOAD_BALANCER_CONTROLLER_NAMESPACE, NLB_LOAD_BALANCER_CLASS
from conftest import PlanView
from helpers import release, shipped_config

CHART = "aws-load-balancer-controller"
TAGS = {"eks-platform/cluster": "c", "managed-by": "pulumi"}
ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-"
# Annotations only the in-tree cloud provider reads (the controller's docs list the first as a
# deprecated alias it still honours, and call it misleading next to the scheme annotation).
IN_TREE_ONLY = (f"{ANNOTATION}internal", f"{ANNOTATION}cross-zone-load-balancing-enabled")


def ingress(**fields) -> IngressConfig:
    return IngressConfig.model_validate(fields)


# -- IAM ------------------------------------------------------------------------------------

def test_the_policy_is_the_official_one_statement_for_statement(reference):
    official = json.loads((reference / "iam" / "aws-load-balancer-controller-iam-policy.json").read_text())
    assert len(official["Statement"]) == 16
    assert controller_policy_document("aws") == official
    assert json.loads(controller_policy("aws")) == official


def test_the_policy_fits_a_roles_inline_policy_quota():
    # IAM caps a role's inline policies at 10,240 characters together, whitespace not counted.
    text = controller_policy("aws-us-gov")
    assert len("".join(text.split())) < 10_240


def test_the_policy_names_the_stack_partition_in_every_arn():
    text = controller_policy("aws-us-gov")
    assert "arn:aws-us-gov:elasticloadbalancing:*:*:targetgroup/*/*" in text
    assert "arn:aws:" not in text


# -- Traefik's Service ----------------------------------------------------------------------

def test_without_the_controller_traefik_keeps_the_in_tree_nlb():
    service = traefik_values(ingress(), False, TAGS)["service"]
    assert service["spec"] == {"type": "LoadBalancer", "externalTrafficPolicy": "Local"}
    assert service["annotations"][f"{ANNOTATION}type"] == "nlb"
    assert service["annotations"][f"{ANNOTATION}cross-zone-load-balancing-enabled"] == "true"
    assert f"{ANNOTATION}internal" in traefik_values(ingress(loadBalancerScheme="internal"), False, TAGS)[
        "service"]["annotations"]


@pytest.mark.parametrize("scheme", ["internet-facing", "internal"])
def test_with_the_controller_traefik_asks_it_for_an_ip_target_nlb(scheme):
    config = ingress(loadBalancerScheme=scheme, loadBalancerController={"enabled": True})
    service = traefik_values(config, False, TAGS)["service"]
    assert service["spec"] == {"type": "LoadBalancer", "loadBalancerClass": NLB_LOAD_BALANCER_CLASS,
                               "allocateLoadBalancerNodePorts": False}
    annotations = service["annotations"]
    assert {key: value for key, value in annotations.items() if "target-group-attributes" not in key} == {
        f"{ANNOTATION}type": "external",
        f"{ANNOTATION}nlb-target-type": "ip",
        f"{ANNOTATION}scheme": scheme,
        f"{ANNOTATION}attributes": "load_balancing.cross_zone.enabled=true",
        f"{ANNOTATION}additional-resource-tags": "eks-platform/cluster=c,managed-by=pulumi",
    }
    assert not set(IN_TREE_ONLY) & set(annotations)


def test_only_an_internet_facing_nlb_keeps_the_client_address():
    """In-VPC clients of an internal NLB that keeps client addresses time out when the NLB picks
    a Traefik pod on their own node (no NAT loopback); internet clients and pods, through NAT,
    reach an internet-facing one from outside."""
    def attributes(scheme):
        config = ingress(loadBalancerScheme=scheme, loadBalancerController={"enabled": True})
        return traefik_values(config, False, TAGS)["service"]["annotations"].get(f"{ANNOTATION}target-group-attributes")
    assert attributes("internet-facing") == "preserve_client_ip.enabled=true"
    assert attributes("internal") is None


def test_the_controller_is_off_unless_the_stack_turns_it_on():
    assert ingress().load_balancer_controller.enabled is False
    assert ingress(loadBalancerController={"enabled": True}).load_balancer_controller.enabled is True


# -- The controller's values ------------------------------------------------------------------

def test_the_controller_is_told_its_region_and_vpc_and_serves_only_the_ingress_namespace():
    values = controller_values("c", "eu-west-1", "vpc-1", 1, False, TAGS, {})
    assert (values["clusterName"], values["region"], values["vpcId"]) == ("c", "eu-west-1", "vpc-1")
    assert values["watchNamespace"] == INGRESS_NAMESPACE
    assert values["defaultTags"] == TAGS


def test_the_controller_adds_no_webhook_that_blocks_other_charts_and_no_alb_ingress_class():
    values = controller_values("c", "eu-west-1", "vpc-1", 1, False, TAGS, {})
    assert values["enableServiceMutatorWebhook"] is False
    assert values["webhookConfig"] == {"disableIngressValidation": True}
    assert values["createIngressClassResource"] is False and values["ingressClassParams"] == {"create": False}
    # The readiness-gate pod webhook is left at the chart's Ignore.
    assert "podMutatorWebhookConfig" not in values


def test_ha_runs_two_spread_replicas_with_a_budget_and_one_replica_none():
    ha = controller_values("c", "r", "v", 2, True, TAGS, {})
    assert ha["replicaCount"] == 2 and ha["podDisruptionBudget"] == {"maxUnavailable": 1}
    zone = [c for c in ha["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule"
    single = controller_values("c", "r", "v", 1, False, TAGS, {})
    assert single["replicaCount"] == 1 and single["podDisruptionBudget"] == {}
    assert single["topologySpreadConstraints"] == []


# -- On the shipped plans ------------------------------------------------------------------------

def test_both_shipped_stacks_run_the_controller(plans):
    for stack, plan in plans.items():
        assert shipped_config(stack).ingress.load_balancer_controller.enabled, stack
        values = release(plan, CHART)["inputs"]["values"]
        assert values["clusterName"] == f"eks-platform-{stack}"
        assert values["region"] == shipped_config(stack).region
        assert values["vpcId"].startswith("vpc-")
        assert values["replicaCount"] == (2 if stack == "prod" else 1)
        assert values["serviceMonitor"] == {"enabled": True}


def test_the_controller_has_a_pod_identity_role_with_the_official_policy(plan: PlanView):
    [association] = [r for r in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                     if r["inputs"]["namespace"] == LOAD_BALANCER_CONTROLLER_NAMESPACE]
    assert association["inputs"]["serviceAccount"] == "aws-load-balancer-controller"
    values = release(plan, CHART)["inputs"]["values"]
    assert values["serviceAccount"]["name"] == association["inputs"]["serviceAccount"]
    # The release waits for the association: the controller's first AWS call needs it.
    assert association["urn"] in release(plan, CHART)["dependencies"]
    [policy] = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy")
                if r["parent"] == association["parent"]]
    assert json.loads(policy["inputs"]["policy"]) == controller_policy_document("aws")


def test_the_controller_runs_in_a_restricted_namespace_of_its_own(plan: PlanView):
    [namespace] = [r for r in plan.of_type("kubernetes:core/v1:Namespace")
                   if r["inputs"]["metadata"]["name"] == LOAD_BALANCER_CONTROLLER_NAMESPACE]
    assert namespace["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert release(plan, CHART)["inputs"]["namespace"] == LOAD_BALANCER_CONTROLLER_NAMESPACE


def test_traefiks_pods_get_the_nlb_readiness_gate(plan: PlanView):
    [namespace] = [r for r in plan.of_type("kubernetes:core/v1:Namespace")
                   if r["inputs"]["metadata"]["name"] == INGRESS_NAMESPACE]
    assert namespace["inputs"]["metadata"]["labels"]["elbv2.k8s.aws/pod-readiness-gate-inject"] == "enabled"
    assert release(plan, "traefik")["inputs"]["timeout"] == 900


def test_with_irsa_the_controller_role_trusts_its_service_account_and_is_annotated(variants):
    plan = variants["prod"]  # workloadIdentity: irsa (tests/variants.py)
    assert shipped_config("prod").ingress.load_balancer_controller.enabled
    assert not [r for r in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                if r["inputs"]["namespace"] == LOAD_BALANCER_CONTROLLER_NAMESPACE]
    role = plan.one("aws:iam/role:Role", "load-balancer-controller-role-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:aws-load-balancer-controller:aws-load-balancer-controller" in \
        trust["Condition"]["StringEquals"].values()
    annotations = release(plan, CHART)["inputs"]["values"]["serviceAccount"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
