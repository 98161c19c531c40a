"""Stack config for the network, the EKS control plane, node groups, add-ons and autoscaling."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator

from .base import Cidr, DnsLabel, Duration, IamPrincipalArn, QuotedString, StrictModel, pattern

# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
                      1096, 1827, 2192, 2557, 2922, 3288, 3653)

# Every control-plane log type EKS offers; all are always on (CIS EKS 2.1.1).
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


class NetworkConfig(StrictModel):
    """The VPC the cluster lives in."""

    cidr: Cidr = "10.0.0.0/16"
    """VPC CIDR; split into one public and one private subnet per AZ."""
    az_count: int = Field(3, ge=2, le=6)
    """Availability zones to spread subnets over (dev: 2, prod: 3)."""
    nat_gateways: Literal["single", "perAz"] = "perAz"
    """'perAz' survives the loss of a zone; 'single' is cheaper (dev)."""

    @field_validator("cidr")
    @classmethod
    def _room_for_subnets(cls, value: str) -> str:
        prefix = int(value.split("/")[1])
        if prefix > 20:
            raise ValueError("must be a /20 or larger so each AZ gets a public and a private subnet")
        return value


class EndpointConfig(StrictModel):
    """Who can reach the Kubernetes API endpoint."""

    public_access: bool = False
    """Public endpoint on/off. Prod keeps it off: the API is reachable only from the VPC."""
    public_access_cidrs: list[Cidr] = Field(default_factory=list)
    """CIDRs allowed to the public endpoint; required when publicAccess is true."""

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
    """Kubernetes minor version, quoted ("1.33"). Add-on and autoscaler versions follow it."""
    endpoint: EndpointConfig = Field(default_factory=EndpointConfig)
    log_retention_days: int = 90
    """Retention of the control-plane log group /aws/eks/<cluster>/cluster."""
    admins: list[IamPrincipalArn] = Field(default_factory=list)
    """IAM roles/users mapped to cluster-admin through EKS access entries."""

    @field_validator("kubernetes_version")
    @classmethod
    def _minor_version(cls, value: str) -> str:
        if not re.fullmatch(r"1\.\d{2}", value, re.ASCII):
            raise ValueError('must be a Kubernetes minor version such as "1.33"')
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of CloudWatch's retention periods: {list(LOG_RETENTION_DAYS)}")
        return value


class TaintConfig(StrictModel):
    key: str
    value: str = ""
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]


class NodeGroupConfig(StrictModel):
    """One EKS managed node group."""

    name: DnsLabel
    instance_types: list[str] = Field(min_length=1)
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    """SPOT in dev (cheap, interruptible); ON_DEMAND in prod."""
    min_size: int = Field(ge=0)
    desired_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    ami_type: Literal["AL2023_x86_64_STANDARD", "AL2023_ARM_64_STANDARD",
                      "BOTTLEROCKET_x86_64", "BOTTLEROCKET_ARM_64"] = "AL2023_x86_64_STANDARD"
    """Node OS image; AL2 is not offered for Kubernetes 1.33 and later."""
    disk_size_gib: int = Field(50, ge=20, le=16384)
    """Encrypted gp3 root volume size."""
    labels: dict[str, str] = Field(default_factory=dict)
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
    """EKS managed add-on versions, pinned (check with `aws eks describe-addon-versions`)."""

    vpc_cni: AddonVersion = "v1.20.1-eksbuild.3"
    coredns: AddonVersion = "v1.12.3-eksbuild.1"
    kube_proxy: AddonVersion = "v1.33.0-eksbuild.2"
    ebs_csi_driver: AddonVersion = "v1.48.0-eksbuild.1"


# cluster-autoscaler releases one minor per Kubernetes minor and supports only that one.
AUTOSCALER_IMAGE_TAGS = {"1.33": "v1.33.0", "1.34": "v1.34.0", "1.35": "v1.35.0"}


class AutoscalerConfig(StrictModel):
    """cluster-autoscaler behaviour."""

    expander: Literal["least-waste", "random", "most-pods", "priority", "price"] = "least-waste"
    scale_down_unneeded_time: Duration = "10m"
    scale_down_delay_after_add: Duration = "10m"
    scale_down_utilization_threshold: float = Field(0.5, gt=0, lt=1)
    image_tag: Optional[Annotated[str, pattern(r"v\d+\.\d+\.\d+", "a cluster-autoscaler image tag",
                                               "v1.33.0")]] = None
    """Override of the image tag; by default it follows the cluster's Kubernetes minor."""
