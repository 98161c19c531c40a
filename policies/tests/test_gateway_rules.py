"""The Gateway API rules: what the Ingress rules say of Ingresses, said of Gateways and
HTTPRoutes. Each rule: a compliant fixture (what the platform creates) and violating ones."""

from __future__ import annotations

import copy

import pytest

from preflight.check import Subject, evaluate
from rule_cases import violations

GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
NAMESPACE = "kubernetes:core/v1:Namespace"
HOST = "shop.example.com"


def listener(host=HOST, team="shop", secret="shop-frontend-tls"):
    return {"name": host, "hostname": host, "port": 8443, "protocol": "HTTPS",
            "tls": {"mode": "Terminate", "certificateRefs": [{"group": "", "kind": "Secret", "name": secret}]},
            "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {
                "matchLabels": {"kubernetes.io/metadata.name": team}}}, "kinds": [{"kind": "HTTPRoute"}]}}


def gateway(*listeners):
    return {"metadata": {"name": "platform", "namespace": "ingress"},
            "spec": {"gatewayClassName": "traefik", "listeners": list(listeners) or [listener()]}}


def route(hostnames=(HOST,), namespace="shop", section=HOST, gateway_namespace="ingress"):
    parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "platform",
              "namespace": gateway_namespace}
    if section:
        parent["sectionName"] = section
    return {"metadata": {"name": "frontend", "namespace": namespace},
            "spec": {"parentRefs": [parent], "hostnames": list(hostnames),
                     "rules": [{"backendRefs": [{"name": "frontend", "port": 8080}]}]}}


def certificate(secret="shop-frontend-tls", namespace="ingress"):
    return {"metadata": {"name": "shop-frontend", "namespace": namespace},
            "spec": {"secretName": secret, "dnsNames": [HOST], "issuerRef": {"kind": "ClusterIssuer",
                                                                              "name": "letsencrypt-prod"}}}


def team_namespace(name="shop"):
    return {"metadata": {"name": name, "labels": {"eks-platform/team": name}}}


def stack(gateway_props=None, route_props=None, certificates=None, teams=("shop", "analytics")):
    subjects = [Subject(NAMESPACE, t, f"urn:ns:{t}", team_namespace(t)) for t in teams]
    subjects.append(Subject(GATEWAY, "gateway", "urn:gateway", gateway_props or gateway()))
    for index, props in enumerate(certificates if certificates is not None else [certificate()]):
        subjects.append(Subject(CERTIFICATE, f"cert{index}", f"urn:cert{index}", props))
    if route_props is not False:
        subjects.append(Subject(ROUTE, "route", "urn:route", route_props or route()))
    return subjects


def found(subjects, rule):
    return [v for v in evaluate(subjects, {"all": "mandatory"}) if v.policy == rule]


GATEWAY_RULES = ("gateway-https-listener-certificate", "gateway-listener-namespaces-bounded",
                 "gateway-listener-hostname", "gateway-certificates-issued", "team-httproute-owned-hosts",
                 "team-httproute-tls")


def test_what_the_platform_creates_passes_every_gateway_rule():
    from components.gateway import GatewayHost, certificate_spec, gateway_spec

    host = GatewayHost("shop", "frontend", HOST)
    props = {"metadata": {"name": "platform", "namespace": "ingress"}, "spec": gateway_spec([host])}
    cert = {"metadata": {"name": "shop-frontend", "namespace": "ingress"},
            "spec": certificate_spec(host, "letsencrypt-prod")}
    result = {v.policy for v in evaluate(stack(props, certificates=[cert]), {"all": "mandatory"})}
    assert result.isdisjoint(GATEWAY_RULES), result


# -- resource rules ---------------------------------------------------------------------------

@pytest.mark.parametrize("mutate", [
    lambda l: l.pop("tls"),
    lambda l: l["tls"].update(certificateRefs=[]),
    lambda l: l["tls"].update(mode="Passthrough"),
])
def test_an_https_listener_without_a_certificate_is_refused(mutate):
    bad = listener()
    mutate(bad)
    assert "gateway-https-listener-certificate" in violations(GATEWAY, gateway(bad))
    assert "gateway-https-listener-certificate" not in violations(GATEWAY, gateway())


@pytest.mark.parametrize("namespaces", [{"from": "All"}, {"from": "Selector", "selector": {}},
                                        {"from": "Selector"}])
def test_a_listener_admitting_routes_from_every_namespace_is_refused(namespaces):
    bad = listener()
    bad["allowedRoutes"]["namespaces"] = namespaces
    assert "gateway-listener-namespaces-bounded" in violations(GATEWAY, gateway(bad))
    assert "gateway-listener-namespaces-bounded" not in violations(GATEWAY, gateway())
    same = listener()
    same["allowedRoutes"] = {"namespaces": {"from": "Same"}}
    assert "gateway-listener-namespaces-bounded" not in violations(GATEWAY, gateway(same))


def test_a_listener_without_a_hostname_is_refused():
    bad = listener()
    del bad["hostname"]
    assert "gateway-listener-hostname" in violations(GATEWAY, gateway(bad))
    bad["hostname"] = "*.example.com"
    assert "gateway-listener-hostname" in violations(GATEWAY, gateway(bad))
    assert "gateway-listener-hostname" not in violations(GATEWAY, gateway())


# -- stack rules ------------------------------------------------------------------------------

def test_a_listener_certificate_no_cert_manager_certificate_issues_is_refused():
    assert found(stack(), "gateway-certificates-issued") == []
    missing = found(stack(certificates=[]), "gateway-certificates-issued")
    assert len(missing) == 1 and "shop-frontend-tls" in missing[0].message
    elsewhere = found(stack(certificates=[certificate(namespace="shop")]), "gateway-certificates-issued")
    assert len(elsewhere) == 1


def test_an_httproute_may_claim_only_hosts_its_team_owns():
    assert found(stack(), "team-httproute-owned-hosts") == []
    # analytics claims shop's host: the listener admits only shop.
    stolen = found(stack(route_props=route(namespace="analytics")), "team-httproute-owned-hosts")
    assert len(stolen) == 1 and HOST in stolen[0].message
    # A host no listener serves.
    assert found(stack(route_props=route(hostnames=("other.example.com",))), "team-httproute-owned-hosts")
    # No hostnames: the route would take every host of whatever listener it attaches to.
    assert found(stack(route_props=route(hostnames=())), "team-httproute-owned-hosts")
    # A Gateway the stack does not create: nothing says who owns its hosts.
    assert found(stack(route_props=route(gateway_namespace="elsewhere")), "team-httproute-owned-hosts")


def test_a_listener_open_to_every_namespace_does_not_make_a_host_owned():
    open_listener = listener()
    open_listener["allowedRoutes"]["namespaces"] = {"from": "All"}
    assert found(stack(gateway(open_listener)), "team-httproute-owned-hosts")


def test_routes_outside_team_namespaces_are_not_judged_by_the_team_rules():
    outside = route(namespace="tools", hostnames=("other.example.com",), section=None)
    assert found(stack(route_props=outside), "team-httproute-owned-hosts") == []
    assert found(stack(route_props=outside), "team-httproute-tls") == []


def test_an_httproute_attaches_to_https_listeners_only():
    assert found(stack(), "team-httproute-tls") == []
    plain = listener()
    plain.update(protocol="HTTP", port=8000)
    del plain["tls"]
    assert found(stack(gateway(plain)), "team-httproute-tls")
    # No sectionName: it attaches to every listener, an HTTP one included.
    both = gateway(listener(), dict(plain, name="plain"))
    assert found(stack(both, route(section=None)), "team-httproute-tls")
    assert found(stack(gateway(listener()), route(section=None)), "team-httproute-tls") == []


def test_a_config_file_is_not_an_object_in_the_default_namespace():
    # yaml/v2 ConfigFile is a component that applies a manifest's objects, each with its own namespace.
    assert "no-default-namespace" not in violations("kubernetes:yaml/v2:ConfigFile", {"file": "https://x/y.yaml"})
