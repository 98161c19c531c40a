"""Stack config values Kubernetes or AWS would refuse later, refused at load instead (issue #15):
name rules, sizes and ranges, sums across keys, receivers; every message names the key and
what is allowed."""

from __future__ import annotations

import copy

import pytest
from pydantic import BaseModel

from components.config import StackConfig, parse_stack_config
from components.config.environments import HA_MINIMUM_REPLICAS, HA_REPLICA_KEYS
from config_cases import problems, stack_values




def has(found: list[str], start: str, *parts: str) -> bool:
    return any(p.startswith(start) and all(part in p for part in parts) for p in found)


@pytest.fixture
def dev() -> dict:
    return copy.deepcopy(stack_values("dev"))


@pytest.fixture
def prod() -> dict:
    return copy.deepcopy(stack_values("prod"))


def set_at(raw: dict, key: tuple, value) -> str:
    """Set raw[key[0]][key[1]]... (creating mappings on the way); return the key's path as messages spell it."""
    target = raw
    for part in key[:-1]:
        target = target[part] if isinstance(part, int) else target.setdefault(part, {})
    target[key[-1]] = value
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in key).lstrip(".")


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
    path = set_at(dev, key, value)
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
    set_at(dev, key, value)
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


def test_names_that_collide_once_joined(dev):
    dev["teams"] = [
        {"name": "a-b", "apps": [{"name": "c", "image": "ghcr.io/example/c:1.0"}]},
        {"name": "a", "apps": [{"name": "b-c", "image": "ghcr.io/example/c:1.0"}]},
    ]
    assert has(problems(dev), "teams[1].apps[0].name: team 'a' app 'b-c' joins to 'a-b-c', as teams[0].apps[0]",
               "resource names (team-a-b-c)", "rename one")


@pytest.mark.parametrize("name, expected", [
    ("kubernetes", "would shadow the API server's Service"),
    ("default", "would take over the namespace's default ServiceAccount"),
    ("database-headless", "is the name of app 'database''s headless Service"),
])
def test_reserved_and_taken_app_names(dev, name, expected):
    app(dev, index=0)["name"] = name
    app(dev, index=1)["dependsOn"] = [name]
    assert has(problems(dev), "teams[0].apps[0].name:", expected)


def test_label_value_from_team_and_app_is_at_most_63(dev):
    dev["teams"][1]["name"] = "a" * 40
    dev["teams"][1]["apps"][0]["name"] = "r" * 30
    assert has(problems(dev), "teams[1].apps[0].name: the label app.kubernetes.io/instance=", "71 characters")


def test_headless_and_statefulset_names_fit(dev):
    dev["teams"][0]["name"] = "s"
    db = app(dev, index=2)
    db["name"] = "d" * 55
    app(dev, index=1)["dependsOn"] = [db["name"]]
    found = problems(dev)
    assert has(found, "teams[0].apps[2].name: the headless Service", "use at most 54")
    assert has(found, "teams[0].apps[2].name: a StatefulSet name may have at most 52 characters")


@pytest.mark.parametrize("env_name", ["KUBERNETES_SERVICE_HOST", "KUBERNETES_PORT", "KUBERNETES_PORT_443_TCP"])
def test_reserved_env_names(dev, env_name):
    app(dev)["env"][env_name] = "x"
    assert has(problems(dev), f"teams[0].apps[0].env.{env_name}: is set by Kubernetes for the API server")


def test_env_name_with_a_newline(dev):
    app(dev)["env"]["DEBUG\n"] = "1"
    assert has(problems(dev), "teams[0].apps[0].env.DEBUG", "not a valid environment variable name")


@pytest.mark.parametrize("key, value", [("workload/", "x"), ("a" * 64, "x"), ("workload", "b" * 64),
                                        ("workload", "sp ace")])
def test_node_labels_follow_kubernetes_rules(dev, key, value):
    dev["nodeGroups"][0]["labels"] = {key: value}
    assert has(problems(dev), "nodeGroups[0].labels.", "must be a Kubernetes label")


# -- sizes and ranges ----------------------------------------------------------------------------

@pytest.mark.parametrize("cidr, expected", [
    ("10.0.0.0/8", "is larger than AWS allows: a VPC CIDR is /16 to /28"),
    ("10.0.0.0/24", "must be a /16 to /20"),
    ("8.8.0.0/16", "must lie in a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10)"),
    ("fd00::/48", "must be an IPv4 CIDR block"),
])
def test_vpc_cidr(dev, cidr, expected):
    dev["network"]["cidr"] = cidr
    assert has(problems(dev), "network.cidr:", expected)


@pytest.mark.parametrize("cidr", ["100.64.0.0/16", "172.16.0.0/16", "192.168.0.0/20"])
def test_vpc_cidr_in_every_private_range_passes(dev, cidr):
    dev["network"]["cidr"] = cidr
    parse_stack_config(dev)


@pytest.mark.parametrize("cidrs, expected", [
    (["0.0.0.0/1", "128.0.0.0/1"], "cover the whole internet"),
    (["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"], "cover the whole internet"),
    (["10.0.0.0/7"], "more than a /8"),
])
def test_prod_public_endpoint_that_together_opens_too_much(prod, cidrs, expected):
    prod["cluster"]["endpoint"] = {"publicAccess": True, "publicAccessCidrs": cidrs}
    assert has(problems(prod), "cluster.endpoint.publicAccessCidrs: prod may not open", expected)


def test_prod_public_endpoint_for_an_office_passes(prod):
    prod["cluster"]["endpoint"] = {"publicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]}
    parse_stack_config(prod)


def test_node_group_above_the_eks_quota(dev):
    dev["nodeGroups"][0]["maxSize"] = 451
    assert has(problems(dev), "nodeGroups[0].maxSize: must be less than or equal to 450")


@pytest.mark.parametrize("key", [("teams", 0, "apps", 2, "stateful", "storageGi"), ("monitoring", "prometheusStorageGi"),
                                 ("logging", "elasticsearch", "storageGi")])
def test_volumes_above_the_gp3_maximum(dev, key):
    path = set_at(dev, key, 65537)
    assert has(problems(dev), f"{path}: must be less than or equal to 65536")


@pytest.mark.parametrize("surge, unavailable, expected", [
    ("0", "0", "maxSurge and maxUnavailable are both 0"),
    ("0%", 0, "maxSurge and maxUnavailable are both 0"),
    ("25%", "150%", "maxUnavailable 150% is above 100%"),
    ("200%", "0", "maxSurge 200% is above 100%"),
])
def test_rolling_updates_kubernetes_refuses(dev, surge, unavailable, expected):
    app(dev).update(maxSurge=surge, maxUnavailable=unavailable)
    assert has(problems(dev), "teams[0].apps[0]:", expected)


@pytest.mark.parametrize("limits, expected", [
    ({"defaultCpu": "3"}, "defaultCpu 3 is above maxCpu 2"),
    ({"defaultMemory": "64Mi"}, "minMemory 128Mi is above defaultMemory 64Mi"),
    ({"defaultRequestCpu": "1"}, "defaultRequestCpu 1 is above defaultCpu 500m"),
    ({"minCpu": "3"}, "minCpu 3 is above maxCpu 2"),
])
def test_limit_range_kubernetes_refuses(dev, limits, expected):
    dev["teams"][1]["limits"] = limits
    assert has(problems(dev), "teams[1].limits: Kubernetes refuses a LimitRange", expected)


def test_request_above_limit(dev):
    dev["ingress"]["resources"] = {"cpuRequest": "2", "memoryRequest": "1Gi", "cpuLimit": "1", "memoryLimit": "1Gi"}
    assert has(problems(dev), "ingress.resources: cpuRequest 2 is above cpuLimit 1")


@pytest.mark.parametrize("heap", ["2Gi", "8Gi"])
def test_elasticsearch_heap_must_fit_its_memory_limit(dev, heap):
    dev["logging"]["elasticsearch"] = {"heap": heap}
    assert has(problems(dev), f"logging.elasticsearch: heap {heap} does not fit resources.memoryLimit 2Gi")


@pytest.mark.parametrize("instance_type", ["m6i", "large", "M6i.large", "m6i.large ", "m6i_large"])
def test_instance_types_are_family_dot_size(dev, instance_type):
    dev["nodeGroups"][0]["instanceTypes"] = [instance_type]
    assert has(problems(dev), "nodeGroups[0].instanceTypes[0]: must be an EC2 instance type in family.size form",
               "'m6i.large'")


@pytest.mark.parametrize("instance_type", ["c7i-flex.large", "u-6tb1.112xlarge", "m7i.metal-24xl", "t4g.nano"])
def test_real_instance_types_pass(dev, instance_type):
    dev["nodeGroups"][0]["instanceTypes"] = [instance_type]
    parse_stack_config(dev)


# -- sums across keys ------------------------------------------------------------------------------

def test_quota_below_the_apps_at_minimum_replicas(prod):
    prod["teams"][0]["quota"] = {"requestsCpu": "2", "requestsMemory": "1Gi", "requestsStorage": "50Gi",
                                 "persistentVolumeClaims": 0}
    found = problems(prod)
    # frontend 3 x 250m + backend 3 x 500m + database 1 x 1 = 3.25 CPU
    assert has(found, "teams[0].quota.requestsCpu: 2 is less than the team's apps need at their minimum replicas "
                      "(3.25 CPU: frontend 3 x 250m, backend 3 x 500m, database 1 x 1)")
    assert has(found, "teams[0].quota.requestsMemory: 1Gi is less", "(4.25Gi:")
    assert has(found, "teams[0].quota.requestsStorage: 50Gi is less", "(100Gi: database 1 x 100Gi)")
    assert has(found, "teams[0].quota.persistentVolumeClaims: 0 is less", "(1: database 1)")


def test_quota_counts_hpa_min_replicas_not_max(prod):
    # 20 CPU of limits: frontend 3 x 500m + backend 3 x 1 + database 1 x 2 = 6.5 at minimum replicas.
    prod["teams"][0]["quota"]["limitsCpu"] = "6.5"
    parse_stack_config(prod)
    prod["teams"][0]["quota"]["limitsCpu"] = "6"
    assert has(problems(prod), "teams[0].quota.limitsCpu: 6 is less", "(6.5 CPU:")


# -- receivers -------------------------------------------------------------------------------------

def test_receiver_named_null(dev):
    dev["monitoring"]["receivers"] = [{"name": "null", "pagerdutyRoutingKey": "k"}]
    assert has(problems(dev), "monitoring.receivers[0].name: 'null' is the platform's built-in receiver")


def test_receiver_names_are_unique(dev):
    dev["monitoring"]["receivers"] = [{"name": "ops", "pagerdutyRoutingKey": "k"}] * 2
    assert has(problems(dev), "monitoring.receivers: receiver name 'ops' is used more than once")


def test_prod_refuses_a_single_ingress_replica_instead_of_raising_it_silently(prod, dev):
    # Traefik is the only way in: prod needs a second replica in another zone. A value below that
    # is the user's mistake to hear about, not one to overrule in the chart values.
    set_at(prod, ("ingress", "replicas"), 1)
    assert has(problems(prod), "ingress.replicas", "prod", "at least 2")
    set_at(dev, ("ingress", "replicas"), 1)
    assert parse_stack_config(dev).ingress.replicas == 1


def test_environment_defaults_sit_under_the_stack_file(dev, prod):
    # The dev/prod differences are defaults of ordinary keys, filled in where the file is silent
    # and never over a value the file sets.
    assert (parse_stack_config(prod).high_availability, parse_stack_config(prod).retain_volumes) == (True, True)
    assert (parse_stack_config(dev).high_availability, parse_stack_config(dev).retain_volumes) == (False, False)
    dev["highAvailability"] = True
    for key in HA_REPLICA_KEYS:  # which highAvailability requires (tests/test_environment_defaults.py)
        set_at(dev, tuple(key.split(".")), HA_MINIMUM_REPLICAS)
    prod["retainVolumes"] = False
    assert parse_stack_config(dev).high_availability is True
    assert parse_stack_config(prod).retain_volumes is False
