"""The docs match the code: the policy reference is regenerated and compared, and the
runbook's output table lists exactly the stack's outputs."""

from __future__ import annotations

import re

from conftest import ROOT
from policies.reference import render
from policies.rules import POLICIES


def test_policy_reference_is_current():
    current = (ROOT / "docs" / "policies.md").read_text()
    assert current == render(), "docs/policies.md is stale: run `make docs`"


def test_policy_reference_lists_every_rule_with_both_enforcements():
    text = render()
    for policy in POLICIES:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{policy.name}` |"))
        assert "| advisory | mandatory |" in row, row


def test_runbook_lists_every_stack_output(plans):
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    table = runbook.split("## Stack outputs", 1)[1]
    documented = set(re.findall(r"^\| `(\w+)`", table, flags=re.MULTILINE))
    assert documented == set(plans["prod"].data["outputs"])


def test_runbook_names_real_files():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    for path in re.findall(r"`((?:tests|components|policies|docs)/[\w./]+)`", runbook):
        assert (ROOT / path).exists(), path
