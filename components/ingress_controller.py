"""Traefik: the platform's only ingress controller, behind the platform's only load balancer.

Chosen over ingress-nginx, which was retired in March 2026. Traefik serves the standard
Ingress API app teams already write, and the Gateway API when a team needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from components.charts import pinned_release
from components.config.services import IngressConfig
from components.hardening import (
    RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    RESTRICTED_POD_SECURITY_CONTEXT,
    spread_constraints,
)
from components.names import INGRESS_CLASS
from components.names import INGRESS_NAMESPACE as NAMESPACE
from components.names import TRAEFIK_POD_LABELS as POD_LABELS
from components.namespaces import labelled_namespace
from components.platform import PlatformContext

RELEASE = "traefik"


def nlb_annotations(scheme: str, tags: dict[str, str]) -> dict[str, str]:
    """An AWS NLB through the in-tree cloud provider's Service annotations: no extra controller
    to run, and cross-zone balancing so a zone with fewer replicas is not overloaded."""
    annotations = {
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
        "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags":
            ",".join(f"{key}={value}" for key, value in sorted(tags.items())),
    }
    if scheme == "internal":
        annotations["service.beta.kubernetes.io/aws-load-balancer-internal"] = "true"
    return annotations


def traefik_values(config: IngressConfig, high_availability: bool, tags: dict[str, str]) -> dict[str, Any]:
    replicas = config.replicas
    return {
        "deployment": {"replicas": replicas},
        # A drain takes one replica at a time; with one replica a PDB would block every drain.
        "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
        "topologySpreadConstraints": spread_constraints(POD_LABELS, high_availability),
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
        "providers": {"kubernetesIngress": {"enabled": True, "publishedService": {"enabled": True}}},
        "ports": {
            # Port 80 only redirects. Let's Encrypt follows the redirect for HTTP-01 challenges
            # and does not check the certificate it meets on 443.
            "web": {"http": {"redirections": {"entryPoint": {
                "to": "websecure", "scheme": "https", "permanent": True}}}},
            "websecure": {"http": {"tls": {"enabled": True}}},
        },
        "service": {
            "annotations": nlb_annotations(config.load_balancer_scheme, tags),
            # Keeps the client's address and skips a second hop between nodes.
            "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
        },
        "metrics": {"prometheus": {
            "service": {"enabled": True},
            "serviceMonitor": {"enabled": True, "interval": "30s"},
        }},
        "resources": config.resources.as_kubernetes(),
        # Traefik's image user (the chart's default, kept explicit).
        "podSecurityContext": {**RESTRICTED_POD_SECURITY_CONTEXT, "runAsUser": 65532, "runAsGroup": 65532},
        "securityContext": RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    }


@dataclass
class IngressControllerArgs:
    context: PlatformContext
    """Its monitoring_crds: the chart creates a ServiceMonitor."""
    config: IngressConfig


class IngressController(pulumi.ComponentResource):
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: IngressControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:traffic:IngressController", name, None, context.layer_options(opts))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        namespace = labelled_namespace(f"{name}-namespace", NAMESPACE, "restricted", context.kubernetes_version,
                                       in_cluster)
        values = traefik_values(args.config, context.high_availability, context.tags)
        self.release = pinned_release(
            f"{name}-traefik", "traefik", namespace.metadata.name, values,
            pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                depends_on=[namespace, *context.monitoring_crds])),
            release_name=RELEASE,
        )
        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})
