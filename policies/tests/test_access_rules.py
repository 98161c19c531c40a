"""The rules behind issue 12's AWS findings: broad AWS managed policies, VPC flow logs, and a
private API endpoint that some network can reach."""

from __future__ import annotations

import pytest

from preflight.check import Subject, evaluate
from rule_cases import violations

RULE = "no-broad-aws-managed-policies"


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::aws:policy/PowerUserAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
    "arn:aws:iam::aws:policy/AmazonEC2FullAccess",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws-us-gov:iam::aws:policy/SecretsManagerReadWrite",
    "arn:aws:iam::aws:policy/job-function/SystemAdministrator",
])
def test_broad_aws_managed_policies_are_flagged_in_every_shape(arn):
    assert RULE in violations("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": arn})
    assert RULE in violations("aws:iam/policyAttachment:PolicyAttachment", {"roles": ["r"], "policyArn": arn})
    assert RULE in violations("aws:iam/role:Role", {"managedPolicyArns": [arn]})


@pytest.mark.parametrize("arn", [
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::210987654321:policy/AmazonS3FullAccess",  # the account's own policy, checked by its content
])
def test_narrow_and_own_policies_pass(arn):
    assert RULE not in violations("aws:iam/rolePolicyAttachment:RolePolicyAttachment", {"role": "r", "policyArn": arn})


def subject(resource_type, props, name="r"):
    return Subject(resource_type, name, f"urn:{name}", props)


def stack_violations(subjects, rule):
    return [v for v in evaluate(subjects, {"all": "mandatory"}) if v.policy == rule]


def test_every_vpc_has_a_flow_log():
    vpc = subject("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}, "vpc")
    found = stack_violations([vpc], "vpc-flow-logs")
    assert len(found) == 1 and found[0].resource == "aws:ec2/vpc:Vpc: vpc"
    flow_log = subject("aws:ec2/flowLog:FlowLog", {"vpcId": "vpc-1", "trafficType": "ALL"}, "fl")
    assert stack_violations([vpc, flow_log], "vpc-flow-logs") == []
    other = subject("aws:ec2/vpc:Vpc", {"cidrBlock": "10.1.0.0/16"}, "vpc2")
    assert len(stack_violations([vpc, other, flow_log], "vpc-flow-logs")) == 1


HTTPS_RULE = {"type": "ingress", "protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.255.0.0/24"],
              "securityGroupId": "sg-1"}


@pytest.mark.parametrize("cluster", [
    ("eks:index:Cluster", {"endpointPublicAccess": False, "endpointPrivateAccess": True}),
    ("aws:eks/cluster:Cluster", {"vpcConfig": {"endpointPublicAccess": False, "endpointPrivateAccess": True}}),
])
def test_a_private_endpoint_must_admit_some_network(cluster):
    rule = "eks-private-endpoint-reachable"
    eks = subject(*cluster, name="eks")
    assert len(stack_violations([eks], rule)) == 1
    ssh_only = subject("aws:ec2/securityGroupRule:SecurityGroupRule", {**HTTPS_RULE, "fromPort": 22, "toPort": 22})
    assert len(stack_violations([eks, ssh_only], rule)) == 1
    https = subject("aws:ec2/securityGroupRule:SecurityGroupRule", HTTPS_RULE, "https")
    assert stack_violations([eks, https], rule) == []


def test_a_public_endpoint_or_an_empty_component_needs_no_rule():
    public = subject("eks:index:Cluster", {"endpointPublicAccess": True, "publicAccessCidrs": ["10.0.0.0/8"]})
    assert stack_violations([public], "eks-private-endpoint-reachable") == []
    assert stack_violations([subject("eks:index:Cluster", {})], "eks-private-endpoint-reachable") == []
