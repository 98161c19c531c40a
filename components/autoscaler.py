"""cluster-autoscaler: scales the managed node groups it discovers by tag, with its own IAM role."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.charts import pinned_release
from components.config.cluster import AUTOSCALER_IMAGE_TAGS, AutoscalerConfig
from components.platform import PlatformContext
from components.workload_identity import WorkloadRole, WorkloadRoleArgs

SERVICE_ACCOUNT = ("kube-system", "cluster-autoscaler")


def autoscaler_policy(cluster_name: str) -> str:
    """The policy the autoscaler's AWS README recommends, with its advice applied: the two
    actions that change capacity are limited to this cluster's node groups by tag."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                    "eks:DescribeNodegroup",
                ],
                "Resource": ["*"],
            },
            {
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": ["*"],
                "Condition": {"StringEquals": {
                    f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned",
                }},
            },
        ],
    })


@dataclass
class ClusterAutoscalerArgs:
    context: PlatformContext
    config: AutoscalerConfig
    node_groups: list[pulumi.Resource]
    """The release waits for them: its pod needs a node, and Helm waits for it to be ready."""


class ClusterAutoscaler(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        context = args.context
        super().__init__("eks-platform:cluster:ClusterAutoscaler", name, None, context.layer_options(opts))
        namespace, service_account = SERVICE_ACCOUNT
        # `-irsa` is the name the role had when it was always IRSA: kept, so IRSA stacks see no change.
        role = WorkloadRole(f"{name}-{'irsa' if context.workload_identity == 'irsa' else 'pod-identity'}", WorkloadRoleArgs(
            identity=context.identity, namespace=namespace, service_account=service_account,
            kind=context.workload_identity, inline_policy=autoscaler_policy(context.cluster_name), tags=context.tags,
        ), opts=pulumi.ResourceOptions(parent=self))

        cfg = args.config
        image_tag = cfg.image_tag or AUTOSCALER_IMAGE_TAGS[context.kubernetes_version]
        pinned_release(f"{name}-chart", "cluster-autoscaler", namespace, {
            "cloudProvider": "aws",
            "awsRegion": context.region,
            "autoDiscovery": {"clusterName": context.cluster_name},
            # An autoscaler only supports the Kubernetes minor it was released with.
            "image": {"tag": image_tag},
            "rbac": {"serviceAccount": {
                "name": service_account,
                "annotations": role.service_account_annotations,
            }},
            "extraArgs": {
                "expander": cfg.expander,
                "scale-down-unneeded-time": cfg.scale_down_unneeded_time,
                "scale-down-delay-after-add": cfg.scale_down_delay_after_add,
                "scale-down-utilization-threshold": str(cfg.scale_down_utilization_threshold),
                # Node groups are one per zone; keep the zones even (autoscaler FAQ, EKS best practice).
                "balance-similar-node-groups": "true",
                "skip-nodes-with-system-pods": "false",
                # Every platform and app pod mounts an emptyDir (scratch space under a read-only
                # root filesystem); with the default `true` no node would ever be removed. Their
                # contents are disposable; data lives on EBS volumes, and PDBs still bound evictions.
                "skip-nodes-with-local-storage": "false",
            },
            "resources": {"requests": {"cpu": "100m", "memory": "300Mi"},
                          "limits": {"cpu": "500m", "memory": "600Mi"}},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containerSecurityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                         "capabilities": {"drop": ["ALL"]}},
        }, pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=[*args.node_groups, role]))
        self.register_outputs({"roleArn": role.arn})
