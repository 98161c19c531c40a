"""In-cluster basics every other layer relies on: CoreDNS, EBS CSI storage and metrics-server.

Each runs a Deployment, so each waits for the node groups: an EKS add-on whose pods cannot be
scheduled stays DEGRADED and its create times out after 20 minutes (pulumi/pulumi-eks#1819);
a Helm release waits the same way. The gate rule `eks-addons-wait-for-nodes` keeps it so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.charts import pinned_release
from components.config.cluster import AddonVersionsConfig
from components.names import DEFAULT_STORAGE_CLASS, RETAIN_STORAGE_CLASS
from components.platform import PlatformContext
from components.workload_identity import WorkloadRole, WorkloadRoleArgs, pulumi_eks_addon_alias

EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")


@dataclass
class ClusterAddonsArgs:
    context: PlatformContext
    cluster: eks.Cluster
    node_groups: list[pulumi.Resource]
    versions: AddonVersionsConfig


def gp3_storage_class(name: str, reclaim_policy: str, default: bool,
                      opts: pulumi.ResourceOptions) -> k8s.storage.v1.StorageClass:
    return k8s.storage.v1.StorageClass(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=DEFAULT_STORAGE_CLASS if default else RETAIN_STORAGE_CLASS,
            annotations={"storageclass.kubernetes.io/is-default-class": "true" if default else "false"},
        ),
        provisioner="ebs.csi.aws.com",
        parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
        reclaim_policy=reclaim_policy,
        # Bind where the pod lands: an EBS volume lives in one AZ.
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        opts=opts,
    )


class ClusterAddons(pulumi.ComponentResource):
    def __init__(self, name: str, args: ClusterAddonsArgs, opts: pulumi.ResourceOptions | None = None):
        context = args.context
        super().__init__("eks-platform:cluster:ClusterAddons", name, None, context.layer_options(opts))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        on_nodes = pulumi.ResourceOptions(parent=self, depends_on=args.node_groups)

        # OVERWRITE: EKS installed a self-managed CoreDNS with the cluster; the add-on takes it
        # over instead of failing on the conflict (and updates win over hand edits).
        overwrite = {"resolve_conflicts_on_create": "OVERWRITE", "resolve_conflicts_on_update": "OVERWRITE",
                     "tags": context.tags}
        eks.Addon(f"{name}-coredns", cluster=args.cluster, addon_name="coredns",
                  addon_version=args.versions.coredns, opts=on_nodes, **overwrite)

        namespace, service_account = EBS_CSI_SERVICE_ACCOUNT
        ebs_role = WorkloadRole(f"{name}-ebs-csi", WorkloadRoleArgs(
            identity=context.identity, namespace=namespace, service_account=service_account,
            kind=context.workload_identity,
            managed_policy_arns=[f"arn:{context.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
            tags=context.tags, addon=True,
        ), opts=pulumi.ResourceOptions(parent=self))
        ebs_csi: pulumi.Resource
        if ebs_role.kind == "irsa":
            ebs_csi = eks.Addon(f"{name}-ebs-csi", cluster=args.cluster, addon_name="aws-ebs-csi-driver",
                                addon_version=args.versions.ebs_csi_driver, opts=on_nodes,
                                **overwrite, **ebs_role.addon_settings)
        else:
            # eks.Addon cannot set an add-on's Pod Identity associations (pulumi_eks 4.4): the same
            # add-on as aws.eks.Addon, under the URN eks.Addon gave it (parented to the cluster).
            ebs_csi = aws.eks.Addon(
                f"{name}-ebs-csi", cluster_name=context.cluster_name, addon_name="aws-ebs-csi-driver",
                addon_version=args.versions.ebs_csi_driver,
                opts=pulumi.ResourceOptions.merge(on_nodes, pulumi.ResourceOptions(
                    depends_on=[args.cluster],
                    aliases=[pulumi_eks_addon_alias(f"{name}-ebs-csi", "eks:index:Addon", args.cluster)])),
                **overwrite, **ebs_role.addon_settings,
            )
        storage_opts = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[ebs_csi]))
        gp3_storage_class(f"{name}-gp3", "Delete", default=True, opts=storage_opts)
        # Data that must outlive its claim (Elasticsearch in prod) uses this class.
        gp3_storage_class(f"{name}-gp3-retain", "Retain", default=False, opts=storage_opts)

        replicas = args.versions.metrics_server_replicas
        pinned_release(f"{name}-metrics-server", "metrics-server", "kube-system", {
            "replicas": replicas,
            "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
            "resources": {"requests": {"cpu": "100m", "memory": "200Mi"},
                          "limits": {"cpu": "500m", "memory": "500Mi"}},
            # The chart's container context names runAsUser 1000 but no group (group root).
            "securityContext": {"runAsGroup": 1000},
        }, pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=args.node_groups)))

        self.register_outputs({"ebsCsiRoleArn": ebs_role.arn})
