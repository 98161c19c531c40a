"""NetworkPolicy semantics, as the API defines them:

- a pod is isolated for a direction when a policy of its namespace selects it (podSelector,
  `{}` selecting every pod) and lists that direction in policyTypes (default: Ingress, plus
  Egress when the policy has an egress section); a connection needs the caller's egress and
  the callee's ingress both allowed;
- a rule with no `from`/`to` matches every peer, with no `ports` every port; `ingress: []`
  allows nothing;
- a peer with namespaceSelector and podSelector selects those pods in those namespaces; two
  peers select the union; a podSelector alone means the policy's own namespace;
- ports match on protocol (TCP by default), number (up to endPort) or the callee's named port;
- ipBlock matches only addresses outside the pod network here (the API server, AWS), as the
  API intends; whether an ipBlock matches pod IPs is up to the network plugin.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

from .model import Cluster, Obj, Workload, as_int, selects


@dataclass(eq=False)
class Endpoint:
    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: dict[str, tuple[int, str]] = field(default_factory=dict)
    addresses: tuple[str, ...] = ()
    workload: Optional[Workload] = None
    release: str = ""
    role: str = ""
    host_network: bool = False
    calls_api: bool = False
    """A chart's pod known to call the Kubernetes API (its contents not rendered)."""
    scrape: Optional[str] = None
    """The port a chart's own ServiceMonitor scrapes (its contents not rendered)."""

    @property
    def external(self) -> bool:
        return bool(self.addresses)


def port_map(spec: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    ports = {}
    for name, value in spec.items():
        ports[name] = value if isinstance(value, tuple) else (int(value), "TCP")
    return ports


class Policies:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.by_namespace: dict[str, list[Obj]] = {}
        for policy in cluster.of_kind("NetworkPolicy"):
            self.by_namespace.setdefault(policy.namespace, []).append(policy)

    @staticmethod
    def types(policy: Obj) -> list[str]:
        spec = policy.get("spec") or {}
        declared = spec.get("policyTypes")
        if declared:
            return list(declared)
        return ["Ingress"] + (["Egress"] if "egress" in spec else [])

    def selecting(self, endpoint: Endpoint, direction: str) -> list[Obj]:
        if endpoint.external or endpoint.host_network:
            return []
        return [p for p in self.by_namespace.get(endpoint.namespace, [])
                if direction in self.types(p) and selects(p.get("spec", "podSelector") or {}, endpoint.labels)]

    def peer_matches(self, peer: Mapping[str, Any], policy: Obj, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            block = peer.get("ipBlock") or {}
            if not other.external:
                return False
            try:
                network = ipaddress.ip_network(block.get("cidr"), strict=False)
                excepted = [ipaddress.ip_network(e, strict=False) for e in block.get("except") or []]
            except (TypeError, ValueError):
                return False  # the API server refuses such a policy; the schema check reports it
            return any(ipaddress.ip_address(a) in network and not any(ipaddress.ip_address(a) in e for e in excepted)
                       for a in other.addresses)
        if other.external:
            return False
        namespace_selector, pod_selector = peer.get("namespaceSelector"), peer.get("podSelector")
        if namespace_selector is None and pod_selector is None:
            return False
        if namespace_selector is not None:
            in_namespace = selects(namespace_selector, self.cluster.labels_of_namespace(other.namespace))
        else:
            in_namespace = other.namespace == policy.namespace
        return in_namespace and (pod_selector is None or selects(pod_selector, other.labels))

    @staticmethod
    def port_matches(rule_ports: Any, target: Endpoint, port: int, protocol: str) -> bool:
        if not rule_ports:
            return True
        for entry in rule_ports:
            if (entry.get("protocol") or "TCP") != protocol:
                continue
            wanted = entry.get("port")
            if wanted is None:
                return True
            if isinstance(wanted, str):
                if target.ports.get(wanted) == (port, protocol):
                    return True
            elif as_int(wanted, -1) <= port <= as_int(entry.get("endPort") or wanted, -1):
                return True
        return False

    def _side(self, subject: Endpoint, other: Endpoint, target: Endpoint, port: int, protocol: str,
              direction: str) -> tuple[bool, list[Obj]]:
        policies = self.selecting(subject, direction)
        if not policies:
            return True, []
        section, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in policies:
            for rule in policy.get("spec", section) or []:
                peers = rule.get(peers_key)
                if peers and not any(self.peer_matches(p, policy, other) for p in peers):
                    continue
                if self.port_matches(rule.get("ports"), target, port, protocol):
                    return True, policies
        return False, policies

    def verdict(self, source: Endpoint, target: Endpoint, port: int, protocol: str) -> tuple[bool, str]:
        egress_ok, egress_policies = self._side(source, target, target, port, protocol, "Egress")
        ingress_ok, ingress_policies = self._side(target, source, target, port, protocol, "Ingress")
        blocked = []
        if not egress_ok:
            blocked.append(f"egress of {source.name} (NetworkPolicies {', '.join(p.name for p in egress_policies)} "
                           f"in {source.namespace})")
        if not ingress_ok:
            blocked.append(f"ingress of {target.name} (NetworkPolicies "
                           f"{', '.join(p.name for p in ingress_policies)} in {target.namespace})")
        return egress_ok and ingress_ok, " and ".join(blocked)

    def isolated(self, endpoint: Endpoint) -> bool:
        return bool(self.selecting(endpoint, "Ingress") or self.selecting(endpoint, "Egress"))
