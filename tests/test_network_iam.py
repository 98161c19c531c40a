"""VPC flow logs, and least privilege where the program grants AWS permissions: cert-manager's
DNS-01 policy, the apps' IRSA policies, and policy attachments keyed by policy."""

from __future__ import annotations

import copy
import json

import pytest

from components.cert_manager import route53_policy
from components.config import parse_stack_config
from components.naming import iam_key
from conftest import ROOT, PlanView
from config_cases import problems, stack_values
from helpers import WORKLOAD_ROLE_TYPES, shipped_config, with_app


# -- finding 10: VPC flow logs ----------------------------------------------------------------

def test_dev_sends_flow_logs_to_cloudwatch_with_retention(plans):
    plan = plans["dev"]
    config = parse_stack_config(stack_values("dev")).network.flow_logs
    assert config.destination == "cloudwatch"
    flow_log = plan.one("aws:ec2/flowLog:FlowLog")["inputs"]
    group = plan.one("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")["inputs"]
    assert group["retentionInDays"] == config.retention_days
    assert flow_log["vpcId"].startswith("vpc-") and flow_log["trafficType"] == "ALL"
    assert flow_log["logDestinationType"] == "cloud-watch-logs"
    assert flow_log["logDestination"].endswith(f":log-group:{group['name']}")
    role = plan.one("aws:iam/role:Role", "network-flow-logs")["inputs"]
    trust, = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    assert ":role/network-flow-logs" in flow_log["iamRoleArn"]
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "network-flow-logs")["inputs"]["policy"])
    writes = policy["Statement"][0]
    assert "logs:PutLogEvents" in writes["Action"]
    assert writes["Resource"] == [flow_log["logDestination"], flow_log["logDestination"] + ":*"]


def test_prod_sends_flow_logs_to_a_private_expiring_bucket(plans):
    plan = plans["prod"]
    config = parse_stack_config(stack_values("prod")).network.flow_logs
    assert config.destination == "s3"
    bucket = plan.one("aws:s3/bucket:Bucket", "network-flow-logs")
    flow_log = plan.one("aws:ec2/flowLog:FlowLog")
    assert flow_log["inputs"]["logDestinationType"] == "s3"
    assert flow_log["inputs"]["logDestination"].startswith("arn:aws:s3:::network-flow-logs")
    block = plan.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    rule, = plan.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["inputs"]["rules"]
    assert rule["status"] == "Enabled" and rule["expiration"]["days"] == config.retention_days
    policy = plan.one("aws:s3/bucketPolicy:BucketPolicy")
    statements = json.loads(policy["inputs"]["policy"])["Statement"]
    assert {s["Principal"]["Service"] for s in statements if s["Effect"] == "Allow"} == {"delivery.logs.amazonaws.com"}
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)
    assert policy["urn"] in flow_log["dependencies"], "delivery must be allowed before the flow log starts"
    assert bucket["urn"] in flow_log["dependencies"]


def test_flow_log_retention_must_be_a_cloudwatch_period():
    raw = copy.deepcopy(stack_values("dev"))
    raw["network"]["flowLogs"] = {"destination": "cloudwatch", "retentionDays": 10}
    assert any(p.startswith("network.flowLogs: ") and "retention" in p for p in problems(raw))
    raw["network"]["flowLogs"] = {"destination": "s3", "retentionDays": 10}
    assert parse_stack_config(raw).network.flow_logs.retention_days == 10


def test_flow_logs_can_be_turned_off(plans, variants):
    assert bool(plans["dev"].of_type("aws:ec2/flowLog:FlowLog")) is shipped_config("dev").network.flow_logs.enabled
    assert variants["dev"].of_type("aws:ec2/flowLog:FlowLog") == []  # flowLogs: {enabled: false} (tests/variants.py)


# -- finding 12: cert-manager's Route53 policy ------------------------------------------------

def test_dns01_may_change_only_acme_challenge_txt_records():
    statements = json.loads(route53_policy("Z123EXAMPLE", "aws"))["Statement"]
    changes = [s for s in statements if "route53:ChangeResourceRecordSets" in s["Action"]]
    assert len(changes) == 1, "ChangeResourceRecordSets must be granted once, with its conditions"
    change, = changes
    assert change["Action"] == ["route53:ChangeResourceRecordSets"]
    assert change["Resource"] == ["arn:aws:route53:::hostedzone/Z123EXAMPLE"]
    assert change["Condition"] == {
        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
        "ForAllValues:StringLike": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]},
    }
    granted = {action for s in statements for action in s["Action"]}
    assert granted == {"route53:GetChange", "route53:ListResourceRecordSets", "route53:ChangeResourceRecordSets",
                       "route53:ListHostedZonesByName"}


# -- finding 12: irsaPolicyArns are IAM policy ARNs -------------------------------------------

@pytest.mark.parametrize("value", [
    "AmazonS3ReadOnlyAccess",
    "arn:aws:iam::123456789012:role/shop-uploads",
    "arn:aws:s3:::shop-uploads",
    "arn:aws:iam::aws:policy/",
])
def test_irsa_policy_arns_must_be_policy_arns(value):
    found = problems(with_app(stack_values("dev"), irsaPolicyArns=[value]))
    assert any(p.startswith("teams[0].apps[0].irsaPolicyArns: ") and "arn:aws:iam::aws:policy/" in p
               for p in found), found


@pytest.mark.parametrize("value", [
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
    "arn:aws-us-gov:iam::210987654321:policy/teams/shop-uploads",
])
def test_policy_arns_are_accepted(value):
    config = parse_stack_config(with_app(stack_values("dev"), irsaPolicyArns=[value]))
    assert config.teams[0].apps[0].irsa_policy_arns == [value]


# -- finding 13: IRSA policy attachments keyed by policy --------------------------------------

def test_irsa_attachments_are_keyed_by_policy(plan: PlanView):
    attachments = plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    component_names = {r["urn"]: r["name"] for t in WORKLOAD_ROLE_TYPES for r in plan.of_type(t)}
    keyed = [a for a in attachments if a["parent"] in component_names]
    assert keyed
    for attachment in keyed:
        expected = f"{component_names[attachment['parent']]}-attach-{iam_key(attachment['inputs']['policyArn'])}"
        assert attachment["name"] == expected
