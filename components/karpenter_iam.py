"""The AWS side of Karpenter: its controller's IAM policy, the interruption queue's policy and the
EventBridge events that feed it.

Source: Karpenter's "Getting Started with Karpenter" CloudFormation template for v1.14
(aws/karpenter-provider-aws, website/content/en/v1.14/getting-started/getting-started-with-karpenter/
cloudformation.yaml, read at commit 1d927085d, 2026-08). Its five controller policies
(NodeLifecycle, IAMIntegration, EKSIntegration, Interruption, ResourceDiscovery) are merged into one
document here, statement for statement with the same Sids, and scoped the same way: everything
Karpenter creates or deletes must carry `kubernetes.io/cluster/<cluster>: owned` and a
`karpenter.sh/nodepool` tag; reads are limited to this region. Its ZonalShift policy is left out:
`settings.enableZonalShift` stays off.
"""

from __future__ import annotations

import json

# EventBridge events Karpenter acts on (same template): spot interruption warnings, rebalance
# recommendations, instance state changes, AWS Health scheduled changes, and capacity
# reservation interruptions. Key: a short resource-name part.
INTERRUPTION_EVENTS = {
    "spot-interruption": ("aws.ec2", "EC2 Spot Instance Interruption Warning"),
    "rebalance": ("aws.ec2", "EC2 Instance Rebalance Recommendation"),
    "instance-state-change": ("aws.ec2", "EC2 Instance State-change Notification"),
    "scheduled-change": ("aws.health", "AWS Health Event"),
    "capacity-reservation-interruption": ("aws.ec2", "EC2 Capacity Reservation Instance Interruption Warning"),
}


def interruption_event_pattern(source: str, detail_type: str) -> str:
    return json.dumps({"source": [source], "detail-type": [detail_type]})


def controller_policy(cluster_name: str, partition: str, region: str, account_id: str,
                      node_role_arn: str, queue_arn: str) -> str:
    ec2 = f"arn:{partition}:ec2:{region}"
    instance_profiles = f"arn:{partition}:iam::{account_id}:instance-profile/*"
    owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    requested = {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned",
                 "aws:RequestTag/eks:eks-cluster-name": cluster_name}
    of_a_nodepool = {"aws:ResourceTag/karpenter.sh/nodepool": "*"}
    for_a_nodepool = {"aws:RequestTag/karpenter.sh/nodepool": "*"}
    launched = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface",
                                                  "launch-template", "spot-instances-request")]
    profile_in_region = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned",
                         "aws:ResourceTag/topology.kubernetes.io/region": region}
    statements = [
        # NodeLifecyclePolicy
        {"Sid": "AllowScopedEC2InstanceAccessActions", "Effect": "Allow",
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*",
                      f"{ec2}:*:capacity-reservation/*", f"{ec2}:*:placement-group/*"],
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"]},
        {"Sid": "AllowScopedEC2LaunchTemplateAccessActions", "Effect": "Allow",
         "Resource": f"{ec2}:*:launch-template/*", "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
         "Condition": {"StringEquals": owned, "StringLike": of_a_nodepool}},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow", "Resource": launched,
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
         "Condition": {"StringEquals": requested, "StringLike": for_a_nodepool}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Resource": launched,
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": {**requested,
                                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]},
                       "StringLike": for_a_nodepool}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Resource": f"{ec2}:*:instance/*",
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": owned, "StringLike": of_a_nodepool,
                       "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": cluster_name},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim",
                                                                     "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow",
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Condition": {"StringEquals": owned, "StringLike": of_a_nodepool}},
        # IAMIntegrationPolicy: Karpenter v1 makes the instance profile of the EC2NodeClass `role`.
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Resource": node_role_arn, "Action": "iam:PassRole",
         "Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "ec2.amazonaws.com.cn"]}}},
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow", "Resource": instance_profiles,
         "Action": ["iam:CreateInstanceProfile"],
         "Condition": {"StringEquals": {**requested, "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileTagActions", "Effect": "Allow", "Resource": instance_profiles,
         "Action": ["iam:TagInstanceProfile"],
         "Condition": {"StringEquals": {**profile_in_region, **requested,
                                        "aws:RequestTag/topology.kubernetes.io/region": region},
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*",
                                      "aws:RequestTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow", "Resource": instance_profiles,
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
         "Condition": {"StringEquals": profile_in_region,
                       "StringLike": {"aws:ResourceTag/karpenter.k8s.aws/ec2nodeclass": "*"}}},
        # EKSIntegrationPolicy
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow",
         "Resource": f"arn:{partition}:eks:{region}:{account_id}:cluster/{cluster_name}", "Action": "eks:DescribeCluster"},
        # InterruptionPolicy
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow", "Resource": queue_arn,
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]},
        # ResourceDiscoveryPolicy
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeCapacityReservations", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceStatus", "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates", "ec2:DescribePlacementGroups", "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow",
         "Resource": f"arn:{partition}:ssm:{region}::parameter/aws/service/*", "Action": "ssm:GetParameter"},
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": "pricing:GetProducts"},
        {"Sid": "AllowUnscopedInstanceProfileListAction", "Effect": "Allow", "Resource": "*",
         "Action": "iam:ListInstanceProfiles"},
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow", "Resource": instance_profiles,
         "Action": "iam:GetInstanceProfile"},
    ]
    # Compact: a role's inline policies may hold 10,240 characters in all (IAM quotas).
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":"))


def interruption_queue_policy(queue_arn: str, rule_arns: list[str]) -> str:
    """EventBridge may send only from this stack's rules: upstream lets any rule of any account
    send, and a forged interruption event makes Karpenter drain and replace a node. The
    ArnEquals aws:SourceArn condition is the one AWS's EventBridge guide gives for SQS targets.
    Nothing may use the queue over plain HTTP.

    Upstream's statement also names `sqs.amazonaws.com`, with no condition. It is left out: every
    message Karpenter reads comes through the EventBridge rules above, and EventBridge delivers to
    an SQS target as `events.amazonaws.com` (EventBridge user guide, "Using resource-based policies
    for Amazon EventBridge", Amazon SQS permissions). The SQS principal came in with the queue
    policy Karpenter v0.19 created in code (aws/karpenter-provider-aws#2546) and was carried into
    the template when that code moved out (#2834); neither the template nor its reference page
    (website/content/en/v1.14/reference/cloudformation.md) names anything that sends as it, and a
    service principal granted without aws:SourceAccount/aws:SourceArn is the confused-deputy
    opening IAM's guide warns about."""
    return json.dumps({
        "Version": "2012-10-17",
        "Id": "EC2InterruptionPolicy",
        "Statement": [
            {"Sid": "EventBridgeRulesOfThisCluster", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
             "Action": "sqs:SendMessage", "Resource": queue_arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}}},
            {"Sid": "DenyHTTP", "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": queue_arn,
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    })
