"""Workload kinds (components/app_kinds.py): one table drives both the App's wiring and the
config model's checks, and the specs are pure functions tests call directly."""

from __future__ import annotations

import pytest

from components.app_features import (AUTOSCALING, DISRUPTION_BUDGET, EXPOSURE, FEATURE_KEYS, HEADLESS_SERVICE,
                                     METRICS, SERVICE)
from components.app_kinds import WORKLOAD_KINDS, WorkloadPlacement, features_in_use, kind_of
from components.app_specs import hpa_spec
from components.config import StackConfigError, parse_stack_config
from components.config.tenancy import AppConfig
from helpers import k8s, shipped_config, with_app

IMAGE = "ghcr.io/example/app:1.0.0"

# The objects a feature puts beside the workload, by plan type and how the object is named.
FEATURE_OBJECTS = {
    SERVICE: ("kubernetes:core/v1:Service", "{app}"),
    HEADLESS_SERVICE: ("kubernetes:core/v1:Service", "{app}-headless"),
    AUTOSCALING: ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "{app}"),
    DISRUPTION_BUDGET: ("kubernetes:policy/v1:PodDisruptionBudget", "{app}"),
    EXPOSURE: ("kubernetes:networking.k8s.io/v1:Ingress", "{app}"),
    METRICS: ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "{app}"),
}
# The exposure object by the app's route.
EXPOSURE_TYPES = {"ingress": "kubernetes:networking.k8s.io/v1:Ingress",
                  "httproute": "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"}


def app_config(**fields) -> AppConfig:
    return AppConfig.model_validate({"name": "web", "image": IMAGE, **fields})


def test_every_row_names_a_real_kind_and_the_config_keys_exist():
    aliases = {field.alias for field in AppConfig.model_fields.values()}
    assert [row.config_key for row in WORKLOAD_KINDS].count(None) == 1, "exactly one default kind"
    for row in WORKLOAD_KINDS:
        resource = row.resource_class()
        assert resource.__name__ == row.kind and resource.__module__.startswith("pulumi_kubernetes."), row
        assert row.config_key is None or row.config_key in aliases, row
        assert row.supports <= set(FEATURE_KEYS), row
    assert {key for keys in FEATURE_KEYS.values() for key in keys} <= aliases
    assert len({row.role for row in WORKLOAD_KINDS}) == len(WORKLOAD_KINDS)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_table_decides_which_objects_each_shipped_app_gets(plans, stack):
    """For every app of the parsed stack file: its workload is the table row's kind, and each
    object beside it exists exactly when the app's features say so."""
    plan = plans[stack]
    for team in shipped_config(stack).teams:
        for app in team.apps:
            kind, features = kind_of(app), features_in_use(app)
            assert app.name in k8s(plan, f"kubernetes:{kind.api_version}:{kind.kind}", team.name), (team.name, app)
            for feature, (plan_type, name) in FEATURE_OBJECTS.items():
                plan_type = EXPOSURE_TYPES[app.route] if feature == EXPOSURE else plan_type
                present = name.format(app=app.name) in k8s(plan, plan_type, team.name)
                assert present == (feature in features), (team.name, app.name, feature)
            # Every kind gets its ServiceAccount and its own NetworkPolicy.
            assert app.name in k8s(plan, "kubernetes:core/v1:ServiceAccount", team.name)
            assert f"app-{app.name}" in k8s(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", team.name)


def test_features_follow_the_kind_and_what_the_config_asks_for():
    deployment = features_in_use(app_config())
    assert {SERVICE, AUTOSCALING, DISRUPTION_BUDGET} <= deployment
    assert not deployment & {HEADLESS_SERVICE, EXPOSURE, METRICS}
    assert HEADLESS_SERVICE in features_in_use(app_config(headlessService=True))
    assert {EXPOSURE, METRICS} <= features_in_use(app_config(host="web.example.com", metrics={}))
    stateful = app_config(stateful={}, replicas=1)
    assert kind_of(stateful).kind == "StatefulSet"
    assert HEADLESS_SERVICE in features_in_use(stateful) and AUTOSCALING not in features_in_use(stateful)


def test_the_hpa_targets_the_kind_the_table_names():
    for fields in ({}, {"stateful": {}, "autoscaling": {}}):
        app = app_config(**fields)
        kind = kind_of(app)
        assert hpa_spec(app, kind)["scaleTargetRef"] == {"apiVersion": kind.api_version, "kind": kind.kind,
                                                         "name": "web"}


@pytest.mark.parametrize("retain_default, retain_volume, expected", [
    (True, None, "gp3-retain"), (False, None, "gp3"), (False, True, "gp3-retain"), (True, False, "gp3")])
def test_a_stateful_spec_keeps_volumes_as_the_config_or_the_environment_says(retain_default, retain_volume,
                                                                             expected):
    app = app_config(stateful={"retainVolume": retain_volume}, replicas=1)
    spec = kind_of(app).build_spec(app, WorkloadPlacement("shop", False, retain_default))
    assert spec["volumeClaimTemplates"][0]["spec"]["storageClassName"] == expected
    assert spec["serviceName"] == "web-headless"
    # The volume belongs to the image's user: fsGroup defaults to its group.
    assert spec["template"]["spec"]["securityContext"]["fsGroup"] == app.run_as_group


def config_problems(raw: dict) -> list[str]:
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize("key, value", [("maxSurge", 1), ("maxUnavailable", "50%")])
def test_a_stateful_app_refuses_rollout_bounds_it_would_ignore(dev_values, key, value):
    """A StatefulSet replaces one pod at a time: maxSurge/maxUnavailable were silently ignored."""
    found = config_problems(with_app(dev_values, stateful={}, replicas=1, **{key: value}))
    assert any(p.startswith(f"teams[0].apps[0].{key}: a StatefulSet app has no rollout bounds")
               and f"remove {key}" in p and "Deployment (no `stateful:`" in p for p in found), found


@pytest.fixture
def dev_values() -> dict:
    from conftest import ROOT
    from preflight.stackfile import read_stack_file

    return read_stack_file(ROOT / "Pulumi.dev.yaml").project_values


# --- CronJob: one row of the table and its spec -------------------------------------------

CRON = {"schedule": "30 2 * * *"}


def cron_app(**fields) -> AppConfig:
    return app_config(**{"cronJob": dict(CRON), **fields})


def test_a_cron_job_app_is_its_own_kind_without_service_hpa_pdb_or_route():
    app = cron_app()
    assert kind_of(app).kind == "CronJob" and kind_of(app).api_version == "batch/v1"
    # No HPA by default, and nothing that needs a served port.
    assert app.autoscaling is None
    assert features_in_use(app) == frozenset()


def test_the_cron_job_spec_runs_the_hardened_pod_once_per_schedule():
    app = cron_app(env={"MODE": "full"}, secrets={"TOKEN": "x"}, secretRefs={"DB": {"app": "db", "key": "PW"}},
                   resources={"cpuRequest": "100m", "memoryRequest": "128Mi"}, writablePaths=["/var/cache/app"])
    kind = kind_of(app)
    spec = kind.build_spec(app, WorkloadPlacement("shop", True, True))
    assert spec["schedule"] == "30 2 * * *"
    # One run at a time by default; missed runs are skipped after the deadline, not piled up.
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] == 3 and spec["failedJobsHistoryLimit"] == 1
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0 and job["activeDeadlineSeconds"] > 0
    assert job["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == "shop-web"
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "web" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # One pod per run: nothing to spread over zones even in prod.
    assert "topologySpreadConstraints" not in pod
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    # It serves nothing: no port, no probes.
    assert not {"ports", "livenessProbe", "readinessProbe", "startupProbe"} & set(container)
    env = {e["name"]: e for e in container["env"]}
    assert env["TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "web-env", "key": "TOKEN"}
    assert env["DB"]["valueFrom"]["secretKeyRef"] == {"name": "db-env", "key": "PW"}
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp", "/var/cache/app"}


def test_cron_job_options_reach_the_spec():
    app = cron_app(cronJob={**CRON, "concurrencyPolicy": "Replace", "startingDeadlineSeconds": 60,
                            "successfulJobsHistoryLimit": 0, "failedJobsHistoryLimit": 5,
                            "activeDeadlineSeconds": 600, "backoffLimit": 0})
    spec = kind_of(app).build_spec(app, WorkloadPlacement("shop", False, False))
    assert (spec["concurrencyPolicy"], spec["startingDeadlineSeconds"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Replace", 60, 0, 5)
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 600
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0


@pytest.mark.parametrize("schedule", ["*/15 * * * *", "0 3 * * 1-5", "0 0 1,15 * *", "5 4 * JAN,jul SUN",
                                      "0 */2 * * mon-fri", "@daily", "@hourly", "0 0 ? * 0", "59 23 31 12 6"])
def test_cron_schedules_kubernetes_accepts_pass(schedule):
    assert cron_app(cronJob={"schedule": schedule}).cron_job.schedule == schedule


@pytest.mark.parametrize("schedule", ["* * * *", "60 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *",
                                      "0 0 * * 7", "*/0 * * * *", "5-1 * * * *", "@every 5m", "@often",
                                      "TZ=UTC 0 0 * * *", "0 0 * * * *", "0 0 * * MON-", "daily"])
def test_a_bad_cron_schedule_is_refused_with_an_example(dev_values, schedule):
    found = config_problems(with_app(dev_values, cronJob={"schedule": schedule}))
    assert any(p.startswith("teams[0].apps[0].cronJob.schedule:") and "'30 2 * * *'" in p for p in found), found


@pytest.mark.parametrize("key, value, feature", [
    ("host", "web.example.com", "route from outside"), ("autoscaling", {}, "HorizontalPodAutoscaler"),
    ("probe", {"path": "/ready"}, "probes"), ("metrics", {}, "ServiceMonitor"), ("port", 9000, "Service"),
    ("replicas", 2, "replica count"), ("minAvailable", 1, "PodDisruptionBudget"),
    ("headlessService", True, "headless Service"), ("maxSurge", 1, "rollout bounds"),
    # Refused before the key's own check runs: the fix is to remove it, not to correct it.
    ("maxUnavailable", "lots", "rollout bounds"), ("port", "http", "Service"),
])
def test_a_cron_job_refuses_each_key_it_cannot_use_naming_the_key_and_the_fix(dev_values, key, value, feature):
    found = config_problems(with_app(dev_values, cronJob=dict(CRON), **{key: value}))
    assert any(p.startswith(f"teams[0].apps[0].{key}: a CronJob app has no {feature}")
               and f"remove {key}" in p and "run the app as a Deployment" in p for p in found), found


def test_an_app_runs_as_one_kind(dev_values):
    found = config_problems(with_app(dev_values, cronJob=dict(CRON), stateful={}))
    assert any(p.startswith("teams[0].apps[0].cronJob: sets a second kind") and "keep one" in p
               for p in found), found


def test_nothing_can_depend_on_a_cron_job(dev_values):
    raw = with_app(dev_values, cronJob=dict(CRON))
    raw["teams"][0]["apps"].append({"name": "api", "image": IMAGE, "dependsOn": ["web"]})
    found = config_problems(raw)
    assert any(p.startswith("teams[0].apps[1].dependsOn[0]:") and "CronJob" in p and "serves no port" in p
               for p in found), found


def test_a_cron_job_name_leaves_room_for_its_jobs_timestamp(dev_values):
    found = config_problems(with_app(dev_values, name="j" * 53, cronJob=dict(CRON)))
    assert any(p.startswith("teams[0].apps[0].name: a CronJob name may have at most 52 characters") for p in found)


def test_a_cron_job_counts_one_pod_against_the_team_quota(dev_values):
    raw = with_app(dev_values, cronJob=dict(CRON), resources={"cpuRequest": "2", "cpuLimit": "2"})
    raw["teams"][0]["quota"] = {"requestsCpu": "1"}
    found = config_problems(raw)
    assert any(p.startswith("teams[0].quota.requestsCpu:") and "web 1 x 2" in p for p in found), found


def shipped_cron_jobs(stack: str) -> list[tuple[str, AppConfig]]:
    return [(team.name, app) for team in shipped_config(stack).teams for app in team.apps
            if kind_of(app).kind == "CronJob"]


def test_the_dev_stack_ships_a_cron_job_with_the_platform_around_it(plans):
    """Its pods get the same hardened pod, ServiceAccount, Secret access and NetworkPolicy as any
    app; nothing may call it (its policy admits no ingress) and it may call what it depends on."""
    (team, app), *_ = shipped_cron_jobs("dev")
    plan = plans["dev"]
    cron_job = k8s(plan, "kubernetes:batch/v1:CronJob", team)[app.name]
    config = shipped_config("dev")
    placement = WorkloadPlacement(team, config.high_availability, config.retain_volumes)
    assert cron_job["spec"] == kind_of(app).build_spec(app, placement)
    policy = k8s(plan, "kubernetes:networking.k8s.io/v1:NetworkPolicy", team)[f"app-{app.name}"]["spec"]
    assert policy["ingress"] == [] and policy["policyTypes"] == ["Ingress", "Egress"]
    assert len(policy["egress"]) == len(app.depends_on) >= 1
    secrets = k8s(plan, "kubernetes:core/v1:Secret", team)
    for ref in app.secret_refs.values():
        assert secrets[f"{ref.app}-env"]["_resource"]["urn"] in cron_job["_resource"]["dependencies"]


def _cron_job_manifest(**cron) -> dict:
    app = cron_app(cronJob={**CRON, **cron}, resources={"cpuRequest": "500m", "cpuLimit": "500m"})
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "web", "namespace": "team"},
            "spec": kind_of(app).build_spec(app, WorkloadPlacement("team", False, False))}


@pytest.mark.parametrize("policy, pods", [("Forbid", "1"), ("Replace", "1+1 surge"), ("Allow", "1+1 surge")])
def test_readiness_counts_a_cron_job_run_and_the_overlap_its_policy_allows(policy, pods):
    """One run at a time under Forbid; Replace and Allow start a run while the last one's pod
    may still be there, so the quota must hold two."""
    from readiness_support import manifests_assess, of_check

    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "quota", "namespace": "team"},
             "spec": {"hard": {"requests.cpu": "750m"}}}
    findings = of_check(manifests_assess([quota, _cron_job_manifest(concurrencyPolicy=policy)]),
                        "readiness-resource-quota")
    if policy == "Forbid":
        assert findings == []
    else:
        assert any(f"CronJob team/web {pods}" in f.message and "requests.cpu 1 " in f.message for f in findings), \
            [f.message for f in findings]


def test_readiness_admits_the_cron_job_pod_under_pod_security_restricted():
    from readiness_support import manifests_assess

    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}}
    result = manifests_assess([namespace, _cron_job_manifest()])
    assert [f for f in result.findings if f.check.startswith(("readiness-pod-security", "readiness-kubelet"))] == []
    # The simulation does read the CronJob's pod: one that may escalate privileges is refused.
    unhardened = _cron_job_manifest()
    unhardened["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["securityContext"][
        "allowPrivilegeEscalation"] = True
    refused = [f for f in manifests_assess([namespace, unhardened]).findings if f.check == "readiness-pod-security"]
    assert refused and "CronJob team/web" in refused[0].resource


def test_the_policy_pack_passes_a_cron_job_without_probes():
    """probes-required is for long-running pods; every other rule holds the CronJob's pod like any app's."""
    from preflight.check import Subject, evaluate

    manifest = _cron_job_manifest()
    assert "livenessProbe" not in manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    found = evaluate([Subject("kubernetes:batch/v1:CronJob", "web", "urn:web", manifest)], {"all": "mandatory"})
    assert [f"{v.policy}: {v.message}" for v in found] == []
