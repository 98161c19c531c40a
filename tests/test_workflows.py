"""The GitHub workflows parse, pin their actions, and do what the README and runbook promise."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job: dict) -> list[dict]:
    return job["steps"]


def runs(job: dict) -> list[str]:
    return [step["run"] for step in steps(job) if "run" in step]


def pulumi_step(job: dict) -> dict:
    found = [s for s in steps(job) if s.get("uses", "").startswith("pulumi/actions@")]
    assert len(found) == 1
    return found[0]["with"]


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_every_action_is_pinned(name):
    for job in load(name)["jobs"].values():
        for step in steps(job):
            if "uses" in step:
                assert re.match(r"^[\w.-]+/[\w.-]+@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$", step["uses"]), step["uses"]


def test_pull_request_runs_tests_gate_and_preview_with_policies():
    workflow = load("pull-request.yml")
    assert "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    assert runs(jobs["test"]) == ["make test"]
    assert jobs["gate"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "make plan STACK=${{ matrix.stack }}" in runs(jobs["gate"])
    preview = jobs["preview"]
    assert set(preview["needs"]) == {"test", "gate"}
    assert "vars.AWS_ROLE_ARN" in preview["if"]
    assert preview["permissions"]["id-token"] == "write"
    assert preview["concurrency"]["group"] == "pulumi-${{ matrix.stack }}"
    settings = pulumi_step(preview)
    assert settings["command"] == "preview" and settings["comment-on-pr"] is True
    assert settings["policyPacks"] == "policies"
    assert settings["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"


def test_policy_pack_tests_run_in_make_test():
    config = (ROOT / "pytest.ini").read_text()
    assert "policies/tests" in config
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_deploy_promotes_dev_then_prod_behind_approval():
    workflow = load("deploy.yml")
    assert workflow["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in workflow["on"]
    jobs = workflow["jobs"]
    assert {"make test", "make plan STACK=dev", "make plan STACK=prod"} <= set(runs(jobs["gate"]))
    dev, prod = jobs["deploy-dev"], jobs["deploy-prod"]
    assert dev["needs"] == "gate" and prod["needs"] == "deploy-dev"
    assert prod["environment"] == "prod" and "refs/tags/v" in prod["if"]
    for job, stack in ((dev, "dev"), (prod, "prod")):
        settings = pulumi_step(job)
        assert settings["command"] == "up" and settings["stack-name"] == stack
        assert settings["policyPacks"] == "policies"
        assert settings["policyPackConfigs"] == f"policies/config/{stack}.json"
        assert job["permissions"]["id-token"] == "write"
        assert job["concurrency"] == {"group": f"pulumi-{stack}", "cancel-in-progress": False}
        credentials = [s for s in steps(job) if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        assert credentials and "role-to-assume" in credentials[0]["with"]
        assert "aws-access-key-id" not in credentials[0]["with"]
