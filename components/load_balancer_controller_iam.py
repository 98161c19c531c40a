"""The AWS Load Balancer Controller's IAM policy: the official one, for any partition.

Written out here, not downloaded: it is kubernetes-sigs/aws-load-balancer-controller
docs/install/iam_policy.json at tag v3.5.0 (the pinned chart's appVersion), statement for
statement and in the same order; tests/test_load_balancer_controller.py compares it with
../shared/reference/iam/aws-load-balancer-controller-iam-policy.json. At that tag the us-gov and
cn files hold the same 16 statements with only the partition in their ARNs changed, so the
partition is the one parameter. Bump it together with the chart.
"""

from __future__ import annotations

import json
from typing import Any

CLUSTER_TAG = "elbv2.k8s.aws/cluster"
"""The tag the controller puts on everything it creates; the policy lets it change only those."""


def _allow(actions: list[str], resource: Any = "*", condition: dict | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def _tagged(request: str | None = None, resource: str | None = None) -> dict[str, dict[str, str]]:
    """The policy's `Null` conditions: "false" means the tag must be there, "true" that it must not."""
    null = {}
    if request is not None:
        null[f"aws:RequestTag/{CLUSTER_TAG}"] = request
    if resource is not None:
        null[f"aws:ResourceTag/{CLUSTER_TAG}"] = resource
    return {"Null": null}


def controller_policy_document(partition: str) -> dict[str, Any]:
    def arn(service: str, resource: str) -> str:
        return f"arn:{partition}:{service}:*:*:{resource}"

    security_groups = arn("ec2", "security-group/*")
    target_groups = arn("elasticloadbalancing", "targetgroup/*/*")
    load_balancers = [target_groups, arn("elasticloadbalancing", "loadbalancer/net/*/*"),
                      arn("elasticloadbalancing", "loadbalancer/app/*/*")]
    describe = [f"ec2:{a}" for a in (
        "DescribeAccountAttributes", "DescribeAddresses", "DescribeAvailabilityZones", "DescribeInternetGateways",
        "DescribeVpcs", "DescribeVpcPeeringConnections", "DescribeSubnets", "DescribeSecurityGroups",
        "DescribeInstances", "DescribeNetworkInterfaces", "DescribeTags", "GetCoipPoolUsage", "DescribeCoipPools",
        "GetSecurityGroupsForVpc", "DescribeIpamPools", "DescribeRouteTables")]
    describe += [f"elasticloadbalancing:{a}" for a in (
        "DescribeLoadBalancers", "DescribeLoadBalancerAttributes", "DescribeListeners",
        "DescribeListenerCertificates", "DescribeSSLPolicies", "DescribeRules", "DescribeTargetGroups",
        "DescribeTargetGroupAttributes", "DescribeTargetHealth", "DescribeTags", "DescribeTrustStores",
        "DescribeListenerAttributes", "DescribeCapacityReservation")]
    integrations = [
        "cognito-idp:DescribeUserPoolClient", "acm:ListCertificates", "acm:DescribeCertificate",
        "iam:ListServerCertificates", "iam:GetServerCertificate",
        "waf-regional:GetWebACL", "waf-regional:GetWebACLForResource", "waf-regional:AssociateWebACL",
        "waf-regional:DisassociateWebACL", "wafv2:GetWebACL", "wafv2:GetWebACLForResource", "wafv2:AssociateWebACL",
        "wafv2:DisassociateWebACL", "shield:GetSubscriptionState", "shield:DescribeProtection",
        "shield:CreateProtection", "shield:DeleteProtection"]
    modify_own = [f"elasticloadbalancing:{a}" for a in (
        "ModifyLoadBalancerAttributes", "SetIpAddressType", "SetSecurityGroups", "SetSubnets", "DeleteLoadBalancer",
        "ModifyTargetGroup", "ModifyTargetGroupAttributes", "DeleteTargetGroup", "ModifyListenerAttributes",
        "ModifyCapacityReservation", "ModifyIpPools")]
    return {
        "Version": "2012-10-17",
        "Statement": [
            _allow(["iam:CreateServiceLinkedRole"], condition={
                "StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}}),
            _allow(describe),
            _allow(integrations),
            _allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]),
            _allow(["ec2:CreateSecurityGroup"]),
            _allow(["ec2:CreateTags"], security_groups, {
                "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **_tagged(request="false")}),
            _allow(["ec2:CreateTags", "ec2:DeleteTags"], security_groups, _tagged(request="true", resource="false")),
            _allow(["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress", "ec2:DeleteSecurityGroup"],
                   condition=_tagged(resource="false")),
            _allow(["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
                   condition=_tagged(request="false")),
            _allow(["elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:CreateRule", "elasticloadbalancing:DeleteRule"]),
            _allow(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], load_balancers,
                   _tagged(request="true", resource="false")),
            _allow(["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"], [
                arn("elasticloadbalancing", f"{kind}/{lb}/*/*/*")
                for kind in ("listener", "listener-rule") for lb in ("net", "app")]),
            _allow(modify_own, condition=_tagged(resource="false")),
            _allow(["elasticloadbalancing:AddTags"], load_balancers, {
                "StringEquals": {"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]},
                **_tagged(request="false")}),
            _allow(["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"], target_groups),
            _allow(["elasticloadbalancing:SetWebAcl", "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:AddListenerCertificates", "elasticloadbalancing:RemoveListenerCertificates",
                    "elasticloadbalancing:ModifyRule", "elasticloadbalancing:SetRulePriorities"]),
        ],
    }


def controller_policy(partition: str) -> str:
    return json.dumps(controller_policy_document(partition))
