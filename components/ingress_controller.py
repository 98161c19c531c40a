"""Traefik: the platform's only ingress controller, behind the platform's only load balancer.

Chosen over ingress-nginx, which was retired in March 2026. Traefik serves the standard
Ingress API app teams already write, and, with ingress.gateway on, the Gateway API (its CRDs are
installed here; the platform's Gateway is components/gateway.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from components.charts import pinned_release
from components.config.services import IngressConfig
from components.gateway import gateway_api_crds
from components.hardening import (
    RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    RESTRICTED_POD_SECURITY_CONTEXT,
    spread_constraints,
)
from components.names import INGRESS_CLASS, NLB_LOAD_BALANCER_CLASS, POD_READINESS_GATE_LABEL
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


def controller_nlb_annotations(scheme: str, tags: dict[str, str]) -> dict[str, str]:
    """An NLB through the AWS Load Balancer Controller's Service annotations
    (docs/guide/service/annotations.md at v3.5.0). Targets are Traefik's pod IPs (the VPC CNI
    gives pods VPC addresses): no NodePort hop, and the NLB health-checks each pod on its traffic
    port. The controller gives the NLB a security group and lets only that group reach the pods'
    ports."""
    annotations = {
        # Also keeps the in-tree provider off the Service should the class ever be dropped.
        "service.beta.kubernetes.io/aws-load-balancer-type": "external",
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
        # The controller's default is internal.
        "service.beta.kubernetes.io/aws-load-balancer-scheme": scheme,
        "service.beta.kubernetes.io/aws-load-balancer-attributes": "load_balancing.cross_zone.enabled=true",
        "service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags":
            ",".join(f"{key}={value}" for key, value in sorted(tags.items())),
    }
    if scheme == "internet-facing":
        # IP targets see the NLB's address unless the target group keeps the client's. Not for an
        # internal NLB: an NLB that keeps client addresses cannot loop a connection back to the
        # node it came from (no NAT loopback), and in-VPC clients, pods included, would then time
        # out on nodes that run Traefik. Pods reach an internet-facing NLB through the NAT gateways.
        annotations["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"] = \
            "preserve_client_ip.enabled=true"
    return annotations


def traefik_service(config: IngressConfig, tags: dict[str, str]) -> dict[str, Any]:
    if config.load_balancer_controller.enabled:
        return {
            "annotations": controller_nlb_annotations(config.load_balancer_scheme, tags),
            # With IP targets the NLB reaches pods directly: no NodePorts are opened on the nodes,
            # and externalTrafficPolicy (which only steers NodePort traffic) keeps its default.
            "spec": {"type": "LoadBalancer", "loadBalancerClass": NLB_LOAD_BALANCER_CLASS,
                     "allocateLoadBalancerNodePorts": False},
        }
    return {
        "annotations": nlb_annotations(config.load_balancer_scheme, tags),
        # Keeps the client's address and skips a second hop between nodes.
        "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
    }


def traefik_values(config: IngressConfig, high_availability: bool, tags: dict[str, str]) -> dict[str, Any]:
    replicas = config.replicas
    values: dict[str, Any] = {
        "deployment": {"replicas": replicas},
        # A drain takes one replica at a time; with one replica a PDB would block every drain.
        "podDisruptionBudget": {"enabled": replicas > 1, "maxUnavailable": 1},
        "topologySpreadConstraints": spread_constraints(POD_LABELS, high_availability),
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
        "providers": {"kubernetesIngress": {"enabled": True, "publishedService": {"enabled": True}},
                      **({"kubernetesGateway": {"enabled": True}} if config.gateway.enabled else {})},
        "ports": {
            # Port 80 only redirects. Let's Encrypt follows the redirect for HTTP-01 challenges
            # and does not check the certificate it meets on 443.
            "web": {"http": {"redirections": {"entryPoint": {
                "to": "websecure", "scheme": "https", "permanent": True}}}},
            "websecure": {"http": {"tls": {"enabled": True}}},
        },
        "service": traefik_service(config, tags),
        "metrics": {"prometheus": {
            "service": {"enabled": True},
            "serviceMonitor": {"enabled": True, "interval": "30s"},
        }},
        "resources": config.resources.as_kubernetes(),
        # Traefik's image user (the chart's default, kept explicit).
        "podSecurityContext": {**RESTRICTED_POD_SECURITY_CONTEXT, "runAsUser": 65532, "runAsGroup": 65532},
        "securityContext": RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    }
    if config.gateway.enabled:
        # The chart would add its own GatewayClass and a Gateway admitting routes from its own
        # namespace; the platform owns both (components/gateway.py).
        values["gateway"] = {"enabled": False}
        values["gatewayClass"] = {"enabled": False}
    return values


@dataclass
class IngressControllerArgs:
    context: PlatformContext
    """Its monitoring_crds: the chart creates a ServiceMonitor."""
    config: IngressConfig
    load_balancer_controller: Optional[pulumi.Resource] = None
    """The AWS Load Balancer Controller's release, when config.loadBalancerController is on:
    Traefik's Service is created after it (it makes the NLB Helm waits for) and deleted before it
    (so it can still delete the NLB and its security groups)."""


class IngressController(pulumi.ComponentResource):
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: IngressControllerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:traffic:IngressController", name, None, context.layer_options(opts))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        controller = args.load_balancer_controller
        if args.config.load_balancer_controller.enabled != (controller is not None):
            raise ValueError("IngressControllerArgs.load_balancer_controller is the controller's release exactly "
                             "when ingress.loadBalancerController.enabled")
        # Pods behind the controller's NLB become ready only once the NLB sees them healthy, so a
        # rollout never leaves the NLB with targets that are all still registering.
        labels = {POD_READINESS_GATE_LABEL: "enabled"} if controller else None
        namespace = labelled_namespace(f"{name}-namespace", NAMESPACE, "restricted", context.kubernetes_version,
                                       in_cluster, labels=labels)
        values = traefik_values(args.config, context.high_availability, context.tags)
        # Traefik's Gateway provider watches the Gateway API kinds from its start: their CRDs first.
        self.gateway_api_crds: tuple[pulumi.Resource, ...] = (
            gateway_api_crds(f"{name}-gateway-api-crds", in_cluster),) if args.config.gateway.enabled else ()
        self.release = pinned_release(
            f"{name}-traefik", "traefik", namespace.metadata.name, values,
            pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                depends_on=[namespace, *context.monitoring_crds, *self.gateway_api_crds,
                            *([controller] if controller else [])])),
            release_name=RELEASE,
            # Each rolled pod waits for the NLB to register it and pass its health checks.
            timeout_seconds=900 if controller else 600,
        )
        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})
