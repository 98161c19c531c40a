"""preflight's contract: the plan tree and JSON format, and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, run_preflight

JSON_KEYS = {"urn", "type", "name", "parent", "custom", "protect", "provider", "dependencies", "inputs", "secretPaths"}


def test_plan_prints_a_tree_with_counts():
    result = run_preflight("plan", "--stack", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "pulumi:pulumi:Stack" in out and "eks-platform-prod" in out
    assert "└─ eks:index:Cluster" in out and "cluster-eks [protect]" in out
    assert "to create" in out and "By type:" in out
    assert "kubeconfig: [secret]" in out


def test_plan_json_has_the_documented_shape(plans):
    data = plans["prod"].data
    assert data["stack"] == "prod"
    for resource in data["resources"]:
        assert set(resource) == JSON_KEYS
    cluster = plans["prod"].one("eks:index:Cluster")
    # camelCase wire names, exactly as the engine receives them
    assert "enabledClusterLogTypes" in cluster["inputs"] and "enabled_cluster_log_types" not in cluster["inputs"]
    assert cluster["parent"] == plans["prod"].one("eks-platform:cluster:Cluster")["urn"]
    assert cluster["custom"] is False and cluster["protect"] is True
    # dependencies are URNs of resources in the same plan
    assert cluster["dependencies"] and all(dep in plans["prod"].by_urn for dep in cluster["dependencies"])


def test_resource_references_are_recorded_as_urns(plans):
    node_group = plans["dev"].one("eks:index:ManagedNodeGroup", "nodes-system-a")
    assert node_group["inputs"]["cluster"] == plans["dev"].one("eks:index:Cluster")["urn"]


def test_bad_config_exits_2_without_traceback(tmp_path):
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace("azCount: 2", "azCount: -1")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    result = run_preflight("plan", "--stack", "dev", "--config", str(bad))
    assert result.returncode == 2
    assert "network.azCount: must be greater than or equal to 2 (given -1)" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_yaml_exits_2(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("config:\n  eks-platform:environment: [dev\n")
    result = run_preflight("plan", "--stack", "dev", "--config", str(bad))
    assert result.returncode == 2 and "broken YAML at line" in result.stderr


def test_usage_error_exits_2():
    assert run_preflight("plan").returncode == 2
    assert run_preflight("launch", "--stack", "dev").returncode == 2


def test_missing_stack_file_exits_2():
    result = run_preflight("plan", "--stack", "staging")
    assert result.returncode == 2 and "Pulumi.staging.yaml" in result.stderr


def test_program_failure_exits_1_with_the_error():
    # An invoke the mocks cannot answer makes the program fail the way a provider error would.
    code = (
        "import sys; from preflight import mocks, __main__ as cli\n"
        "def fail(self, args): raise RuntimeError('availability zones unavailable')\n"
        "mocks.PlatformMocks.call = fail\n"
        "sys.exit(cli.main(['plan', '--stack', 'dev']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "the Pulumi program failed" in result.stderr
    assert "availability zones unavailable" in result.stderr
