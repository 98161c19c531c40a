"""What every in-cluster layer shares, built once in `__main__.py` and handed to each layer.

A layer's Args carry this context and the layer's own config, nothing else that every layer
also needs: adding a layer is one line in `__main__.py`, not another copy of the provider,
the identity, the tags and the environment's flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config.base import WorkloadIdentity
from components.workload_identity import ClusterIdentity


@dataclass(frozen=True)
class PlatformContext:
    provider: k8s.Provider
    """Every in-cluster object is created through it (the cluster's kubeconfig)."""
    identity: ClusterIdentity
    """How a workload gets AWS credentials: the OIDC provider for IRSA, the cluster for Pod Identity."""
    kubernetes_version: str
    partition: str
    region: str
    vpc_cidr: str
    """Where EKS puts the API server's ENIs: NetworkPolicies that let a pod call the API name it."""
    tags: dict[str, str]
    high_availability: bool
    """Replicas spread over zones as a rule, not a preference (highAvailability; its replica counts are
    each layer's own config)."""
    retain_volumes: bool
    """Whether volumes outlive their claims when an app's config does not say (prod)."""
    default_issuer: str
    """The ClusterIssuer every TLS Ingress names (cert-manager's config)."""
    workload_identity: WorkloadIdentity
    """The stack's `workloadIdentity`: the kind of every WorkloadRole a layer makes, unless AWS
    says a workload must stay on IRSA or an app's config says otherwise."""
    waits_for: tuple[pulumi.Resource, ...] = ()
    """What in-cluster layers wait for: nodes, add-ons, the Pod Identity agent, extra capacity.
    A layer that waits for them is destroyed before them, so its controllers can still clean up."""
    monitoring_crds: tuple[pulumi.Resource, ...] = ()
    """The release that installs the ServiceMonitor and PrometheusRule CRDs (Monitoring's)."""
    ingress_controller: tuple[pulumi.Resource, ...] = ()
    """Pulumi awaits an Ingress until a controller serves it: Ingresses wait for Traefik's release."""
    gateway_api_crds: tuple[pulumi.Resource, ...] = ()
    """The pinned Gateway API CRDs (ingress.gateway on): Gateways and HTTPRoutes wait for them."""

    @property
    def cluster_name(self) -> str:
        return self.identity.cluster_name

    def layer_options(self, opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
        """A layer's own options, after what every in-cluster layer waits for."""
        return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(depends_on=list(self.waits_for)), opts)
