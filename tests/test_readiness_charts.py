"""Chart contents (issue #14, deliverables 4 and 5): every Helm release rendered with helm and
checked like the program's own objects; offline, the report says which charts were not checked.

The chart is tests/fixtures/charts/readiness-demo, served from a local `file://` repository;
helm comes from readiness_support's `helm` fixture (PATH, else the npm package's layer.zip).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from preflight import check
from preflight.monitor import Registration
from preflight.readiness import assess, charts, known
from preflight.render import write_chart_manifests
from readiness_support import helm  # noqa: F401  (the session's helm binary)

CHART = ROOT / "tests" / "fixtures" / "charts" / "readiness-demo"
@pytest.fixture(scope="session")
def chart_repo(helm, tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("chart-repo")
    for command in (["package", str(CHART), "--destination", str(repo)], ["repo", "index", str(repo)]):
        result = subprocess.run([helm, *command], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    return repo


def _release(repository: str, values: dict, version: str = "0.1.0", chart: str = "readiness-demo",
             name: str = "demo", namespace: str = "demo") -> Registration:
    inputs = {"name": name, "chart": chart, "version": version, "namespace": namespace,
              "repositoryOpts": {"repo": repository}, "values": values}
    return Registration(urn=f"urn:pulumi:test::p::kubernetes:helm.sh/v3:Release::{name}-chart",
                        type="kubernetes:helm.sh/v3:Release", name=f"{name}-chart", parent="", custom=True,
                        protect=False, provider="", dependencies=[], inputs=inputs)


def _namespace(level: str) -> check.Subject:
    props = {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": "demo", "labels": {"pod-security.kubernetes.io/enforce": level}}}
    return check.Subject("kubernetes:core/v1:Namespace", "demo-namespace", "urn:pulumi:test::p::ns::demo", props)


def test_chart_contents_go_through_the_pack_and_admission(helm, chart_repo, tmp_path, monkeypatch):
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    monkeypatch.setenv("PATH", f"{Path(helm).parent}{os.pathsep}{os.environ['PATH']}")  # the product's helm
    release = _release(f"file://{chart_repo}", {"runAsUser": None, "privileged": True})
    subjects = [_namespace("baseline")]
    report = check.run_readiness(subjects, {"all": "mandatory"},
                                 plan=type("Plan", (), {"resources": [release]})(), charts=True)
    violations, lines, checked = report.violations, report.sections, report.chart_objects
    assert checked == 2 and any("1 of 1 Helm releases rendered and checked" in line for line in lines)
    by_policy = {(v.policy, v.resource) for v in violations}
    label = "chart readiness-demo 0.1.0 (release demo/demo)"
    # the policy pack over the chart's Deployment
    assert ("pss-privileged", f"kubernetes:apps/v1:Deployment: demo-web ({label})") in by_policy
    # admission: the namespace enforces baseline, which refuses a privileged container
    assert any(v.policy == "readiness-pod-security" and "'baseline'" in v.message and "privileged" in v.message
               and v.resource == f"Deployment demo/demo-web ({label})" for v in violations)
    # the kubelet: runAsNonRoot with the numeric user switched off in values
    assert any(v.policy == "readiness-kubelet-run-as-user" and label in v.resource for v in violations)


def test_chart_values_that_fix_it_pass(helm, chart_repo, tmp_path, monkeypatch):
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    result = assess([_namespace("restricted")], registrations=[_release(f"file://{chart_repo}", {})], charts=True,
                    helm=helm)
    assert [f for f in result.findings if f.check.startswith("readiness-") and "demo-web" in f.resource] == []
    assert len(result.chart_subjects) == 2


def test_reachability_covers_the_charts_objects(helm, chart_repo, tmp_path, monkeypatch):
    """The chart's ServiceMonitor (rendered because kube-prometheus-stack serves its API) makes
    Prometheus -> the chart's pods an intended connection, which a default-deny blocks."""
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    deny = check.Subject("kubernetes:networking.k8s.io/v1:NetworkPolicy", "deny", "urn:pulumi:test::p::np::deny", {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "demo"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
    monitoring = _release("https://charts.invalid/prometheus", {}, "88.5.3", "kube-prometheus-stack",
                          "kube-prometheus-stack", "monitoring")
    result = assess([_namespace("restricted"), deny], registrations=[_release(f"file://{chart_repo}", {}), monitoring],
                    charts=True, helm=helm)
    blocked = [f for f in result.findings if f.check == "readiness-network-blocked"]
    assert any("monitoring/kube-prometheus-stack (prometheus) -> demo/demo-web :8080/TCP (ServiceMonitor demo/demo-web)"
               in f.message for f in blocked), [f.message for f in blocked]
    assert any("NOT CHECKED: contents of chart kube-prometheus-stack 88.5.3" in line for line in result.lines)


def test_a_chart_that_cannot_be_fetched_is_reported_not_checked(helm, tmp_path, monkeypatch):
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    result = assess([], registrations=[_release("https://charts.invalid/repo", {})], charts=True, helm=helm)
    assert result.chart_subjects == []
    assert any(line.startswith("  NOT CHECKED: contents of chart readiness-demo 0.1.0 (release demo/demo): "
                               "could not fetch it from https://charts.invalid/repo") for line in result.lines)


def test_a_missing_version_is_reported_not_checked(helm, chart_repo, tmp_path, monkeypatch):
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    result = assess([], registrations=[_release(f"file://{chart_repo}", {}, version="9.9.9")], charts=True, helm=helm)
    assert any("NOT CHECKED" in line and "lists no readiness-demo 9.9.9" in line for line in result.lines)


def test_without_helm_the_report_says_chart_contents_were_not_checked(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = assess([], registrations=[_release("https://charts.invalid/repo", {})])
    assert any(line.startswith("Chart contents NOT checked: helm is not on PATH") and "readiness-demo" in line
               for line in result.lines)


def test_render_writes_chart_contents_in_stable_files(helm, chart_repo, tmp_path, monkeypatch):
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path / "cache")
    release = _release(f"file://{chart_repo}", {})
    outputs = []
    for run in ("one", "two"):
        rendered = charts.render_all(helm, [charts.Release(**{**_as_release(release)})], "1.33")
        written, missing = write_chart_manifests(rendered, tmp_path / run)
        assert missing == []
        outputs.append({p.relative_to(tmp_path / run).as_posix(): p.read_text() for p in written})
    assert outputs[0] == outputs[1]
    assert list(outputs[0]) == ["charts/demo-demo/000-deployment-demo-demo-web.yaml",
                                "charts/demo-demo/001-service-demo-demo-web.yaml"]
    assert yaml.safe_load(outputs[0]["charts/demo-demo/000-deployment-demo-demo-web.yaml"])["kind"] == "Deployment"


def _as_release(registration: Registration) -> dict:
    from preflight.readiness.model import releases_of

    release = releases_of([registration])[0]
    return {k: getattr(release, k) for k in ("name", "chart", "version", "repository", "namespace", "values",
                                               "resource", "urn")}



def test_a_crd_with_a_bare_equals_enum_value_is_read_as_kubernetes_reads_it(helm, chart_repo, tmp_path, monkeypatch):
    """kube-prometheus-stack's AlertmanagerConfig CRD lists a bare `=` among its enum values."""
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    release = charts.Release(**{**_as_release(_release(f"file://{chart_repo}", {"crd": True}))})
    rendered = charts.render(helm, release, "1.33")
    assert rendered.problem == ""
    crd = next(m for m in rendered.manifests if m["kind"] == "CustomResourceDefinition")
    enum = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["matchType"]["enum"]
    assert enum == ["!=", "=", "=~"]


def test_helm_test_hooks_are_skipped_and_install_hooks_kept(helm, chart_repo, tmp_path, monkeypatch):
    """`helm install` (and Pulumi's helm.v3.Release) never creates a chart's Helm tests; only
    `helm test` runs them. Install and upgrade hooks are created, so they are checked."""
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    result = assess([_namespace("restricted")],
                    registrations=[_release(f"file://{chart_repo}", {"installHook": True})], charts=True, helm=helm)
    names = {s.name for s in result.chart_subjects}
    assert "demo-pre-install (chart readiness-demo 0.1.0 (release demo/demo))" in names
    assert not any("test-connection" in name for name in names)
    assert not any("test-connection" in f.resource for f in result.findings)
    assert any(line.startswith("Chart contents: 1 of 1 Helm releases rendered and checked")
               and "1 Helm test hook not checked" in line and "Pod demo/demo-test-connection" in line
               for line in result.lines), result.lines


def test_no_team_namespace_is_exempted():
    """What the charts do by design is exempted in the platform's namespaces only."""
    from preflight.stackfile import read_stack_file

    for stack in ("dev", "prod"):
        teams = {t["name"] for t in read_stack_file(ROOT / f"Pulumi.{stack}.yaml").project_values.get("teams", [])}
        assert teams, stack
        config = check.load_policy_config(ROOT / "policies" / "config" / f"{stack}.json")
        assert {e["namespace"] for e in check.exemptions(config)} & teams == set(), stack
        assert all(len(e["reason"]) > 30 for e in check.exemptions(config)), stack


def test_chart_objects_carry_the_release_helm_stamps_on_install(helm, chart_repo, tmp_path, monkeypatch):
    """helm install annotates every object with its release (`helm template` does not): the
    pack's namespace exemptions place a chart's cluster-scoped objects by it."""
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    result = assess([_namespace("restricted")], registrations=[_release(f"file://{chart_repo}", {"crd": True})],
                    charts=True, helm=helm)
    crd = next(s for s in result.chart_subjects if s.resource_type.endswith(":CustomResourceDefinition"))
    assert crd.props["metadata"]["annotations"] == {"meta.helm.sh/release-name": "demo",
                                                    "meta.helm.sh/release-namespace": "demo"}


def test_charts_that_ask_for_a_kind_render_as_a_real_cluster_answers(helm, chart_repo, tmp_path, monkeypatch):
    """Charts pick API versions with `.Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget"`
    (Traefik's PDB does). A cluster's discovery lists kinds; `helm template` knows only what it is
    told, so without the built-in kinds it renders the policy/v1beta1 PDB no 1.25+ cluster serves."""
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    registration = _release(f"file://{chart_repo}", {"pdb": True})
    release = charts.Release(**{**_as_release(registration)})
    api_versions = tuple(known.installed_api_versions([release]))
    rendered = charts.render(helm, release, "1.35", api_versions=api_versions)
    assert rendered.problem == ""
    pdb = next(m for m in rendered.manifests if m["kind"] == "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"


def test_a_charts_nlb_service_must_wait_for_the_load_balancer_controller(helm, chart_repo, tmp_path, monkeypatch):
    """Rendered chart contents: the Service of the controller's class inside a release makes the
    release wait for the controller's (whose own contents need not render)."""
    monkeypatch.setattr(charts, "CACHE_DIR", tmp_path)
    controller = _release(f"file://{tmp_path / 'no-repository'}", {}, version="3.5.0",
                          chart="aws-load-balancer-controller", name="lbc", namespace="lbc")
    demo = _release(f"file://{chart_repo}", {"serviceType": "LoadBalancer", "loadBalancerClass": "service.k8s.aws/nlb"})

    def order(dependencies):
        demo.dependencies = dependencies
        return [f for f in assess([_namespace("restricted")], registrations=[controller, demo], charts=True,
                                  helm=helm).findings if f.check == "readiness-order-load-balancer"]
    [finding] = order([])
    assert "Service demo/demo-web (class service.k8s.aws/nlb)" in finding.message and "lbc-chart" in finding.message
    assert order([controller.urn]) == []
