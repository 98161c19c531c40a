"""The Gateway API (issue #17 item 3): the pinned CRDs, Traefik's Gateway provider, and the
platform's one shared Gateway, whose listeners admit each host's HTTPRoutes from the owning
team's namespace only."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from components.charts import MANIFESTS
from components.config import parse_stack_config
from components.config.gateway import MAX_LISTENERS
from components.gateway import (
    GatewayHost,
    certificate_name,
    certificate_secret_name,
    certificate_spec,
    gateway_spec,
    http_route_spec,
    listener_name,
)
from components.names import GATEWAY_CLASS, GATEWAY_CONTROLLER, GATEWAY_NAME, NAMESPACE_NAME_LABEL
from conftest import ROOT, PlanView, plan_stack
from config_cases import problems, stack_values
from crd_schema import load_crds, validation_errors
from helpers import release

GATEWAY_GROUP = "gateway.networking.k8s.io"
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
GATEWAY = f"kubernetes:{GATEWAY_GROUP}/v1:Gateway"
GATEWAY_CLASS_TYPE = f"kubernetes:{GATEWAY_GROUP}/v1:GatewayClass"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"
HTTP_ROUTE = f"kubernetes:{GATEWAY_GROUP}/v1:HTTPRoute"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"

HOSTS = [GatewayHost("shop", "frontend", "shop.example.com"), GatewayHost("analytics", "reports", "reports.example.com")]


@pytest.fixture(scope="module")
def crds(reference: Path):
    return load_crds(reference / "crds")


def with_gateway(raw: dict, enabled: bool = True) -> dict:
    raw = copy.deepcopy(raw)
    raw.setdefault("ingress", {})["gateway"] = {"enabled": enabled}
    return raw


# -- config ----------------------------------------------------------------------------------

def test_the_gateway_is_off_and_apps_use_an_ingress_unless_asked():
    raw = copy.deepcopy(stack_values("prod"))
    raw.get("ingress", {}).pop("gateway", None)
    for team in raw.get("teams", []):
        for app in team["apps"]:
            app.pop("route", None)
    config = parse_stack_config(raw)
    assert config.ingress.gateway.enabled is False
    assert {app.route for team in config.teams for app in team.apps} == {"ingress"}


def test_an_httproute_without_the_gateway_is_refused_naming_the_switch():
    raw = with_gateway(stack_values("dev"), enabled=False)
    app = next(a for a in raw["teams"][0]["apps"] if a.get("host"))
    app["route"] = "httproute"
    index = raw["teams"][0]["apps"].index(app)
    found = problems(raw)
    assert any(p.startswith(f"teams[0].apps[{index}].route:") and "ingress.gateway.enabled: true" in p
               for p in found), found


def test_an_httproute_without_a_host_is_refused():
    raw = with_gateway(stack_values("dev"))
    app = next(a for a in raw["teams"][0]["apps"] if not a.get("host") and "stateful" not in a)
    app["route"] = "httproute"
    index = raw["teams"][0]["apps"].index(app)
    found = problems(raw)
    assert any(p.startswith(f"teams[0].apps[{index}].route:") and "no host" in p for p in found), found


def test_a_route_that_is_neither_kind_is_refused():
    raw = with_gateway(stack_values("dev"))
    raw["teams"][0]["apps"][0]["route"] = "gateway"
    assert any(p.startswith("teams[0].apps[0].route:") for p in problems(raw))


def test_more_app_hosts_than_a_gateway_has_listeners_is_refused():
    raw = with_gateway(stack_values("dev"))
    apps = [{"name": f"web{i}", "image": "ghcr.io/example/web:1.0.0", "host": f"web{i}.example.com"}
            for i in range(MAX_LISTENERS + 1)]
    raw["teams"] = [{"name": "many", "apps": apps,
                     "quota": {"requestsCpu": "200", "requestsMemory": "400Gi", "limitsCpu": "400",
                               "limitsMemory": "800Gi"}}]
    found = problems(raw)
    assert any(p.startswith("ingress.gateway.enabled:") and str(MAX_LISTENERS) in p for p in found), found
    raw["teams"][0]["apps"].pop()
    assert not any(p.startswith("ingress.gateway") for p in problems_or_none(raw))


def problems_or_none(raw: dict) -> list[str]:
    from components.config import StackConfigError
    try:
        parse_stack_config(raw)
    except StackConfigError as err:
        return [str(issue) for issue in err.issues]
    return []


def test_the_listener_limit_is_the_crds(crds):
    gateway = crds[(f"{GATEWAY_GROUP}/v1", "Gateway")]
    assert gateway["properties"]["spec"]["properties"]["listeners"]["maxItems"] == MAX_LISTENERS


# -- the objects ---------------------------------------------------------------------------

def gateway_manifest(hosts: list[GatewayHost]) -> dict:
    return {"apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "Gateway", "spec": gateway_spec(hosts)}


def test_the_gateway_and_its_certificates_are_valid_against_the_crds(crds):
    assert list(validation_errors(gateway_manifest(HOSTS), crds[(f"{GATEWAY_GROUP}/v1", "Gateway")])) == []
    for host in HOSTS:
        certificate = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                       "spec": certificate_spec(host, "letsencrypt-prod")}
        assert list(validation_errors(certificate, crds[("cert-manager.io/v1", "Certificate")])) == []


def test_the_crd_check_would_catch_a_misspelt_listener_field(crds):
    manifest = gateway_manifest(HOSTS)
    manifest["spec"]["listeners"][0]["allowedRoute"] = manifest["spec"]["listeners"][0].pop("allowedRoutes")
    assert list(validation_errors(manifest, crds[(f"{GATEWAY_GROUP}/v1", "Gateway")]))


def test_each_host_listens_on_traefiks_https_entrypoint_port_inside_the_pod(reference: Path):
    # Traefik binds a listener to the entryPoint on the same port in the pod, not the Service's 443.
    chart = yaml.safe_load((reference / "charts" / "traefik" / "values.yaml").read_text())
    websecure = chart["ports"]["websecure"]["port"]
    for listener in gateway_spec(HOSTS)["listeners"]:
        assert (listener["port"], listener["protocol"]) == (websecure, "HTTPS")


def test_each_listener_serves_its_hosts_certificate_and_admits_only_the_owning_team():
    listeners = {l["hostname"]: l for l in gateway_spec(HOSTS)["listeners"]}
    assert sorted(listeners) == sorted(h.host for h in HOSTS)
    for host in HOSTS:
        listener = listeners[host.host]
        assert listener["name"] == listener_name(host)
        assert listener["tls"]["certificateRefs"] == [
            {"group": "", "kind": "Secret", "name": certificate_spec(host, "x")["secretName"]}]
        assert listener["allowedRoutes"]["namespaces"] == {
            "from": "Selector", "selector": {"matchLabels": {NAMESPACE_NAME_LABEL: host.team}}}
        assert listener["allowedRoutes"]["kinds"] == [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}]


def test_listener_names_and_certificate_names_are_unique_and_fit_a_label():
    long = [GatewayHost("t" * 63, "a" * 63, "one.example.com"), GatewayHost("t" * 63, "a" * 62 + "b", "two.example.com")]
    names = [certificate_name(h) for h in HOSTS + long]
    assert len(set(names)) == len(names) and all(len(n) <= 63 for n in names)
    assert len({certificate_secret_name(h) for h in HOSTS + long}) == len(names)
    assert len({listener_name(h) for h in HOSTS + long}) == len(HOSTS + long)


# -- on the plan -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gateway_plan(plans) -> PlanView:
    """dev: the shipped stack that turns the Gateway on (prod keeps it off)."""
    assert parse_stack_config(stack_values("dev")).ingress.gateway.enabled, "dev ships with ingress.gateway on"
    return plans["dev"]


def test_the_crds_are_the_pinned_release_manifest_and_traefik_waits_for_them(gateway_plan: PlanView):
    crds = gateway_plan.one(CONFIG_FILE)
    assert crds["inputs"]["file"] == MANIFESTS["gateway-api-crds"].url
    assert "/v1.5.1/standard-install.yaml" in crds["inputs"]["file"]
    traefik = release(gateway_plan, "traefik")
    assert crds["urn"] in traefik["dependencies"]
    values = traefik["inputs"]["values"]
    assert values["providers"]["kubernetesGateway"] == {"enabled": True}
    assert values["gateway"] == {"enabled": False} and values["gatewayClass"] == {"enabled": False}


def test_the_platform_owns_one_gateway_class_and_one_gateway(gateway_plan: PlanView):
    gateway_class = gateway_plan.one(GATEWAY_CLASS_TYPE)
    assert gateway_class["inputs"]["metadata"]["name"] == GATEWAY_CLASS
    assert gateway_class["inputs"]["spec"] == {"controllerName": GATEWAY_CONTROLLER}
    gateway = gateway_plan.one(GATEWAY)
    assert gateway["inputs"]["metadata"]["namespace"] == "ingress"
    assert gateway["inputs"]["spec"]["gatewayClassName"] == GATEWAY_CLASS
    hosts = {app.host for team in parse_dev_with_gateway().teams for app in team.apps if app.host}
    assert {l["hostname"] for l in gateway["inputs"]["spec"]["listeners"]} == hosts


def parse_dev_with_gateway():
    return parse_stack_config(stack_values("dev"))


def test_every_gateway_object_is_a_child_of_the_component_through_its_provider(gateway_plan: PlanView):
    component = gateway_plan.one("eks-platform:traffic:Gateway")
    children = gateway_plan.children(component)
    assert {r["type"] for r in children} == {GATEWAY, GATEWAY_CLASS_TYPE, CERTIFICATE}
    provider = {r["provider"] for r in children}
    assert len(provider) == 1 and "pulumi:providers:kubernetes" in provider.pop()
    assert all(r["name"].startswith("gateway-") for r in children)


def test_gateway_objects_wait_for_the_crds_traefik_and_cert_manager(gateway_plan: PlanView):
    crds = gateway_plan.one(CONFIG_FILE)["urn"]
    traefik = release(gateway_plan, "traefik")["urn"]
    cert_manager = release(gateway_plan, "cert-manager")["urn"]
    certificates = gateway_plan.of_type(CERTIFICATE)
    assert certificates
    for resource in [gateway_plan.one(GATEWAY), gateway_plan.one(GATEWAY_CLASS_TYPE), *certificates]:
        assert {crds, traefik, cert_manager} <= set(resource["dependencies"]), resource["name"]
    assert {c["urn"] for c in certificates} <= set(gateway_plan.one(GATEWAY)["dependencies"])


def test_certificates_are_issued_by_the_stacks_default_issuer(gateway_plan: PlanView):
    issuer = parse_dev_with_gateway().cert_manager.default_issuer
    for certificate in gateway_plan.of_type(CERTIFICATE):
        assert certificate["inputs"]["spec"]["issuerRef"] == {
            "group": "cert-manager.io", "kind": "ClusterIssuer", "name": issuer}
        assert certificate["inputs"]["metadata"]["namespace"] == "ingress"


def test_teams_wait_for_the_gateway(gateway_plan: PlanView):
    gateway = gateway_plan.one("eks-platform:traffic:Gateway")
    for team in gateway_plan.of_type("eks-platform:tenancy:Team"):
        assert gateway["urn"] in team["dependencies"] or any(
            c["urn"] in team["dependencies"] for c in gateway_plan.children(gateway)), team["name"]


def test_without_the_gateway_nothing_of_it_is_planned(plans):
    prod = plans["prod"]
    if parse_stack_config(stack_values("prod")).ingress.gateway.enabled:
        pytest.skip("prod turns the gateway on")
    assert not prod.of_type(CONFIG_FILE) and not prod.of_type(GATEWAY) and not prod.of_type(GATEWAY_CLASS_TYPE)
    values = release(prod, "traefik")["inputs"]["values"]
    assert "kubernetesGateway" not in values["providers"] and "gateway" not in values


# -- readiness: ordering ---------------------------------------------------------------------

def test_the_gateway_plan_has_no_ordering_finding(gateway_plan: PlanView):
    from readiness_support import assess, registrations

    findings = [f for f in assess(registrations(gateway_plan)).findings if f.check.startswith("readiness-order")]
    assert findings == []


def test_a_gateway_object_that_does_not_wait_for_the_crds_is_caught(gateway_plan: PlanView):
    from readiness_support import assess, descendants, drop_dependencies, of_check, registrations

    regs = registrations(gateway_plan)
    crds = next(r for r in regs if r.type == CONFIG_FILE)
    gateway = next(r for r in regs if r.type == GATEWAY)
    # Everything that itself waits for the CRDs (Traefik, the namespace chain) goes too.
    graph_waiting = {r.urn for r in regs if crds.urn in r.dependencies} | descendants(regs, crds.urn)
    drop_dependencies(regs, gateway, graph_waiting | {crds.urn})
    found = [f for f in of_check(assess(regs), "readiness-order-crds") if f.resource.endswith(gateway.name)]
    assert found and crds.name in found[0].message and GATEWAY_GROUP in found[0].message


# -- apps on route: httproute ----------------------------------------------------------------

def routed_apps(route: str) -> list[tuple[str, object]]:
    config = parse_stack_config(stack_values("dev"))
    return [(team.name, app) for team in config.teams for app in team.apps if app.host and app.route == route]


def test_the_httproute_is_valid_against_the_crd(crds):
    manifest = {"apiVersion": f"{GATEWAY_GROUP}/v1", "kind": "HTTPRoute",
                "spec": http_route_spec("shop.example.com", "frontend", 8080)}
    assert list(validation_errors(manifest, crds[(f"{GATEWAY_GROUP}/v1", "HTTPRoute")])) == []


def test_an_app_on_httproute_gets_an_httproute_on_its_hosts_listener_and_no_ingress(gateway_plan: PlanView):
    apps = routed_apps("httproute")
    assert apps, "dev ships at least one app on route: httproute"
    routes = {(r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"]): r
              for r in gateway_plan.of_type(HTTP_ROUTE)}
    ingresses = {(r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"])
                 for r in gateway_plan.of_type(INGRESS)}
    for team, app in apps:
        route = routes[(team, app.name)]
        spec = route["inputs"]["spec"]
        assert spec["parentRefs"] == [{"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": "ingress",
                                       "name": GATEWAY_NAME, "sectionName": app.host}]
        assert spec["hostnames"] == [app.host]
        assert spec["rules"][0]["backendRefs"] == [{"group": "", "kind": "Service", "name": app.name,
                                                    "port": app.port}]
        assert (team, app.name) not in ingresses
        parent = gateway_plan.by_urn[route["parent"]]
        assert parent["type"] == "eks-platform:apps:App"
        assert {gateway_plan.one(CONFIG_FILE)["urn"], release(gateway_plan, "traefik")["urn"]} <= set(
            route["dependencies"])


def test_apps_on_ingress_keep_their_tls_ingress(gateway_plan: PlanView):
    apps = routed_apps("ingress")
    assert apps, "dev keeps at least one app on route: ingress"
    ingresses = {(r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"])
                 for r in gateway_plan.of_type(INGRESS)}
    routes = {(r["inputs"]["metadata"]["namespace"], r["inputs"]["metadata"]["name"])
              for r in gateway_plan.of_type(HTTP_ROUTE)}
    for team, app in apps:
        assert (team, app.name) in ingresses and (team, app.name) not in routes


# -- readiness: reachability -----------------------------------------------------------------

def test_traefik_reaching_an_httproute_backend_is_an_intended_allowed_connection(gateway_plan: PlanView):
    from readiness_support import assess, registrations, stack_config

    result = assess(registrations(gateway_plan), stack_config("dev"))
    for team, app in routed_apps("httproute"):
        wanted = [c for c in result.connections if c["to"] == f"{team}/{app.name}"
                  and c["why"] == f"HTTPRoute {team}/{app.name} backend"]
        assert wanted and all(c["allowed"] and c["port"] == app.port for c in wanted), result.connections
        assert "traefik" in wanted[0]["from"]
    assert [f for f in result.findings if f.check.startswith("readiness-network")] == []


def test_a_blocked_httproute_backend_is_caught(gateway_plan: PlanView):
    from readiness_support import assess, of_check, registrations, stack_config

    regs = registrations(gateway_plan)
    team, app = routed_apps("httproute")[0]
    policy = next(r for r in regs if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
                  and r.inputs["metadata"] == {**r.inputs["metadata"], "name": f"app-{app.name}", "namespace": team})
    # The app's NetworkPolicy no longer admits Traefik (the rule a host adds).
    policy.inputs["spec"]["ingress"] = [rule for rule in policy.inputs["spec"]["ingress"]
                                        if "ingress" not in str(rule.get("from"))]
    found = of_check(assess(regs, stack_config("dev")), "readiness-network-blocked")
    assert any(f"{team}/{app.name} :{app.port}/TCP (HTTPRoute {team}/{app.name} backend)" in f.message
               for f in found), [f.message for f in found]


def test_an_httproute_that_does_not_wait_for_its_gateways_controller_is_caught(gateway_plan: PlanView):
    from readiness_support import assess, descendants, drop_dependencies, of_check, registrations

    regs = registrations(gateway_plan)
    route = next(r for r in regs if r.type == HTTP_ROUTE)
    controller = next(r for r in regs if r.type == "eks-platform:traffic:IngressController")
    gateway = next(r for r in regs if r.type == "eks-platform:traffic:Gateway")
    drop_dependencies(regs, route, descendants(regs, controller.urn) | descendants(regs, gateway.urn))
    found = [f for f in of_check(assess(regs), "readiness-order-gateway") if f.resource.endswith(route.name)]
    assert found and release(gateway_plan, "traefik")["name"] in found[0].message


def test_a_certificate_that_does_not_wait_for_its_issuer_is_caught(gateway_plan: PlanView):
    from readiness_support import assess, drop_dependencies, of_check, registrations

    regs = registrations(gateway_plan)
    certificate = next(r for r in regs if r.type == CERTIFICATE)
    issuer = next(r for r in regs if r.type.endswith(":ClusterIssuer")
                  and r.inputs["metadata"]["name"] == certificate.inputs["spec"]["issuerRef"]["name"])
    assert of_check(assess(regs), "readiness-order-gateway") == []
    drop_dependencies(regs, certificate, {issuer.urn})
    found = [f for f in of_check(assess(regs), "readiness-order-gateway") if f.resource.endswith(certificate.name)]
    assert found and issuer.name in found[0].message


def test_the_gateway_certificates_http01_solver_is_admitted_and_reached(gateway_plan: PlanView):
    from readiness_support import assess, registrations, stack_config

    result = assess(registrations(gateway_plan), stack_config("dev"))
    for team, app in routed_apps("httproute"):
        challenge = [c for c in result.connections if c["why"] == f"HTTP-01 challenge for {app.host}"]
        assert challenge and all(c["allowed"] and c["to"].startswith("ingress/") for c in challenge), challenge
    assert [f for f in result.findings if f.check in ("readiness-pod-security", "readiness-limit-range",
                                                      "readiness-resource-quota")] == []


def test_the_runbook_says_how_to_turn_the_gateway_on_and_move_an_app():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    section = runbook.split("## Turning the Gateway API on for an existing stack", 1)[1].split("\n## ", 1)[0]
    for text in ("ingress.gateway.enabled: true", "route: httproute", "READY", "route: ingress", "enabled: false"):
        assert text in section, text
    # The order that avoids a gap: the Gateway (and its certificates) first, the app after.
    assert section.index("ingress.gateway.enabled: true") < section.index("route: httproute")


def test_with_no_app_host_yet_only_the_gateway_class_exists(tmp_path):
    # A Gateway needs at least one listener (the CRD's minItems): none until an app has a host.
    lines = [line for line in (ROOT / "Pulumi.dev.yaml").read_text().splitlines(keepends=True)
             if not line.strip().startswith(("host: ", "route: "))]
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text("".join(lines))
    plan = plan_stack("dev", tmp_path, config=stack)
    assert plan.one(GATEWAY_CLASS_TYPE) and not plan.of_type(GATEWAY) and not plan.of_type(CERTIFICATE)
    assert not plan.of_type(HTTP_ROUTE)
