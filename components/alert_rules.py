"""Alert rules as data: the seed alerts (thresholds from config), the platform's own alerts,
and the per-app rules. Pure functions, so tests read the exact expressions shipped."""

from __future__ import annotations

from typing import Any

from components.config.services import AlertThresholdsConfig

RULE_LABELS = {"app.kubernetes.io/part-of": "eks-platform"}


def alert(name: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {"alert": name, "expr": expr, "for": duration, "labels": {"severity": severity},
            "annotations": {"summary": summary}}


def seed_alerts(t: AlertThresholdsConfig) -> list[dict[str, Any]]:
    """The five alerts teams relied on before the platform, with their thresholds."""
    return [
        alert("HighCPUUsage",
              'sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!=""}[5m])) '
              '/ sum by (namespace, pod) (kube_pod_container_resource_limits{resource="cpu"}) '
              f"* 100 > {t.cpu_percent:g}",
              t.cpu_for, "warning", "Pod {{ $labels.namespace }}/{{ $labels.pod }} uses over "
              f"{t.cpu_percent:g}% of its CPU limit"),
        alert("HighMemoryUsage",
              f'sum by (namespace, pod) (container_memory_working_set_bytes{{container!=""}}) > {t.memory_bytes}',
              t.memory_for, "warning", "Pod {{ $labels.namespace }}/{{ $labels.pod }} uses over "
              f"{t.memory_bytes} bytes of memory"),
        alert("ServiceDown", "up == 0", t.service_down_for, "critical",
              "Target {{ $labels.job }} ({{ $labels.instance }}) is down"),
        alert("HighErrorRate",
              'sum by (namespace, service) (rate(http_requests_total{status=~"5.."}[5m])) '
              "/ sum by (namespace, service) (rate(http_requests_total[5m])) "
              f"> {t.error_ratio:g}",
              t.error_ratio_for, "critical", "{{ $labels.service }} answers over "
              f"{t.error_ratio:.0%} of requests with 5xx"),
        alert("HighRequestLatency",
              "histogram_quantile(0.95, sum by (namespace, service, le) "
              f"(rate(http_request_duration_seconds_bucket[5m]))) > {t.latency_seconds:g}",
              t.latency_for, "warning", "{{ $labels.service }} p95 latency is over "
              f"{t.latency_seconds:g}s"),
    ]


def platform_alerts() -> list[dict[str, Any]]:
    return [
        alert("NodeNotReady", 'kube_node_status_condition{condition="Ready",status="true"} == 0', "5m",
              "critical", "Node {{ $labels.node }} is not Ready"),
        alert("PodPendingTooLong", 'sum by (namespace, pod) (kube_pod_status_phase{phase="Pending"}) > 0', "10m",
              "warning", "Pod {{ $labels.namespace }}/{{ $labels.pod }} has been Pending for over 10 minutes"),
        alert("PodCrashLooping",
              'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
              "15m", "warning", "Container {{ $labels.container }} of {{ $labels.namespace }}/{{ $labels.pod }} "
              "is crash looping"),
        alert("PersistentVolumeFillingUp",
              "kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes > 0.85", "5m", "warning",
              "PVC {{ $labels.namespace }}/{{ $labels.persistentvolumeclaim }} is over 85% full"),
        alert("CertificateExpiringSoon",
              "certmanager_certificate_expiration_timestamp_seconds - time() < 14 * 24 * 3600", "1h", "warning",
              "Certificate {{ $labels.namespace }}/{{ $labels.name }} expires within 14 days"),
    ]


def app_alerts(namespace: str, service: str, error_ratio: float, latency_seconds: float,
               error_for: str, latency_for: str) -> list[dict[str, Any]]:
    """The seed error and latency alerts, narrowed to one app's Service."""
    selector = f'namespace="{namespace}", service="{service}"'
    return [
        alert(f"{_camel(service)}HighErrorRate",
              f'sum(rate(http_requests_total{{{selector}, status=~"5.."}}[5m])) '
              f"/ sum(rate(http_requests_total{{{selector}}}[5m])) > {error_ratio:g}",
              error_for, "critical", f"{namespace}/{service} answers over {error_ratio:.0%} of requests with 5xx"),
        alert(f"{_camel(service)}HighRequestLatency",
              f"histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{{{selector}}}[5m]))) "
              f"> {latency_seconds:g}",
              latency_for, "warning", f"{namespace}/{service} p95 latency is over {latency_seconds:g}s"),
    ]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def prometheus_rule_spec(group: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"groups": [{"name": group, "rules": rules}]}
