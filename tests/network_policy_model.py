"""Ask a plan's NetworkPolicies whether one connection is allowed, with the semantics the gate
uses (preflight/readiness/networkpolicy.py, whose own tests pin them down)."""

from __future__ import annotations

from preflight.readiness.model import Cluster, make_obj
from preflight.readiness.networkpolicy import Endpoint, Policies

KINDS = ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:core/v1:Namespace")


def pod(namespace: str, labels: dict[str, str]) -> Endpoint:
    return Endpoint(f"{namespace}/{labels.get('app.kubernetes.io/name', 'pod')}", namespace, labels)


def address(ip: str) -> Endpoint:
    return Endpoint(ip, addresses=(ip,))


def plan_policies(plan) -> Policies:
    objects = []
    for kind in KINDS:
        api_version, object_kind = kind.split(":", 1)[1].rsplit(":", 1)
        api_version = api_version.removeprefix("core/")
        for r in plan.of_type(kind):
            body = {"apiVersion": api_version, "kind": object_kind, **{
                k: v for k, v in r["inputs"].items() if k in ("metadata", "spec")}}
            objects.append(make_obj(body, r["urn"]))
    return Policies(Cluster(objects))


def allowed(policies: Policies, source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP") -> bool:
    return policies.verdict(source, destination, port, protocol)[0]
