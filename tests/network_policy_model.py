"""NetworkPolicy semantics (networking.k8s.io/v1), to ask a plan whether one connection is allowed.

A connection needs both sides: the source's egress (if any policy of its namespace selects it
for Egress) and the destination's ingress (likewise). Within a rule, peers are ORed and a
peer's namespaceSelector and podSelector are ANDed; an absent `to`/`from` or `ports` means all.
Only what the platform writes is modelled: matchLabels selectors, numeric TCP/UDP ports and
ipBlock without `except`; anything else fails loudly rather than being guessed at.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Optional

NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace and labels) or an address outside the cluster (namespace None)."""

    ip: str
    namespace: Optional[str] = None
    labels: dict[str, str] = field(default_factory=dict)
    namespace_labels: dict[str, str] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.ip, self.namespace))


def pod(namespace: str, labels: dict[str, str], ip: str = "10.0.0.10") -> Endpoint:
    return Endpoint(ip=ip, namespace=namespace, labels=labels, namespace_labels={NAME_LABEL: namespace})


def address(ip: str) -> Endpoint:
    return Endpoint(ip=ip)


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    unknown = set(selector) - {"matchLabels"}
    assert not unknown, f"selector keys not modelled: {unknown}"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _peer_matches(peer: dict[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    unknown = set(peer) - {"podSelector", "namespaceSelector", "ipBlock"}
    assert not unknown, f"peer keys not modelled: {unknown}"
    if "ipBlock" in peer:
        assert set(peer) == {"ipBlock"}, "ipBlock stands alone in a peer"
        assert "except" not in peer["ipBlock"], "ipBlock.except is not modelled (and the VPC CNI ignores it)"
        return ipaddress.ip_address(other.ip) in ipaddress.ip_network(peer["ipBlock"]["cidr"])
    if other.namespace is None:
        return False
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return _matches(peer.get("podSelector") or {}, other.labels)


def _port_matches(ports: Optional[list[dict[str, Any]]], port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        assert isinstance(entry.get("port", 0), int), f"named ports are not modelled: {entry}"
        if entry.get("protocol", "TCP") != protocol:
            continue
        if "port" not in entry or entry["port"] <= port <= entry.get("endPort", entry["port"]):
            return True
    return False


def _side_allows(policies: list[tuple[str, dict[str, Any]]], subject: Endpoint, other: Endpoint,
                 port: int, protocol: str, direction: str) -> bool:
    """Whether the subject's own namespace lets this connection through in `direction`."""
    rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [spec for namespace, spec in policies
                 if namespace == subject.namespace and direction in spec["policyTypes"]
                 and _matches(spec["podSelector"], subject.labels)]
    if subject.namespace is None or not selecting:
        return True
    for spec in selecting:
        for rule in spec.get(rules_key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(p, subject.namespace, other) for p in peers)) and \
                    _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def allowed(policies: list[tuple[str, dict[str, Any]]], source: Endpoint, destination: Endpoint, port: int,
            protocol: str = "TCP") -> bool:
    """policies: (namespace, NetworkPolicy spec) pairs."""
    for _, spec in policies:
        assert spec.get("policyTypes"), "every policy should say its policyTypes"
    return (_side_allows(policies, source, destination, port, protocol, "Egress")
            and _side_allows(policies, destination, source, port, protocol, "Ingress"))


def plan_policies(plan) -> list[tuple[str, dict[str, Any]]]:
    return [(r["inputs"]["metadata"]["namespace"], r["inputs"]["spec"])
            for r in plan.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]
