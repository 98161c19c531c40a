"""The stack config model: the shipped stack files load, and every kind of bad input is
refused with a message that names the key, what was given and what is allowed."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from components.config import ConfigIssue, StackConfigError, parse_stack_config
from components.config.access import placeholder_issues
from components.config.base import sections
from components.config.services import IngressConfig
from config_cases import problems, stack_values
from helpers import with_app
from preflight.stackfile import SECRET_PLACEHOLDER, StackFileError, read_stack_file

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def dev() -> dict:
    return copy.deepcopy(stack_values("dev"))


def test_shipped_stacks_load_and_differ_where_they_must():
    dev, prod = (parse_stack_config(stack_values(s)) for s in ("dev", "prod"))
    assert (dev.environment, prod.environment) == ("dev", "prod")
    assert {g.capacity_type for g in dev.node_groups} == {"SPOT"}
    assert {g.capacity_type for g in prod.node_groups} == {"ON_DEMAND"}
    assert (dev.network.az_count, prod.network.az_count) == (2, 3)
    assert (dev.network.nat_gateways, prod.network.nat_gateways) == ("single", "perAz")
    assert prod.cluster.endpoint.public_access is False
    assert dev.cluster.endpoint.public_access and "0.0.0.0/0" not in dev.cluster.endpoint.public_access_cidrs
    assert (dev.cert_manager.default_issuer, prod.cert_manager.default_issuer) == (
        "letsencrypt-staging", "letsencrypt-prod")


def test_typo_is_an_error_with_a_suggestion(dev):
    dev["nodeGroups"][0]["instanceType"] = dev["nodeGroups"][0].pop("instanceTypes")
    found = problems(dev)
    assert any(p.startswith("nodeGroups[0].instanceType: unknown key; did you mean 'instanceTypes'") for p in found)
    assert any(p.startswith("nodeGroups[0].instanceTypes: is required") for p in found)


def test_unknown_top_level_key(dev):
    dev["clustr"] = {}
    assert any(p.startswith("clustr: unknown key; did you mean 'cluster'") for p in problems(dev))


def test_wrong_type_names_key_and_value(dev):
    dev["nodeGroups"][0]["maxSize"] = "many"
    assert any(p.startswith("nodeGroups[0].maxSize: must be a valid integer") and "'many'" in p
               for p in problems(dev))


def test_unquoted_version_is_refused(dev):
    dev["cluster"]["kubernetesVersion"] = 1.3
    assert any(p.startswith("cluster.kubernetesVersion: must be a quoted string") for p in problems(dev))


def test_negative_count(dev):
    dev["nodeGroups"][0]["minSize"] = -1
    assert any(p == "nodeGroups[0].minSize: must be greater than or equal to 0 (given -1)" for p in problems(dev))


def test_duplicate_and_invalid_names(dev):
    dev["nodeGroups"].append(dict(dev["nodeGroups"][0]))
    assert "nodeGroups: node group name 'system' is used more than once" in problems(dev)
    dev["nodeGroups"][1]["name"] = "Workers_1"
    assert any(p.startswith("nodeGroups[1].name: must be a DNS-1123 label") for p in problems(dev))


def test_several_errors_are_reported_together(dev):
    dev["network"]["azCount"] = 9
    dev["cluster"]["logRetentionDays"] = 31
    dev["nodeGroups"][0]["capacityType"] = "spot"
    found = problems(dev)
    assert len(found) == 3
    assert any("network.azCount" in p for p in found)
    assert any("cluster.logRetentionDays" in p and "given 31" in p for p in found)
    assert any("nodeGroups[0].capacityType: must be 'ON_DEMAND' or 'SPOT' (given 'spot')" == p for p in found)


def test_node_group_sizes_must_be_ordered(dev):
    dev["nodeGroups"][0].update(minSize=3, desiredSize=2, maxSize=5)
    assert any(p.startswith("nodeGroups[0]: sizes must satisfy minSize <= desiredSize <= maxSize")
               for p in problems(dev))


def test_prod_endpoint_cannot_be_open_to_the_world():
    prod = copy.deepcopy(stack_values("prod"))
    prod["cluster"]["endpoint"] = {"publicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}
    assert any(p.startswith("cluster.endpoint.publicAccessCidrs: prod may not open") for p in problems(prod))


def test_public_endpoint_needs_cidrs(dev):
    dev["cluster"]["endpoint"] = {"publicAccess": True}
    assert any("publicAccess: true needs publicAccessCidrs" in p for p in problems(dev))


@pytest.mark.parametrize("image, expected", [
    ("nginx", "has no tag"),
    ("nginx:latest", "uses ':latest'"),
    ("registry.example.com:5000/web", "has no tag"),
])
def test_unpinned_images(dev, image, expected):
    assert any(p.startswith("teams[0].apps[0].image:") and expected in p
               for p in problems(with_app(dev, image=image)))


@pytest.mark.parametrize("image", [
    "registry.example.com:5000/shop/web:1.2.3",
    "nginx@sha256:" + "a" * 64,
    "ghcr.io/org/app:v2",
])
def test_pinned_images_pass(dev, image):
    parse_stack_config(with_app(dev, image=image))


def test_hpa_min_above_max(dev):
    found = problems(with_app(dev, autoscaling={"minReplicas": 5, "maxReplicas": 2}))
    assert any("autoscaling.minReplicas (5) is greater than autoscaling.maxReplicas (2)" in p for p in found)


def test_pdb_that_blocks_drains(dev):
    found = problems(with_app(dev, replicas=2, autoscaling=None, minAvailable=2))
    assert any(p.startswith("teams[0].apps[0].minAvailable: minAvailable 2") and "block" in p for p in found)


def test_dependency_on_missing_app(dev):
    assert any(p.startswith("teams[0].apps[0].dependsOn[0]: no app named 'api'")
               for p in problems(with_app(dev, dependsOn=["api"])))


def test_host_on_two_apps(dev):
    raw = with_app(dev, host="shop.example.com")
    raw["teams"][0]["apps"].append({"name": "admin", "image": "admin:1.0", "host": "shop.example.com"})
    assert "teams[0].apps[1].host: host 'shop.example.com' is already used by teams[0].apps[0].host" in problems(raw)


def test_grafana_and_kibana_on_one_host(dev):
    dev["monitoring"] = {**dev.get("monitoring", {}), "grafanaHost": "ops.example.com"}
    dev["logging"] = {**dev.get("logging", {}), "kibanaHost": "ops.example.com"}
    assert "logging.kibanaHost: host 'ops.example.com' is already used by monitoring.grafanaHost" in problems(dev)


def test_served_hosts_are_every_platform_host_with_its_key(dev):
    raw = with_app(dev, host="shop.example.com")
    raw["monitoring"] = {**raw.get("monitoring", {}), "grafanaHost": "grafana.example.com"}
    raw["logging"] = {**raw.get("logging", {}), "kibanaHost": None}
    assert parse_stack_config(raw).served_hosts == [
        ("monitoring.grafanaHost", "grafana.example.com"), ("teams[0].apps[0].host", "shop.example.com")]


def test_sections_are_walked_with_their_key_paths(dev):
    paths = [path for path, _ in sections(parse_stack_config(with_app(dev)))]
    assert paths[0] == "" and {"ingress", "cluster.endpoint", "teams[0]", "teams[0].apps[0]"} <= set(paths)


def test_a_section_brings_its_own_cross_key_and_placeholder_rules(dev, monkeypatch):
    # A section that reads other keys says so in its own class: the root runs it with its path.
    monkeypatch.setattr(IngressConfig, "stack_issues", lambda self, stack, path: [
        ConfigIssue(f"{path}.replicas", f"{len(stack.teams)} teams")])
    monkeypatch.setattr(IngressConfig, "placeholder_issues", lambda self, path: [ConfigIssue(path, "example")])
    assert f"ingress.replicas: {len(dev['teams'])} teams" in problems(dev)
    monkeypatch.undo()
    monkeypatch.setattr(IngressConfig, "placeholder_issues", lambda self, path: [ConfigIssue(path, "example")])
    assert ConfigIssue("ingress", "example") in placeholder_issues(parse_stack_config(dev))


def test_requests_above_team_limit_range(dev):
    found = problems(with_app(dev, resources={"cpuRequest": "3", "cpuLimit": "3"}))
    assert any(p.startswith("teams[0].apps[0].resources.cpuRequest: 3 is above the team's LimitRange max 2")
               for p in found)


def test_team_cannot_take_a_platform_namespace(dev):
    dev["teams"] = [{"name": "kube-system"}]
    assert any(p.startswith("teams[0].name: 'kube-system' is a platform namespace") for p in problems(dev))


def test_message_says_where_to_fix(dev):
    dev["network"]["azCount"] = 1
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(dev, source="Pulumi.dev.yaml")
    assert str(caught.value).startswith("Pulumi.dev.yaml is invalid (1 problem):")


def test_secure_values_become_marked_placeholders(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(yaml.safe_dump({"config": {
        "eks-platform:environment": "dev",
        "eks-platform:monitoring": {"receivers": [{"name": "ops", "slackApiUrl": {"secure": "AAEnc=="}}]},
    }}))
    stack_file = read_stack_file(path)
    assert stack_file.secret_keys == ["eks-platform:monitoring"]
    receiver = stack_file.project_values["monitoring"]["receivers"][0]
    assert receiver["slackApiUrl"] == SECRET_PLACEHOLDER


def test_broken_yaml_names_the_line(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  eks-platform:environment: dev\n   oops: [\n")
    with pytest.raises(StackFileError, match=r"broken YAML at line 3"):
        read_stack_file(path)


def test_misspelt_namespace_is_caught(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("config:\n  eks-platfrom:cluster: {}\n")
    with pytest.raises(StackFileError, match=r"did you mean 'eks-platform:cluster'"):
        read_stack_file(path)


def test_a_principal_gets_one_access_entry(dev):
    admin = dev["cluster"]["admins"][0]
    dev["teams"][1]["access"] = {"viewer": [admin], "developer": [dev["teams"][0]["access"]["admin"][0]]}
    found = problems(dev)
    assert any(p.startswith("teams[1].access.developer[0]:") and "teams[0].access.admin[0]" in p for p in found)
    assert any(p.startswith("teams[1].access.viewer[0]:") and "cluster.admins" in p for p in found)


def test_shipped_stacks_have_three_tiers_and_a_second_team():
    for stack in ("dev", "prod"):
        config = parse_stack_config(stack_values(stack))
        shop = {app.name: app for app in config.teams[0].apps}
        assert set(shop) == {"frontend", "backend", "database"} and len(config.teams) >= 2
        assert shop["database"].stateful and shop["frontend"].host and shop["frontend"].depends_on == ["backend"]
