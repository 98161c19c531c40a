"""preflight check end to end over manifests, with files named. (The shipped plans and their
rendered manifests pass the gate: tests/test_plan_artefact.py, over the session's shared plans.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check(*args):
    return subprocess.run([sys.executable, "-m", "preflight", "check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_manifests_mode_names_the_file_and_fails_on_mandatory(tmp_path):
    (tmp_path / "app.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {type: LoadBalancer}\n"
        "---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: shop}\ndata: {}\n")
    out = tmp_path / "report.json"
    result = check("--manifests", str(tmp_path), "--json", str(out))
    assert result.returncode == 1
    report = json.loads(out.read_text())
    assert report["resources_checked"] == 2
    violation, = report["violations"]
    assert violation["policy"] == "no-external-services" and violation["file"].endswith("app.yaml")
    assert "[mandatory]  no-external-services" in result.stdout


def test_bad_inputs_exit_2(tmp_path):
    (tmp_path / "broken.yaml").write_text("kind: [\n")
    assert check("--manifests", str(tmp_path)).returncode == 2
    config = tmp_path / "policy.json"
    config.write_text('{"all": "mandatory", "no-such-rule": "advisory"}')
    result = check("--stack", "dev", "--policy-config", str(config))
    assert result.returncode == 2 and "no-such-rule" in result.stderr


def test_stack_rules_run_over_manifests(tmp_path):
    (tmp_path / "team.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {eks-platform/team: shop}}\n---\n"
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec: {replicas: 3, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, "
        "spec: {containers: []}}}\n")
    out = tmp_path / "report.json"
    assert check("--manifests", str(tmp_path), "--json", str(out)).returncode == 1
    found = {(v["policy"], v["resource"]) for v in json.loads(out.read_text())["violations"]}
    assert ("team-namespace-isolation", "kubernetes:core/v1:Namespace: shop") in found
    assert ("replicated-deployments-have-drainable-pdb", "kubernetes:apps/v1:Deployment: web") in found


def test_manifests_mode_wants_probes_on_a_replication_controller(tmp_path):
    (tmp_path / "legacy.yaml").write_text(
        "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: legacy, namespace: shop}\n"
        "spec: {replicas: 2, selector: {app: legacy}, template: {metadata: {labels: {app: legacy}}, "
        "spec: {containers: [{name: app, image: 'registry.example.com/legacy:1.0'}]}}}\n")
    out = tmp_path / "report.json"
    assert check("--manifests", str(tmp_path), "--json", str(out)).returncode == 1
    found = {(v["policy"], v["resource"], v["message"]) for v in json.loads(out.read_text())["violations"]}
    assert ("probes-required", "kubernetes:core/v1:ReplicationController: legacy",
            "containers[app] has no livenessProbe or readinessProbe.") in found
