"""Grafana dashboards as ConfigMaps the Grafana sidecar loads from any namespace."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# The kube-prometheus-stack chart's sidecar defaults (grafana.sidecar.dashboards.label/labelValue).
DASHBOARD_LABEL = {"grafana_dashboard": "1"}


def _panel(panel_id: int, title: str, expr: str, unit: str, x: int, y: int) -> dict[str, Any]:
    return {"id": panel_id, "type": "timeseries", "title": title,
            "datasource": {"type": "prometheus", "uid": "prometheus"},
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": "A", "expr": expr}]}


def dashboard(uid: str, title: str, panels: list[tuple[str, str, str]]) -> dict[str, Any]:
    laid_out = [_panel(i + 1, t, e, u, (i % 2) * 12, (i // 2) * 8) for i, (t, e, u) in enumerate(panels)]
    return {"uid": uid, "title": title, "schemaVersion": 39, "editable": False, "time": {"from": "now-6h", "to": "now"},
            "tags": ["eks-platform"], "panels": laid_out}


def cluster_overview() -> dict[str, Any]:
    return dashboard("eks-platform-cluster", "Cluster overview", [
        ("Nodes ready", 'sum(kube_node_status_condition{condition="Ready",status="true"})', "short"),
        ("CPU used by namespace", 'sum by (namespace) (rate(container_cpu_usage_seconds_total{container!=""}[5m]))',
         "cores"),
        ("Memory used by namespace", 'sum by (namespace) (container_memory_working_set_bytes{container!=""})', "bytes"),
        ("Pods not running", 'sum by (namespace, phase) (kube_pod_status_phase{phase!~"Running|Succeeded"})', "short"),
        ("Ingress requests by status", "sum by (code) (rate(traefik_entrypoint_requests_total[5m]))", "reqps"),
        ("PVC usage", "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes", "percentunit"),
    ])


def app_dashboard(namespace: str, app: str) -> dict[str, Any]:
    selector = f'namespace="{namespace}", service="{app}"'
    pods = f'namespace="{namespace}", pod=~"{app}-.*", container!=""'
    return dashboard(f"app-{namespace}-{app}"[:40], f"{namespace} / {app}", [
        ("Requests by status", f"sum by (status) (rate(http_requests_total{{{selector}}}[5m]))", "reqps"),
        ("p95 latency", "histogram_quantile(0.95, sum by (le) "
         f"(rate(http_request_duration_seconds_bucket{{{selector}}}[5m])))", "s"),
        ("CPU", f"sum by (pod) (rate(container_cpu_usage_seconds_total{{{pods}}}[5m]))", "cores"),
        ("Memory", f"sum by (pod) (container_memory_working_set_bytes{{{pods}}})", "bytes"),
    ])


def dashboard_config_map(resource_name: str, name: str, namespace: pulumi.Input[str], board: dict[str, Any],
                         opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=DASHBOARD_LABEL),
        data={f"{name}.json": json.dumps(board, sort_keys=True)},
        opts=opts,
    )
