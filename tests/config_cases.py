"""Helpers shared by the stack-config tests: the shipped stacks' values and the problems a
config is refused with."""

from __future__ import annotations

import pytest

from components.config import StackConfigError, parse_stack_config
from conftest import ROOT
from preflight.stackfile import read_stack_file


def stack_values(stack: str) -> dict:
    return read_stack_file(ROOT / f"Pulumi.{stack}.yaml").project_values


def problems(raw: dict, **kwargs) -> list[str]:
    """The issues `raw` is refused with, one line each ('key.path: message')."""
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw, **kwargs)
    return [str(issue) for issue in caught.value.issues]
