"""Every Helm release uses a pinned chart and only values keys that chart knows.

A key the chart does not know is silently ignored by Helm: the setting just never happens.
So each release's values are walked against the pinned chart's values.yaml (and its
values.schema.json where the chart ships one) from ../shared/reference/charts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from components.charts import CHARTS
from helpers import commented_keys, unknown_keys

# Paths whose value the chart copies into an object as is (traefik: "Additional entries here
# will be added to the Service spec").
FREE_FORM_PATHS = {"traefik": {"service.spec"}}

# Keys of a subchart whose values.yaml is not in ../shared/reference: kube-prometheus-stack's
# grafana dependency (grafana 12.11.1). Named one by one so nothing else slips through; each was
# read in grafana-community/helm-charts at tag grafana-12.11.1, charts/grafana/values.yaml
# (useExistingClusterRole is a commented default there, used by templates/clusterrolebinding.yaml).
SUBCHART_KEYS = {"kube-prometheus-stack": {
    "grafana.persistence", "grafana.resources", "grafana.deploymentStrategy",
    "grafana.rbac.useExistingClusterRole", "grafana.sidecar.dashboards.resource",
    "grafana.sidecar.datasources.resource", "grafana.sidecar.resources", "grafana.initChownData",
    # kube-state-metrics 8.4.0 and prometheus-node-exporter 4.56.1 subcharts (their values.yaml, as
    # kube-prometheus-stack 88.5.3 bundles them).
    "kube-state-metrics.resources", "kube-state-metrics.collectorsExclude", "prometheus-node-exporter.resources",
    "prometheus-node-exporter.containerSecurityContext", "prometheus-node-exporter.securityContext",
}}

# cert-manager's Chart.yaml in git says v0.0.0: its release tool stamps the version when
# publishing (reference/SOURCES.md), so its pin is checked against SOURCES.md instead.
STAMPED_AT_RELEASE = {"cert-manager"}


def chart_name(inputs: dict[str, Any]) -> str:
    """'traefik', or 'karpenter' for oci://public.ecr.aws/karpenter/karpenter."""
    return inputs["chart"].rsplit("/", 1)[-1]


def releases(plans) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{stack}:{r['name']}", r["inputs"]) for stack, plan in plans.items()
            for r in plan.of_type("kubernetes:helm.sh/v3:Release")]


def test_the_checker_finds_a_misspelt_key():
    chart = {"replicas": 1, "podDisruptionBudget": {"enabled": False, "maxUnavailable": None},
             "resources": {}}
    assert unknown_keys({"replicas": 2, "resources": {"limits": {"cpu": 1}}}, chart) == []
    assert unknown_keys({"replicaCount": 2, "podDisruptionBudget": {"enable": True}}, chart) == [
        "replicaCount", "podDisruptionBudget.enable"]
    # A commented default makes a leaf known; a named free-form path is not walked.
    text = "pdb:\n  enabled: false\n  # maxUnavailable: 1\n"
    assert commented_keys(text) == {"maxUnavailable"}
    assert unknown_keys({"pdb": {"maxUnavailable": 1}}, {"pdb": {"enabled": False}},
                        commented=frozenset(commented_keys(text))) == []
    assert unknown_keys({"pdb": {"maxUnavailable": {"x": 1}}}, {"pdb": {"enabled": False}},
                        commented=frozenset(commented_keys(text))) == ["pdb.maxUnavailable"]
    assert unknown_keys({"service": {"spec": {"anything": 1}}}, {"service": {"spec": {"type": "LB"}}},
                        free_paths=frozenset({"service.spec"})) == []


def test_every_release_uses_a_pinned_chart(plans, reference: Path):
    found = releases(plans)
    assert found
    for label, inputs in found:
        pinned = CHARTS[inputs["name"]] if inputs["name"] in CHARTS else None
        assert pinned, f"{label}: chart {inputs['chart']} is not in components/charts.py"
        # An OCI chart is its full oci:// path, with no repository (components/charts.py).
        repository = None if pinned.is_oci else pinned.repository
        assert (inputs["chart"], inputs["version"], (inputs.get("repositoryOpts") or {}).get("repo")) == (
            pinned.reference, pinned.version, repository), label
        chart_yaml = yaml.safe_load((reference / "charts" / pinned.chart / "Chart.yaml").read_text())
        if pinned.chart in STAMPED_AT_RELEASE:
            assert f"release {pinned.version}" in (reference / "SOURCES.md").read_text()
        else:
            assert str(chart_yaml["version"]) == pinned.version, f"{label}: reference is {chart_yaml['version']}"


def test_release_values_use_only_keys_the_chart_knows(plans, reference: Path):
    for label, inputs in releases(plans):
        chart = chart_name(inputs)
        chart_dir = reference / "charts" / chart
        values_text = (chart_dir / "values.yaml").read_text()
        chart_values = yaml.safe_load(values_text)
        free = frozenset(FREE_FORM_PATHS.get(chart, set()) | SUBCHART_KEYS.get(chart, set()))
        unknown = unknown_keys(inputs["values"], chart_values, commented=frozenset(commented_keys(values_text)),
                               free_paths=free)
        assert unknown == [], f"{label}: keys unknown to the chart"
        schema_path = chart_dir / "values.schema.json"
        if schema_path.exists():
            schema = json.loads(schema_path.read_text())
            merged = _merge(chart_values, inputs["values"])
            errors = sorted(jsonschema.validators.validator_for(schema)(schema).iter_errors(merged), key=str)
            assert not errors, f"{label}: {[e.message for e in errors[:5]]}"


def _merge(base: Any, override: Any) -> Any:
    # What Helm does with user values over the chart's defaults.
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in override.items()}}
    return override


# A container-level security context takes the user from its pod-level sibling.
POD_CONTEXT_OF = {"containerSecurityContext": "securityContext", "securityContext": "podSecurityContext"}


def non_root_contexts_without_numeric_user(values: Any, path: str = "") -> list[str]:
    """Security contexts in our values that demand runAsNonRoot without a numeric user and
    group of their own or of their pod: the kubelet refuses an image whose USER is a name."""
    found = []
    if isinstance(values, dict):
        for key, value in values.items():
            where = f"{path}.{key}" if path else key
            if key in POD_CONTEXT_OF.keys() | POD_CONTEXT_OF.values() and isinstance(value, dict) \
                    and value.get("runAsNonRoot") is True:
                pod = values.get(POD_CONTEXT_OF.get(key, ""), {})
                pod = pod if isinstance(pod, dict) and pod is not value else {}
                for field in ("runAsUser", "runAsGroup"):
                    if not isinstance(value.get(field, pod.get(field)), int):
                        found.append(f"{where}: no numeric {field}")
            else:
                found += non_root_contexts_without_numeric_user(value, where)
    return found


def test_chart_pods_the_platform_hardens_name_a_numeric_user(plans):
    assert non_root_contexts_without_numeric_user(
        {"securityContext": {"runAsNonRoot": True}, "containerSecurityContext": {"runAsNonRoot": True}}) == [
        "securityContext: no numeric runAsUser", "securityContext: no numeric runAsGroup",
        "containerSecurityContext: no numeric runAsUser", "containerSecurityContext: no numeric runAsGroup"]
    for label, inputs in releases(plans):
        assert non_root_contexts_without_numeric_user(inputs["values"]) == [], label


# Containers of the charts whose resources the chart leaves empty ({}) by default: the pack's
# resources-required fails them in `check --charts` unless our values size them.
SIZED_BY_OUR_VALUES = {
    "cert-manager": ("resources", "webhook.resources", "cainjector.resources", "startupapicheck.resources"),
    "kube-prometheus-stack": ("prometheusOperator.resources", "prometheusOperator.admissionWebhooks.patch.resources",
                              "kube-state-metrics.resources", "prometheus-node-exporter.resources",
                              "grafana.resources", "grafana.sidecar.resources"),
    "aws-load-balancer-controller": ("resources",),
    "external-dns": ("resources",),
}


def _at(values: Any, path: str) -> Any:
    for key in path.split("."):
        values = values.get(key) if isinstance(values, dict) else None
    return values


def test_chart_containers_left_unsized_by_the_chart_get_requests_and_limits(plans):
    checked = set()
    for label, inputs in releases(plans):
        for path in SIZED_BY_OUR_VALUES.get(chart_name(inputs), ()):
            resources = _at(inputs["values"], path) or {}
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound) or {}), f"{label}: {path}.{bound}"
            checked.add(chart_name(inputs))
    assert checked == set(SIZED_BY_OUR_VALUES)


def test_chart_defaults_with_our_values_name_a_numeric_user_and_group(plans, reference: Path):
    """cert-manager's startupapicheck Job and metrics-server default to runAsNonRoot without a
    numeric user or group; our values complete them (the kubelet refuses a named image user)."""
    for label, inputs in releases(plans):
        chart = chart_name(inputs)
        if chart not in ("cert-manager", "metrics-server"):
            continue
        defaults = yaml.safe_load((reference / "charts" / chart / "values.yaml").read_text())
        merged = _merge(defaults, inputs["values"])
        scope = {"startupapicheck": merged["startupapicheck"]} if chart == "cert-manager" else \
            {"securityContext": merged["securityContext"]}
        assert non_root_contexts_without_numeric_user(scope) == [], label
