"""The hardened EKS control plane, and the one Kubernetes provider everything in-cluster uses."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_eks as eks
import pulumi_kubernetes as k8s

from components.config.base import WorkloadIdentity
from components.config.cluster import CONTROL_PLANE_LOG_TYPES, AddonVersionsConfig, ClusterConfig
from components.naming import iam_key
from components.workload_identity import ClusterIdentity, WorkloadRole, WorkloadRoleArgs, pulumi_eks_addon_alias

VPC_CNI_SERVICE_ACCOUNT = ("kube-system", "aws-node")
# The configuration eks.VpcCniAddon(enable_network_policy=True) sends: its defaults for aws-node
# (pulumi-eks nodejs/eks/addons/cni-addon.ts, computeEnv), so the add-on made without the
# component configures aws-node exactly as before. enableNetworkPolicy: without it the VPC CNI
# ignores every NetworkPolicy.
VPC_CNI_CONFIGURATION = {
    "enableNetworkPolicy": "true",
    "env": {
        "AWS_VPC_ENI_MTU": "9001", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "false",
        "AWS_VPC_K8S_CNI_EXTERNALSNAT": "false", "AWS_VPC_K8S_CNI_LOGLEVEL": "DEBUG",
        "AWS_VPC_K8S_CNI_LOG_FILE": "/host/var/log/aws-routed-eni/ipamd.log", "AWS_VPC_K8S_CNI_VETHPREFIX": "eni",
        "AWS_VPC_K8S_PLUGIN_LOG_FILE": "/var/log/aws-routed-eni/plugin.log", "AWS_VPC_K8S_PLUGIN_LOG_LEVEL": "DEBUG",
        "ENABLE_POD_ENI": "false", "WARM_ENI_TARGET": "1",
    },
    "init": {"env": {"DISABLE_TCP_EARLY_DEMUX": "false"}},
}


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
    """cluster.protect: the cluster, its KMS key and its control-plane logs survive a stray `pulumi destroy`."""
    cluster_arn: str
    """What a Pod Identity role's trust policy pins (workload_identity.cluster_arn)."""
    workload_identity: WorkloadIdentity
    """How aws-node gets its role (the stack's workloadIdentity)."""
    tags: dict[str, str] = field(default_factory=dict)


# EKS access policies: what each kind of principal in `cluster.*` may do, cluster-wide.
# Previewers read everything, Secrets included: Helm keeps its releases in Secrets, and a
# preview already decrypts the stack's own secrets.
ACCESS_POLICIES = {"cluster-admin": "AmazonEKSClusterAdminPolicy", "admin-view": "AmazonEKSAdminViewPolicy"}


def cluster_access_entries(cfg: ClusterConfig, partition: str) -> dict[str, eks.AccessEntryArgs]:
    """Admins, deployers and previewers reach the cluster through EKS access entries, never the
    aws-auth ConfigMap. Keyed by principal: removing one leaves the others untouched, and moving
    a principal between admins and deployers keeps its one entry."""
    grants = [(arn, "cluster-admin") for arn in [*cfg.admins, *cfg.deployers]]
    grants += [(arn, "admin-view") for arn in cfg.previewers]
    return {
        iam_key(arn): eks.AccessEntryArgs(
            principal_arn=arn,
            access_policies={
                association: eks.AccessPolicyAssociationArgs(
                    policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{ACCESS_POLICIES[association]}",
                    access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                )
            },
        )
        for arn, association in grants
    }


def cidr_key(cidr: str) -> str:
    return cidr.replace(".", "-").replace("/", "-")


class Cluster(pulumi.ComponentResource):
    eks_cluster: eks.Cluster
    vpc_cni: pulumi.Resource
    """Node groups wait for it: nodes are Ready only once aws-node runs with its own role."""
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
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )

        self.eks_cluster = eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=cfg.kubernetes_version,
            vpc_id=args.vpc_id,
            private_subnet_ids=args.private_subnet_ids,
            public_subnet_ids=args.public_subnet_ids,
            endpoint_private_access=True,
            endpoint_public_access=cfg.endpoint.public_access,
            public_access_cidrs=cfg.endpoint.public_access_cidrs or None,
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            encryption_config_key_arn=secrets_key.arn,
            authentication_mode=eks.AuthenticationMode.API,
            access_entries=cluster_access_entries(cfg, args.partition),
            skip_default_node_group=True,
            # Managed node groups use the security group EKS creates for the cluster; the
            # component's own node security group would sit unused.
            skip_default_security_groups=True,
            create_oidc_provider=True,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type=cfg.upgrade_policy),
            # Only kube-proxy is created inside the cluster: a DaemonSet is healthy with no node.
            # CoreDNS runs a Deployment that stays DEGRADED until nodes exist, and the component
            # would create it before any node group (pulumi-eks enables it as soon as the options
            # object exists): ClusterAddons creates it after the nodes. The VPC CNI comes below,
            # with the IRSA role that needs this cluster's OIDC provider.
            coredns_addon_options=eks.CoreDnsAddonOptionsArgs(enabled=False),
            use_default_vpc_cni=True,
            kube_proxy_addon_options=eks.KubeProxyAddonOptionsArgs(version=args.addons.kube_proxy),
            deletion_protection=args.protect,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group], protect=args.protect),
        )

        # The private endpoint answers only what the cluster security group lets in: the deploy
        # runners' and VPN networks from config. One rule per network, keyed by it, so adding
        # one leaves the others alone.
        api_rules = [
            aws.ec2.SecurityGroupRule(
                f"{name}-api-from-{cidr_key(cidr)}",
                type="ingress",
                security_group_id=self.eks_cluster.cluster_security_group_id,
                protocol="tcp",
                from_port=443,
                to_port=443,
                cidr_blocks=[cidr],
                description=f"Kubernetes API from {cidr} (cluster.endpoint.privateAccessCidrs)",
                opts=pulumi.ResourceOptions(parent=self),
            )
            for cidr in cfg.endpoint.private_access_cidrs
        ]

        self.name = args.cluster_name
        self.kubeconfig_json = self.eks_cluster.kubeconfig_json
        self.oidc_provider_arn = self.eks_cluster.oidc_provider_arn
        self.oidc_issuer = self.eks_cluster.oidc_issuer
        self.secrets_key_arn = secrets_key.arn

        # aws-node gets AmazonEKS_CNI_Policy through its own role instead of the node role, so
        # no other pod on a node can manage the VPC's network interfaces (EKS best practice).
        # Pod Identity suits it: "The Amazon VPC CNI plugin also supports Amazon EKS Pod
        # Identities" (AWS user guide, "Configure Amazon VPC CNI plugin to use IRSA"), and the
        # agent, a hostNetwork DaemonSet like aws-node, needs no pod network to serve it.
        namespace, service_account = VPC_CNI_SERVICE_ACCOUNT
        identity = ClusterIdentity(cluster=self.eks_cluster, cluster_name=args.cluster_name,
                                   cluster_arn=args.cluster_arn, oidc_provider_arn=self.oidc_provider_arn,
                                   oidc_issuer=self.oidc_issuer)
        cni_role = WorkloadRole(f"{name}-vpc-cni", WorkloadRoleArgs(
            identity=identity, namespace=namespace, service_account=service_account, kind=args.workload_identity,
            managed_policy_arns=[f"arn:{args.partition}:iam::aws:policy/AmazonEKS_CNI_Policy"],
            tags=tags, addon=True,
        ), opts=pulumi.ResourceOptions(parent=self))
        # Adopts the aws-node DaemonSet EKS installs at creation (OVERWRITE); a DaemonSet, so
        # it is healthy before any node exists.
        if cni_role.kind == "irsa":
            # Tags as a map: the component hands them to aws.eks.Addon as they are, whatever its
            # schema says (pulumi/pulumi-eks#1924).
            self.vpc_cni = eks.VpcCniAddon(
                f"{name}-vpc-cni",
                cluster_name=args.cluster_name,
                addon_version=args.addons.vpc_cni,
                enable_network_policy=True,
                resolve_conflicts_on_create=eks.ResolveConflictsOnCreate.OVERWRITE,
                resolve_conflicts_on_update=eks.ResolveConflictsOnUpdate.OVERWRITE,
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eks_cluster]),
                **cni_role.addon_settings,
            )
        else:
            # What eks.VpcCniAddon makes, plus the association it cannot set (pulumi_eks 4.4): the
            # same add-on, configuration and `preserve` (deleting the resource leaves aws-node
            # running), under the URN the component gave it.
            self.vpc_cni = aws.eks.Addon(
                f"{name}-vpc-cni",
                cluster_name=args.cluster_name,
                addon_name="vpc-cni",
                addon_version=args.addons.vpc_cni,
                configuration_values=json.dumps(VPC_CNI_CONFIGURATION, sort_keys=True, separators=(",", ":")),
                preserve=True,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.eks_cluster], aliases=[
                    pulumi_eks_addon_alias(f"{name}-vpc-cni", "eks:index:VpcCniAddon", self)]),
                **cni_role.addon_settings,
            )

        # Every in-cluster resource gets this provider explicitly, so nothing can fall back to
        # a KUBECONFIG that happens to be set on the machine running `pulumi up`. It waits for
        # the API rules: nothing in-cluster is attempted before the runner can reach the API.
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig_json,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=api_rules),
        )
        self.register_outputs({
            "clusterName": args.cluster_name,
            "oidcProviderArn": self.oidc_provider_arn,
            "secretsKeyArn": secrets_key.arn,
        })
