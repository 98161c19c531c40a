"""An app from a few lines of stack config: a hardened Deployment (or StatefulSet) and
everything around it: ServiceAccount, Secret, Service, HPA, PDB, NetworkPolicy, TLS Ingress,
ServiceMonitor, alert rules and a dashboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.alert_rules import RULE_LABELS, app_alerts, prometheus_rule_spec
from components.app_workload import (
    PORT_NAME,
    app_labels,
    deployment_spec,
    hpa_behavior,
    pdb_spec,
    secret_name,
    selector_labels,
    stateful_set_spec,
)
from components.config.tenancy import AppConfig
from components.dashboards import app_dashboard, dashboard_config_map
from components.irsa import IrsaRole, IrsaRoleArgs
from components.names import (
    DEFAULT_STORAGE_CLASS,
    INGRESS_NAMESPACE,
    MONITORING_NAMESPACE,
    PROMETHEUS_POD_LABELS,
    RETAIN_STORAGE_CLASS,
    TRAEFIK_POD_LABELS,
)
from components.peers import from_namespace, pods_in
from components.platform import PlatformContext
from components.tls_ingress import tls_ingress

HTTPS = [{"protocol": "TCP", "port": 443}]
ANYWHERE = "0.0.0.0/0"


class Peer(NamedTuple):
    """Another app of the same team, and the port it listens on."""

    name: str
    port: int


def api_server_peers(vpc_cidr: str) -> list[dict[str, Any]]:
    """The Kubernetes API, as EKS serves it to pods; its addresses are unknown until the cluster exists.

    A pod dials the `kubernetes` Service's ClusterIP and kube-proxy rewrites it to an EKS-owned ENI
    in the cluster's subnets. The VPC CNI enforces egress before that rewrite and resolves a peer's
    namespace to the ClusterIPs of the Services there, so the `default` namespace (the Service's,
    which runs no pods) names the ClusterIP; CNIs that enforce after the rewrite see an ENI address,
    inside the VPC CIDR. Both only on 443, so the VPC CIDR opens no other port.
    """
    return [from_namespace("default"),
            {"ipBlock": {"cidr": vpc_cidr}}]


def network_policy_spec(app: AppConfig, team: str, dependencies: list[Peer], callers: list[Peer],
                        vpc_cidr: str) -> dict[str, Any]:
    """Exactly the paths this app needs: who may call it on its port, and what it may call."""
    port = [{"protocol": "TCP", "port": app.port}]
    ingress: list[dict[str, Any]] = []
    if app.host:
        ingress.append({"from": [pods_in(INGRESS_NAMESPACE, TRAEFIK_POD_LABELS)], "ports": port})
    if callers:
        ingress.append({"from": [{"podSelector": {"matchLabels": selector_labels(team, c.name)}} for c in callers],
                        "ports": port})
    if app.metrics:
        # Metrics are served on the app port (the ServiceMonitor's endpoint).
        ingress.append({"from": [pods_in(MONITORING_NAMESPACE, PROMETHEUS_POD_LABELS)], "ports": port})
    egress = [{"to": [{"podSelector": {"matchLabels": selector_labels(team, d.name)}}],
               "ports": [{"protocol": "TCP", "port": d.port}]} for d in dependencies]
    if app.service_account_token:
        egress.append({"to": api_server_peers(vpc_cidr), "ports": HTTPS})
    if app.irsa_policy_arns:
        # STS (to trade the token for credentials) and the AWS APIs the policies grant: public
        # endpoints on 443 whose addresses change, or VPC endpoints inside the VPC.
        egress.append({"to": [{"ipBlock": {"cidr": ANYWHERE}}], "ports": HTTPS})
    return {"podSelector": {"matchLabels": selector_labels(team, app.name)}, "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress, "egress": egress}


@dataclass
class AppArgs:
    context: PlatformContext
    """Its retain_volumes: whether a stateful app's volumes outlive their claims when its config
    does not say; its vpc_cidr: where the API server's ENIs are, for apps that call it."""
    config: AppConfig
    team: str
    """The team, which is also the namespace."""
    namespace: pulumi.Resource
    dependencies: list[Peer]
    callers: list[Peer]
    shared_secrets: list[pulumi.Resource] = field(default_factory=list)
    """The Secrets of other apps this app reads (secretRefs): its pods wait for them."""


class App(pulumi.ComponentResource):
    secret: Optional[k8s.core.v1.Secret]

    def __init__(self, name: str, args: AppArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("eks-platform:apps:App", name, None, opts)
        app, team, context = args.config, args.team, args.context
        child = pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=[args.namespace])
        labels = app_labels(team, app.name)

        def meta(object_name: str, extra: Optional[dict[str, str]] = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=team, labels={**labels, **(extra or {})})

        annotations = {}
        if app.irsa_policy_arns:
            role = IrsaRole(f"{name}-irsa", IrsaRoleArgs(
                oidc_provider_arn=context.identity.oidc_provider_arn, oidc_issuer=context.identity.oidc_issuer,
                namespace=team, service_account=app.name, managed_policy_arns=app.irsa_policy_arns, tags=context.tags,
            ), opts=pulumi.ResourceOptions(parent=self))
            annotations["eks.amazonaws.com/role-arn"] = role.arn
        k8s.core.v1.ServiceAccount(
            f"{name}-sa",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=app.name, namespace=team, labels=labels, annotations=annotations),
            # No API token in the pod unless the app calls the Kubernetes API (then the default).
            automount_service_account_token=None if app.service_account_token else False,
            opts=child,
        )
        self.secret = None
        if app.secrets:
            self.secret = k8s.core.v1.Secret(
                f"{name}-secret", metadata=meta(secret_name(app.name)), type="Opaque",
                string_data={key: pulumi.Output.secret(value.get_secret_value()) for key, value in app.secrets.items()},
                opts=child,
            )
        secrets = ([self.secret] if self.secret else []) + args.shared_secrets
        workload_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=secrets))
        if app.autoscaling:
            # The HPA owns the replica count once running; `pulumi up` must not reset it.
            workload_opts = pulumi.ResourceOptions.merge(workload_opts, pulumi.ResourceOptions(
                ignore_changes=["spec.replicas"]))

        headless = f"{app.name}-headless"
        if app.stateful:
            retain = app.stateful.retain_volume if app.stateful.retain_volume is not None else context.retain_volumes
            workload = k8s.apps.v1.StatefulSet(
                f"{name}-statefulset", metadata=meta(app.name),
                spec=stateful_set_spec(app, team, app.name, context.high_availability, headless,
                                       RETAIN_STORAGE_CLASS if retain else DEFAULT_STORAGE_CLASS),
                opts=workload_opts)
            kind = "StatefulSet"
        else:
            workload = k8s.apps.v1.Deployment(
                f"{name}-deployment", metadata=meta(app.name),
                spec=deployment_spec(app, team, app.name, context.high_availability), opts=workload_opts)
            kind = "Deployment"

        service_port = [{"name": PORT_NAME, "port": app.port, "targetPort": PORT_NAME, "protocol": "TCP"}]
        k8s.core.v1.Service(f"{name}-service", metadata=meta(app.name),
                            spec={"type": "ClusterIP", "selector": selector_labels(team, app.name),
                                  "ports": service_port}, opts=child)
        if app.headless_service or app.stateful:
            # Stable per-pod DNS names (a StatefulSet's serviceName).
            k8s.core.v1.Service(f"{name}-headless", metadata=meta(headless),
                                spec={"clusterIP": "None", "selector": selector_labels(team, app.name),
                                      "ports": service_port, "publishNotReadyAddresses": True}, opts=child)

        if app.autoscaling:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-hpa", metadata=meta(app.name), spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": app.name},
                "minReplicas": app.autoscaling.min_replicas, "maxReplicas": app.autoscaling.max_replicas,
                "metrics": [{"type": "Resource", "resource": {"name": resource, "target": {
                    "type": "Utilization", "averageUtilization": target}}}
                    for resource, target in (("cpu", app.autoscaling.cpu_utilization),
                                             ("memory", app.autoscaling.memory_utilization))],
                "behavior": hpa_behavior(app),
            }, opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[workload])))
        k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta(app.name), spec=pdb_spec(app, team),
                                          opts=child)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol", metadata=meta(f"app-{app.name}"),
            spec=network_policy_spec(app, team, args.dependencies, args.callers, context.vpc_cidr), opts=child)
        if app.host:
            tls_ingress(f"{name}-ingress", name=app.name, namespace=team, host=app.host, service_name=app.name,
                        service_port=app.port, issuer=context.default_issuer, labels=labels, opts=child)
        if app.metrics:
            after_crds = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=list(context.monitoring_crds)))
            k8s.apiextensions.CustomResource(
                f"{name}-servicemonitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta(app.name), spec={
                    "selector": {"matchLabels": selector_labels(team, app.name)},
                    "endpoints": [{"port": PORT_NAME, "path": app.metrics.path, "interval": "30s"}],
                }, opts=after_crds)
            k8s.apiextensions.CustomResource(
                f"{name}-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=meta(f"{app.name}-alerts", RULE_LABELS),
                spec=prometheus_rule_spec(f"{team}.{app.name}", app_alerts(
                    team, app.name, app.metrics.error_ratio, app.metrics.latency_seconds, "5m", "10m")),
                opts=after_crds)
        dashboard_config_map(f"{name}-dashboard", f"dashboard-{app.name}", team, app_dashboard(team, app.name), child)
        self.register_outputs({})
