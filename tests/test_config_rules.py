"""Stack config values Kubernetes or AWS would refuse later, refused at load instead (issue #15):
name rules, sizes and ranges, sums across keys, receivers; every message names the key and
what is allowed."""

from __future__ import annotations

import copy

import pytest
from pydantic import BaseModel

from components.config import StackConfig
from config_cases import problems, stack_values




def has(found: list[str], start: str, *parts: str) -> bool:
    return any(p.startswith(start) and all(part in p for part in parts) for p in found)


@pytest.fixture
def dev() -> dict:
    return copy.deepcopy(stack_values("dev"))


@pytest.fixture
def prod() -> dict:
    return copy.deepcopy(stack_values("prod"))


def app(dev: dict, team: int = 0, index: int = 0) -> dict:
    return dev["teams"][team]["apps"][index]


# -- names ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    (("teams", 0, "name"), "shop\n"),
    (("teams", 0, "apps", 0, "name"), "frontend\n"),
    (("nodeGroups", 0, "name"), "system\n"),
    (("certManager", "acmeEmail"), "platform@example.com\n"),
    (("cluster", "kubernetesVersion"), "1.33\n"),
    (("teams", 0, "apps", 0, "maxSurge"), "25%\n"),
    (("monitoring", "grafanaHost"), "grafana.example.com\n"),
])
def test_a_trailing_newline_is_not_part_of_a_valid_value(dev, key, value):
    target = dev
    for part in key[:-1]:
        target = target[part]
    target[key[-1]] = value
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in key).lstrip(".")
    assert any(p.startswith(f"{path}:") for p in problems(dev)), path


def test_non_ascii_is_refused_in_arns(dev):
    dev["cluster"]["admins"] = ["arn:aws:iam::123456789012:role/plätform", "arn:aws:iam::١٢٣٤٥٦٧٨٩٠١٢:role/x"]
    found = problems(dev)
    assert has(found, "cluster.admins[0]: must be an IAM role or user ARN (ASCII)")
    assert has(found, "cluster.admins[1]: must be an IAM role or user ARN (ASCII)")


def test_app_names_are_dns_1035_because_they_name_services(dev):
    app(dev)["name"] = "1frontend"
    assert has(problems(dev), "teams[0].apps[0].name: must be a DNS-1035 label (it names a Service)",
               "starting with a letter")


@pytest.mark.parametrize("key, value, expected", [
    (("certManager", "route53HostedZoneId"), "z123", "a Route53 hosted zone ID"),
    (("logging", "elasticsearch", "version"), "7.17.0", "an Elasticsearch 8.x or 9.x version"),
    (("addons", "vpcCni"), "1.20.1", "an EKS add-on version such as 'v1.20.1-eksbuild.3'"),
    (("autoscaler", "imageTag"), "1.33.0", "a cluster-autoscaler image tag such as 'v1.33.0'"),
])
def test_pattern_messages_say_what_form_with_an_example(dev, key, value, expected):
    target = dev
    for part in key[:-1]:
        target = target.setdefault(part, {})
    target[key[-1]] = value
    found = problems(dev)
    assert has(found, ".".join(key) + ": must be ", expected, " such as '"), found
    assert not any("should match pattern" in p for p in found)


def test_image_reference_messages_show_the_expected_form(dev):
    app(dev)["image"] = "ghcr.io/example/web"
    found = problems(dev)
    assert has(found, "teams[0].apps[0].image:", "has no tag"), found


def test_no_field_uses_a_bare_regex_pattern():
    """pydantic's own pattern message shows the regex, not an example: every pattern goes
    through base.pattern() instead."""
    def walk(model: type[BaseModel], seen: set) -> list[str]:
        if model in seen:
            return []
        seen.add(model)
        found = []
        for name, field in model.model_fields.items():
            if any(getattr(meta, "pattern", None) for meta in field.metadata):
                found.append(f"{model.__name__}.{name}")
            for sub in _models_in(field.annotation):
                found += walk(sub, seen)
        return found

    assert walk(StackConfig, set()) == []


def _models_in(annotation) -> list[type[BaseModel]]:
    import typing
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


@pytest.mark.parametrize("image", ["Ghcr.io/example/web:1.0", "ghcr.io/example/web:1.0\n", "ghcr.io/é/web:1",
                                   "web@sha256:abc"])
def test_an_invalid_image_reference_says_what_form_is_expected(dev, image):
    app(dev)["image"] = image
    assert has(problems(dev), "teams[0].apps[0].image: must be an image reference",
               "such as 'ghcr.io/example/shop-frontend:1.4.2'")
