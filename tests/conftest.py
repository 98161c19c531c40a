"""Shared fixtures: each stack is planned once per test session, through the real CLI.

A plan runs in its own process (the Pulumi runtime's settings are process-wide), exactly as
`make plan` runs it, so the tests see what users see. The plan JSON is the one artefact: tests
that render or check a shipped stack pass `--plan plans[stack].path` instead of running the
program again (each run costs seconds). Tests that need an option the shipped stacks leave
off share one variant plan per stack (`variants`, edits listed in tests/variants.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT.parent / "shared" / "reference"
STACKS = ("dev", "prod")


def run_preflight(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "preflight", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


class PlanView:
    """A plan JSON with the look-ups tests need."""

    def __init__(self, data: dict[str, Any], path: Path | None = None, stdout: str = "", stderr: str = ""):
        self.data = data
        self.path = path
        """The plan JSON file: what `check --plan` and `render --plan` read."""
        self.stdout, self.stderr = stdout, stderr
        self.resources: list[dict[str, Any]] = data["resources"]
        self.by_urn = {r["urn"]: r for r in self.resources}

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == resource_type]

    def one(self, resource_type: str, name: str | None = None) -> dict[str, Any]:
        matches = [r for r in self.of_type(resource_type) if name is None or r["name"] == name]
        assert len(matches) == 1, f"expected one {resource_type} {name or ''}, found {len(matches)}"
        return matches[0]

    def children(self, parent: dict[str, Any]) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["parent"] == parent["urn"]]


def plan_stack(stack: str, tmp: Path, config: Path | None = None) -> PlanView:
    out = tmp / f"plan-{stack}.json"
    args = ["plan", "--stack", stack, "--json", str(out)]
    if config:
        args += ["--config", str(config)]
    result = run_preflight(*args)
    assert result.returncode == 0, f"plan {stack} failed:\n{result.stdout}\n{result.stderr}"
    return PlanView(json.loads(out.read_text()), out, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def plans(tmp_path_factory) -> dict[str, PlanView]:
    tmp = tmp_path_factory.mktemp("plans")
    return {stack: plan_stack(stack, tmp) for stack in STACKS}


@pytest.fixture(scope="session")
def variants(tmp_path_factory) -> dict[str, PlanView]:
    """Each stack with the options the shipped files leave off (tests/variants.py), planned once:
    one program run per stack serves every test that needs one of those options."""
    from variants import write_variant

    tmp = tmp_path_factory.mktemp("variants")
    return {stack: plan_stack(stack, tmp, write_variant(stack, tmp)) for stack in STACKS}


@pytest.fixture(scope="session", params=STACKS)
def plan(request, plans) -> PlanView:
    return plans[request.param]


@pytest.fixture(scope="session")
def irsa_plans(tmp_path_factory) -> dict[str, PlanView]:
    """Each shipped stack with `workloadIdentity: irsa`: what a stack that stays on IRSA plans."""
    tmp = tmp_path_factory.mktemp("irsa-plans")
    found = {}
    for stack in STACKS:
        data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
        data["config"]["eks-platform:workloadIdentity"] = "irsa"
        config = tmp / f"Pulumi.{stack}.yaml"
        config.write_text(yaml.safe_dump(data))
        found[stack] = plan_stack(stack, tmp, config)
    return found


@pytest.fixture(scope="session")
def rendered(tmp_path_factory, plans) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("rendered")
    folders = {}
    for stack in STACKS:
        out = tmp / stack
        result = run_preflight("render", "--plan", str(plans[stack].path), "--out", str(out))
        assert result.returncode == 0, result.stderr
        folders[stack] = out
    return folders


def reference_missing(ci: bool) -> None:
    """A run without ../shared/reference: CI always checks it out, so there it is a failure
    (a silent skip would pass the chart-values and CRD checks without running them)."""
    reason = f"reference data not found at {REFERENCE} (../shared/reference beside the repository)"
    if ci:
        pytest.fail(f"{reason}; CI checks it out, so it is required when CI is set", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def reference() -> Iterator[Path]:
    if not REFERENCE.is_dir():
        reference_missing(bool(os.environ.get("CI")))
    yield REFERENCE
