"""NetworkPolicy semantics (networking.k8s.io/v1), for tests: may pod A open a connection to
pod B on a port, given every NetworkPolicy in a plan?

A connection needs both sides: the source's egress (if any policy selecting it has Egress in
policyTypes) and the destination's ingress (likewise). Policies are additive allow-lists; a
rule with no peers matches every peer, with no ports every port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ip: str = ""


@dataclass
class Endpoint:
    """Something outside the pod network (the API server's ENIs): only ipBlock peers match it."""

    ip: str
    namespace: None = None
    labels: dict[str, str] = field(default_factory=dict)


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def policy_types(spec: dict[str, Any]) -> list[str]:
    if spec.get("policyTypes"):
        return spec["policyTypes"]
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Pod | Endpoint) -> bool:
    if "ipBlock" in peer:
        if not other.ip:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], {NAMESPACE_NAME_LABEL: other.namespace}):
            return False
    elif other.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or selects(peer["podSelector"], other.labels)


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        low = entry.get("port")
        if low is None or (low <= port <= entry.get("endPort", low)):
            return True
    return False


def _side_allows(policies: Iterable[tuple[str, dict]], pod: Pod, direction: str, other: Pod | Endpoint,
                 port: int, protocol: str) -> bool:
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolated = False
    for namespace, spec in policies:
        if namespace != pod.namespace or direction not in policy_types(spec):
            continue
        if not selects(spec.get("podSelector", {}), pod.labels):
            continue
        isolated = True
        for rule in spec.get(rules_key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(p, namespace, other) for p in peers)) and \
                    _port_matches(rule.get("ports"), port, protocol):
                return True
    return not isolated


def allowed(policies: list[tuple[str, dict]], source: Pod, destination: Pod | Endpoint, port: int,
            protocol: str = "TCP") -> bool:
    egress = _side_allows(policies, source, "Egress", destination, port, protocol)
    if isinstance(destination, Endpoint):
        return egress
    return egress and _side_allows(policies, destination, "Ingress", source, port, protocol)


def plan_policies(plan) -> list[tuple[str, dict]]:
    return [(r["inputs"]["metadata"]["namespace"], r["inputs"]["spec"])
            for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
