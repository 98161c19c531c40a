"""The plan is the one artefact: `plan --json FILE` writes what `check --plan` and `render --plan`
need, so `make plan` runs the program once; a plan JSON of another shape is bad input (exit 2)."""

from __future__ import annotations

import copy
import json
import re
import subprocess

from conftest import ROOT, run_preflight
from helpers import assert_bad_input
from preflight.render import is_kubernetes_object
from preflight.runner import PLAN_FORMAT

PROGRAM_RUNS = re.compile(r"-m preflight (plan|render --stack|check --stack)\b")


def write(tmp_path, data, name="plan.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_plan_json_carries_the_stack_and_its_config(plans):
    for stack, plan in plans.items():
        assert plan.data["format"] == PLAN_FORMAT and plan.data["stack"] == stack
        values = plan.data["stackConfig"]["values"]
        assert values["environment"] == stack and values["region"]


def test_check_reads_the_plan_file_and_judges_its_resources(tmp_path, plans):
    data = copy.deepcopy(plans["prod"].data)
    good = write(tmp_path, data, "good.json")
    report = tmp_path / "report.json"
    result = run_preflight("check", "--plan", str(good), "--json", str(report), "--no-readiness")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(report.read_text())["resources_checked"] == len(data["resources"])
    assert "policies/config/prod.json" in result.stdout  # the plan's stack picks the pack config

    deployment = next(r for r in data["resources"] if r["type"] == "kubernetes:apps/v1:Deployment")
    deployment["inputs"]["spec"]["template"]["spec"]["hostNetwork"] = True
    bad = write(tmp_path, data, "bad.json")
    result = run_preflight("check", "--plan", str(bad), "--no-readiness")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"pss-host-namespaces  (kubernetes:apps/v1:Deployment: {deployment['name']})" in result.stdout


def test_render_reads_the_plan_file(tmp_path, plans):
    out = tmp_path / "manifests"
    result = run_preflight("render", "--plan", str(plans["dev"].path), "--out", str(out), "--no-charts")
    assert result.returncode == 0, result.stderr
    objects = [r for r in plans["dev"].resources if is_kubernetes_object(r["type"])]
    assert len(list(out.glob("*.yaml"))) == len(objects) and list(out.glob("*-deployment-*.yaml"))


def test_a_plan_of_another_shape_is_bad_input(tmp_path, plans):
    redo = "python -m preflight plan --stack STACK --json FILE"
    older = {k: v for k, v in plans["dev"].data.items() if k not in ("format", "stackConfig")}
    assert_bad_input(run_preflight("check", "--plan", str(write(tmp_path, older, "older.json"))),
                    "older.json", "older preflight", redo)
    future = {**plans["dev"].data, "format": "eks-platform-plan/99"}
    assert_bad_input(run_preflight("render", "--plan", str(write(tmp_path, future, "future.json")),
                                  "--out", str(tmp_path / "out")), "eks-platform-plan/99", PLAN_FORMAT)
    assert not (tmp_path / "out").exists()
    damaged = copy.deepcopy(plans["dev"].data)
    damaged["resources"][3]["inputs"] = "gone"
    assert_bad_input(run_preflight("check", "--plan", str(write(tmp_path, damaged, "damaged.json"))),
                    "resources[3].inputs must be an object")
    not_json = tmp_path / "plan.txt"
    not_json.write_text("pulumi preview output\n")
    assert_bad_input(run_preflight("check", "--plan", str(not_json)), not_json, "invalid JSON")
    assert_bad_input(run_preflight("check", "--plan", str(tmp_path / "missing.json")), "missing.json")


def test_the_plan_config_is_validated_again(tmp_path, plans):
    data = copy.deepcopy(plans["dev"].data)
    data["stackConfig"]["values"]["region"] = "mars-north-1"
    assert_bad_input(run_preflight("check", "--plan", str(write(tmp_path, data))), "stackConfig", "region")
    assert_bad_input(run_preflight("check", "--plan", str(plans["dev"].path), "--config", "Pulumi.dev.yaml"),
                    "--config")


def test_make_plan_runs_the_program_once():
    result = subprocess.run(["make", "-n", "plan", "STACK=prod"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "-m preflight" in line]
    assert len([c for c in commands if PROGRAM_RUNS.search(c)]) == 1, commands
    plan_file = re.search(r"-m preflight plan --stack prod --json (\S+)", result.stdout).group(1)
    assert any(f"-m preflight check --plan {plan_file}" in c for c in commands), commands


def test_the_shipped_plans_have_no_mandatory_violation(tmp_path, plans):
    for stack, plan in plans.items():
        out = tmp_path / f"{stack}.json"
        result = run_preflight("check", "--plan", str(plan.path), "--json", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(out.read_text())
        assert report["resources_checked"] >= len(plan.resources)
        assert not [v for v in report["violations"] if v["enforcement"] == "mandatory"]
        # Platform namespaces only (what the charts do by design); never a team's.
        assert {e["namespace"] for e in report["exemptions"]} == {
            "ingress", "logging", "node-exporter", "cert-manager", "monitoring", "elastic-system", "kube-system",
            "aws-load-balancer-controller"}


def test_rendered_platform_manifests_pass_the_prod_gate(rendered):
    result = run_preflight("check", "--manifests", str(rendered["prod"]))
    assert result.returncode == 0, result.stdout
