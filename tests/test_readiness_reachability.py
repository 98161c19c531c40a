"""Reachability (issue #14, deliverable 2): NetworkPolicy semantics, and each default-deny
blocker of issue #13 put back into a copy of the prod plan, found and named."""

from __future__ import annotations

import pytest

from preflight.readiness.model import Cluster, make_obj
from preflight.readiness.networkpolicy import Endpoint, Policies
from readiness_support import assess, of_check, of_kind, one, registrations, stack_config

NAME = "kubernetes.io/metadata.name"


@pytest.fixture(scope="module")
def prod(plans):
    return plans["prod"]


# -- semantics ---------------------------------------------------------------------------------

def _policies(*specs: tuple[str, dict], namespaces: dict[str, dict] | None = None) -> Policies:
    objects = [make_obj({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                         "metadata": {"name": f"p{i}", "namespace": ns}, "spec": spec}, "test")
               for i, (ns, spec) in enumerate(specs)]
    for name, labels in (namespaces or {}).items():
        objects.append(make_obj({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}},
                                "test"))
    return Policies(Cluster(objects))


def _pod(namespace: str, **labels) -> Endpoint:
    return Endpoint(f"{namespace}/{labels.get('app', 'pod')}", namespace, labels,
                    {"http": (8080, "TCP"), "dns": (53, "UDP")})


WEB, API = _pod("a", app="web"), _pod("b", app="api")
OTHER_IN_B = _pod("b", app="other")


def test_namespace_and_pod_selector_in_one_peer_is_an_and_in_two_peers_an_or():
    one_peer = _policies(("b", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {"matchLabels": {"app": "web"}}}]}]}),
        namespaces={"a": {"team": "x"}, "b": {}})
    assert one_peer.verdict(WEB, API, 8080, "TCP")[0]
    assert not one_peer.verdict(_pod("a", app="other"), API, 8080, "TCP")[0]
    assert not one_peer.verdict(_pod("b", app="web"), API, 8080, "TCP")[0]  # right pod, wrong namespace
    two_peers = _policies(("b", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [
        {"namespaceSelector": {"matchLabels": {"team": "x"}}}, {"podSelector": {"matchLabels": {"app": "web"}}}]}]}),
        namespaces={"a": {"team": "x"}, "b": {}})
    assert two_peers.verdict(_pod("a", app="other"), API, 8080, "TCP")[0]  # any pod of namespace a
    assert two_peers.verdict(_pod("b", app="web"), API, 8080, "TCP")[0]  # podSelector alone: the policy's namespace
    assert not two_peers.verdict(_pod("b", app="other"), API, 8080, "TCP")[0]


def test_policy_types_default_from_the_sections_present():
    ingress_only = _policies(("a", {"podSelector": {}, "ingress": []}))
    assert ingress_only.verdict(WEB, API, 8080, "TCP")[0]  # egress not isolated
    assert not ingress_only.verdict(API, WEB, 8080, "TCP")[0]  # ingress isolated, no rule
    with_egress = _policies(("a", {"podSelector": {}, "egress": [{"to": [{"podSelector": {}}]}]}))
    assert not with_egress.verdict(WEB, API, 8080, "TCP")[0]  # egress isolated; the peer is namespace a only
    # Ingress is in the default policyTypes too: the peer's own ingress is now closed as well.
    allowed, blocked_by = with_egress.verdict(WEB, _pod("a", app="x"), 8080, "TCP")
    assert not allowed and blocked_by.startswith("ingress of a/x")


def test_empty_peers_allow_everyone_and_an_empty_rule_list_nobody():
    everyone = _policies(("b", {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"],
                                "ingress": [{"ports": [{"port": 8080}]}]}))
    assert everyone.verdict(WEB, API, 8080, "TCP")[0]
    assert not everyone.verdict(WEB, API, 9090, "TCP")[0]
    assert everyone.verdict(WEB, OTHER_IN_B, 9090, "TCP")[0]  # not selected by the policy
    nobody = _policies(("b", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}))
    assert not nobody.verdict(WEB, API, 8080, "TCP")[0]


def test_ports_match_protocol_named_ports_and_ranges():
    named = _policies(("b", {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
        {"ports": [{"port": "http"}, {"port": 9000, "endPort": 9010}, {"protocol": "UDP", "port": 53}]}]}))
    assert named.verdict(WEB, API, 8080, "TCP")[0]
    assert named.verdict(WEB, API, 9005, "TCP")[0] and not named.verdict(WEB, API, 9011, "TCP")[0]
    assert named.verdict(WEB, API, 53, "UDP")[0] and not named.verdict(WEB, API, 53, "TCP")[0]


def test_ip_blocks_match_external_addresses_with_exceptions():
    policies = _policies(("a", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443}]}]}))
    aws = Endpoint("AWS", addresses=("52.94.0.10",))
    inside = Endpoint("api server", addresses=("10.20.0.10",))
    assert policies.verdict(WEB, aws, 443, "TCP")[0]
    assert not policies.verdict(WEB, inside, 443, "TCP")[0]
    assert not policies.verdict(WEB, API, 443, "TCP")[0]  # an ipBlock never selects pods here


# -- the blockers of issue #13, put back into the prod plan --------------------------------------

def _drop_rules(regs, namespace: str, section: str, peer_namespace: str) -> None:
    """Remove every `section` rule of `namespace`'s policies that admits pods of `peer_namespace`."""
    key = "to" if section == "egress" else "from"
    for policy in of_kind(regs, "NetworkPolicy", namespace):
        spec = policy.inputs["spec"]
        spec[section] = [rule for rule in spec.get(section) or [] if not any(
            ((peer.get("namespaceSelector") or {}).get("matchLabels") or {}).get(NAME) == peer_namespace
            for peer in rule.get(key) or [])]


def _blocked(result, source: str, target: str) -> list:
    return [f for f in of_check(result, "readiness-network-blocked") if f"{source} -> {target}" in f.message]


def _token_app(text: str) -> str:
    return text.replace("          dependsOn: [database]\n",
                        "          dependsOn: [database]\n          serviceAccountToken: true\n"
                        "          irsaPolicyArns: [arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess]\n", 1)


def test_a_token_app_needs_the_api_server_and_an_irsa_app_aws(prod, tmp_path):
    config = stack_config("prod", _token_app, tmp_path)
    assert config.teams[0].apps[1].service_account_token
    regs = registrations(prod)
    backend = one(regs, "team-shop-backend-deployment")
    backend.inputs["spec"]["template"]["spec"].pop("automountServiceAccountToken", None)
    account = one(regs, "team-shop-backend-sa")
    account.inputs.pop("automountServiceAccountToken", None)
    account.inputs["metadata"].setdefault("annotations", {})["eks.amazonaws.com/role-arn"] = "arn:aws:iam::1:role/x"
    result = assess(regs, config)
    api = _blocked(result, "shop/backend", "kube-apiserver :443/TCP")
    aws = _blocked(result, "shop/backend", "AWS APIs :443/TCP")
    assert api and "egress of shop/backend" in api[0].message and "Deployment shop/backend" in api[0].resource
    assert aws and "IRSA" in aws[0].message


def test_allow_from_namespaces_needs_the_callers_egress(prod):
    config = stack_config("prod")
    regs = registrations(prod)
    _drop_rules(regs, "shop", "egress", "analytics")
    result = assess(regs, config)
    blocked = _blocked(result, "shop/frontend", "analytics/reports :8000/TCP")
    assert blocked and "allowFromNamespaces of team analytics" in blocked[0].message
    assert "egress of shop/frontend" in blocked[0].message


def test_a_default_deny_logging_namespace_must_let_fluent_bit_and_the_ilm_job_reach_elasticsearch(prod):
    regs = registrations(prod)
    for policy in of_kind(regs, "NetworkPolicy", "logging"):
        regs.remove(policy)
    deny = one(registrations(prod), "team-shop-default-deny")
    deny.inputs["metadata"]["namespace"] = "logging"
    deny.urn = deny.urn.replace("team-shop-default-deny", "logging-default-deny")
    regs.append(deny)
    result = assess(regs, stack_config("prod"))
    fluent_bit = _blocked(result, "logging/fluent-bit (log shipper)", "logging/logs (Elasticsearch) :9200/TCP")
    assert fluent_bit and "egress of logging/fluent-bit (log shipper)" in fluent_bit[0].message
    # its kubernetes filter asks the API server for pod metadata; Prometheus scrapes its ServiceMonitor
    assert _blocked(result, "logging/fluent-bit (log shipper)", "kube-apiserver :443/TCP")
    assert _blocked(result, "monitoring/kube-prometheus-stack (prometheus)", "logging/fluent-bit (log shipper) :2020")
    job = of_kind(regs, "Job", "logging")[0]
    ilm = [f for f in of_check(result, "readiness-network-blocked")
           if f"resource {job.name})" in f.resource and "(Elasticsearch) :9200/TCP" in f.message]
    assert ilm, [f.message for f in of_check(result, "readiness-network-blocked")]


def test_dependencies_prometheus_the_ingress_controller_and_dns_are_intended(prod):
    config = stack_config("prod")
    regs = registrations(prod)
    frontend_policy = [p for p in of_kind(regs, "NetworkPolicy", "shop")
                       if p.inputs["spec"].get("podSelector", {}).get("matchLabels", {}).get(
                           "app.kubernetes.io/name") == "frontend"]
    for policy in frontend_policy:
        policy.inputs["spec"]["egress"] = []
    _drop_rules(regs, "shop", "ingress", "monitoring")
    _drop_rules(regs, "shop", "ingress", "ingress")
    _drop_rules(regs, "shop", "egress", "kube-system")
    result = assess(regs, config)
    assert _blocked(result, "shop/frontend", "shop/backend :8080/TCP")
    assert _blocked(result, "monitoring/kube-prometheus-stack (prometheus)", "shop/frontend :8080/TCP")
    assert _blocked(result, "ingress/traefik (ingress controller)", "shop/frontend :8080/TCP")
    assert _blocked(result, "shop/backend", "kube-system/coredns :53/UDP")
    matrix = "\n".join(result.lines)
    assert "BLOCKED every pod" in matrix and "BLOCKED shop/frontend -> shop/backend :8080/TCP" in matrix


def test_connections_nobody_declared_are_reported(prod):
    regs = registrations(prod)
    open_policy = one(registrations(prod), "team-analytics-default-deny")
    open_policy.urn += "-open"
    open_policy.inputs["metadata"]["name"] = "allow-everything"
    open_policy.inputs["spec"] = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}
    regs.append(open_policy)
    undeclared = of_check(assess(regs, stack_config("prod")), "readiness-network-undeclared")
    # A platform pod whose namespace leaves egress open (logging's NetworkPolicies close it).
    assert any("elastic-system/eck-operator" in f.message and "analytics/reports :8000/TCP" in f.message
               for f in undeclared), [f.message for f in undeclared]


def test_the_matrix_is_in_the_report(prod):
    result = assess(registrations(prod), stack_config("prod"))
    lines = "\n".join(result.lines)
    assert "Reachability:" in lines and "intended connections" in lines
    assert "shop/frontend -> shop/backend :8080/TCP (dependsOn of shop/frontend)" in lines
    assert "-> kube-system/coredns :53/UDP+TCP (DNS)" in lines


# -- with chart contents: the charts' own pods keep the connections the platform intends ----

def _chart_shaped(release) -> list[dict]:
    """The pods (and the config they read) that eck-operator 3.5.0 and fluent-bit 0.58.1 render
    for the plan's values, as `check --charts` with helm gets them: the charts' selector labels,
    Fluent Bit's config in the ConfigMap it mounts, and the CA Secret whose name contains the
    Elasticsearch Service's."""
    def pod_template(labels, container, volumes=()):
        return {"selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container],
                                                                      "volumes": list(volumes)}}}
    meta = {"namespace": release.namespace}
    if release.chart == "eck-operator":
        labels = {"app.kubernetes.io/name": "elastic-operator", "app.kubernetes.io/instance": release.name}
        return [{"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {**meta, "name": "elastic-operator"},
                 "spec": {"replicas": 1, **pod_template(labels, {
                     "name": "manager", "image": "docker.elastic.co/eck/eck-operator:3.5.0",
                     "args": ["manager", "--config=/conf/eck.yaml"],
                     "ports": [{"name": "https-webhook", "containerPort": 9443}]})}}]
    labels = {"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": release.name}
    return [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {**meta, "name": "fluent-bit"},
             "data": {"fluent-bit.conf": release.values["config"]["outputs"]}},
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {**meta, "name": "fluent-bit"},
             "spec": pod_template(labels, {"name": "fluent-bit", "image": "cr.fluentbit.io/fluent/fluent-bit:5.1.1",
                                           "ports": [{"name": "http", "containerPort": 2020}]},
                                  [{"name": "config", "configMap": {"name": "fluent-bit"}},
                                   {"name": "es-ca", "secret": {"secretName": "logs-es-http-certs-public"}}])}]


def _with_chart_contents(monkeypatch, outputs: str | None = None):
    from preflight.readiness import charts

    def render_all(helm, releases, kubernetes_version):
        rendered = []
        for release in releases:
            if release.chart in ("eck-operator", "fluent-bit"):
                if outputs is not None and release.chart == "fluent-bit":
                    release.values["config"]["outputs"] = outputs
                rendered.append(charts.Rendered(release, _chart_shaped(release)))
            else:
                rendered.append(charts.Rendered(release, problem="not rendered by this test"))
        return rendered
    monkeypatch.setattr(charts, "render_all", render_all)


def test_rendered_fluent_bit_and_eck_operator_are_elasticsearch_clients_the_policies_allow(prod, monkeypatch):
    """`check --charts` once reported both as undeclared: a rendered chart's pods lost the role
    known.py gives them (and the operator's labels there were ECK's manifestGen ones), and Fluent
    Bit names Elasticsearch in the ConfigMap it mounts, not in its command or env."""
    _with_chart_contents(monkeypatch)
    result = assess(registrations(prod), stack_config("prod"), charts=True, helm="helm")
    assert any("2 of " in line and "Helm releases rendered" in line for line in result.lines), result.lines
    es = "logging/logs (Elasticsearch)"
    clients = {(c["from"], c["port"], c["allowed"]) for c in result.connections
               if c["to"] == es and c["why"].startswith("Elasticsearch client")}
    assert {("logging/fluent-bit", 9200, True), ("elastic-system/elastic-operator", 9200, True)} <= clients
    undeclared = [f.message for f in of_check(result, "readiness-network-undeclared")]
    assert not [m for m in undeclared if es in m], undeclared


def test_a_chart_pod_that_only_mounts_the_ca_is_no_elasticsearch_client(prod, monkeypatch):
    _with_chart_contents(monkeypatch, outputs="[OUTPUT]\n    Name stdout\n    Match *\n")
    result = assess(registrations(prod), stack_config("prod"), charts=True, helm="helm")
    assert not [c for c in result.connections if c["from"] == "logging/fluent-bit"
                and c["why"].startswith("Elasticsearch client")]
    undeclared = [f.message for f in of_check(result, "readiness-network-undeclared")]
    assert any("logging/fluent-bit may connect to logging/logs (Elasticsearch) :9200/TCP" in m for m in undeclared)
