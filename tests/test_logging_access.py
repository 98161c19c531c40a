"""Who may reach whom in the `logging` namespace, and as which Elasticsearch user (issue #13,
findings 8 and 10): checked on the plans with NetworkPolicy semantics, both sides of a flow."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from conftest import ROOT, PlanView
from helpers import is_secret, release
from network_policy import Endpoint, Pod, allowed, plan_policies
from preflight.stackfile import read_stack_file

ES = Pod("logging", {"elasticsearch.k8s.elastic.co/cluster-name": "logs", "common.k8s.elastic.co/type": "elasticsearch",
                     "elasticsearch.k8s.elastic.co/statefulset-name": "logs-es-default"})
KIBANA = Pod("logging", {"kibana.k8s.elastic.co/name": "logs", "common.k8s.elastic.co/type": "kibana"})
FLUENT_BIT = Pod("logging", {"app.kubernetes.io/name": "fluent-bit", "app.kubernetes.io/instance": "fluent-bit"})
OPERATOR = Pod("elastic-system", {"app.kubernetes.io/name": "eck-operator", "app.kubernetes.io/instance": "eck-operator"})
# The same operator from ECK's all-in-one manifests (global.manifestGen) is labelled otherwise.
OPERATOR_MANIFEST = Pod("elastic-system", {"control-plane": "elastic-operator"})
# cert-manager answers Kibana's HTTP-01 challenge from a pod in Kibana's namespace.
SOLVER = Pod("logging", {"acme.cert-manager.io/http01-solver": "true"})
TRAEFIK = Pod("ingress", {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-ingress"})
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus",
                                "operator.prometheus.io/name": "kube-prometheus-stack-prometheus"})
GRAFANA = Pod("monitoring", {"app.kubernetes.io/name": "grafana"})
DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
TEAM_APP = Pod("shop", {"app.kubernetes.io/name": "backend", "app.kubernetes.io/instance": "shop-backend"})
STRANGER = Pod("logging", {"app.kubernetes.io/name": "debug-shell"})
INTERNET = Endpoint("93.184.216.34")


@pytest.fixture(scope="module", params=["dev", "prod"])
def stack(request, plans):
    plan = plans[request.param]
    job = plan.one("kubernetes:batch/v1:Job")
    retention = Pod("logging", job["inputs"]["spec"]["template"]["metadata"]["labels"])
    cidr = read_stack_file(ROOT / f"Pulumi.{request.param}.yaml").project_values["network"]["cidr"]
    # The API server answers on ENIs EKS places in the cluster's subnets.
    api_server = Endpoint(str(next(ipaddress.ip_network(cidr).hosts()) + 300))
    return plan, plan_policies(plan), retention, api_server


# -- Finding 8: the logging namespace's NetworkPolicies ------------------------------------

def test_the_documented_flows_are_open_on_both_sides(stack):
    plan, policies, retention, api_server = stack
    for source, destination, port in [
        (FLUENT_BIT, ES, 9200), (retention, ES, 9200), (KIBANA, ES, 9200), (OPERATOR, ES, 9200),
        (OPERATOR_MANIFEST, ES, 9200), (ES, ES, 9300), (TRAEFIK, KIBANA, 5601), (TRAEFIK, SOLVER, 8089),
        (PROMETHEUS, FLUENT_BIT, 2020),
        (FLUENT_BIT, api_server, 443),  # the kubernetes filter enriches records from the API
    ]:
        assert allowed(policies, source, destination, port), f"{source} -> {destination}:{port}"
    for pod in (ES, KIBANA, FLUENT_BIT, retention):
        assert allowed(policies, pod, DNS, 53, "UDP") and allowed(policies, pod, DNS, 53, "TCP"), pod


def test_nothing_else_reaches_or_leaves_the_logging_namespace(stack):
    plan, policies, retention, api_server = stack
    assert any(ns == "logging" and spec["podSelector"] == {} and set(spec["policyTypes"]) == {"Ingress", "Egress"}
               and not spec.get("ingress") and not spec.get("egress") for ns, spec in policies)
    for source, destination, port in [
        (GRAFANA, ES, 9200), (TEAM_APP, ES, 9200), (TRAEFIK, ES, 9200), (PROMETHEUS, ES, 9200),
        (TEAM_APP, KIBANA, 5601), (TRAEFIK, FLUENT_BIT, 2020), (FLUENT_BIT, KIBANA, 5601),
        (STRANGER, ES, 9200), (FLUENT_BIT, ES, 9300), (KIBANA, ES, 9300),
        (ES, INTERNET, 443), (KIBANA, INTERNET, 443), (FLUENT_BIT, INTERNET, 443), (retention, INTERNET, 443),
        (KIBANA, api_server, 443), (retention, api_server, 443), (ES, api_server, 443),
        (FLUENT_BIT, api_server, 80), (TEAM_APP, SOLVER, 8089), (TRAEFIK, SOLVER, 5601), (SOLVER, ES, 9200),
        (SOLVER, INTERNET, 443),
    ]:
        assert not allowed(policies, source, destination, port), f"{source} -> {destination}:{port}"


def test_the_checker_needs_both_sides():
    deny_all = ("a", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
    open_ingress = ("b", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})
    a, b = Pod("a", {"x": "1"}), Pod("b", {"y": "1"})
    assert allowed([], a, b, 80) and not allowed([deny_all], a, b, 80)
    assert not allowed([deny_all, open_ingress], a, b, 80)  # b admits, a may not leave
    egress = ("a", {"podSelector": {"matchLabels": {"x": "1"}}, "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "b"}}}],
                                "ports": [{"port": 80}]}]})
    assert allowed([deny_all, open_ingress, egress], a, b, 80)
    assert not allowed([deny_all, open_ingress, egress], a, b, 81)


# -- Finding 10: least-privilege Elasticsearch users ---------------------------------------

def secrets_by_name(plan: PlanView) -> dict[str, dict]:
    return {r["inputs"]["metadata"]["name"]: r for r in plan.of_type("kubernetes:core/v1:Secret")
            if r["inputs"]["metadata"].get("namespace") == "logging"}


def env_secret_refs(env: list[dict]) -> dict[str, dict]:
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in env if "valueFrom" in e}


def test_fluent_bit_and_the_retention_job_do_not_use_the_elastic_superuser(stack):
    plan = stack[0]
    values = release(plan, "fluent-bit")["inputs"]["values"]
    assert "HTTP_User elastic\n" not in values["config"]["outputs"]
    job = plan.one("kubernetes:batch/v1:Job")
    container = job["inputs"]["spec"]["template"]["spec"]["containers"][0]
    for env in (values["env"], container["env"]):
        refs = env_secret_refs(env)
        assert refs and all(ref["name"] != "logs-es-elastic-user" for ref in refs.values())
    assert "elastic:" not in " ".join(container["command"])


def test_each_user_is_a_file_realm_user_with_a_generated_secret_password(stack):
    plan = stack[0]
    search = plan.one("kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch")
    realm = [entry["secretName"] for entry in search["inputs"]["spec"]["auth"]["fileRealm"]]
    secrets = secrets_by_name(plan)
    passwords = {r["urn"] for r in plan.of_type("random:index/randomPassword:RandomPassword")}
    values = release(plan, "fluent-bit")["inputs"]["values"]
    job = plan.one("kubernetes:batch/v1:Job")
    used = {ref["name"] for env in (values["env"], job["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"])
            for ref in env_secret_refs(env).values()}
    assert used and used <= set(realm)
    for name in realm:
        secret = secrets[name]
        assert secret["inputs"]["type"] == "kubernetes.io/basic-auth"
        data = secret["inputs"]["stringData"]
        assert data["username"] != "elastic" and data["roles"]
        assert is_secret(secret, "stringData.password") and passwords & set(secret["dependencies"])
        assert secret["urn"] in search["dependencies"]
    assert "password" not in str(search["inputs"]["spec"]).lower()


def test_the_roles_grant_only_what_each_user_does(stack):
    plan = stack[0]
    search = plan.one("kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch")
    secrets = secrets_by_name(plan)
    roles = {}
    for entry in search["inputs"]["spec"]["auth"]["roles"]:
        roles.update(yaml.safe_load(secrets[entry["secretName"]]["inputs"]["stringData"]["roles.yml"]))
    granted = {secrets[entry["secretName"]]["inputs"]["stringData"]["username"]:
               secrets[entry["secretName"]]["inputs"]["stringData"]["roles"].split(",")
               for entry in search["inputs"]["spec"]["auth"]["fileRealm"]}
    assert set(granted) == {"fluent-bit", "log-retention"}
    for user, allowed_cluster, allowed_index in [
        ("fluent-bit", set(), {"create_index", "create_doc"}),
        # ILM acts as the user who last wrote the policy: that user must be able to delete.
        ("log-retention", {"monitor", "manage_ilm", "manage_index_templates"}, {"manage", "delete_index"}),
    ]:
        for role_name in granted[user]:
            role = roles[role_name]
            assert set(role.get("cluster", [])) <= allowed_cluster, role_name
            for index in role["indices"]:
                assert index["names"] == ["k8s-logs-*"], role_name
                assert set(index["privileges"]) <= allowed_index, role_name
    output = release(plan, "fluent-bit")["inputs"]["values"]["config"]["outputs"]
    assert "Write_Operation create" in output  # what create_doc allows


def test_prometheus_reaches_its_targets_in_the_platform_namespaces(stack):
    plan, policies, retention, api_server = stack
    monitoring_targets = [  # the chart's own scrape targets, beside Prometheus
        (Pod("monitoring", {"app.kubernetes.io/name": "alertmanager"}), 9093),
        (Pod("monitoring", {"app.kubernetes.io/name": "kube-state-metrics"}), 8080),
        (Pod("monitoring", {"app.kubernetes.io/name": "prometheus-operator"}), 10250),
        (Pod("monitoring", {"app.kubernetes.io/name": "grafana"}), 3000),
        (PROMETHEUS, 9090),
    ]
    for target, port in [*monitoring_targets, (FLUENT_BIT, 2020)]:
        assert allowed(policies, PROMETHEUS, target, port), f"{target}:{port}"
