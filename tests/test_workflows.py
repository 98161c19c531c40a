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


# -- the deploy path: where cluster jobs run, the pack's environment, session length ----------

import subprocess  # noqa: E402

# The deploy and preview roles' MaxSessionDuration (IAM's default; docs/runbook.md, "Session length").
ROLE_MAX_SESSION_SECONDS = 3600


def all_jobs():
    for name in ("pull-request.yml", "deploy.yml"):
        for job_id, job in load(name)["jobs"].items():
            yield f"{name}:{job_id}", job


def pack_steps(job: dict) -> list[int]:
    return [i for i, s in enumerate(steps(job))
            if s.get("uses", "").startswith("pulumi/actions@") and s.get("with", {}).get("policyPacks")]


def test_jobs_that_reach_a_cluster_run_on_the_configurable_cluster_runner():
    cluster_jobs = [(where, job) for where, job in all_jobs() if pack_steps(job)]
    assert len(cluster_jobs) == 3
    for where, job in cluster_jobs:
        runner = str(job["runs-on"])
        assert "vars.CLUSTER_RUNNER" in runner and "vars.CODEBUILD_RUNNER_PROJECT" in runner, where
        assert "github.run_id" in runner, f"{where}: CodeBuild needs a per-run label"
        assert '"self-hosted", "eks-platform"' in runner and "ubuntu" not in runner, where
    preview = load("pull-request.yml")["jobs"]["preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in preview["if"]
    assert "vars.PULUMI_BACKEND_URL" in load("deploy.yml")["jobs"]["deploy-dev"]["if"]


def test_the_policy_pack_environment_is_built_before_every_step_that_uses_it():
    virtualenv = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    for where, job in all_jobs():
        for index in pack_steps(job):
            pack = steps(job)[index]["with"]["policyPacks"]
            target = f"{pack}/{virtualenv}/.installed"
            assert f"make {target}" in [s.get("run") for s in steps(job)[:index]], f"{where}: no `make {target}` first"
            commands = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True,
                                      check=True).stdout
            assert f"-m venv {pack}/{virtualenv}" in commands
            assert f"{pack}/{virtualenv}/bin/python -m pip install" in commands
            assert f"-r {pack}/requirements.txt" in commands


def test_aws_sessions_fit_the_role_maximum_and_outlast_the_job():
    for where, job in all_jobs():
        for step in steps(job):
            if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
                seconds = step["with"].get("role-duration-seconds")
                assert isinstance(seconds, int) and seconds <= ROLE_MAX_SESSION_SECONDS, (where, seconds)
                assert job["timeout-minutes"] * 60 <= seconds, f"{where}: the job outlives its credentials"


def test_makes_preview_and_up_build_the_pack_environment():
    for target in ("preview", "up"):
        commands = subprocess.run(["make", "-n", "-B", target, "STACK=dev"], cwd=ROOT, capture_output=True,
                                  text=True).stdout
        assert "-m venv policies/venv" in commands.split("pulumi ")[0], target
