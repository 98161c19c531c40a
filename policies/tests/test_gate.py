"""preflight check end to end: the platform's plans pass; manifests are checked with files named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check(*args):
    return subprocess.run([sys.executable, "-m", "preflight", "check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_platform_plans_have_no_mandatory_violation(tmp_path):
    for stack in ("dev", "prod"):
        out = tmp_path / f"{stack}.json"
        result = check("--stack", stack, "--json", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(out.read_text())
        assert report["resources_checked"] > 40
        assert not [v for v in report["violations"] if v["enforcement"] == "mandatory"]
        assert {e["namespace"] for e in report["exemptions"]} == {"ingress", "logging", "node-exporter"}


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


def test_rendered_platform_manifests_pass_the_prod_gate(tmp_path):
    out_dir = tmp_path / "manifests"
    render = subprocess.run([sys.executable, "-m", "preflight", "render", "--stack", "prod", "--out", str(out_dir)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert render.returncode == 0, render.stderr
    result = check("--manifests", str(out_dir))
    assert result.returncode == 0, result.stdout
