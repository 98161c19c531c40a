"""The objects around an app's workload, as pure data: its Services, HPA, NetworkPolicy,
ServiceMonitor and alert rules. components/app.py decides which of them exist; tests call
these directly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Optional

from components.alert_rules import app_alerts, prometheus_rule_spec
from components.app_workload import PORT_NAME, hpa_behavior, selector_labels
from components.names import INGRESS_NAMESPACE, MONITORING_NAMESPACE, PROMETHEUS_POD_LABELS, TRAEFIK_POD_LABELS
from components.peers import from_namespace, pods_in, to_pod_identity_agent

if TYPE_CHECKING:
    from components.app_kinds import WorkloadKind
    from components.config.tenancy import AppConfig

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
                        vpc_cidr: str, aws_identity: Optional[str]) -> dict[str, Any]:
    """Exactly the paths this app needs: who may call it on its port, and what it may call.
    `aws_identity`: how its pods get their IAM role (AppConfig.aws_identity), None without one."""
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
    if aws_identity:
        # The AWS APIs the policies grant (and STS, where IRSA trades its token): public
        # endpoints on 443 whose addresses change, or VPC endpoints inside the VPC.
        egress.append({"to": [{"ipBlock": {"cidr": ANYWHERE}}], "ports": HTTPS})
    if aws_identity == "pod-identity":
        egress.append(to_pod_identity_agent())
    return {"podSelector": {"matchLabels": selector_labels(team, app.name)}, "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress, "egress": egress}


def _service_ports(app: AppConfig) -> list[dict[str, Any]]:
    return [{"name": PORT_NAME, "port": app.port, "targetPort": PORT_NAME, "protocol": "TCP"}]


def service_spec(app: AppConfig, team: str) -> dict[str, Any]:
    return {"type": "ClusterIP", "selector": selector_labels(team, app.name), "ports": _service_ports(app)}


def headless_service_spec(app: AppConfig, team: str) -> dict[str, Any]:
    """Stable per-pod DNS names (a StatefulSet's serviceName)."""
    return {"clusterIP": "None", "selector": selector_labels(team, app.name), "ports": _service_ports(app),
            "publishNotReadyAddresses": True}


def hpa_spec(app: AppConfig, kind: WorkloadKind) -> dict[str, Any]:
    assert app.autoscaling is not None
    return {
        "scaleTargetRef": {"apiVersion": kind.api_version, "kind": kind.kind, "name": app.name},
        "minReplicas": app.autoscaling.min_replicas, "maxReplicas": app.autoscaling.max_replicas,
        "metrics": [{"type": "Resource", "resource": {"name": resource, "target": {
            "type": "Utilization", "averageUtilization": target}}}
            for resource, target in (("cpu", app.autoscaling.cpu_utilization),
                                     ("memory", app.autoscaling.memory_utilization))],
        "behavior": hpa_behavior(app),
    }


def service_monitor_spec(app: AppConfig, team: str) -> dict[str, Any]:
    assert app.metrics is not None
    return {"selector": {"matchLabels": selector_labels(team, app.name)},
            "endpoints": [{"port": PORT_NAME, "path": app.metrics.path, "interval": "30s"}]}


def alert_rules_spec(app: AppConfig, team: str) -> dict[str, Any]:
    assert app.metrics is not None
    return prometheus_rule_spec(f"{team}.{app.name}", app_alerts(
        team, app.name, app.metrics.error_ratio, app.metrics.latency_seconds, "5m", "10m"))
