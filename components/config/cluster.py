"""Stack config for the network, the EKS control plane, node groups, add-ons and autoscaling."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator

from .environments import dev_default
from .karpenter import KarpenterConfig
from .base import (Cidr, DnsLabel, Duration, IamPrincipalArn, LabelKey, LabelValue, QuotedString, StrictModel,
                   TaintConfig, pattern)

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                      1096, 1827, 2192, 2557, 2922, 3288, 3653)

# A VPC may use any range, but a public one would shadow real internet addresses: accept the
# RFC 1918 ranges and RFC 6598 shared space (100.64.0.0/10), which AWS also allows for VPCs.
VPC_PRIVATE_RANGES = tuple(ipaddress.IPv4Network(block) for block in
                           ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"))

# EKS service quota "Nodes per managed node group": 450 by default (Amazon EKS User Guide,
# "Amazon EKS service quotas"). Adjustable; split into more groups rather than going past it.
MAX_NODES_PER_MANAGED_NODE_GROUP = 450

InstanceType = Annotated[str, pattern(r"[a-z][a-z0-9-]*[0-9][a-z0-9-]*\.[a-z0-9]+(-[a-z0-9]+)*",
                                      "an EC2 instance type in family.size form", "m6i.large")]

# Every control-plane log type EKS offers; all are always on (CIS EKS 2.1.1).
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


class FlowLogsConfig(StrictModel):
    """VPC flow logs: every accepted and rejected connection of the VPC's network interfaces."""

    enabled: bool = True
    """Turn VPC flow logs off only where no one will ever investigate traffic."""
    destination: Literal["cloudwatch", "s3"] = "cloudwatch"
    """'cloudwatch': a log group (queryable with Logs Insights); 's3': a private, encrypted bucket
    (cheaper for long retention, queried with Athena)."""
    retention_days: int = Field(90, ge=1)
    """CloudWatch: one of its retention periods; S3: days before the lifecycle rule expires a log."""
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Which connections to log: ALL, only ACCEPTed or only REJECTed ones."""

    @model_validator(mode="after")
    def _cloudwatch_retention(self) -> "FlowLogsConfig":
        if self.destination == "cloudwatch" and self.retention_days not in LOG_RETENTION_DAYS:
            raise ValueError(f"retentionDays {self.retention_days} is not one of CloudWatch's retention "
                             f"periods: {list(LOG_RETENTION_DAYS)}")
        return self


class NetworkConfig(StrictModel):
    """The VPC the cluster lives in."""

    cidr: Cidr = "10.0.0.0/16"
    """VPC CIDR, /16 to /20, in RFC 1918 or 100.64.0.0/10 space; split into one public and one
    private subnet per AZ."""
    az_count: int = Field(3, ge=2, le=6)
    """Availability zones to spread subnets over (dev: 2, prod: 3)."""
    nat_gateways: Literal["single", "perAz"] = "perAz"
    """'perAz' survives the loss of a zone; 'single' is cheaper (dev)."""
    flow_logs: FlowLogsConfig = Field(default_factory=FlowLogsConfig)
    """VPC flow logs (CIS AWS 3.9): who talked to what, kept for retentionDays."""

    @field_validator("cidr")
    @classmethod
    def _private_and_room_for_subnets(cls, value: str) -> str:
        network = ipaddress.IPv4Network(value)
        if not any(network.subnet_of(block) for block in VPC_PRIVATE_RANGES):
            raise ValueError(f"must lie in a private range ({', '.join(map(str, VPC_PRIVATE_RANGES))}), "
                             "e.g. '10.0.0.0/16'")
        if network.prefixlen < 16:
            raise ValueError("is larger than AWS allows: a VPC CIDR is /16 to /28 (e.g. '10.0.0.0/16')")
        if network.prefixlen > 20:
            raise ValueError("must be a /16 to /20 (AWS allows down to /28, but each AZ needs a public and "
                             "a large private subnet for pod IPs), e.g. '10.0.0.0/16'")
        return value


class EndpointConfig(StrictModel):
    """Who can reach the Kubernetes API endpoint."""

    public_access: bool = False
    """Public endpoint on/off. Prod keeps it off: the API is reachable only from the VPC."""
    public_access_cidrs: list[Cidr] = Field(default_factory=list, max_length=40)
    """CIDRs allowed to the public endpoint; required when publicAccess is true (EKS takes at most 40)."""
    private_access_cidrs: list[Cidr] = Field(default_factory=list)
    """Networks allowed to reach the private endpoint (port 443): the subnets of the runners that
    deploy (self-hosted or CodeBuild runners in the VPC) and your VPN. Each becomes an ingress rule
    on the cluster security group; required when publicAccess is false."""

    @model_validator(mode="after")
    def _cidrs_with_public(self) -> "EndpointConfig":
        if self.public_access and not self.public_access_cidrs:
            raise ValueError("publicAccess: true needs publicAccessCidrs (e.g. your office or VPN CIDR)")
        if not self.public_access and self.public_access_cidrs:
            raise ValueError("publicAccessCidrs is set but publicAccess is false; remove one of them")
        return self


class ClusterConfig(StrictModel):
    """The EKS control plane."""

    kubernetes_version: QuotedString
    """Kubernetes minor version, quoted ("1.35"). Nodes, the autoscaler image and the Pod
    Security labels follow it; the add-on pins (`addons`) must match it (checked at load)."""
    upgrade_policy: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    """What EKS does when the version leaves standard support: STANDARD upgrades the control
    plane automatically, EXTENDED keeps it and bills extended support. EKS defaults to EXTENDED."""
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig)
    log_retention_days: int = 90
    """Retention of the control-plane log group /aws/eks/<cluster>/cluster."""
    admins: list[IamPrincipalArn] = Field(default_factory=list)
    """People's IAM roles/users given cluster-admin (AmazonEKSClusterAdminPolicy) by access entries."""
    deployers: list[IamPrincipalArn] = Field(default_factory=list)
    """CI roles that run `pulumi up` (cluster-admin: they install CRDs, namespaces, RBAC). Never the
    principal that created the cluster: EKS already gave it an entry, a second one fails (409)."""
    previewers: list[IamPrincipalArn] = Field(default_factory=list)
    """CI roles that run `pulumi preview`: AmazonEKSAdminViewPolicy (read-only, Secrets included,
    which Helm keeps its releases in)."""
    creator: Optional[IamPrincipalArn] = None
    """The IAM role or user that runs the first `pulumi up` (the cluster's creator). pulumi-eks
    always grants it cluster-admin (bootstrapClusterCreatorAdminPermissions), so it may not be
    listed in admins, deployers, previewers or a team; stating it lets `make plan` check that."""
    protect: bool = dev_default("cluster.protect")
    """Protect the cluster, its KMS key and its control-plane log group: Pulumi refuses to delete
    them (`protect`) and so does EKS (the cluster's deletion protection). To tear a protected stack
    down, set false and `pulumi up` first (docs/runbook.md)."""

    @field_validator("kubernetes_version")
    @classmethod
    def _minor_version(cls, value: str) -> str:
        if not re.fullmatch(r"1\.\d{2}", value, re.ASCII):
            raise ValueError('must be a Kubernetes minor version such as "1.35"')
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of CloudWatch's retention periods: {list(LOG_RETENTION_DAYS)}")
        return value


class NodeGroupConfig(StrictModel):
    """One group of nodes: an EKS managed node group in each availability zone.

    One node group per zone, not one across zones: a pod bound to a zonal EBS volume or spread
    hard by zone needs a node in *that* zone, and cluster-autoscaler can only add one where a
    node group lives in that zone alone. `balance-similar-node-groups` keeps the zones even.
    """

    name: DnsLabel
    """Also the node label `eks-platform/node-group`; at most 16 characters (EKS node group
    names are `<cluster>-<group>-<zone>-` plus a 26-character unique suffix, 63 in all)."""
    instance_types: list[InstanceType] = Field(min_length=1)
    """EC2 instance types in `family.size` form, e.g. m6i.large; several widen SPOT capacity."""
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    """SPOT in dev (cheap, interruptible); ON_DEMAND in prod."""
    min_size: int = Field(ge=0)
    """Per availability zone: the group has network.azCount times as many nodes in all."""
    desired_size: int = Field(ge=0)
    """Per availability zone, at creation only (cluster-autoscaler owns it afterwards)."""
    max_size: int = Field(ge=1, le=MAX_NODES_PER_MANAGED_NODE_GROUP)
    """Per availability zone (each zone's group is one EKS managed node group)."""
    ami_type: Literal["AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD",
                      "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"] = "AL2023_x86_64_STANDARD"
    """Node OS image; AL2 is not offered for Kubernetes 1.33 and later."""
    disk_size_gib: int = Field(50, ge=20, le=16384)  # launch template EBS: gp3 up to 16,384 GiB
    """Encrypted gp3 root volume size."""
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    """Kubernetes labels on the nodes."""
    taints: list[TaintConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sizes_ordered(self) -> "NodeGroupConfig":
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"sizes must satisfy minSize <= desiredSize <= maxSize "
                f"(given {self.min_size} / {self.desired_size} / {self.max_size})"
            )
        return self


AddonVersion = Annotated[str, pattern(r"v\d+\.\d+\.\d+-eksbuild\.\d+", "an EKS add-on version",
                                       "v1.20.1-eksbuild.3")]


class AddonVersionsConfig(StrictModel):
    """EKS managed add-on versions, pinned for Kubernetes 1.35.

    Where each default comes from (AWS EKS user guide, "latest version of the Amazon EKS add-on
    type for each Kubernetes version" tables, as read in 2026): kube-proxy and CoreDNS from
    managing-kube-proxy / managing-coredns (rows 1.35). The VPC CNI and EBS CSI driver tables
    list one build for every supported minor; the builds below are the ones AWS listed for 1.35
    at the time. Before moving a pin, confirm it with
    `aws eks describe-addon-versions --kubernetes-version <minor> --addon-name <name>`.
    """

    vpc_cni: AddonVersion = "v1.21.1-eksbuild.8"
    """Any minor EKS supports (AWS lists the same build for all)."""
    coredns: AddonVersion = "v1.14.3-eksbuild.3"
    """A CoreDNS line AWS lists for the cluster's Kubernetes minor (COREDNS_LINES)."""
    kube_proxy: AddonVersion = "v1.35.3-eksbuild.13"
    """Must be the cluster's Kubernetes minor (v<minor>.x-eksbuild.n)."""
    ebs_csi_driver: AddonVersion = "v1.55.0-eksbuild.2"
    """Any minor EKS supports."""
    metrics_server_replicas: int = Field(dev_default("addons.metricsServerReplicas"), ge=1, le=10)
    """Replicas of metrics-server (installed with the add-ons from its Helm chart; the HPAs read
    it); more than one also gets a disruption budget. At least 2 in prod and with highAvailability."""
    pod_identity_agent: AddonVersion = "v1.3.10-eksbuild.3"
    """EKS Pod Identity agent (a DaemonSet). AWS's user guide has no version table for it: this is
    the build public EKS stacks for Kubernetes 1.35 pin (found by code search, beside kube-proxy
    v1.35.3 builds; one reports it as AWS's default for 1.35). Any minor EKS supports. Confirm with
    `aws eks describe-addon-versions --addon-name eks-pod-identity-agent --kubernetes-version 1.35`."""


# The CoreDNS lines AWS's managing-coredns tables have listed for each Kubernetes minor (a
# minor missing here is not checked). kube-proxy needs no table: its minor is the cluster's.
COREDNS_LINES = {
    "1.32": ("1.11",),
    "1.33": ("1.12", "1.13"),
    "1.34": ("1.12", "1.13"),
    "1.35": ("1.13", "1.14"),
    "1.36": ("1.14",),
}


def _minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


def addon_version_issues(addons: AddonVersionsConfig, kubernetes_version: str) -> list[tuple[str, str]]:
    """(key, message) for each add-on pin that cannot run on `kubernetes_version`."""
    issues = []
    if _minor(addons.kube_proxy) != kubernetes_version:
        issues.append(("addons.kubeProxy", (
            f"{addons.kube_proxy} is for Kubernetes {_minor(addons.kube_proxy)}, but cluster.kubernetesVersion is "
            f"{kubernetes_version}; pin the kube-proxy build AWS lists for {kubernetes_version} "
            f"(v{kubernetes_version}.x-eksbuild.n, see `aws eks describe-addon-versions --addon-name kube-proxy`)")))
    lines = COREDNS_LINES.get(kubernetes_version)
    if lines and _minor(addons.coredns) not in lines:
        issues.append(("addons.coredns", (
            f"{addons.coredns} is not a CoreDNS line AWS lists for Kubernetes {kubernetes_version} "
            f"(it lists v{' and v'.join(lines)}); pin one of those builds")))
    return issues


# EKS node group names have at most 63 characters; with a name prefix the AWS provider adds a
# 26-character unique suffix, so the prefix may have 37.
NODE_GROUP_PREFIX_MAX = 63 - 26


def node_group_name_prefix(cluster_name: str, group: str, zone: str) -> str:
    """`<cluster>-<group>-<zone letter>-`: every replacement gets a new unique name after it."""
    return f"{cluster_name}-{group}-{zone[-1]}-"


def node_group_name_issues(groups: list[NodeGroupConfig], cluster_name: str) -> list[tuple[str, str]]:
    issues = []
    for index, group in enumerate(groups):
        prefix = node_group_name_prefix(cluster_name, group.name, "a")
        if len(prefix) > NODE_GROUP_PREFIX_MAX:
            room = NODE_GROUP_PREFIX_MAX - len(prefix) + len(group.name)
            issues.append((f"nodeGroups[{index}].name", (
                f"{group.name!r} is too long: EKS node group names are '{prefix}' plus a 26-character "
                f"unique suffix, at most 63 characters; use at most {room} characters")))
    return issues


# cluster-autoscaler releases one minor per Kubernetes minor and supports only that one
# (registry.k8s.io/autoscaling/cluster-autoscaler tags; the newest patch of each line).
AUTOSCALER_IMAGE_TAGS = {"1.33": "v1.33.0", "1.34": "v1.34.0", "1.35": "v1.35.2", "1.36": "v1.36.1"}


class AutoscalerConfig(StrictModel):
    """Who adds and removes nodes: cluster-autoscaler (scales the managed node groups) or Karpenter
    (launches nodes for pending pods from its NodePools; `karpenter` below)."""

    kind: Literal["cluster-autoscaler", "karpenter"] = "cluster-autoscaler"
    """Which node autoscaler runs: cluster-autoscaler (scales nodeGroups) or karpenter (launches
    nodes for autoscaler.karpenter.nodePools)."""
    karpenter: KarpenterConfig = Field(default_factory=KarpenterConfig)
    """Used when kind is karpenter; the keys below are cluster-autoscaler's."""

    expander: Literal["least-waste", "random", "most-pods", "priority", "price"] = "least-waste"
    """How cluster-autoscaler picks the node group to grow."""
    scale_down_unneeded_time: Duration = "10m"
    """How long a node must be unneeded before it is removed."""
    scale_down_delay_after_add: Duration = "10m"
    """Pause after a scale-up before any scale-down is considered."""
    scale_down_utilization_threshold: float = Field(0.5, gt=0, lt=1)
    """A node whose requests use less than this share of it may be removed."""
    image_tag: Optional[Annotated[str, pattern(r"v\d+\.\d+\.\d+", "a cluster-autoscaler image tag",
                                               "v1.33.0")]] = None
    """Override of the image tag; by default it follows the cluster's Kubernetes minor."""
