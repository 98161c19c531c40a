"""The docs match the code: the policy reference is regenerated and compared, and the
runbook's output table lists exactly the stack's outputs."""

from __future__ import annotations

import re

from conftest import ROOT
from helpers import shipped_secure_values
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


def test_runbook_first_deploy_says_how_to_replace_each_secure_example():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    first_deploy = runbook.split("## First deploy of an environment", 1)[1].split("\n## ", 1)[0]
    for stack in ("dev", "prod"):
        for where in shipped_secure_values(stack):
            assert f"pulumi config set --stack {stack} --secret --path '{where}'" in first_deploy, (stack, where)


def test_runbook_names_real_files():
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    for path in re.findall(r"`((?:tests|components|policies|docs)/[\w./]+)`", runbook):
        assert (ROOT / path).exists(), path


def test_config_reference_in_the_readme_is_current():
    from components.config.reference import END, START, render

    readme = (ROOT / "README.md").read_text()
    assert START in readme and END in readme, "README has lost its config-reference markers"
    section = readme[readme.index(START):readme.index(END) + len(END)]
    assert section == render(), "README's config reference is stale: run `make docs`"


def test_every_config_key_has_a_description_and_a_type():
    from components.config.reference import rows

    undocumented = [key for key, kind, _, text in rows() if not text or not kind]
    assert not undocumented, f"give these fields a docstring in components/config/: {undocumented}"


def test_every_key_the_shipped_stacks_use_is_in_the_reference():
    from components.config.reference import rows
    from preflight.stackfile import read_stack_file

    documented = {key for key, *_ in rows()}

    free_keys = {key for key, kind, *_ in rows() if kind.startswith("mapping of")}  # env, secrets, labels...

    def keys(value, prefix):
        if isinstance(value, dict):
            for key, item in value.items():
                key = "<name>" if prefix[:-1] in free_keys else key
                if key != "<name>":
                    yield f"{prefix}{key}"
                yield from keys(item, f"{prefix}{key}.")
        elif isinstance(value, list):
            for item in value:
                yield from keys(item, prefix[:-1] + "[].")

    for stack in ("dev", "prod"):
        values = read_stack_file(ROOT / f"Pulumi.{stack}.yaml").project_values
        region = values.pop("region")
        assert region and "aws:region" in documented
        used = set(keys(values, ""))
        assert used <= documented, sorted(used - documented)


def test_the_reference_shows_each_environment_default():
    # A key whose default differs by environment shows every environment's value, never the
    # model's own (dev's) default alone, which would tell a prod user the wrong thing.
    from components.config.environments import ENVIRONMENT_DEFAULTS
    from components.config.reference import _value_text, rows

    defaults = {key: default for key, _, default, _ in rows()}
    for key, by_environment in ENVIRONMENT_DEFAULTS.items():
        assert key in defaults, f"{key} in ENVIRONMENT_DEFAULTS is not a config key"
        expected = ", ".join(f"{environment}: {_value_text(value)}" for environment, value in by_environment.items())
        assert defaults[key] == expected, (key, defaults[key])
