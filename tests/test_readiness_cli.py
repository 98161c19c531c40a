"""`preflight check` reports readiness like the pack's rules: in the text report (with the
reachability matrix and the chart-contents line), in --json, and in the exit code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT, run_preflight
from preflight import check
from readiness_support import helm  # noqa: F401  (the session's helm binary)


def test_check_reports_readiness_with_the_matrix_and_json(tmp_path, helm, plans):
    out = tmp_path / "report.json"
    # helm on PATH: every chart is rendered, or listed as not checked (here no repository is reachable).
    env = {**os.environ, "PATH": f"{Path(helm).parent}{os.pathsep}{os.environ['PATH']}",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-m", "preflight", "check", "--plan", str(plans["dev"].path),
                             "--json", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr  # dev's pack config is advisory
    text = result.stdout
    assert "Readiness (admission, reachability, ordering, chart contents):" in text
    summary = re.search(r"Chart contents: (\d+) of (\d+) Helm releases rendered and checked\.", text)
    assert summary, text[:2000]
    rendered, releases = int(summary.group(1)), int(summary.group(2))
    assert releases == len(plans["dev"].of_type("kubernetes:helm.sh/v3:Release")) >= 7
    assert text.count("  NOT CHECKED: contents of chart ") == releases - rendered
    assert "Reachability:" in text and "-> kube-system/coredns :53/UDP+TCP (DNS)" in text
    report = json.loads(out.read_text())
    policies = {v["policy"] for v in report["violations"]}
    assert all(v["enforcement"] in ("advisory", "mandatory") for v in report["violations"])
    assert policies <= {p.name for p in check.POLICIES} | set(check.readiness.CHECKS)
    matrix = report["reachability"]
    assert {"from": "shop/frontend", "to": "shop/backend", "port": 8080, "protocol": "TCP",
            "why": "dependsOn of shop/frontend", "allowed": True, "blockedBy": None} in matrix
    assert all(set(row) == {"from", "to", "port", "protocol", "why", "allowed", "blockedBy"} for row in matrix)


def test_readiness_on_manifests_names_the_file(tmp_path):
    documents = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team", "labels": {
            "pod-security.kubernetes.io/enforce": "baseline"}}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "agent", "namespace": "team"},
         "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
             "metadata": {"labels": {"app": "agent"}},
             "spec": {"hostNetwork": True, "containers": [{"name": "agent", "image": "example.com/agent:1.0"}]}}}},
    ]
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump_all(documents))
    result = run_preflight("check", "--manifests", str(tmp_path))
    assert result.returncode == 1
    assert "readiness-pod-security  (Deployment team/agent" in result.stdout
    assert f"[{tmp_path / 'agent.yaml'}]" in result.stdout and "hostNetwork" in result.stdout
    quiet = run_preflight("check", "--manifests", str(tmp_path), "--no-readiness")
    assert "readiness-" not in quiet.stdout and "Readiness (" not in quiet.stdout


def test_pack_config_sets_readiness_levels(tmp_path):
    config = tmp_path / "pack.json"
    config.write_text(json.dumps({"all": "mandatory", "readiness-pod-security": "advisory"}))
    assert check.load_policy_config(config)["readiness-pod-security"] == "advisory"
    assert check.readiness.level("readiness-pod-security", {"all": "mandatory", "readiness-pod-security": "advisory"}) \
        == "advisory"
    assert check.readiness.level("readiness-network-blocked", {"all": "mandatory"}) == "mandatory"
    # an allowed connection nobody declared is reported, and fails the gate only when the config says so
    assert check.readiness.level("readiness-network-undeclared", {"all": "mandatory"}) == "advisory"
    assert check.readiness.level("readiness-network-undeclared", {"readiness-network-undeclared": "mandatory"}) \
        == "mandatory"


def test_readme_lists_every_readiness_check():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in check.readiness.CHECKS if f"`{name}`" not in readme]
    assert missing == [], f"README.md does not describe {missing}"


def test_fixture_chart_is_small():
    chart = ROOT / "tests" / "fixtures" / "charts" / "readiness-demo"
    assert sum(p.stat().st_size for p in Path(chart).rglob("*") if p.is_file()) < 8000


def test_two_renders_diff_cleanly(rendered, tmp_path):
    again = tmp_path / "again"
    result = run_preflight("render", "--stack", "dev", "--out", str(again), "--no-charts")
    assert result.returncode == 0, result.stderr
    first = {p.name: p.read_text() for p in rendered["dev"].glob("*.yaml")}
    second = {p.name: p.read_text() for p in again.glob("*.yaml")}
    assert first == second
    names = sorted(first)
    assert names[0].startswith("000-namespace-") and any("-storageclass-" in n for n in names)


def test_the_shipped_stacks_come_up(plans):
    """Both shipped plans pass every readiness check (dev's pack config is advisory, so only
    this test stops a dev-only blocker), and every intended connection is allowed."""
    from readiness_support import assess, registrations, stack_config

    for stack in ("dev", "prod"):
        result = assess(registrations(plans[stack]), stack_config(stack))
        assert [(f.check, f.resource, f.message) for f in result.findings] == [], stack
        assert any(line.startswith("Reachability:") and ", 0 blocked:" in line for line in result.lines), stack
