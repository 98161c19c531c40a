"""Teams and apps: every generated object, read from the dev and prod plans."""

from __future__ import annotations

import copy
import json

import pytest

from components.config import StackConfigError, parse_stack_config
from conftest import ROOT, PlanView
from helpers import app_pod, k8s
from network_policy_model import address, allowed, plan_policies, pod
from preflight.stackfile import read_stack_file

TEAMS = {"dev": {"shop": ["frontend", "backend", "database"], "analytics": ["reports"]},
         "prod": {"shop": ["frontend", "backend", "database"], "analytics": ["reports"]}}


@pytest.fixture(params=["dev", "prod"])
def stack(request, plans):
    return request.param, plans[request.param]


def test_team_namespaces_enforce_restricted_pinned(stack):
    name, plan = stack
    namespaces = k8s(plan, "kubernetes:core/v1:Namespace")
    for team in TEAMS[name]:
        labels = namespaces[team]["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
            assert labels[f"pod-security.kubernetes.io/{mode}-version"] == \
                f"v{plan.one('eks:index:Cluster')['inputs']['version']}"


def test_quota_and_limit_range_seed_defaults_and_overrides(plans):
    analytics = k8s(plans["prod"], "kubernetes:core/v1:ResourceQuota", "analytics")["team-quota"]["spec"]["hard"]
    assert analytics == {"requests.cpu": "20", "requests.memory": "40Gi", "limits.cpu": "40",
                         "limits.memory": "80Gi", "requests.storage": "200Gi", "persistentvolumeclaims": "20",
                         "services.loadbalancers": "0", "services.nodeports": "0"}
    shop = k8s(plans["prod"], "kubernetes:core/v1:ResourceQuota", "shop")["team-quota"]["spec"]["hard"]
    assert shop["requests.cpu"] == "40" and shop["limits.memory"] == "160Gi"
    limits = k8s(plans["dev"], "kubernetes:core/v1:LimitRange", "shop")["team-limits"]["spec"]["limits"][0]
    assert limits == {"type": "Container", "default": {"cpu": "500m", "memory": "1Gi"},
                      "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                      "max": {"cpu": "2", "memory": "4Gi"}, "min": {"cpu": "100m", "memory": "128Mi"}}


def test_namespace_network_policies(plans):
    policies = k8s(plans["prod"], "kubernetes:networking.k8s.io/v1:NetworkPolicy", "analytics")
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = policies["allow-dns"]["spec"]["egress"][0]
    assert dns["to"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
    assert {p["port"] for p in dns["ports"]} == {53}
    # Nothing namespace-wide from monitoring or the ingress controller: each app opens its own port.
    assert set(policies) == {"default-deny", "allow-dns", "allow-acme-http01-solver", "allow-from-namespaces",
                             "app-reports"}
    admitted = policies["allow-from-namespaces"]["spec"]["ingress"][0]["from"]
    assert [s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in admitted] == ["shop"]
    shop = k8s(plans["prod"], "kubernetes:networking.k8s.io/v1:NetworkPolicy", "shop")
    assert "allow-from-namespaces" not in shop
    assert shop["allow-to-namespaces"]["spec"]["egress"] == [{"to": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "analytics"}}}]}]


def test_rbac_from_iam_through_access_entries_without_wildcards(stack):
    _, plan = stack
    roles = k8s(plan, "kubernetes:rbac.authorization.k8s.io/v1:Role", "shop")
    assert set(roles) == {"team-admin", "team-developer", "team-viewer"}
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
    secrets = {n: any("secrets" in r["resources"] for r in role["rules"]) for n, role in roles.items()}
    assert secrets == {"team-admin": True, "team-developer": False, "team-viewer": False}
    bindings = k8s(plan, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "shop")
    for level in ("admin", "developer", "viewer"):
        binding = bindings[f"team-{level}"]
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"team-{level}"}
        assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                                        "name": f"team:shop:{level}"}]
    entries = {e["inputs"]["principalArn"]: e["inputs"] for e in plan.of_type("aws:eks/accessEntry:AccessEntry")
               if e["inputs"].get("type") != "EC2_LINUX"}  # Karpenter's nodes (tests/test_karpenter.py)
    assert entries["arn:aws:iam::123456789012:role/shop-developer"]["kubernetesGroups"] == ["team:shop:developer"]
    assert entries["arn:aws:iam::123456789012:role/analytics-developer"]["kubernetesGroups"] == [
        "team:analytics:developer"]
    assert all(e["type"] == "STANDARD" and e["clusterName"].startswith("eks-platform-") for e in entries.values())


def test_every_app_has_its_objects(stack):
    name, plan = stack
    for team, apps in TEAMS[name].items():
        accounts = k8s(plan, "kubernetes:core/v1:ServiceAccount", team)
        services = k8s(plan, "kubernetes:core/v1:Service", team)
        pdbs = k8s(plan, "kubernetes:policy/v1:PodDisruptionBudget", team)
        policies = k8s(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", team)
        dashboards = k8s(plan, "kubernetes:core/v1:ConfigMap", team)
        for app in apps:
            assert accounts[app]["automountServiceAccountToken"] is False
            assert services[app]["spec"]["type"] == "ClusterIP"
            assert f"app-{app}" in policies and f"dashboard-{app}" in dashboards
            # One pod at a time may go: a node drain is never blocked.
            assert pdbs[app]["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdbs[app]["spec"]
            assert pdbs[app]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == app


def workload(plan: PlanView, team: str, app: str) -> dict:
    for kind in ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"):
        found = k8s(plan, kind, team)
        if app in found:
            return found[app]
    raise AssertionError(f"no workload {team}/{app}")


def test_deployment_is_hardened_probed_bounded(stack):
    name, plan = stack
    deployment = workload(plan, "shop", "backend")
    assert deployment["_resource"]["type"] == "kubernetes:apps/v1:Deployment"
    spec = deployment["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    pod = spec["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    container = pod["containers"][0]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in pod["volumes"]
    spread = pod["topologySpreadConstraints"]
    if name == "prod":
        assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    else:
        assert spread == []


def test_hpa_targets_cpu_and_memory_with_scaling_behaviour(plans):
    hpa = k8s(plans["prod"], "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "shop")["frontend"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 0
    deployment = workload(plans["prod"], "shop", "frontend")["_resource"]
    assert deployment["inputs"]["spec"]["replicas"] == 3
    assert "database" not in k8s(plans["prod"], "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "shop")


def test_app_network_policy_follows_dependencies(plans):
    policies = k8s(plans["dev"], "kubernetes:networking.k8s.io/v1:NetworkPolicy", "shop")
    frontend, backend, database = (policies[f"app-{a}"]["spec"] for a in ("frontend", "backend", "database"))
    ingress_ns = frontend["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert ingress_ns == {"kubernetes.io/metadata.name": "ingress"}
    assert frontend["egress"] == [{"to": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "backend", "app.kubernetes.io/instance": "shop-backend"}}}],
        "ports": [{"protocol": "TCP", "port": 8080}]}]
    callers = [s["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for s in backend["ingress"][0]["from"]]
    assert callers == ["frontend"]
    assert backend["egress"][0]["ports"] == [{"protocol": "TCP", "port": 5432}]
    assert database["egress"] == [] and database["policyTypes"] == ["Ingress", "Egress"]
    assert [s["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for s in database["ingress"][0]["from"]] == [
        "backend"]


def test_app_with_host_gets_a_tls_ingress(plans):
    ingress = k8s(plans["prod"], "kubernetes:networking.k8s.io/v1:Ingress", "shop")
    assert set(ingress) == {"frontend"}
    spec = ingress["frontend"]["spec"]
    assert spec["tls"] == [{"hosts": ["shop.platform.example.com"], "secretName": "frontend-tls"}]
    assert ingress["frontend"]["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"


def test_metrics_apps_get_a_service_monitor_and_alert_rules(plans):
    monitors = k8s(plans["prod"], "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "shop")
    assert set(monitors) == {"frontend", "backend"}
    assert monitors["frontend"]["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    rules = k8s(plans["prod"], "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "shop")
    frontend = {r["alert"]: r for r in rules["frontend-alerts"]["spec"]["groups"][0]["rules"]}
    assert frontend["FrontendHighErrorRate"]["expr"].endswith("> 0.02")
    assert 'service="frontend"' in frontend["FrontendHighErrorRate"]["expr"]
    assert frontend["FrontendHighRequestLatency"]["expr"].endswith("> 0.3")
    release = next(r for r in plans["prod"].of_type("kubernetes:helm.sh/v3:Release")
                   if r["inputs"]["chart"] == "kube-prometheus-stack")
    assert release["urn"] in monitors["frontend"]["_resource"]["dependencies"]


def test_database_is_a_stateful_set_with_its_volume(plans):
    database = workload(plans["prod"], "shop", "database")
    assert database["_resource"]["type"] == "kubernetes:apps/v1:StatefulSet"
    spec = database["spec"]
    assert spec["serviceName"] == "database-headless"
    claim = spec["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"
    container = spec["template"]["spec"]["containers"][0]
    assert {"name": "data", "mountPath": "/var/lib/postgresql/data"} in container["volumeMounts"]
    assert container["livenessProbe"]["tcpSocket"] == {"port": "http"}
    headless = k8s(plans["prod"], "kubernetes:core/v1:Service", "shop")["database-headless"]
    assert headless["spec"]["clusterIP"] == "None"


def test_the_sample_database_runs_read_only_as_the_postgres_user(stack):
    """Issue #13, finding 2: an image that exists, its own numeric user, emptyDirs where it
    writes, PGDATA below the volume's root, and its password from a Pulumi secret."""
    _, plan = stack
    database = workload(plan, "shop", "database")["spec"]["template"]["spec"]
    container = database["containers"][0]
    # The official Debian image: postgres is uid/gid 999 (docker-library/postgres 16/bookworm).
    assert container["image"].startswith("docker.io/library/postgres:16.")
    assert container["image"].endswith("-bookworm")
    assert {k: database["securityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")} == {
        "runAsUser": 999, "runAsGroup": 999, "fsGroup": 999}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in database["volumes"]}
    for path in ("/tmp", "/var/run/postgresql"):
        assert "emptyDir" in volumes[mounts[path]], path
    env = {e["name"]: e for e in container["env"]}
    assert env["PGDATA"]["value"] == "/var/lib/postgresql/data/pgdata"
    assert env["PGDATA"]["value"].startswith(next(p for p, n in mounts.items() if n == "data") + "/")
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "database-env", "key": "POSTGRES_PASSWORD"}
    secret = k8s(plan, "kubernetes:core/v1:Secret", "shop")["database-env"]["_resource"]
    assert any("stringData.POSTGRES_PASSWORD".startswith(p) for p in secret["secretPaths"])


def test_the_backend_reads_the_database_password_from_the_database_secret(stack):
    _, plan = stack
    backend = workload(plan, "shop", "backend")
    env = {e["name"]: e for e in backend["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DATABASE_PASSWORD"] == {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "database-env", "key": "POSTGRES_PASSWORD"}}}
    # One Secret, owned by the database: the backend waits for it instead of crash-looping.
    secret = k8s(plan, "kubernetes:core/v1:Secret", "shop")["database-env"]["_resource"]
    assert secret["urn"] in backend["_resource"]["dependencies"]
    assert "backend-env" not in k8s(plan, "kubernetes:core/v1:Secret", "shop")


def test_stateful_volumes_are_retained_in_prod_and_deleted_in_dev(plans, variant):
    """Issue #12, finding 11: a database volume must outlive a deleted claim in prod."""
    def storage_class(plan):
        return workload(plan, "shop", "database")["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"]

    assert storage_class(plans["prod"]) == "gp3-retain"
    assert storage_class(plans["dev"]) == "gp3"
    # stateful.retainVolume overrides the environment's default.
    assert storage_class(variant) == "gp3-retain"


def test_a_stateful_app_gets_no_hpa_unless_asked_and_keeps_its_replicas(variant):
    """Issue #13, finding 11: the database in the variant says nothing about autoscaling."""
    hpas = k8s(variant, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "shop")
    assert "database" not in hpas and "backend" in hpas
    database = workload(variant, "shop", "database")
    assert database["spec"]["replicas"] == 1


@pytest.mark.parametrize("app", [
    {"replicas": 3},
    {"replicas": 3, "autoscaling": {"minReplicas": 2}},
    {"replicas": 3, "stateful": {}, "autoscaling": {}},
])
def test_replicas_with_autoscaling_is_a_config_error_naming_both_keys(app):
    raw = copy.deepcopy(read_stack_file(ROOT / "Pulumi.dev.yaml").project_values)
    raw["teams"] = [{"name": "shop", "apps": [{"name": "web", "image": "ghcr.io/example/web:1.0.0", **app}]}]
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    found = [str(issue) for issue in caught.value.issues]
    assert any(p.startswith("teams[0].apps[0]") and "replicas" in p and "autoscaling" in p for p in found), found


def test_replicas_alone_is_fine_for_a_stateful_app_or_without_autoscaling():
    raw = copy.deepcopy(read_stack_file(ROOT / "Pulumi.dev.yaml").project_values)
    raw["teams"] = [{"name": "shop", "apps": [
        {"name": "db", "image": "ghcr.io/example/db:1.0.0", "replicas": 3, "stateful": {}},
        {"name": "web", "image": "ghcr.io/example/web:1.0.0", "replicas": 3, "autoscaling": None},
        {"name": "api", "image": "ghcr.io/example/api:1.0.0"},
    ]}]
    apps = {app.name: app for app in parse_stack_config(raw).teams[0].apps}
    assert apps["db"].autoscaling is None and apps["db"].replicas == 3
    assert apps["web"].autoscaling is None
    # A Deployment still autoscales by default.
    assert apps["api"].autoscaling is not None and apps["api"].autoscaling.min_replicas == 2


@pytest.fixture(scope="module")
def variant(variants) -> PlanView:
    """dev with the options the shipped stacks leave off (tests/variants.py: the backend's secret,
    IRSA policies and mounted token; the database's single replica and retained volume)."""
    return variants["dev"]


def test_secrets_and_irsa_from_config(variant):
    plan = variant

    secret = k8s(plan, "kubernetes:core/v1:Secret", "shop")["backend-env"]
    assert any("stringData.API_TOKEN".startswith(p) for p in secret["_resource"]["secretPaths"])
    deployment = workload(plan, "shop", "backend")
    env = {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["API_TOKEN"] == {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "backend-env", "key": "API_TOKEN"}}}
    assert secret["_resource"]["urn"] in deployment["_resource"]["dependencies"]
    # The value is in the Secret only, never in the pod spec.
    placeholder = secret["stringData"]["API_TOKEN"]
    assert placeholder not in json.dumps(deployment["spec"])

    account = k8s(plan, "kubernetes:core/v1:ServiceAccount", "shop")["backend"]
    # Asked for: left to the default (true), never set explicitly (policy no-automount-service-account-token).
    assert "automountServiceAccountToken" not in account
    assert "automountServiceAccountToken" not in deployment["spec"]["template"]["spec"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    trust = json.loads(plan.one("aws:iam/role:Role", "team-shop-backend-irsa-role")["inputs"]["assumeRolePolicy"])
    assert "system:serviceaccount:shop:backend" in trust["Statement"][0]["Condition"]["StringEquals"].values()


def config_problems(apps: list[dict]) -> list[str]:
    raw = copy.deepcopy(read_stack_file(ROOT / "Pulumi.dev.yaml").project_values)
    raw["teams"] = [{"name": "shop", "apps": apps}]
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return [str(issue) for issue in caught.value.issues]


def test_secret_refs_must_name_a_secret_another_app_owns():
    image = "ghcr.io/example/app:1.0.0"
    db = {"name": "db", "image": image, "stateful": {}, "secrets": {"PASSWORD": "x"}}
    found = config_problems([db, {"name": "api", "image": image, "secretRefs": {
        "A": {"app": "nope", "key": "PASSWORD"}, "B": {"app": "db", "key": "USER"}, "C": {"app": "api", "key": "X"}}}])
    assert any(p.startswith("teams[0].apps[1].secretRefs.A.app: no app named 'nope'") for p in found), found
    assert any(p.startswith("teams[0].apps[1].secretRefs.B.key: app 'db' has no secret 'USER'") for p in found), found
    assert any(p.startswith("teams[0].apps[1].secretRefs.C.app: names the app itself") for p in found), found
    circle = config_problems([{**db, "secretRefs": {"TOKEN": {"app": "api", "key": "TOKEN"}}},
                              {"name": "api", "image": image, "secrets": {"TOKEN": "x"},
                               "secretRefs": {"PASSWORD": {"app": "db", "key": "PASSWORD"}}}])
    assert any(p.startswith("teams[0].apps: secretRefs go round in a circle") for p in circle), circle


@pytest.mark.parametrize("paths, message", [
    (["var/run"], "must be an absolute directory"),
    (["/tmp"], "/tmp is always writable"),
    (["/run", "/run"], "lists a directory twice"),
])
def test_writable_paths_are_absolute_and_new(paths, message):
    found = config_problems([{"name": "web", "image": "ghcr.io/example/web:1.0.0", "writablePaths": paths}])
    assert any(p.startswith("teams[0].apps[0].writablePaths") and message in p for p in found), found


# --- Egress to the API server and AWS (issue #13, finding 8); the other paths: test_team_isolation.py

def test_api_server_and_aws_egress_only_for_apps_that_asked(variant):
    """The variant's backend mounts its token and has IRSA policies; the frontend neither."""
    policies = plan_policies(variant)
    backend, frontend = app_pod("shop", "backend"), app_pod("shop", "frontend")
    # The API server as the pod dials it (the `kubernetes` Service in `default`, which the VPC CNI's
    # controller resolves to its ClusterIP) and after DNAT (an EKS-owned ENI in the VPC, dev 10.10/16).
    kubernetes_service, api_eni = pod("default", {}), address("10.10.1.20")
    for target in (kubernetes_service, api_eni):
        assert allowed(policies, backend, target, 443)
        assert not allowed(policies, backend, target, 10250)
        assert not allowed(policies, frontend, target, 443)
    # STS and the AWS APIs the policies grant: public endpoints on 443.
    assert allowed(policies, backend, address("52.94.0.10"), 443)
    assert not allowed(policies, backend, address("52.94.0.10"), 80)
    assert not allowed(policies, frontend, address("52.94.0.10"), 443)
