"""Karpenter: launches nodes for pending pods from NodePools, instead of cluster-autoscaler
scaling managed node groups (`autoscaler.kind: karpenter`).

What it needs, all here: the controller (chart, on the managed node group config names) with its
IAM role through EKS Pod Identity; the interruption queue EventBridge fills, so a node is drained
before EC2 reclaims it; the IAM role its nodes run with (Karpenter v1 makes the instance profile
from the EC2NodeClass `role`) and that role's EC2_LINUX access entry, which lets the nodes join;
one EC2NodeClass (IMDSv2 with hop limit 1, encrypted gp3 root volume, subnets and security group
found by the `karpenter.sh/discovery` tag) and the NodePools of the config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.charts import pinned_release
from components.config.cluster import NodeGroupConfig
from components.config.karpenter import KarpenterConfig, NodePoolConfig
from components.names import NODE_MANAGED_POLICIES
from components.karpenter_iam import (INTERRUPTION_EVENTS, controller_policy, interruption_event_pattern,
                                      interruption_queue_policy)
from components.platform import PlatformContext
from components.workload_identity import WorkloadRole, WorkloadRoleArgs

SERVICE_ACCOUNT = ("kube-system", "karpenter")
DISCOVERY_TAG = "karpenter.sh/discovery"
NODE_CLASS = "default"
# The EKS spelling of taint effects (node group config) -> the Kubernetes one.
TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}


def discovery_tags(cluster_name: str) -> dict[str, str]:
    """What the EC2NodeClass selects the private subnets and the cluster security group by."""
    return {DISCOVERY_TAG: cluster_name}


def node_class_spec(cluster_name: str, node_role_name: str, cfg: KarpenterConfig, tags: dict[str, str]) -> dict:
    return {
        "role": node_role_name,
        "amiSelectorTerms": [{"alias": cfg.ami_alias}],
        "subnetSelectorTerms": [{"tags": discovery_tags(cluster_name)}],
        "securityGroupSelectorTerms": [{"tags": discovery_tags(cluster_name)}],
        # IMDSv2 only, hop limit 1: pods cannot reach the node role's credentials (as on the
        # managed node groups' launch templates).
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                            "httpPutResponseHopLimit": 1, "httpTokens": "required"},
        "blockDeviceMappings": [{
            "deviceName": "/dev/xvda",  # the AL2023 root device
            "rootVolume": True,
            "ebs": {"volumeSize": f"{cfg.root_volume_gib}Gi", "volumeType": "gp3", "encrypted": True,
                    "deleteOnTermination": True},
        }],
        "tags": {**tags, "Name": f"{cluster_name}-karpenter"},
    }


def node_pool_spec(pool: NodePoolConfig) -> dict:
    requirements = [
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(pool.capacity_types)},
        {"key": "kubernetes.io/arch", "operator": "In", "values": list(pool.architectures)},
        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": list(pool.instance_categories)},
        {"key": "karpenter.k8s.aws/instance-generation", "operator": "Gt",
         "values": [str(pool.instance_generation_above)]},
    ]
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODE_CLASS},
        "requirements": requirements,
        "expireAfter": pool.expire_after,
    }
    if pool.taints:
        template_spec["taints"] = [{"key": t.key, "effect": TAINT_EFFECTS[t.effect],
                                    **({"value": t.value} if t.value else {})} for t in pool.taints]
    budgets = [{"nodes": b.nodes, **({"schedule": b.schedule, "duration": b.duration} if b.schedule else {}),
                **({"reasons": list(b.reasons)} if b.reasons else {})} for b in pool.budgets]
    spec: dict[str, Any] = {
        "template": {"metadata": {"labels": {"eks-platform/node-pool": pool.name, **pool.labels}},
                     "spec": template_spec},
        "limits": {"cpu": pool.cpu_limit, "memory": pool.memory_limit},
        "disruption": {"consolidationPolicy": pool.consolidation_policy,
                       "consolidateAfter": pool.consolidate_after, "budgets": budgets},
    }
    if pool.weight is not None:
        spec["weight"] = pool.weight
    return spec


def controller_placement(group: NodeGroupConfig) -> dict:
    """Chart values that put the controller on its managed node group, whatever that group's taints."""
    tolerations = [{"key": "CriticalAddonsOnly", "operator": "Exists"}]
    tolerations += [{"key": t.key, "operator": "Equal", "value": t.value, "effect": TAINT_EFFECTS[t.effect]}
                    for t in group.taints]
    return {"nodeSelector": {"kubernetes.io/os": "linux", "eks-platform/node-group": group.name},
            "tolerations": tolerations}


@dataclass
class KarpenterArgs:
    context: PlatformContext
    """Its identity: the controller's role trusts Pod Identity, which is also how it gets credentials."""
    config: KarpenterConfig
    controller_group: NodeGroupConfig
    node_groups: list[pulumi.Resource]
    """The controller runs on them; the release waits for them."""
    cluster_security_group_id: pulumi.Input[str]
    account_id: str


class Karpenter(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    node_role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None):
        context = args.context
        super().__init__("eks-platform:cluster:Karpenter", name, None, context.layer_options(opts))
        child = pulumi.ResourceOptions(parent=self)
        tags, cluster_name, identity = context.tags, context.cluster_name, context.identity

        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
            description=f"Nodes Karpenter launches in {cluster_name}",
            tags=tags,
            opts=child,
        )
        # The managed node groups' policies: no CNI policy (aws-node has its own role).
        attachments = [aws.iam.RolePolicyAttachment(
            f"{name}-node-{policy}", role=node_role.name,
            policy_arn=f"arn:{context.partition}:iam::aws:policy/{policy}", opts=child,
        ) for policy in NODE_MANAGED_POLICIES]
        # EKS makes access entries for managed node group roles by itself, never for this one:
        # without it Karpenter's nodes cannot join.
        access_entry = aws.eks.AccessEntry(
            f"{name}-node-access", cluster_name=cluster_name, principal_arn=node_role.arn, type="EC2_LINUX",
            tags=tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[identity.cluster]),
        )
        # The cluster security group EKS made; the private subnets carry the tag from Network.
        sg_tag = aws.ec2.Tag(f"{name}-cluster-sg-discovery", resource_id=args.cluster_security_group_id,
                             key=DISCOVERY_TAG, value=cluster_name, opts=child)

        queue = aws.sqs.Queue(
            f"{name}-interruption",
            name=f"{cluster_name}-karpenter",
            message_retention_seconds=300,  # an interruption warning is stale after two minutes
            sqs_managed_sse_enabled=True,
            tags=tags,
            opts=child,
        )
        rules = []
        for key, (source, detail_type) in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{key}", description=f"{detail_type} -> Karpenter ({cluster_name})",
                event_pattern=interruption_event_pattern(source, detail_type), tags=tags, opts=child,
            )
            aws.cloudwatch.EventTarget(f"{name}-{key}", rule=rule.name, arn=queue.arn,
                                       target_id="KarpenterInterruptionQueueTarget", opts=child)
            rules.append(rule)
        aws.sqs.QueuePolicy(f"{name}-interruption", queue_url=queue.url, opts=child, policy=pulumi.Output.all(
            queue.arn, *[rule.arn for rule in rules]).apply(lambda arns: interruption_queue_policy(arns[0], arns[1:])))

        namespace, service_account = SERVICE_ACCOUNT
        role = WorkloadRole(f"{name}-controller", WorkloadRoleArgs(
            identity=identity, namespace=namespace, service_account=service_account, kind=context.workload_identity,
            inline_policy=pulumi.Output.all(node_role.arn, queue.arn).apply(lambda arns: controller_policy(
                cluster_name, context.partition, context.region, args.account_id, arns[0], arns[1])),
            tags=tags,
        ), opts=child)

        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        self.release = pinned_release(f"{name}-chart", "karpenter", namespace, {
            "settings": {"clusterName": cluster_name, "interruptionQueue": queue.name},
            "serviceAccount": {"name": service_account,
                               "annotations": role.service_account_annotations},
            "replicas": args.config.controller_replicas,
            # The node's (VPC) resolver, not CoreDNS: CoreDNS may come to run on nodes Karpenter
            # launches, and Karpenter must reach STS and EC2 to launch them (Karpenter v1.14
            # getting started and troubleshooting guides, "dnsPolicy=Default").
            "dnsPolicy": "Default",
            **controller_placement(args.controller_group),
            "controller": {"resources": {"requests": {"cpu": "250m", "memory": "512Mi"},
                                         "limits": {"cpu": "1", "memory": "1Gi"}}},
        }, pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
            depends_on=[*args.node_groups, role, *([identity.agent] if identity.agent else [])])))

        # The CRDs come with the chart; nodes need the role's policies, its access entry and the tags.
        node_class = k8s.apiextensions.CustomResource(
            f"{name}-node-class",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=NODE_CLASS),
            spec=node_role.name.apply(lambda role_name: node_class_spec(cluster_name, role_name, args.config, tags)),
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                depends_on=[self.release, access_entry, sg_tag, *attachments])),
        )
        for pool in args.config.node_pools:
            k8s.apiextensions.CustomResource(
                f"{name}-pool-{pool.name}",
                api_version="karpenter.sh/v1",
                kind="NodePool",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name),
                spec=node_pool_spec(pool),
                opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                    depends_on=[self.release, node_class])),
            )

        self.node_role_arn = node_role.arn
        self.register_outputs({"nodeRoleArn": node_role.arn, "controllerRoleArn": role.arn,
                               "interruptionQueueUrl": queue.url})
