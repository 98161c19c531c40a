"""What an app's workload kind may have around its pods (components/app_kinds.py's table says
which kind has which), and the stack-config keys that ask for each. A leaf: the spec builders
and the table both read it."""

# What a kind may have around its pods. Each feature is a set of objects or pod fields and
# the config keys that ask for them (FEATURE_KEYS).
SERVICE = "Service"
"""A ClusterIP Service on the app port: other apps may call it (dependsOn names it)."""
HEADLESS_SERVICE = "headless Service"
"""`<app>-headless`, for per-pod DNS names."""
REPLICAS = "replica count"
"""A count of identical pods kept running (spread over zones in prod)."""
AUTOSCALING = "HorizontalPodAutoscaler"
"""A HorizontalPodAutoscaler that owns the replica count."""
ROLLOUT = "rollout bounds (maxSurge, maxUnavailable)"
"""A rolling update bounded by maxSurge and maxUnavailable (a StatefulSet replaces one pod at a time)."""
DISRUPTION_BUDGET = "PodDisruptionBudget"
"""Node drains take its pods down one at a time (or keep minAvailable)."""
PROBES = "probes"
"""Startup, liveness and readiness probes on the app port (or a command)."""
EXPOSURE = "route from outside"
"""A TLS route from outside (the ingress controller) to its Service."""
METRICS = "ServiceMonitor"
"""A ServiceMonitor scraping the app port, and the app's alert rules."""
VOLUMES = "volumes"
"""One persistent volume per replica (volumeClaimTemplates)."""

FEATURE_KEYS: dict[str, tuple[str, ...]] = {
    SERVICE: ("port",), HEADLESS_SERVICE: ("headlessService",), REPLICAS: ("replicas",),
    AUTOSCALING: ("autoscaling",), ROLLOUT: ("maxSurge", "maxUnavailable"), DISRUPTION_BUDGET: ("minAvailable",),
    PROBES: ("probe",), EXPOSURE: ("host", "route"), METRICS: ("metrics",), VOLUMES: (),
}
"""The stack-config keys (camelCase, as written) that only mean something with the feature."""
