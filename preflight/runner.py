"""Run `__main__.py` under Pulumi's mock runtime with the real SDKs and collect the plan.

The plan is the one artefact: `plan --json FILE` writes it with everything `check --plan` and
`render --plan` need (each resource with its inputs, parent and dependencies, and the stack's name
and config), so the program runs once and the other commands read the file."""

from __future__ import annotations

import json
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.config import PROJECT, StackConfig, parse_stack_config
from preflight.files import read_text
from preflight.mocks import PlatformMocks
from preflight.monitor import Registration, RecordingMonitor
from preflight.stackfile import StackFile

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The plan JSON's shape; bump it whenever a reader would misread an older file.
PLAN_FORMAT = "eks-platform-plan/1"
REGISTRATION_FIELDS = {"urn": str, "type": str, "name": str, "parent": str, "custom": bool, "protect": bool,
                       "provider": str, "dependencies": list, "inputs": dict, "secretPaths": list}
JSON_NAMES = {str: "text", bool: "true or false", list: "a list", dict: "an object"}


@dataclass
class Plan:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)
    stack_values: dict[str, Any] = field(default_factory=dict)
    """The stack file's values as the config model reads them (`secure:` values are placeholders)."""
    stack_secret_paths: list[tuple] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "stack": self.stack,
                "stackConfig": {"values": self.stack_values,
                                "secretPaths": sorted((list(p) for p in self.stack_secret_paths), key=str)},
                "resources": [r.as_json() for r in self.resources],
                "outputs": {k: ("[secret]" if k in self.secret_outputs else v)
                            for k, v in self.outputs.items()}}


class PlanFileError(Exception):
    """A plan JSON that cannot be used: not written by `plan --json`, or by another version (exit 2)."""


def read_plan(path: Path) -> tuple[Plan, StackConfig]:
    """The plan a `plan --json` wrote, and its stack config validated again by the model."""
    redo = "write it again with `python -m preflight plan --stack STACK --json FILE`"
    try:
        data = json.loads(read_text(path, "plan JSON"))
    except json.JSONDecodeError as err:
        raise PlanFileError(f"{path}: not a plan JSON (invalid JSON at line {err.lineno}: {err.msg}); {redo}") from None
    if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        what = f"format {found!r}" if found else "no 'format' key: an older preflight or another tool"
        raise PlanFileError(f"{path}: not a plan this preflight reads ({what}; expected {PLAN_FORMAT!r}); {redo}")
    problems = _plan_shape_problems(data)
    if problems:
        raise PlanFileError(f"{path}: a damaged plan JSON ({'; '.join(problems[:3])}"
                            f"{'; ...' if len(problems) > 3 else ''}); {redo}")
    stack, stack_config = data["stack"], data["stackConfig"]
    secret_paths = [tuple(p) for p in stack_config["secretPaths"]]
    stack_file = StackFile(path=path, project_values=stack_config["values"], secret_paths=set(secret_paths))
    config = parse_stack_config(stack_file.project_values, source=f"{path} (stackConfig)", stack=stack,
                                is_secret=stack_file.is_secret)
    resources = [Registration(urn=r["urn"], type=r["type"], name=r["name"], parent=r["parent"], custom=r["custom"],
                              protect=r["protect"], provider=r["provider"], dependencies=r["dependencies"],
                              inputs=r["inputs"], secret_paths=r["secretPaths"], aliases=r.get("aliases") or [])
                 for r in data["resources"]]
    outputs = data.get("outputs") or {}
    plan = Plan(stack=stack, resources=resources, outputs=outputs,
                secret_outputs=[k for k, v in outputs.items() if v == "[secret]"],
                stack_values=stack_config["values"], stack_secret_paths=secret_paths)
    return plan, config


def _plan_shape_problems(data: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(data.get("stack"), str) or not data.get("stack"):
        problems.append("'stack' must be the stack's name")
    stack_config = data.get("stackConfig")
    if not (isinstance(stack_config, dict) and isinstance(stack_config.get("values"), dict)
            and isinstance(stack_config.get("secretPaths"), list)
            and all(isinstance(p, list) for p in stack_config["secretPaths"])):
        problems.append("'stackConfig' must hold 'values' (an object) and 'secretPaths' (a list of key paths)")
    resources = data.get("resources")
    if not isinstance(resources, list):
        return [*problems, "'resources' must be a list"]
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):
            problems.append(f"resources[{index}] must be an object")
            continue
        for key, kind in REGISTRATION_FIELDS.items():
            if not isinstance(resource.get(key), kind):
                problems.append(f"resources[{index}].{key} must be {JSON_NAMES[kind]}")
    if not isinstance(data.get("outputs", {}), dict):
        problems.append("'outputs' must be an object")
    return problems


class ProgramError(Exception):
    """The Pulumi program itself failed (not the stack config)."""


def run_program(stack: str, stack_file: StackFile, config: StackConfig) -> Plan:
    """Run the program once in this process. One plan per process: the runtime's settings
    and root stack resource are process-wide."""
    monitor = RecordingMonitor(PlatformMocks(region=config.region))
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(stack_file.engine_config, stack_file.secret_keys)

    # An unset provider argument falls back to KUBECONFIG & co.; a plan must not depend on
    # whatever the machine running it has configured.
    for variable in ("KUBECONFIG", "PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS"):
        os.environ.pop(variable, None)

    def program() -> None:
        previous_dir = os.getcwd()
        sys.path.insert(0, str(PROJECT_DIR))
        os.chdir(PROJECT_DIR)
        try:
            runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")
            # set_mocks finished the root stack before the program ran, so exports made since
            # were never registered; register them now, as the real runtime does at the end.
            stack_resource = get_root_resource()
            stack_resource._outputs_registered = False
            stack_resource._finish()
        finally:
            os.chdir(previous_dir)

    try:
        _sync_await(run_pulumi_func(program))
    except pulumi.RunError as err:
        raise ProgramError(str(err)) from None
    except Exception as err:  # the program's own failure, reported as Pulumi would
        raise ProgramError(f"{type(err).__name__}: {err}") from err
    return Plan(stack=stack, resources=monitor.registrations, outputs=monitor.stack_outputs,
                secret_outputs=monitor.secret_stack_outputs, stack_values=stack_file.project_values,
                stack_secret_paths=sorted(stack_file.secret_paths, key=str))
