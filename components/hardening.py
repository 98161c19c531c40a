"""Pod hardening and placement shared by the platform's charts and by every app.

The restricted Pod Security profile, written once: charts get it through their values,
apps through their pod template, and the policy pack checks both.
"""

from __future__ import annotations

from typing import Any

RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}

# No fixed user id: each image brings its own non-root user, and the kubelet refuses to
# start one that would run as root.
RESTRICTED_POD_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True, "seccompProfile": RUNTIME_DEFAULT_SECCOMP,
}

RESTRICTED_CONTAINER_SECURITY_CONTEXT: dict[str, Any] = {
    "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": RUNTIME_DEFAULT_SECCOMP,
}

ZONE_KEY = "topology.kubernetes.io/zone"
HOST_KEY = "kubernetes.io/hostname"


def spread_constraints(match_labels: dict[str, str], high_availability: bool) -> list[dict[str, Any]]:
    """Spread replicas over zones (hard in prod: losing a zone must not take every replica)
    and over nodes (soft, so a small node group can still schedule them)."""
    if not high_availability:
        return []
    selector = {"matchLabels": match_labels}
    return [
        {"maxSkew": 1, "topologyKey": ZONE_KEY, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": selector},
        {"maxSkew": 1, "topologyKey": HOST_KEY, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector},
    ]
