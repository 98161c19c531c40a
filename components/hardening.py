"""Pod hardening and placement shared by the platform's charts and by every app.

The restricted Pod Security profile, written once: charts get it through their values,
apps through their pod template, and the policy pack checks both.
"""

from __future__ import annotations

from typing import Any

RUNTIME_DEFAULT_SECCOMP = {"type": "RuntimeDefault"}

# A numeric user and group, always: the kubelet can only prove runAsNonRoot for a numeric
# user, so it refuses to start an image whose USER is a name (curlimages/curl's `curl_user`)
# with CreateContainerConfigError. 65532 is the distroless "nonroot" id; without runAsGroup
# a user the image's /etc/passwd does not know would run in group 0 (root).
NON_ROOT_USER = 65532
NON_ROOT_GROUP = 65532


def restricted_pod_security_context(user: int = NON_ROOT_USER, group: int = NON_ROOT_GROUP) -> dict[str, Any]:
    """The restricted pod security context, running as `user`:`group` (an image's own ids
    where its files need them)."""
    return {"runAsNonRoot": True, "runAsUser": user, "runAsGroup": group, "seccompProfile": RUNTIME_DEFAULT_SECCOMP}


RESTRICTED_POD_SECURITY_CONTEXT: dict[str, Any] = restricted_pod_security_context()

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
