"""The Gateway API through Traefik: the platform's GatewayClass and its one shared Gateway.

The platform owns the Gateway (in the `ingress` namespace), so a team never writes a listener:
each app host gets an HTTPS listener, named after the host, with its own cert-manager
certificate, admitting HTTPRoutes from the owning team's namespace only. The Gateway itself
refuses an HTTPRoute from another namespace for that host, whatever the policy pack says.

Every app host gets its listener as soon as the Gateway is on, not only hosts on `route:
httproute`: the certificate is issued while the app is still served by its Ingress, so moving
the app to an HTTPRoute later serves TLS from the first request (docs/runbook.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.charts import MANIFESTS
from components.config.tenancy import TeamConfig
from components.names import (
    GATEWAY_API_VERSION,
    GATEWAY_CLASS,
    GATEWAY_CONTROLLER,
    GATEWAY_NAME,
    INGRESS_NAMESPACE,
    NAMESPACE_NAME_LABEL,
    TRAEFIK_WEBSECURE_PORT,
)
from components.platform import PlatformContext

GATEWAY_GROUP = GATEWAY_API_VERSION.split("/")[0]
GATEWAY_API_CRDS = MANIFESTS["gateway-api-crds"]
# cert-manager labels what it makes for a Certificate with the Certificate's name: a label
# value, so at most 63 characters.
_MAX_CERTIFICATE_NAME = 63


def gateway_api_crds(resource_name: str, opts: pulumi.ResourceOptions) -> k8s.yaml.v2.ConfigFile:
    """The pinned Gateway API CRDs (standard channel). Applied server-side, as the Pulumi
    Kubernetes provider does by default: HTTPRoute's CRD is too large for client-side apply."""
    return k8s.yaml.v2.ConfigFile(resource_name, file=GATEWAY_API_CRDS.url, opts=opts)


@dataclass(frozen=True)
class GatewayHost:
    """An app host the shared Gateway serves, and the team (namespace) that owns it."""

    team: str
    app: str
    host: str


def gateway_hosts(teams: list[TeamConfig]) -> list[GatewayHost]:
    return [GatewayHost(team.name, app.name, app.host) for team in teams for app in team.apps if app.host]


def certificate_name(host: GatewayHost) -> str:
    """`<team>-<app>`, shortened with a hash of both when the label limit demands it."""
    name = f"{host.team}-{host.app}"
    if len(name) <= _MAX_CERTIFICATE_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:_MAX_CERTIFICATE_NAME - len(digest) - 1].rstrip('-')}-{digest}"


def certificate_secret_name(host: GatewayHost) -> str:
    return f"{certificate_name(host)}-tls"


def listener_name(host: GatewayHost) -> str:
    """The host itself: an HTTPRoute's parentRef names it as sectionName (http_route_spec)."""
    return host.host


def certificate_spec(host: GatewayHost, issuer: str) -> dict[str, Any]:
    return {
        "secretName": certificate_secret_name(host),
        "dnsNames": [host.host],
        "issuerRef": {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer},
    }


def listener(host: GatewayHost) -> dict[str, Any]:
    return {
        "name": listener_name(host),
        "hostname": host.host,
        "port": TRAEFIK_WEBSECURE_PORT,
        "protocol": "HTTPS",
        # The Secret is in the Gateway's namespace (the Certificate's), so no ReferenceGrant.
        "tls": {"mode": "Terminate",
                "certificateRefs": [{"group": "", "kind": "Secret", "name": certificate_secret_name(host)}]},
        # The API server sets this label to the namespace's name; a team cannot claim another's.
        "allowedRoutes": {
            "namespaces": {"from": "Selector", "selector": {"matchLabels": {NAMESPACE_NAME_LABEL: host.team}}},
            "kinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}],
        },
    }


def http_route_spec(host: str, service_name: str, service_port: int) -> dict[str, Any]:
    """An app's route: its host's listener on the shared Gateway, every path to its Service."""
    return {
        "parentRefs": [{"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": INGRESS_NAMESPACE,
                        "name": GATEWAY_NAME, "sectionName": host}],
        "hostnames": [host],
        "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                   "backendRefs": [{"group": "", "kind": "Service", "name": service_name, "port": service_port}]}],
    }


def gateway_spec(hosts: list[GatewayHost]) -> dict[str, Any]:
    # No HTTP listener: Traefik's web entryPoint redirects every request to HTTPS before routing.
    return {"gatewayClassName": GATEWAY_CLASS, "listeners": [listener(h) for h in hosts]}


@dataclass
class GatewayArgs:
    context: PlatformContext
    """Its default_issuer signs every listener's certificate; its gateway_api_crds and
    ingress_controller come first."""
    hosts: list[GatewayHost]
    cert_manager: pulumi.Resource
    """cert-manager and its ClusterIssuers: the Certificates wait for them."""


class Gateway(pulumi.ComponentResource):
    def __init__(self, name: str, args: GatewayArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:traffic:Gateway", name, None, context.layer_options(opts))
        after = pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=[
            *context.gateway_api_crds, *context.ingress_controller, args.cert_manager])
        k8s.apiextensions.CustomResource(
            f"{name}-class", api_version=GATEWAY_API_VERSION, kind="GatewayClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GATEWAY_CLASS), spec={"controllerName": GATEWAY_CONTROLLER},
            opts=after)
        certificates = [k8s.apiextensions.CustomResource(
            f"{name}-{host.team}-{host.app}-certificate", api_version="cert-manager.io/v1", kind="Certificate",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=certificate_name(host), namespace=INGRESS_NAMESPACE),
            spec=certificate_spec(host, context.default_issuer), opts=after) for host in args.hosts]
        # A Gateway must have a listener: with no app host yet, only the class exists.
        if args.hosts:
            k8s.apiextensions.CustomResource(
                f"{name}-gateway", api_version=GATEWAY_API_VERSION, kind="Gateway",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=GATEWAY_NAME, namespace=INGRESS_NAMESPACE),
                spec=gateway_spec(args.hosts),
                opts=pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(depends_on=certificates)))
        self.register_outputs({})
