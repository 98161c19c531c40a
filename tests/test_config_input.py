"""Stack-file mistakes YAML and the engine let through (issue #15): duplicate keys, YAML 1.1
booleans, values lost to an unquoted '#', plain-text secrets, stack/environment mismatches,
unknown regions and Availability Zones the region does not have."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.config import StackConfigError, parse_stack_config
from components.config.regions import AVAILABILITY_ZONES
from conftest import ROOT, run_preflight
from config_cases import problems, stack_values
from preflight.stackfile import StackFileError, read_stack_file




@pytest.fixture
def dev() -> dict:
    return copy.deepcopy(stack_values("dev"))


def write_stack(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    return path


# -- YAML ------------------------------------------------------------------------------------

def test_a_second_top_level_key_is_an_error_not_a_silent_override(tmp_path):
    text = (ROOT / "Pulumi.dev.yaml").read_text() + "  eks-platform:teams:\n    - name: late\n"
    with pytest.raises(StackFileError) as caught:
        read_stack_file(write_stack(tmp_path, text))
    message = str(caught.value)
    assert "key 'eks-platform:teams' is set twice" in message and "also at line" in message


def test_duplicate_keys_are_found_at_any_depth(tmp_path):
    path = write_stack(tmp_path, "config:\n  eks-platform:network:\n    azCount: 2\n    cidr: 10.1.0.0/16\n"
                                 "    azCount: 3\n")
    with pytest.raises(StackFileError, match=r"line 5: key 'azCount' is set twice in one mapping \(also at line 3\)"):
        read_stack_file(path)


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    path = write_stack(tmp_path, "base: &base {azCount: 2}\nconfig:\n  eks-platform:network:\n"
                                 "    <<: *base\n    azCount: 3\n")
    assert read_stack_file(path).project_values["network"] == {"azCount": 3}


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "true"])
def test_yaml_booleans_are_not_numbers(tmp_path, dev, word):
    dev["nodeGroups"][0]["minSize"] = yaml.safe_load(word)
    found = problems(dev)
    assert any(p.startswith("nodeGroups[0].minSize: must be a number") and "YAML reads unquoted" in p
               for p in found), found


def test_a_boolean_is_not_a_fraction_either(dev):
    dev["autoscaler"]["scaleDownUtilizationThreshold"] = True
    assert any(p.startswith("autoscaler.scaleDownUtilizationThreshold: must be a number") for p in problems(dev))


def test_a_boolean_where_text_goes_says_to_quote_it(dev):
    dev["teams"][0]["apps"][0]["env"]["DEBUG"] = True
    assert any(p.startswith("teams[0].apps[0].env.DEBUG: must be text") and "quote it ('true')" in p
               for p in problems(dev))


def test_a_required_value_lost_to_a_comment_says_to_quote_it(tmp_path):
    text = (ROOT / "Pulumi.dev.yaml").read_text().replace(
        "acmeEmail: platform@example.com", "acmeEmail: # platform@example.com")
    found = problems(read_stack_file(write_stack(tmp_path, text)).project_values)
    assert "certManager.acmeEmail: is empty; give it a value. If the value has a '#', quote it " \
           "(YAML starts a comment at ' #')" in found


def test_an_empty_top_level_value_from_the_engine_is_empty_too(dev):
    dev["environment"] = None
    assert any(p.startswith("environment: is empty; give it a value") for p in problems(dev))


def test_a_value_glued_to_a_hash_is_caught_in_the_stack_file(tmp_path):
    path = write_stack(tmp_path, "config:\n  eks-platform:monitoring:\n    receivers:\n"
                                 "      - name: ops\n        slackChannel: #alerts\n")
    with pytest.raises(StackFileError, match=r"line 5: 'slackChannel' is empty because YAML reads ' #alerts' "
                                             r"as a comment; quote the value: slackChannel: '#alerts'"):
        read_stack_file(path)


def test_an_ordinary_comment_after_a_null_is_fine(tmp_path):
    path = write_stack(tmp_path, "config:\n  eks-platform:monitoring:\n    defaultReceiver: # none yet\n")
    assert read_stack_file(path).project_values["monitoring"] == {"defaultReceiver": None}


# -- secrets -----------------------------------------------------------------------------------

SECRET_APP = """
  eks-platform:teams:
    - name: shop
      apps:
        - name: web
          image: ghcr.io/example/web:1.0.0
          secrets:
            API_TOKEN: {value}
"""


def secret_stack(tmp_path: Path, value: str) -> Path:
    base = (ROOT / "Pulumi.dev.yaml").read_text().split("  eks-platform:teams:")[0]
    return write_stack(tmp_path, base + SECRET_APP.format(value=value).lstrip("\n"))


def test_a_plain_text_secret_is_refused_and_not_echoed(tmp_path):
    stack_file = read_stack_file(secret_stack(tmp_path, "hunter2-plain"))
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(stack_file.project_values, stack="dev", is_secret=stack_file.is_secret)
    message = str(caught.value)
    assert "teams[0].apps[0].secrets.API_TOKEN: is plain text in the stack file; a secret must be a " \
           "`secure:` value: run pulumi config set --secret --path 'teams[0].apps[0].secrets.API_TOKEN' <value>" \
           in message
    assert "hunter2-plain" not in message


def test_a_secure_value_is_accepted(tmp_path):
    stack_file = read_stack_file(secret_stack(tmp_path, "{secure: AAABAMWO68C8qxo2dfXy4UHPUjIeXx76vb==}"))
    config = parse_stack_config(stack_file.project_values, stack="dev", is_secret=stack_file.is_secret)
    assert list(config.teams[0].apps[0].secrets) == ["API_TOKEN"]


def test_a_plain_receiver_credential_is_refused(dev):
    dev["monitoring"]["receivers"] = [{"name": "ops", "slackApiUrl": "https://hooks.slack.com/services/T/B/x"},
                                      {"name": "pager", "pagerdutyRoutingKey": "abc"}]
    found = problems(dev, is_secret=lambda path: path == ("monitoring", "receivers", 1, "pagerdutyRoutingKey"))
    assert any(p.startswith("monitoring.receivers[0].slackApiUrl: is plain text") for p in found)
    assert not any(p.startswith("monitoring.receivers[1]") for p in found)


def test_a_wrong_type_under_a_secret_is_reported_without_its_value(dev):
    dev["teams"][0]["apps"][0]["secrets"] = {"TOKEN": 123456789}
    found = problems(dev, is_secret=lambda path: True)
    assert any(p.startswith("teams[0].apps[0].secrets.TOKEN: must be text") for p in found)
    assert not any("123456789" in p for p in found)


def test_a_plain_secret_never_reaches_the_plan(tmp_path):
    out = tmp_path / "out" / "plan.json"
    result = run_preflight("plan", "--stack", "dev", "--config", str(secret_stack(tmp_path, "hunter2-plain")),
                           "--json", str(out))
    assert result.returncode == 2, result.stderr
    assert "is plain text in the stack file" in result.stderr
    assert "hunter2-plain" not in result.stdout + result.stderr
    assert not out.exists()


ENGINE_RUN = """
import json, sys
import pulumi
from components.config import StackConfigError, load_from_pulumi
from preflight.mocks import PlatformMocks
pulumi.runtime.set_mocks(PlatformMocks("eu-west-1"), project="eks-platform", stack=sys.argv[1])
try:
    load_from_pulumi()
    print("valid")
except StackConfigError as err:
    print(err)
"""


def run_engine_path(stack: str, config: dict[str, str], secret_keys: list[str]) -> str:
    """The program's loader fed as the Python language host feeds it (PULUMI_CONFIG and
    PULUMI_CONFIG_SECRET_KEYS), in a fresh process: the runtime's config is process-wide."""
    env = {**os.environ, "PULUMI_CONFIG": json.dumps(config), "PULUMI_CONFIG_SECRET_KEYS": json.dumps(secret_keys)}
    result = subprocess.run([sys.executable, "-c", ENGINE_RUN, stack], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def engine_config(path: Path) -> dict[str, str]:
    return read_stack_file(path).engine_config


def test_engine_path_refuses_a_plain_secret_under_a_key_the_engine_calls_plain(tmp_path):
    output = run_engine_path("dev", engine_config(secret_stack(tmp_path, "hunter2-plain")), [])
    assert "Stack config of 'dev' is invalid" in output
    assert "teams[0].apps[0].secrets.API_TOKEN: is plain text in the stack file" in output
    assert "hunter2-plain" not in output


def test_engine_path_accepts_a_secret_key(tmp_path):
    config = engine_config(secret_stack(tmp_path, "decrypted-by-the-engine"))
    assert run_engine_path("dev", config, ["eks-platform:teams"]).strip() == "valid"


# -- stack, region, zones ----------------------------------------------------------------------

@pytest.mark.parametrize("stack", ["prod", "prod-eu", "acme/eks-platform/prod"])
def test_a_prod_stack_must_say_prod(dev, stack):
    assert any(p.startswith(f"environment: is 'dev' but the stack is '{stack}'") for p in problems(dev, stack=stack))


@pytest.mark.parametrize("stack", ["dev", "dev-eu", "sandbox", None])
def test_stack_names_that_agree_or_say_nothing_pass(dev, stack):
    parse_stack_config(dev, stack=stack)


def test_engine_path_knows_the_stack_name():
    config = engine_config(ROOT / "Pulumi.dev.yaml")
    assert "environment: is 'dev' but the stack is 'prod'" in run_engine_path("prod", config, [])


def test_plan_refuses_a_prod_stack_that_says_dev():
    result = run_preflight("plan", "--stack", "prod", "--config", str(ROOT / "Pulumi.dev.yaml"))
    assert result.returncode == 2 and "environment: is 'dev' but the stack is 'prod'" in result.stderr


def test_unknown_region_is_named_with_a_suggestion(dev):
    dev["region"] = "eu-wset-1"
    assert any(p.startswith("region: is not an AWS region this platform knows; did you mean 'eu-west-1'?")
               for p in problems(dev))


def test_az_count_above_the_regions_zones(dev):
    dev["region"], dev["network"]["azCount"] = "us-west-1", 3
    assert "network.azCount: us-west-1 has 2 Availability Zones; use at most 2 (given 3)" in problems(dev)


def test_every_region_in_the_table_has_two_to_six_zones():
    assert AVAILABILITY_ZONES and all(2 <= count <= 6 for count in AVAILABILITY_ZONES.values())


@pytest.mark.parametrize("region", ["us-west-1", "eu-west-1", "us-east-1"])
def test_the_mocks_answer_with_the_tables_zone_count(region):
    from preflight.mocks import PlatformMocks

    class Args:
        token, args, provider = "aws:index/getAvailabilityZones:getAvailabilityZones", {}, None

    answer = PlatformMocks(region).call(Args())
    assert len(answer["names"]) == len(answer["zoneIds"]) == AVAILABILITY_ZONES[region]
