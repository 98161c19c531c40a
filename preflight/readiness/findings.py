"""The readiness checks by name, each reported like a policy: name, object, message with the fix.

A pack config (policies/config/<stack>.json) sets their levels like a rule's: by name, else
`all`. Checks marked `report_only` (an allowed connection nobody declared) stay advisory
unless the config names them: they show what the NetworkPolicies open beyond the intent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    report_only: bool = False


CHECKS = {check.name: check for check in (
    Check("readiness-pod-security", "Every pod passes the Pod Security level its namespace enforces."),
    Check("readiness-limit-range", "Every pod fits its namespace's LimitRange once defaults are applied."),
    Check("readiness-resource-quota",
          "A namespace's pods (HPA minimum plus rolling-update surge), volumes and Services fit its quota."),
    Check("readiness-kubelet-run-as-user",
          "Containers that must run as non-root name a numeric user, so the kubelet can verify it."),
    Check("readiness-network-blocked", "Every intended connection is allowed by the NetworkPolicies."),
    Check("readiness-network-undeclared", "NetworkPolicies allow no connection nobody declared.", report_only=True),
    Check("readiness-order-nodes", "Everything that runs pods is created after a node group."),
    Check("readiness-order-crds", "Every custom resource is created after what installs its CRD."),
    Check("readiness-order-ingress", "Every Ingress is created after its ingress controller."),
    Check("readiness-order-load-balancer",
          "Every LoadBalancer Service the AWS Load Balancer Controller serves is created after it, so it is deleted "
          "before it."),
    Check("readiness-order-gateway", "Every Gateway and HTTPRoute is created after the controller of its "
                                     "GatewayClass, every cert-manager Certificate after its issuer."),
    Check("readiness-order-pod-identity",
          "Every Pod Identity association is created after the Pod Identity agent, and every workload whose "
          "ServiceAccount it names after the association."),
    Check("readiness-order-cycle", "No component waits on something created inside itself that needs it."),
)}


@dataclass
class Finding:
    check: str
    resource: str
    message: str
    file: Optional[str] = None


def level(check: str, config: dict[str, Any]) -> str:
    """mandatory, advisory or disabled, from the pack config."""
    own = config.get(check)
    if isinstance(own, str):
        return own
    if isinstance(own, dict) and "enforcementLevel" in own:
        return own["enforcementLevel"]
    if CHECKS[check].report_only:
        return "advisory"
    return config.get("all", "mandatory")
