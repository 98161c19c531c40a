"""The hardened EKS control plane, and the one Kubernetes provider everything in-cluster uses."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.config.cluster import CONTROL_PLANE_LOG_TYPES, AddonVersionsConfig, ClusterConfig


@dataclass
class ClusterArgs:
    cluster_name: str
    config: ClusterConfig
    addons: AddonVersionsConfig
    vpc_id: pulumi.Input[str]
    private_subnet_ids: list[pulumi.Input[str]]
    public_subnet_ids: list[pulumi.Input[str]]
    partition: str
    protect: bool
    """Prod: the cluster and its KMS key survive a stray `pulumi destroy`."""
    tags: dict[str, str] = field(default_factory=dict)


def admin_access_entries(admins: list[str], partition: str) -> dict[str, eks.AccessEntryArgs]:
    """Platform admins reach the cluster through EKS access entries, never the aws-auth ConfigMap."""
    policy_arn = f"arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    return {
        f"platform-admin-{index}": eks.AccessEntryArgs(
            principal_arn=arn,
            access_policies={
                "cluster-admin": eks.AccessPolicyAssociationArgs(
                    policy_arn=policy_arn,
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                )
            },
        )
        for index, arn in enumerate(admins)
    }


class Cluster(pulumi.ComponentResource):
    eks_cluster: eks.Cluster
    provider: k8s.Provider
    name: str
    kubeconfig_json: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("eks-platform:cluster:Cluster", name, None, opts)
        tags = args.tags
        cfg = args.config

        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Envelope encryption of Kubernetes secrets in {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        aws.kms.Alias(f"{name}-secrets-key", name=f"alias/{args.cluster_name}-secrets",
                      target_key_id=secrets_key.key_id, opts=pulumi.ResourceOptions(parent=self))

        # EKS writes to this group by name; creating it first is the only way to set retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=cfg.log_retention_days,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.eks_cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=cfg.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            node_associate_public_ip_address=False,
            endpoint_private_access=True,
            endpoint_public_access=cfg.endpoint.public_access,
            public_access_cidrs=cfg.endpoint.public_access_cidrs or None,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            encryption_config_key_arn=secrets_key.arn,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=admin_access_entries(cfg.admins, args.partition),
            skip_default_node_group=True,
            create_oidc_provider=True,
            # vpc-cni, coredns and kube-proxy as EKS managed add-ons, versions pinned in config.
            # enableNetworkPolicy: without it the VPC CNI ignores every NetworkPolicy.
            vpc_cni_options=eks.VpcCniOptionsArgs(addon_version=args.addons.vpc_cni,
                                                  enable_network_policy=True),
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(version=args.addons.coredns),
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(version=args.addons.kube_proxy),
            deletion_protection=args.protect,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group], protect=args.protect),
        )

        self.name = args.cluster_name
        self.kubeconfig_json = self.eks_cluster.kubeconfig_json
        self.oidc_provider_arn = self.eks_cluster.oidc_provider_arn
        self.oidc_issuer = self.eks_cluster.oidc_issuer
        self.secrets_key_arn = secrets_key.arn

        # Every in-cluster resource gets this provider explicitly, so nothing can fall back to
        # a KUBECONFIG that happens to be set on the machine running `pulumi up`.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig_json,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({
            "clusterName": args.cluster_name,
            "oidcProviderArn": self.oidc_provider_arn,
            "secretsKeyArn": secrets_key.arn,
        })
