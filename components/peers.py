"""NetworkPolicy peers every layer writes the same way: a namespace, or some pods in one."""

from __future__ import annotations

from typing import Any

from components.names import NAMESPACE_NAME_LABEL


def from_namespace(name: str) -> dict[str, Any]:
    """Every pod of one namespace (selected by the name label the API server sets)."""
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: name}}}


def pods_in(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """One peer: these pods in that namespace (both selectors in one peer are ANDed)."""
    return {**from_namespace(namespace), "podSelector": {"matchLabels": labels}}


# Where a pod asks the EKS Pod Identity agent (a hostNetwork DaemonSet) for credentials: AWS's user
# guide, "Set up the Amazon EKS Pod Identity Agent", Considerations (IPv4; [fd00:ec2::23] is for
# IPv6 clusters). The VPC CNI enforces a pod's egress on its veth before the packet reaches the
# node, so a namespace that denies egress (every team's default-deny) must open it.
POD_IDENTITY_AGENT_ADDRESS = "169.254.170.23"


def to_pod_identity_agent() -> dict[str, Any]:
    """The egress rule a Pod Identity pod needs to fetch its credentials: the agent, port 80 only."""
    return {"to": [{"ipBlock": {"cidr": f"{POD_IDENTITY_AGENT_ADDRESS}/32"}}],
            "ports": [{"protocol": "TCP", "port": 80}]}
