"""Monitoring (kube-prometheus-stack, alerts, dashboards) and EFK logging, from the plans."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from components.alert_rules import seed_alerts
from components.config import StackConfigError, parse_stack_config
from components.config.services import AlertThresholdsConfig, MonitoringConfig
from components.monitoring import alertmanager_config
from conftest import ROOT, PlanView
from helpers import is_secret, release
from policies.rules.helpers import containers, pod_spec
from preflight.check import Subject, evaluate
from preflight.stackfile import read_stack_file

RULE_TYPE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def alerts(plan: PlanView) -> dict[str, dict]:
    return {rule["alert"]: rule for resource in plan.of_type(RULE_TYPE)
            for group in resource["inputs"]["spec"]["groups"] for rule in group["rules"]}


def test_prod_prometheus_is_ha_persistent_with_retention(plans):
    spec = release(plans["prod"], "kube-prometheus-stack")["inputs"]["values"]["prometheus"]
    prometheus = spec["prometheusSpec"]
    assert prometheus["replicas"] == 2 and prometheus["retention"] == "30d"
    claim = prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "gp3" and claim["resources"]["requests"]["storage"] == "200Gi"
    assert spec["podDisruptionBudget"]["enabled"] is True
    assert any(c["topologyKey"] == "topology.kubernetes.io/zone" for c in prometheus["topologySpreadConstraints"])
    dev = release(plans["dev"], "kube-prometheus-stack")["inputs"]["values"]["prometheus"]["prometheusSpec"]
    assert dev["replicas"] == 1 and dev["retention"] == "7d"
    assert dev["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "20Gi"


def test_prod_alertmanager_runs_three_replicas(plans):
    prod = release(plans["prod"], "kube-prometheus-stack")["inputs"]["values"]["alertmanager"]
    assert prod["alertmanagerSpec"]["replicas"] == 3 and prod["podDisruptionBudget"]["enabled"] is True
    dev = release(plans["dev"], "kube-prometheus-stack")["inputs"]["values"]["alertmanager"]
    assert dev["alertmanagerSpec"]["replicas"] == 1 and dev["podDisruptionBudget"]["enabled"] is False


def test_prometheus_discovers_monitors_and_rules_in_every_namespace(plan: PlanView):
    spec = release(plan, "kube-prometheus-stack")["inputs"]["values"]["prometheus"]["prometheusSpec"]
    for key in ("serviceMonitorSelectorNilUsesHelmValues", "ruleSelectorNilUsesHelmValues",
                "podMonitorSelectorNilUsesHelmValues"):
        assert spec[key] is False
    assert spec["serviceMonitorNamespaceSelector"] == {} and spec["ruleNamespaceSelector"] == {}


def test_grafana_password_is_generated_and_secret(plan: PlanView):
    values = release(plan, "kube-prometheus-stack")["inputs"]["values"]["grafana"]
    assert "adminPassword" not in values
    assert values["admin"]["existingSecret"] == "grafana-admin"
    secret = plan.one("kubernetes:core/v1:Secret", "monitoring-grafana-admin")
    assert secret["inputs"]["metadata"]["name"] == "grafana-admin"
    assert is_secret(secret, "stringData.admin-password")
    password = plan.one("random:index/randomPassword:RandomPassword", "monitoring-grafana-password")
    assert password["urn"] in secret["dependencies"] and password["inputs"]["length"] >= 32
    assert values["persistence"]["enabled"] is True
    assert plan.data["outputs"]["grafanaAdminPassword"] == "[secret]"


SEEDS = {
    "HighCPUUsage": ("* 100 > 80", "5m"),
    "HighMemoryUsage": (f"> {8 * 2**30}", "5m"),
    "ServiceDown": ("up == 0", "2m"),
    "HighErrorRate": ("> 0.05", "5m"),
    "HighRequestLatency": ("> 0.5", "10m"),
}


def test_seed_alerts_with_their_thresholds_and_durations(plan: PlanView):
    found = alerts(plan)
    for name, (threshold, duration) in SEEDS.items():
        assert name in found, name
        assert found[name]["expr"].endswith(threshold), found[name]["expr"]
        assert found[name]["for"] == duration
    assert 'status=~"5.."' in found["HighErrorRate"]["expr"]
    assert found["HighRequestLatency"]["expr"].startswith("histogram_quantile(0.95")


def test_seed_thresholds_follow_config():
    custom = AlertThresholdsConfig.model_validate({"cpuPercent": 90, "cpuFor": "10m", "latencySeconds": 1.5})
    by_name = {rule["alert"]: rule for rule in seed_alerts(custom)}
    assert by_name["HighCPUUsage"]["expr"].endswith("> 90") and by_name["HighCPUUsage"]["for"] == "10m"
    assert by_name["HighRequestLatency"]["expr"].endswith("> 1.5")


@pytest.mark.parametrize("name, fragment, duration", [
    ("NodeNotReady", 'kube_node_status_condition{condition="Ready",status="true"} == 0', "5m"),
    ("PodPendingTooLong", 'phase="Pending"', "10m"),
    ("PodCrashLooping", 'reason="CrashLoopBackOff"', "15m"),
    ("PersistentVolumeFillingUp", "> 0.85", "5m"),
    ("CertificateExpiringSoon", "< 14 * 24 * 3600", "1h"),
])
def test_platform_alerts(plans, name, fragment, duration):
    rule = alerts(plans["prod"])[name]
    assert fragment in rule["expr"] and rule["for"] == duration


def test_cluster_dashboard_is_a_sidecar_configmap(plan: PlanView):
    maps = [r for r in plan.of_type("kubernetes:core/v1:ConfigMap")
            if r["inputs"]["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    names = {m["inputs"]["metadata"]["name"] for m in maps}
    assert "dashboard-cluster-overview" in names
    board = json.loads(next(iter(next(m for m in maps if m["inputs"]["metadata"]["name"] ==
                                     "dashboard-cluster-overview")["inputs"]["data"].values())))
    assert board["uid"] and board["panels"] and all(p["targets"][0]["expr"] for p in board["panels"])
    sidecar = release(plan, "kube-prometheus-stack")["inputs"]["values"]["grafana"]["sidecar"]["dashboards"]
    assert sidecar["label"] == "grafana_dashboard" and sidecar["searchNamespace"] == "ALL"


def test_receivers_come_from_config_and_their_credentials_stay_secret(variants):
    plan = variants["prod"]  # monitoring.receivers: oncall (PagerDuty) and slack (tests/variants.py)
    stack_release = release(plan, "kube-prometheus-stack")
    alertmanager = stack_release["inputs"]["values"]["alertmanager"]["config"]
    assert alertmanager["route"]["receiver"] == "oncall"
    names = [r["name"] for r in alertmanager["receivers"]]
    assert names == ["null", "oncall", "slack"]
    assert alertmanager["receivers"][2]["slack_configs"][0]["channel"] == "#alerts"
    assert is_secret(stack_release, "values.alertmanager.config.receivers[1].pagerduty_configs[0].routing_key")
    assert is_secret(stack_release, "values.alertmanager.config.receivers[2].slack_configs[0].api_url")
    assert not is_secret(stack_release, "values.prometheus.prometheusSpec.replicas")


# -- Logging --------------------------------------------------------------------------------

def elasticsearch(plan: PlanView) -> dict:
    return plan.one("kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch")["inputs"]["spec"]


def test_prod_elasticsearch_has_three_zone_spread_nodes_on_retained_volumes(plans):
    prod = elasticsearch(plans["prod"])["nodeSets"][0]
    assert prod["count"] == 3
    claim = prod["volumeClaimTemplates"][0]["spec"]
    assert claim["storageClassName"] == "gp3-retain" and claim["resources"]["requests"]["storage"] == "200Gi"
    assert elasticsearch(plans["prod"])["volumeClaimDeletePolicy"] == "DeleteOnScaledownOnly"
    pod = prod["podTemplate"]["spec"]
    assert any(c["topologyKey"] == "topology.kubernetes.io/zone" and c["whenUnsatisfiable"] == "DoNotSchedule"
               for c in pod["topologySpreadConstraints"])
    container = pod["containers"][0]
    assert {"name": "ES_JAVA_OPTS", "value": "-Xms4096m -Xmx4096m"} in container["env"]
    assert container["resources"]["limits"]["memory"] == "8Gi"

    dev = elasticsearch(plans["dev"])["nodeSets"][0]
    assert dev["count"] == 1 and dev["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gp3"


def test_the_retain_storage_class_keeps_volumes(plan: PlanView):
    classes = {r["inputs"]["metadata"]["name"]: r["inputs"] for r in plan.of_type("kubernetes:storage.k8s.io/v1:StorageClass")}
    assert classes["gp3-retain"]["reclaimPolicy"] == "Retain"


def test_kibana_is_published_over_tls(plan: PlanView):
    kibana = plan.one("kubernetes:kibana.k8s.elastic.co/v1:Kibana")["inputs"]["spec"]
    assert kibana["elasticsearchRef"] == {"name": "logs"}
    ingress = [i for i in plan.of_type("kubernetes:networking.k8s.io/v1:Ingress")
               if i["inputs"]["metadata"]["name"] == "kibana"]
    assert len(ingress) == 1
    spec = ingress[0]["inputs"]["spec"]
    assert spec["tls"][0]["hosts"] == [spec["rules"][0]["host"]]
    assert spec["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "logs-kb-http",
                                                                         "port": {"number": 5601}}


def test_fluent_bit_ships_over_tls_as_its_own_user_and_reads_only_log_dirs(plan: PlanView):
    values = release(plan, "fluent-bit")["inputs"]["values"]
    output = values["config"]["outputs"]
    assert "tls On" in output and "tls.verify On" in output and "HTTP_Passwd ${ES_PASSWORD}" in output
    assert "HTTP_User fluent-bit\n" in output
    assert values["env"] == [{"name": "ES_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "es-user-fluent-bit", "key": "password"}}}]
    host_paths = [v["hostPath"]["path"] for v in values["daemonSetVolumes"]]
    assert host_paths == ["/var/log/containers", "/var/log/pods"]
    assert all(m["readOnly"] is True for m in values["daemonSetVolumeMounts"])
    assert values["securityContext"]["readOnlyRootFilesystem"] is True
    assert values["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert values["kind"] == "DaemonSet"


@pytest.mark.parametrize("stack, days", [("dev", 7), ("prod", 30)])
def test_log_retention_is_an_index_lifecycle_policy(plans, stack, days):
    job = plans[stack].one("kubernetes:batch/v1:Job")
    env = {e["name"]: e.get("value") for e in job["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    policy = json.loads(env["POLICY"])
    assert policy["policy"]["phases"]["delete"] == {"min_age": f"{days}d", "actions": {"delete": {}}}
    template = json.loads(env["TEMPLATE"])
    assert template["index_patterns"] == ["k8s-logs-*"]
    assert template["template"]["settings"]["index.lifecycle.name"] == env["POLICY_NAME"]
    assert "Logstash_Prefix k8s-logs" in release(plans[stack], "fluent-bit")["inputs"]["values"]["config"]["outputs"]
    # Fluent Bit starts after the policy exists, so no index is born without it.
    assert job["urn"] in release(plans[stack], "fluent-bit")["dependencies"]


# -- Pods that must run as non-root name a numeric user (issue #13, finding 1) -------------

POD_TEMPLATE_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob")


def non_root_pods_without_numeric_user(plan: PlanView) -> list[str]:
    """Containers whose effective runAsNonRoot is true but whose effective runAsUser or
    runAsGroup is not a number: the kubelet refuses an image whose USER is a name."""
    found = []
    for resource in plan.resources:
        if resource["type"].rsplit(":", 1)[-1] not in POD_TEMPLATE_KINDS:
            continue
        spec = pod_spec(resource["type"], resource["inputs"])
        pod = spec.get("securityContext") or {}
        for label, container in containers(spec):
            own = container.get("securityContext") or {}
            if own.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
                continue
            for field in ("runAsUser", "runAsGroup"):
                if not isinstance(own.get(field, pod.get(field)), int):
                    found.append(f"{resource['name']} {label}: no numeric {field}")
    return found


def test_every_non_root_pod_names_a_numeric_user_and_group(plan: PlanView):
    assert plan.one("kubernetes:batch/v1:Job")  # the ILM Job that never started
    assert non_root_pods_without_numeric_user(plan) == []


def test_the_gate_refuses_a_non_root_pod_without_a_numeric_user(plans):
    job = copy.deepcopy(plans["dev"].one("kubernetes:batch/v1:Job"))
    props = job["inputs"]
    assert "run-as-non-root-needs-numeric-user" not in {
        v.policy for v in evaluate([Subject(job["type"], job["name"], job["urn"], props)], {"all": "mandatory"})}
    for context in (props["spec"]["template"]["spec"]["securityContext"],
                    props["spec"]["template"]["spec"]["containers"][0]["securityContext"]):
        context.pop("runAsUser", None)
    found = evaluate([Subject(job["type"], job["name"], job["urn"], props)], {"all": "mandatory"})
    assert any(v.policy == "run-as-non-root-needs-numeric-user" and "runAsUser" in v.message for v in found)


# -- kube-prometheus-stack PDBs (finding 3) -----------------------------------------------

def test_stack_pdbs_set_exactly_one_budget_over_the_chart_defaults(plans, reference):
    # The chart's PDB template writes every key under podDisruptionBudget but `enabled` into the
    # spec, and its defaults hold minAvailable: 1. A null meant to delete that default may not
    # survive the trip to Helm, so it counts as set here.
    chart = yaml.safe_load((reference / "charts" / "kube-prometheus-stack" / "values.yaml").read_text())
    for stack, plan in plans.items():
        values = release(plan, "kube-prometheus-stack")["inputs"]["values"]
        for component, replicas_key in (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec")):
            ours = values[component]["podDisruptionBudget"]
            assert None not in ours.values(), f"{stack} {component}: {ours}"
            budget = {**chart[component]["podDisruptionBudget"], **ours}
            assert len({"minAvailable", "maxUnavailable"} & set(budget)) == 1, f"{stack} {component}: {budget}"
            replicas = values[component][replicas_key]["replicas"]
            if budget["enabled"]:
                # One replica at a time may go: a drain is never blocked, quorum never lost.
                assert budget.get("minAvailable", replicas - 1) == replicas - 1


# -- Published consoles wait for the ingress controller (finding 4) ------------------------

@pytest.mark.parametrize("console", ["grafana", "kibana"])
def test_console_ingress_is_created_after_the_ingress_controller(plan: PlanView, console):
    ingress = [i for i in plan.of_type("kubernetes:networking.k8s.io/v1:Ingress")
               if i["inputs"]["metadata"]["name"] == console]
    assert len(ingress) == 1
    assert release(plan, "traefik")["urn"] in ingress[0]["dependencies"]


def test_grafana_ingress_keeps_the_urn_it_had_inside_monitoring(plan: PlanView):
    """Until ec7aec4 the Ingress was Monitoring's child `monitoring-grafana-ingress`; without the
    alias `pulumi up` on an existing stack would delete it and create it again (and Traefik
    would serve no Grafana in between)."""
    ingress = plan.one("kubernetes:networking.k8s.io/v1:Ingress", "grafana-ingress")
    stack = plan.data["stack"]
    old_urn = (f"urn:pulumi:{stack}::eks-platform::eks-platform:observability:Monitoring"
               f"$kubernetes:networking.k8s.io/v1:Ingress::monitoring-grafana-ingress")
    assert old_urn in ingress.get("aliases", []), ingress.get("aliases")
    assert old_urn not in plan.by_urn, "no resource of today's program holds the old URN"


# -- Grafana reads ConfigMaps only, and upgrades without Multi-Attach (finding 6) ----------

def test_grafana_sidecars_read_configmaps_only_through_a_configmap_only_cluster_role(plan: PlanView):
    grafana = release(plan, "kube-prometheus-stack")["inputs"]["values"]["grafana"]
    for sidecar in ("dashboards", "datasources"):
        # The chart's default is `both`: ConfigMaps and Secrets.
        assert grafana["sidecar"][sidecar]["resource"] == "configmap", sidecar
    # The chart's own ClusterRole grants configmaps *and* secrets whenever a sidecar is on.
    role_name = grafana["rbac"]["useExistingClusterRole"]
    roles = [r for r in plan.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
             if r["inputs"]["metadata"]["name"] == role_name]
    assert len(roles) == 1
    assert roles[0]["inputs"]["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                                            "verbs": ["get", "list", "watch"]}]
    assert roles[0]["urn"] in release(plan, "kube-prometheus-stack")["dependencies"]


def test_kube_state_metrics_does_not_read_secrets(plan: PlanView):
    # The subchart's default `collectors` include secrets, and its ClusterRole then lists and
    # watches every Secret in the cluster (templates/role.yaml: `if has "secrets"
    # $activeCollectors`); Secret metadata is not worth that grant.
    ksm = release(plan, "kube-prometheus-stack")["inputs"]["values"]["kube-state-metrics"]
    assert "secrets" in ksm["collectorsExclude"]


def test_grafana_on_a_read_write_once_volume_is_recreated_not_rolled(plan: PlanView):
    grafana = release(plan, "kube-prometheus-stack")["inputs"]["values"]["grafana"]
    assert grafana["persistence"]["enabled"] is True
    assert grafana["persistence"].get("accessModes", ["ReadWriteOnce"]) == ["ReadWriteOnce"]
    assert grafana["deploymentStrategy"] == {"type": "Recreate"}


# -- Alerts reach someone; no monitor EKS cannot serve (finding 7) -------------------------

def prod_values() -> dict:
    return copy.deepcopy(read_stack_file(ROOT / "Pulumi.prod.yaml").project_values)


def config_problems(raw: dict) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return [str(issue) for issue in caught.value.issues]


def test_prod_without_a_receiver_is_a_config_error():
    raw = prod_values()
    raw["monitoring"].pop("receivers", None)
    raw["monitoring"].pop("defaultReceiver", None)
    found = config_problems(raw)
    assert any(p.startswith("monitoring.receivers:") and "pulumi config set --secret" in p for p in found), found
    dev = copy.deepcopy(read_stack_file(ROOT / "Pulumi.dev.yaml").project_values)
    assert not parse_stack_config(dev).monitoring.receivers  # dev may alert nowhere


def test_a_receiver_must_send_somewhere():
    raw = prod_values()
    raw["monitoring"]["receivers"] = [{"name": "oncall"}]
    raw["monitoring"]["defaultReceiver"] = "oncall"
    assert any(p.startswith("monitoring.receivers[0]") and "slackApiUrl" in p for p in config_problems(raw))


def test_shipped_prod_routes_alerts_to_a_receiver_with_a_secret_credential(plans):
    stack_release = release(plans["prod"], "kube-prometheus-stack")
    alertmanager = stack_release["inputs"]["values"]["alertmanager"]["config"]
    default = alertmanager["route"]["receiver"]
    assert default != "null"
    (index, entry), = [(i, r) for i, r in enumerate(alertmanager["receivers"]) if r["name"] == default]
    credentials = [f"{key}[0].{field}" for key, field in (("pagerduty_configs", "routing_key"),
                                                           ("slack_configs", "api_url")) if key in entry]
    assert credentials
    assert all(is_secret(stack_release, f"values.alertmanager.config.receivers[{index}].{path}")
               for path in credentials)


def test_without_a_default_receiver_alerts_go_to_the_first_receiver():
    config = MonitoringConfig.model_validate({"receivers": [
        {"name": "oncall", "pagerdutyRoutingKey": "k"}, {"name": "chat", "slackApiUrl": "https://hooks.example"}]})
    assert alertmanager_config(config)["route"]["receiver"] == "oncall"
    assert alertmanager_config(MonitoringConfig())["route"]["receiver"] == "null"


# EKS runs these control-plane parts out of reach, and its kube-proxy serves metrics on
# 127.0.0.1 only: their monitors would never scrape and their Down alerts fire forever.
UNREACHABLE_ON_EKS = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


def test_control_plane_monitors_eks_does_not_expose_are_off(plan: PlanView, reference):
    values = release(plan, "kube-prometheus-stack")["inputs"]["values"]
    chart = yaml.safe_load((reference / "charts" / "kube-prometheus-stack" / "values.yaml").read_text())
    for component in UNREACHABLE_ON_EKS:
        assert chart[component]["enabled"] is True  # on unless we say so
        assert values[component]["enabled"] is False, component
    for component in ("kubeApiServer", "kubelet", "coreDns"):
        assert values.get(component, {}).get("enabled", True) is True, component
