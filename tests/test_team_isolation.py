"""Team isolation, read from the dev and prod plans: the network paths into, out of and between
team namespaces (issue #13, findings 5 and 8), and what RBAC and admission let a team's people
do (finding 10)."""

from __future__ import annotations

import pytest

from conftest import PlanView
from network_policy_model import address, allowed, plan_policies, pod
from helpers import app_pod, k8s


@pytest.fixture(params=["dev", "prod"])
def stack(request, plans):
    return request.param, plans[request.param]


# --- Network paths (issue #13, findings 5 and 8): asked of the plan's NetworkPolicies -------------

TRAEFIK = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik-ingress"}
PROMETHEUS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator",
              "app.kubernetes.io/instance": "monitoring-prometheus"}
SOLVER = {"acme.cert-manager.io/http01-solver": "true", "acme.cert-manager.io/http-domain": "1234"}


def test_traefik_reaches_published_apps_and_the_acme_solver_only(stack):
    _, plan = stack
    policies = plan_policies(plan)
    traefik, neighbour = pod("ingress", TRAEFIK), pod("ingress", {"app.kubernetes.io/name": "debug"})
    assert allowed(policies, traefik, app_pod("shop", "frontend"), 8080)
    assert not allowed(policies, traefik, app_pod("shop", "frontend"), 9090)
    assert not allowed(policies, traefik, app_pod("shop", "backend"), 8080)
    assert not allowed(policies, neighbour, app_pod("shop", "frontend"), 8080)
    for team in ("shop", "analytics"):
        assert allowed(policies, traefik, pod(team, SOLVER), 8089), team
        assert not allowed(policies, traefik, pod(team, SOLVER), 8080), team
        assert not allowed(policies, neighbour, pod(team, SOLVER), 8089), team


def test_prometheus_scrapes_metrics_ports_and_nothing_else(stack):
    _, plan = stack
    policies = plan_policies(plan)
    prometheus, grafana = pod("monitoring", PROMETHEUS), pod("monitoring", {"app.kubernetes.io/name": "grafana"})
    assert allowed(policies, prometheus, app_pod("shop", "frontend"), 8080)
    assert allowed(policies, prometheus, app_pod("shop", "backend"), 8080)
    assert not allowed(policies, prometheus, app_pod("shop", "database"), 5432)
    assert not allowed(policies, prometheus, app_pod("shop", "frontend"), 22)
    assert not allowed(policies, grafana, app_pod("shop", "frontend"), 8080)


def test_apps_reach_their_dependencies_only(stack):
    _, plan = stack
    policies = plan_policies(plan)
    frontend, backend, database = (app_pod("shop", a) for a in ("frontend", "backend", "database"))
    assert allowed(policies, frontend, backend, 8080)
    assert allowed(policies, backend, database, 5432)
    assert not allowed(policies, frontend, database, 5432)
    assert not allowed(policies, database, backend, 8080)
    assert not allowed(policies, frontend, address("52.94.0.10"), 443)


def test_allow_from_namespaces_opens_the_callers_egress_too(plans):
    policies = plan_policies(plans["prod"])
    # analytics admits shop; shop's own default-deny egress must let it out.
    assert allowed(policies, app_pod("shop", "backend"), app_pod("analytics", "reports"), 8000)
    assert not allowed(policies, app_pod("analytics", "reports"), app_pod("shop", "backend"), 8080)
    assert not allowed(policies, app_pod("shop", "backend"), pod("monitoring", PROMETHEUS), 9090)


# --- Isolation (issue #13, finding 10): Ingress hosts and Secrets stay with their team ------------

def admission_policies(plan: PlanView) -> dict[str, dict]:
    policies = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"]
                for r in plan.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")}
    bindings = {r["inputs"]["spec"]["policyName"]: r["inputs"]["spec"]
                for r in plan.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")}
    for name in policies:
        # Bound, and denying (not just warning or auditing).
        assert bindings[name]["validationActions"] == ["Deny"], name
    return policies


def admits(policy: dict, obj: dict, groups: tuple[str, ...] = ("team:shop:developer",)) -> bool:
    """Evaluate a ValidatingAdmissionPolicy's CEL on one request, as the API server would."""
    celpy = pytest.importorskip("celpy", reason="cel-python (requirements-dev.txt) evaluates the policies' CEL")
    env = celpy.Environment()

    def evaluate(expression: str, activation: dict):
        result = env.program(env.compile(expression)).evaluate(activation)
        # celpy returns evaluation errors as values: one must fail the test, not read as false.
        assert not isinstance(result, celpy.evaluation.CELEvalError), (expression, result)
        return result

    request = {"kind": {"group": "", "version": "v1", "kind": obj["kind"]}, "operation": "CREATE",
               "userInfo": {"username": "someone", "groups": list(groups)}}
    activation = {"object": celpy.json_to_cel(obj), "request": celpy.json_to_cel(request)}
    if not all(bool(evaluate(c["expression"], activation)) for c in policy.get("matchConditions") or []):
        return True
    variables: dict = {}
    for variable in policy.get("variables") or []:
        activation["variables"] = celpy.json_to_cel(variables)
        variables[variable["name"]] = evaluate(variable["expression"], activation)
    activation["variables"] = celpy.celtypes.MapType(
        {celpy.celtypes.StringType(k): v for k, v in variables.items()})
    return all(bool(evaluate(v["expression"], activation)) for v in policy["validations"])


def ingress(host: str, tls_host: str | None = None, **spec) -> dict:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    body = {"rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}]}
    if tls_host:
        body["tls"] = [{"hosts": [tls_host], "secretName": "web-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web"},
            "spec": {**body, **spec}}


def test_a_team_ingress_can_only_claim_the_teams_hosts(stack):
    name, plan = stack
    policies = admission_policies(plan)
    shop, analytics = policies["team-shop-ingress-hosts"], policies["team-analytics-ingress-hosts"]
    assert shop["matchConstraints"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}
    assert shop["failurePolicy"] == "Fail"
    [rule] = shop["matchConstraints"]["resourceRules"]
    assert (rule["apiGroups"], rule["resources"], sorted(rule["operations"])) == (
        ["networking.k8s.io"], ["ingresses"], ["CREATE", "UPDATE"])
    domain = "dev.platform.example.com" if name == "dev" else "platform.example.com"
    own, grafana = f"shop.{domain}", f"grafana.{domain}"
    assert admits(shop, ingress(own, own))
    assert not admits(shop, ingress(grafana))
    assert not admits(shop, ingress(own, tls_host=f"kibana.{domain}"))
    assert not admits(shop, ingress(own, defaultBackend={"service": {"name": "web", "port": {"number": 80}}}))
    no_host = ingress(own)
    del no_host["spec"]["rules"][0]["host"]
    assert not admits(shop, no_host)
    # Another team's host is not this team's (analytics publishes nothing).
    assert not admits(analytics, ingress(own))
    # Even the team's admins: hosts are platform config, not namespace config.
    assert not admits(shop, ingress(grafana), groups=("team:shop:admin",))


def rules_granting(role: dict, resource: str, verbs: set[str]) -> list[dict]:
    return [rule for rule in role["rules"] if resource in rule["resources"] and verbs & set(rule["verbs"])]


def test_only_team_admins_can_read_secrets_through_their_role(stack):
    _, plan = stack
    roles = k8s(plan, "kubernetes:rbac.authorization.k8s.io/v1:Role", "shop")
    for level in ("developer", "viewer"):
        role = roles[f"team-{level}"]
        assert not rules_granting(role, "secrets", {"get", "list", "watch", "create", "update", "patch"}), level
        # A shell in a pod reads its Secret env vars and mounted Secret files.
        for subresource in ("pods/exec", "pods/attach", "pods/ephemeralcontainers", "serviceaccounts/token"):
            assert not rules_granting(role, subresource, {"create", "get", "update", "patch"}), (level, subresource)
    assert rules_granting(roles["team-admin"], "secrets", {"get"})
    assert rules_granting(roles["team-admin"], "pods/exec", {"create"})


def deployment(pod_spec: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": pod_spec}}}


def test_developers_cannot_ship_a_workload_that_reads_a_secret(stack):
    """Creating a pod that mounts a Secret is reading it: the team's developers may ship workloads,
    but none that use a Secret (the stack config ships those)."""
    _, plan = stack
    policy = admission_policies(plan)["team-shop-developer-secrets"]
    assert policy["matchConstraints"]["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}
    kinds = {r for rule in policy["matchConstraints"]["resourceRules"] for r in rule["resources"]}
    assert kinds == {"pods", "deployments", "statefulsets", "replicasets", "daemonsets", "jobs", "cronjobs"}
    plain = {"containers": [{"name": "web", "image": "web:1", "env": [{"name": "A", "value": "b"}]}]}
    assert admits(policy, deployment(plain))
    env_ref = {"name": "P", "valueFrom": {"secretKeyRef": {"name": "database-env", "key": "POSTGRES_PASSWORD"}}}
    for pod_spec in (
        {"containers": [{"name": "web", "image": "web:1", "env": [env_ref]}]},
        {"containers": [{"name": "web", "image": "web:1", "envFrom": [{"secretRef": {"name": "database-env"}}]}]},
        {"containers": plain["containers"], "initContainers": [{"name": "i", "image": "i:1", "env": [env_ref]}]},
        {"containers": plain["containers"], "volumes": [{"name": "s", "secret": {"secretName": "database-env"}}]},
        {"containers": plain["containers"], "volumes": [{"name": "s", "projected": {"sources": [
            {"secret": {"name": "database-env"}}]}}]},
    ):
        assert not admits(policy, deployment(pod_spec)), pod_spec
        assert admits(policy, deployment(pod_spec), groups=("team:shop:admin",))
    bad = {"containers": [{"name": "web", "image": "web:1", "env": [env_ref]}]}
    assert not admits(policy, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": bad})
    assert not admits(policy, {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"}, "spec": {
        "schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": bad}}}}})
