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
