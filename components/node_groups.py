"""EKS managed node groups: one node role, a hardened launch template per group, and one
managed node group per (group, availability zone)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks

from components.config.cluster import NodeGroupConfig, node_group_name_prefix
from components.names import NODE_MANAGED_POLICIES



@dataclass
class NodeGroupsArgs:
    cluster: eks.Cluster
    vpc_cni: pulumi.Resource
    """Nodes join once aws-node can run with its own role; the node role lacks the CNI policy."""
    cluster_name: str
    kubernetes_version: str
    """Nodes run the control plane's minor: with a launch template pulumi-eks leaves the node
    group version unset, and EKS would not move nodes on a control-plane upgrade."""
    groups: list[NodeGroupConfig]
    zones: list[str]
    subnet_ids: list[pulumi.Input[str]]
    """The private subnet of each zone, in the order of `zones`."""
    partition: str
    tags: dict[str, str] = field(default_factory=dict)


def autoscaler_discovery_tags(cluster_name: str) -> dict[str, str]:
    """The tag keys cluster-autoscaler's --node-group-auto-discovery looks for."""
    return {
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{cluster_name}": "owned",
    }


class NodeGroups(pulumi.ComponentResource):
    node_role_arn: pulumi.Output[str]
    node_groups: list[eks.ManagedNodeGroup]
    """What everything that runs pods (add-ons, releases) must wait for."""

    def __init__(self, name: str, args: NodeGroupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:cluster:NodeGroups", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags

        role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                               "Action": "sts:AssumeRole"}],
            }),
            description=f"Worker nodes of {args.cluster_name}",
            tags=tags,
            opts=child,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=role.name,
                policy_arn=f"arn:{args.partition}:iam::aws:policy/{policy}", opts=child,
            )
            for policy in NODE_MANAGED_POLICIES
        ]

        self.node_groups = []
        for group in args.groups:
            template = aws.ec2.LaunchTemplate(
                f"{name}-{group.name}-lt",
                description=f"{args.cluster_name} {group.name} nodes",
                # IMDSv2 only, and a hop limit of 1 so pods cannot reach the node's
                # credentials: in-cluster AWS access goes through workload roles.
                metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                    http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1,
                ),
                block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=group.disk_size_gib, volume_type="gp3",
                        encrypted="true", delete_on_termination="true",
                    ),
                )],
                tag_specifications=[
                    aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags={
                        **tags, "Name": f"{args.cluster_name}-{group.name}"})
                    for kind in ("instance", "volume")
                ],
                tags=tags,
                opts=child,
            )
            # One node group per zone: cluster-autoscaler can then add a node in the zone a
            # pending pod needs (its EBS volume's, or the one a hard zone spread asks for), and
            # balance-similar-node-groups keeps the zones even. One launch template for all of
            # them, so the groups stay "similar" to the autoscaler.
            for zone, subnet_id in zip(args.zones, args.subnet_ids):
                self.node_groups.append(eks.ManagedNodeGroup(
                    f"{name}-{group.name}-{zone[-1]}",
                    cluster=args.cluster,
                    # A prefix, not a fixed name: changes EKS cannot make in place (instance or
                    # capacity type, subnets) replace the group, create-before-destroy, and a
                    # fixed name would fail with "already exists".
                    node_group_name_prefix=node_group_name_prefix(args.cluster_name, group.name, zone),
                    version=args.kubernetes_version,
                    node_role=role,
                    subnet_ids=[subnet_id],
                    ami_type=group.ami_type,
                    capacity_type=group.capacity_type,
                    instance_types=group.instance_types,
                    scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                        min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size,
                    ),
                    # cluster-autoscaler owns desired size after the first apply.
                    ignore_scaling_changes=True,
                    labels={"eks-platform/node-group": group.name, **group.labels},
                    taints=[aws.eks.NodeGroupTaintArgs(key=t.key, value=t.value or None, effect=t.effect)
                            for t in group.taints],
                    launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                        id=template.id, version=template.latest_version.apply(str),
                    ),
                    tags={**tags, **autoscaler_discovery_tags(args.cluster_name)},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[*attachments, args.vpc_cni]),
                ))

        self.node_role_arn = role.arn
        self.register_outputs({"nodeRoleArn": role.arn})
