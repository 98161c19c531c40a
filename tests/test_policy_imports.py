"""Importing the config model or a helper of the pack has no side effects: no pulumi_policy,
no rule registered. Rules register when the pack, `preflight check` or the reference generator
asks for them. Each probe runs in a fresh interpreter, where sys.modules starts empty."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT


def probe(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", f"import json, sys\n{code}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_config_model_does_not_load_the_policy_pack():
    found = probe("import components.config, components.config.tenancy\n"
                  "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pulumi_policy', 'policies')))))")
    assert not [m for m in found if m.startswith("pulumi_policy")], found
    assert not [m for m in found if m.startswith("policies.rules.") and m != "policies.rules.image_reference"], found


def test_importing_the_rules_package_and_its_helpers_registers_nothing():
    found = probe("import policies, policies.rules, policies.rules.base, policies.rules.helpers\n"
                  "import policies.rules.image_reference\n"
                  "print(json.dumps(len(policies.rules.base.POLICIES)))")
    assert found == 0


def test_the_helpers_are_a_leaf():
    # preflight's readiness model reads objects with them: no pack, no rule comes along.
    found = probe("import policies.rules.helpers\n"
                  "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pulumi', 'policies')))))")
    assert found == ["policies", "policies.rules", "policies.rules.helpers"]


def test_all_rules_registers_each_rule_once():
    # A module imported on its own first (import-compose reads workloads.SECRET_NAME) registers
    # its rules then; all_rules must not register them a second time.
    found = probe("import policies.rules.workloads\nfrom policies.rules import all_rules\nfirst = len(all_rules())\n"
                  "from policies.rules import POLICIES\n"
                  "print(json.dumps([first, len(all_rules()), len(POLICIES), len({p.name for p in POLICIES})]))")
    first, again, exported, names = found
    assert first > 0 and first == again == exported == names
