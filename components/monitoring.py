"""kube-prometheus-stack: Prometheus, Alertmanager, Grafana, node-exporter and
kube-state-metrics, plus the platform's alert rules and dashboards."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.alert_rules import RULE_LABELS, platform_alerts, prometheus_rule_spec, seed_alerts
from components.charts import pinned_release
from components.config.services import NULL_RECEIVER, AlertReceiverConfig, MonitoringConfig
from components.dashboards import cluster_overview, dashboard_config_map
from components.hardening import spread_constraints
from components.names import DEFAULT_STORAGE_CLASS, NODE_EXPORTER_NAMESPACE, PROMETHEUS_POD_LABELS
from components.names import MONITORING_NAMESPACE as NAMESPACE
from components.namespaces import labelled_namespace
from components.platform import PlatformContext
from components.tls_ingress import tls_ingress

RELEASE = "kube-prometheus-stack"
GRAFANA_SERVICE = f"{RELEASE}-grafana"
GRAFANA_ADMIN_SECRET = "grafana-admin"
# Bound by the grafana chart's ClusterRoleBinding (rbac.useExistingClusterRole) in place of the
# chart's own ClusterRole, which grants Secrets cluster-wide whenever a sidecar is on.
GRAFANA_CLUSTER_ROLE = "grafana-configmap-reader"
UNREACHABLE_ON_EKS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


def receiver(config: AlertReceiverConfig) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": config.name}
    if config.slack_api_url is not None:
        entry["slack_configs"] = [{
            "api_url": pulumi.Output.secret(config.slack_api_url.get_secret_value()),
            "channel": config.slack_channel, "send_resolved": True,
        }]
    if config.pagerduty_routing_key is not None:
        entry["pagerduty_configs"] = [{
            "routing_key": pulumi.Output.secret(config.pagerduty_routing_key.get_secret_value()),
        }]
    return entry


def default_receiver(config: MonitoringConfig) -> str:
    """The named default, else the first receiver; nowhere only when there is none (dev)."""
    if config.default_receiver:
        return config.default_receiver
    return config.receivers[0].name if config.receivers else NULL_RECEIVER


def alertmanager_config(config: MonitoringConfig) -> dict[str, Any]:
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": default_receiver(config),
            "group_by": ["namespace", "alertname"],
            "group_wait": "30s", "group_interval": "5m", "repeat_interval": "12h",
            # Watchdog fires all the time by design (a dead-man's switch); never page on it.
            "routes": [{"receiver": NULL_RECEIVER, "matchers": ['alertname = "Watchdog"']}],
        },
        "receivers": [{"name": NULL_RECEIVER}, *(receiver(r) for r in config.receivers)],
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def _pdb(replicas: int) -> dict[str, Any]:
    """One replica at a time may go, written as minAvailable: the chart's PDB template copies
    every key under podDisruptionBudget but `enabled` into the spec
    (`toYaml (omit .Values.<component>.podDisruptionBudget "enabled")`, templates/prometheus and
    templates/alertmanager podDisruptionBudget.yaml at kube-prometheus-stack-88.5.3), over the
    default `minAvailable: 1`. Adding maxUnavailable would give the PDB both, which the API
    server rejects; a null to delete the default is not relied on to reach Helm."""
    if replicas < 2:
        return {"enabled": False}
    return {"enabled": True, "minAvailable": replicas - 1}


def stack_values(config: MonitoringConfig, high_availability: bool) -> dict[str, Any]:
    alertmanager_labels = {"app.kubernetes.io/name": "alertmanager"}
    # Dashboards come from ConfigMaps in every namespace; the sidecars' default `both`
    # would have Grafana read every Secret in the cluster.
    sidecar = {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1",
                              "searchNamespace": "ALL", "resource": "configmap"},
               "datasources": {"resource": "configmap"}}
    return {
        "crds": {"enabled": True},
        "defaultRules": {"create": True},
        "prometheus": {
            "podDisruptionBudget": _pdb(config.prometheus_replicas),
            "prometheusSpec": {
                "replicas": config.prometheus_replicas,
                "retention": config.prometheus_retention,
                # Select every ServiceMonitor, PodMonitor and PrometheusRule in every namespace,
                # not only those labelled with this release: teams ship their own.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "serviceMonitorNamespaceSelector": {},
                "ruleNamespaceSelector": {},
                "storageSpec": {"volumeClaimTemplate": {"spec": {
                    "storageClassName": DEFAULT_STORAGE_CLASS, "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": f"{config.prometheus_storage_gi}Gi"}},
                }}},
                "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
                "topologySpreadConstraints": spread_constraints(PROMETHEUS_POD_LABELS, high_availability),
            },
        },
        "alertmanager": {
            "podDisruptionBudget": _pdb(config.alertmanager_replicas),
            "config": alertmanager_config(config),
            "alertmanagerSpec": {
                "replicas": config.alertmanager_replicas,
                "storage": {"volumeClaimTemplate": {"spec": {
                    "storageClassName": DEFAULT_STORAGE_CLASS, "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "5Gi"}},
                }}},
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                              "limits": {"cpu": "200m", "memory": "256Mi"}},
                "topologySpreadConstraints": spread_constraints(alertmanager_labels, high_availability),
            },
        },
        # Subchart keys checked in grafana-community/helm-charts at tag grafana-12.11.1 (the
        # version kube-prometheus-stack 88.5.3 depends on): values.yaml, templates/clusterrole.yaml,
        # clusterrolebinding.yaml and deployment.yaml.
        "grafana": {
            # Never the chart's default password: a generated one in a Secret we own.
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user",
                      "passwordKey": "admin-password"},
            "persistence": {"enabled": True, "storageClassName": DEFAULT_STORAGE_CLASS, "size": "10Gi"},
            # One ReadWriteOnce volume: a rolling update's new pod would wait forever for the old
            # pod's volume (Multi-Attach) on another node.
            "deploymentStrategy": {"type": "Recreate"},
            "rbac": {"useExistingClusterRole": GRAFANA_CLUSTER_ROLE},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                          "limits": {"cpu": "500m", "memory": "512Mi"}},
            # The dashboard and datasource sidecars (k8s-sidecar); the chart leaves them unsized.
            "sidecar": {**sidecar, "resources": {"requests": {"cpu": "20m", "memory": "64Mi"},
                                                 "limits": {"cpu": "100m", "memory": "128Mi"}}},
            # The root init container only chowns the volume; fsGroup 472 (the chart's pod
            # securityContext) already gives the EBS volume to Grafana's group.
            "initChownData": {"enabled": False},
        },
        "prometheusOperator": {
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
            # The admission webhook's certificate Jobs (create and patch share these values).
            "admissionWebhooks": {"patch": {"resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                                          "limits": {"cpu": "100m", "memory": "64Mi"}}}},
        },
        "kube-state-metrics": {
            "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
            # Without this its ClusterRole lists and watches every Secret in the cluster, for
            # metrics about Secret metadata the platform does not use.
            "collectorsExclude": ["secrets"],
        },
        "prometheus-node-exporter": {
            "namespaceOverride": NODE_EXPORTER_NAMESPACE,
            "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
            # Host namespaces and hostPath stay (that is node-exporter); the container itself
            # needs no privilege: merged over the chart's readOnlyRootFilesystem: true.
            "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        },
        # EKS runs the controller manager, scheduler and etcd out of the cluster's reach, and its
        # kube-proxy add-on serves metrics on 127.0.0.1:10249 only: their monitors would never
        # scrape and their Down alerts fire forever. `enabled: false` drops both (the chart's
        # rule templates check it). The API server, kubelet and CoreDNS stay monitored.
        **{component: {"enabled": False} for component in UNREACHABLE_ON_EKS},
    }


@dataclass
class MonitoringArgs:
    context: PlatformContext
    config: MonitoringConfig


class Monitoring(pulumi.ComponentResource):
    release: k8s.helm.v3.Release
    """Installs the monitoring.coreos.com CRDs: ServiceMonitors and PrometheusRules wait on it."""

    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:observability:Monitoring", name, None, context.layer_options(opts))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        namespace = labelled_namespace(f"{name}-namespace", NAMESPACE, "baseline", context.kubernetes_version,
                                       in_cluster, warn="restricted")
        host_namespace = labelled_namespace(f"{name}-node-exporter-namespace", NODE_EXPORTER_NAMESPACE,
                                            "privileged", context.kubernetes_version, in_cluster, warn="baseline")
        in_namespace = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[namespace]))

        password = random.RandomPassword(f"{name}-grafana-password", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        admin_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_ADMIN_SECRET, namespace=NAMESPACE),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": pulumi.Output.secret(password.result)},
            opts=in_namespace,
        )

        grafana_role = k8s.rbac.v1.ClusterRole(
            f"{name}-grafana-configmap-reader",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=GRAFANA_CLUSTER_ROLE),
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["configmaps"],
                                              verbs=["get", "list", "watch"])],
            opts=in_cluster,
        )

        self.release = pinned_release(
            f"{name}-stack", "kube-prometheus-stack", NAMESPACE,
            stack_values(args.config, context.high_availability),
            pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                depends_on=[namespace, host_namespace, admin_secret, grafana_role])),
            timeout_seconds=900,
        )
        after_chart = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[self.release]))
        for rule_name, group, rules in (
            ("seed-alerts", "eks-platform.seed", seed_alerts(args.config.alerts)),
            ("platform-alerts", "eks-platform.platform", platform_alerts()),
        ):
            k8s.apiextensions.CustomResource(
                f"{name}-{rule_name}", api_version="monitoring.coreos.com/v1", kind="PrometheusRule",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=rule_name, namespace=NAMESPACE, labels=RULE_LABELS),
                spec=prometheus_rule_spec(group, rules), opts=after_chart,
            )
        dashboard_config_map(f"{name}-cluster-dashboard", "dashboard-cluster-overview", NAMESPACE,
                             cluster_overview(), in_namespace)

        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.register_outputs({"grafanaAdminPassword": self.grafana_admin_password})


@dataclass
class GrafanaIngressArgs:
    context: PlatformContext
    """Its ingress_controller: Pulumi awaits an Ingress until a controller serves it."""
    host: str
    grafana: pulumi.Resource
    """The kube-prometheus-stack release that runs Grafana (Monitoring.release)."""


class GrafanaIngress(pulumi.ComponentResource):
    """Grafana over TLS. Apart from Monitoring because Traefik's chart waits for Monitoring's
    CRDs, while this Ingress must wait for Traefik: inside Monitoring it would be a cycle."""

    def __init__(self, name: str, args: GrafanaIngressArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:observability:GrafanaIngress", name, None, context.layer_options(opts))
        # Until this component existed (ec7aec4) the Ingress was Monitoring("monitoring")'s child
        # `monitoring-grafana-ingress`: the alias keeps an existing stack's Ingress, which would
        # otherwise be deleted and created again, leaving Grafana unserved in between.
        moved_from = pulumi.Alias(name="monitoring-grafana-ingress",
                                  parent=pulumi.create_urn("monitoring", "eks-platform:observability:Monitoring"))
        tls_ingress(f"{name}-ingress", name="grafana", namespace=NAMESPACE, host=args.host,
                    service_name=GRAFANA_SERVICE, service_port=80, issuer=context.default_issuer,
                    labels={"app.kubernetes.io/name": "grafana"},
                    opts=pulumi.ResourceOptions(parent=self, provider=context.provider, aliases=[moved_from],
                                                depends_on=[args.grafana, *context.ingress_controller]))
        self.register_outputs({})
