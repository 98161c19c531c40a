"""Values of the wrong shape anywhere in a stack config are refused with a message naming the
key, exit 2 and no traceback (issue #15: 2 of 161 bad configs crashed); whole objects set as
one secret are read back as objects."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from components.config import StackConfigError, parse_stack_config
from conftest import ROOT, run_preflight
from config_cases import stack_values
from preflight.__main__ import main
from preflight.stackfile import read_stack_file

ODD_VALUES = [None, True, -1, 1.5, "x", "é\n", [], [1], {}, {"a": None}]


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, path + (index,))


def test_no_odd_value_anywhere_crashes_the_loader():
    base = stack_values("dev")
    crashes = []
    for path in list(_paths(base))[1:]:
        for odd in ODD_VALUES:
            raw = copy.deepcopy(base)
            target = raw
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = copy.deepcopy(odd)
            try:
                parse_stack_config(raw, stack="dev", is_secret=lambda _: False)
            except StackConfigError as err:
                assert all(issue.path and issue.message for issue in err.issues)
            except Exception as err:  # noqa: BLE001 - any other exception is the bug this test hunts
                crashes.append(f"{path} = {odd!r}: {type(err).__name__}: {err}")
    assert not crashes, "\n".join(crashes[:10])


SHAPES = {
    "teams_is_a_mapping": ("eks-platform:teams: {}", "teams: must be a list (one '- item' per line, or [a, b]) (given a mapping)"),
    "node_group_is_a_number": ("eks-platform:nodeGroups: [1]", "nodeGroups[0]: must be a mapping"),
    "cluster_is_text": ("eks-platform:cluster: x", "cluster: must be a mapping"),
    "env_is_a_list": ("eks-platform:teams: [{name: a, apps: [{name: b, image: 'ghcr.io/x/b:1.0', env: [a]}]}]",
                      "teams[0].apps[0].env: must be a mapping"),
    "deep_nulls": ("eks-platform:teams: [{name: a, apps: [{name: b, image: ~, resources: ~}]}]",
                   "teams[0].apps[0].image: is empty"),
    "region_is_a_list": ("aws:region: [eu-west-1]", "region: must be text"),
    "infinite_count": ("eks-platform:network: {azCount: .inf}", "network.azCount: must be a finite number"),
    "date_becomes_text": ("eks-platform:certManager: {acmeEmail: 2024-01-01}",
                          "certManager.acmeEmail: must be an email address such as 'platform@example.com' "
                          "(given '2024-01-01')"),
    "binary_value": ("eks-platform:teams: [{name: !!binary aGVsbG8=}]",
                     "eks-platform:teams[0].name: YAML read this as bytes"),
    "set_value": ("eks-platform:teams: !!set {a, b}", "eks-platform:teams: YAML read this as set"),
    "number_key": ("eks-platform:network: {1: 2}", "network"),
    "config_is_a_list": (None, "'config:' must be a mapping"),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_odd_shapes_are_exit_2_with_the_key_named(tmp_path, capsys, name):
    line, expected = SHAPES[name]
    text = "config: [a]\n" if line is None else f"config:\n  eks-platform:environment: dev\n  {line}\n"
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    code = main(["plan", "--stack", "dev", "--config", str(path)])  # main returns the exit code
    stderr = capsys.readouterr().err
    assert code == 2
    assert expected in stderr, stderr
    assert "Traceback" not in stderr


def test_odd_shape_through_the_cli_has_no_traceback(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  eks-platform:teams: [{name: 2024-01-01, apps: [{name: !!binary aGk=}]}]\n")
    result = run_preflight("plan", "--stack", "dev", "--config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "YAML read this as bytes" in result.stderr


# -- whole objects as one secret -------------------------------------------------------------------

def with_secrets(tmp_path: Path, secrets: str) -> Path:
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace(
        "            BACKEND_URL: http://backend:8080\n",
        f"            BACKEND_URL: http://backend:8080\n          secrets: {secrets}\n")
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    return path


def test_a_whole_secrets_mapping_as_one_secure_value_is_accepted_offline(tmp_path):
    stack_file = read_stack_file(with_secrets(tmp_path, "{secure: AAABAMWO68C8qxo2dfXy4UHPUjIeXx76vb==}"))
    config = parse_stack_config(stack_file.project_values, stack="dev", is_secret=stack_file.is_secret)
    assert config.teams[0].apps[0].secrets == {}  # its keys are unknown until decrypted


def test_the_engine_hands_a_secure_object_over_as_json_text(tmp_path):
    stack_file = read_stack_file(with_secrets(tmp_path, "{secure: AAABAMWO68C8qxo2dfXy4UHPUjIeXx76vb==}"))
    raw = copy.deepcopy(stack_file.project_values)
    raw["teams"][0]["apps"][0]["secrets"] = json.dumps({"API_TOKEN": "decrypted"})  # as the engine passes it
    config = parse_stack_config(raw, stack="dev", is_secret=lambda path: path[0] == "teams")
    assert config.teams[0].apps[0].secrets["API_TOKEN"].get_secret_value() == "decrypted"


def test_a_whole_object_that_preflight_cannot_read_is_named(tmp_path):
    text = (ROOT / "Pulumi.dev.yaml").read_text()
    logging = text[text.index("  eks-platform:logging:"):text.index("  eks-platform:teams:")]
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text.replace(logging, "  eks-platform:logging:\n    secure: AAABAMWO68C8qxo2==\n"))
    stack_file = read_stack_file(path)
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(stack_file.project_values, stack="dev", is_secret=stack_file.is_secret)
    assert [str(i) for i in caught.value.issues] == [
        "logging: is one `secure:` value, which `pulumi up` decrypts but preflight cannot read offline; keep the "
        "structure in plain text and encrypt only the secret values inside it (pulumi config set --secret "
        "--path '<key path of the secret>' <value>)"]
