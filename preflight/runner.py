"""Run `__main__.py` under Pulumi's mock runtime with the real SDKs and collect the plan."""

from __future__ import annotations

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

from components.config import PROJECT, StackConfig
from preflight.mocks import PlatformMocks
from preflight.monitor import Registration, RecordingMonitor
from preflight.stackfile import StackFile

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Plan:
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "resources": [r.as_json() for r in self.resources],
                "outputs": {k: ("[secret]" if k in self.secret_outputs else v)
                            for k, v in self.outputs.items()}}


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
                secret_outputs=monitor.secret_stack_outputs)
