"""An app from a few lines of stack config: its workload (a Deployment, StatefulSet or CronJob,
one row of components/app_kinds.py) and everything around it: ServiceAccount, Secret, Service,
HPA, PDB, NetworkPolicy, TLS Ingress (or HTTPRoute), ServiceMonitor, alert rules and a dashboard.

This module is the wiring only: which objects exist, their names, options and dependencies.
Every spec comes from a pure function (app_workload.py, app_specs.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.alert_rules import RULE_LABELS
from components.app_features import (AUTOSCALING, DISRUPTION_BUDGET, EXPOSURE, HEADLESS_SERVICE, METRICS,
                                     SERVICE)
from components.app_kinds import WorkloadPlacement, features_in_use, kind_of
from components.app_specs import (Peer, alert_rules_spec, headless_service_spec, hpa_spec, network_policy_spec,
                                  service_monitor_spec, service_spec)
from components.app_workload import app_labels, headless_service_name, pdb_spec, secret_name
from components.config.tenancy import AppConfig
from components.dashboards import app_dashboard, dashboard_config_map
from components.gateway import http_route_spec
from components.names import GATEWAY_API_VERSION
from components.platform import PlatformContext
from components.tls_ingress import tls_ingress
from components.workload_identity import WorkloadRole, WorkloadRoleArgs


def _tls_ingress(name: str, app: AppConfig, team: str, context: PlatformContext, labels: dict[str, str],
                 opts: pulumi.ResourceOptions) -> None:
    assert app.host is not None
    tls_ingress(f"{name}-ingress", name=app.name, namespace=team, host=app.host, service_name=app.name,
                service_port=app.port, issuer=context.default_issuer, labels=labels, opts=opts)


def _http_route(name: str, app: AppConfig, team: str, context: PlatformContext, labels: dict[str, str],
                opts: pulumi.ResourceOptions) -> None:
    assert app.host is not None
    k8s.apiextensions.CustomResource(
        f"{name}-httproute", api_version=GATEWAY_API_VERSION, kind="HTTPRoute",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=app.name, namespace=team, labels=labels),
        spec=http_route_spec(app.host, app.name, app.port),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            depends_on=[*context.gateway_api_crds, *context.ingress_controller])))


# How an app's host reaches its Service, by route kind (the app's `route`): one entry each.
EXPOSURES: dict[str, Callable[[str, AppConfig, str, PlatformContext, dict[str, str], pulumi.ResourceOptions],
                              None]] = {"ingress": _tls_ingress, "httproute": _http_route}


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

        annotations: dict[str, pulumi.Input[str]] = {}
        roles: list[pulumi.Resource] = []
        aws_identity = app.aws_identity(context.workload_identity)
        if aws_identity:
            # `-irsa` is the name IRSA roles always had; pods wait for the role and its association.
            role = WorkloadRole(f"{name}-{'irsa' if aws_identity == 'irsa' else 'pod-identity'}", WorkloadRoleArgs(
                identity=context.identity, namespace=team, service_account=app.name, kind=aws_identity,
                managed_policy_arns=app.irsa_policy_arns or app.aws_policy_arns, tags=context.tags,
            ), opts=pulumi.ResourceOptions(parent=self))
            annotations, roles = role.service_account_annotations, [role]
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
        workload_opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=secrets + roles))
        kind, features = kind_of(app), features_in_use(app)
        if AUTOSCALING in features:
            # The HPA owns the replica count once running; `pulumi up` must not reset it.
            workload_opts = pulumi.ResourceOptions.merge(workload_opts, pulumi.ResourceOptions(
                ignore_changes=["spec.replicas"]))
        placement = WorkloadPlacement(team, context.high_availability, context.retain_volumes)
        workload = kind.resource_class()(f"{name}-{kind.role}", metadata=meta(app.name),
                                         spec=kind.build_spec(app, placement), opts=workload_opts)

        if SERVICE in features:
            k8s.core.v1.Service(f"{name}-service", metadata=meta(app.name), spec=service_spec(app, team), opts=child)
        if HEADLESS_SERVICE in features:
            k8s.core.v1.Service(f"{name}-headless", metadata=meta(headless_service_name(app.name)),
                                spec=headless_service_spec(app, team), opts=child)
        if AUTOSCALING in features:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa", metadata=meta(app.name), spec=hpa_spec(app, kind),
                opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[workload])))
        if DISRUPTION_BUDGET in features:
            k8s.policy.v1.PodDisruptionBudget(f"{name}-pdb", metadata=meta(app.name), spec=pdb_spec(app, team),
                                              opts=child)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol", metadata=meta(f"app-{app.name}"),
            spec=network_policy_spec(app, team, args.dependencies, args.callers, context.vpc_cidr, aws_identity),
            opts=child)
        if EXPOSURE in features:
            EXPOSURES[app.route](name, app, team, context, labels, child)
        if METRICS in features:
            after_crds = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=list(context.monitoring_crds)))
            k8s.apiextensions.CustomResource(
                f"{name}-servicemonitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta(app.name), spec=service_monitor_spec(app, team), opts=after_crds)
            k8s.apiextensions.CustomResource(
                f"{name}-alerts", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=meta(f"{app.name}-alerts", RULE_LABELS), spec=alert_rules_spec(app, team), opts=after_crds)
        dashboard_config_map(f"{name}-dashboard", f"dashboard-{app.name}", team, app_dashboard(team, app.name), child)
        self.register_outputs({})
