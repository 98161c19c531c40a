"""Dev/prod differences are defaults of ordinary stack keys in one table
(components/config/environments.py), merged under the stack file: the components read the key,
a value the file sets wins, and a value that breaks a prod requirement is a config error, never
silently raised (issue #16, item 5)."""

from __future__ import annotations

import copy

import pytest

from components.config import parse_stack_config
from components.config.environments import (ENVIRONMENT_DEFAULTS, HA_MINIMUM_REPLICAS, HA_REPLICA_KEYS,
                                            value_at)
from components.config.stack import ENVIRONMENTS
from config_cases import problems, stack_values
from helpers import release, shipped_config


def raw_of(stack: str) -> dict:
    return copy.deepcopy(stack_values(stack))


def set_key(raw: dict, key: str, value) -> None:
    *parents, leaf = key.split(".")
    for part in parents:
        raw = raw.setdefault(part, {})
    raw[leaf] = value


def is_set_in_file(raw: dict, key: str) -> bool:
    for part in key.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return False
        raw = raw[part]
    return True


def test_every_environment_has_a_default_for_every_key():
    for key, defaults in ENVIRONMENT_DEFAULTS.items():
        assert set(defaults) == set(ENVIRONMENTS), key


@pytest.mark.parametrize("stack", ENVIRONMENTS)
def test_the_file_wins_and_the_table_fills_in_the_rest(stack):
    raw = raw_of(stack)
    config = parse_stack_config(raw)
    for key, defaults in ENVIRONMENT_DEFAULTS.items():
        if not is_set_in_file(raw, key):
            assert value_at(config, key) == defaults[stack], key
    # A value the file sets is never replaced by the environment's default (within what prod allows).
    for key, defaults in ENVIRONMENT_DEFAULTS.items():
        chosen = raw_of(stack)
        other = defaults["prod" if stack == "dev" else "dev"]
        wanted = other if not isinstance(other, int) or isinstance(other, bool) else max(other, 3)
        set_key(chosen, key, wanted)
        if key == "highAvailability" and wanted:
            for replicas_key in HA_REPLICA_KEYS:
                set_key(chosen, replicas_key, HA_MINIMUM_REPLICAS)
        assert value_at(parse_stack_config(chosen), key) == wanted, key


@pytest.mark.parametrize("key", HA_REPLICA_KEYS)
def test_prod_refuses_a_single_controller_replica_instead_of_raising_it(key):
    prod = raw_of("prod")
    if key.startswith("autoscaler.karpenter.") and shipped_config("prod").autoscaler.kind != "karpenter":
        prod = raw_of("dev")  # a Karpenter stack (dev's) made prod: Karpenter's keys are read there
        assert shipped_config("dev").autoscaler.kind == "karpenter"
        prod["environment"] = "prod"
    if key.startswith("ingress.loadBalancerController."):
        set_key(prod, "ingress.loadBalancerController.enabled", True)  # its keys are read when it is on
    set_key(prod, key, 1)
    found = problems(prod)
    assert any(p.startswith(f"{key}: ") and "prod" in p and f"at least {HA_MINIMUM_REPLICAS}" in p
               for p in found), found
    dev = raw_of("dev")
    set_key(dev, key, 1)
    assert value_at(parse_stack_config(dev), key) == 1


def test_high_availability_in_dev_needs_the_replicas_to_match():
    # Before the replica keys, highAvailability: true raised each controller to two replicas; now it
    # says so instead of quietly running one.
    dev = raw_of("dev")
    dev["highAvailability"] = True
    found = problems(dev)
    for key in HA_REPLICA_KEYS:
        assert any(p.startswith(f"{key}: ") and "highAvailability" in p for p in found), (key, found)
    for key in HA_REPLICA_KEYS:
        set_key(dev, key, HA_MINIMUM_REPLICAS)
    assert parse_stack_config(dev).high_availability is True


def test_karpenter_defaults_are_not_karpenter_settings_of_a_cluster_autoscaler_stack():
    prod = raw_of("prod")
    assert prod.get("autoscaler", {}).get("kind", "cluster-autoscaler") == "cluster-autoscaler"
    parse_stack_config(prod)  # the table fills autoscaler.karpenter.controllerReplicas in every stack
    prod["autoscaler"]["karpenter"] = {"amiAlias": "al2023@latest"}
    assert any(p.startswith("autoscaler.karpenter: is read only with autoscaler.kind: karpenter")
               for p in problems(prod))


# -- the plans follow the keys -----------------------------------------------------------------

def controller_replicas(plan) -> dict[str, int]:
    """key -> the replicas the plan gives the controller that key sizes."""
    found = {"addons.metricsServerReplicas": release(plan, "metrics-server")["inputs"]["values"]["replicas"]}
    cert_manager = release(plan, "cert-manager")["inputs"]["values"]
    counts = {cert_manager["replicaCount"], cert_manager["webhook"]["replicaCount"],
              cert_manager["cainjector"]["replicaCount"]}
    assert len(counts) == 1, counts
    found["certManager.replicas"] = counts.pop()
    found["logging.operatorReplicas"] = release(plan, "eck-operator")["inputs"]["values"]["replicaCount"]
    found["logging.kibanaReplicas"] = plan.one("kubernetes:kibana.k8s.elastic.co/v1:Kibana")["inputs"]["spec"]["count"]
    controller = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release")
                  if r["inputs"]["chart"] == "aws-load-balancer-controller"]
    if controller:
        found["ingress.loadBalancerController.replicas"] = controller[0]["inputs"]["values"]["replicaCount"]
    karpenter = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"].endswith("/karpenter")]
    if karpenter:
        found["autoscaler.karpenter.controllerReplicas"] = karpenter[0]["inputs"]["values"]["replicas"]
    return found


def test_controller_replicas_and_their_budgets_come_from_the_config(plans):
    for stack in ENVIRONMENTS:
        config = shipped_config(stack)
        found = controller_replicas(plans[stack])
        assert found == {key: value_at(config, key) for key in found}, stack
        if config.autoscaler.kind == "karpenter":
            assert "autoscaler.karpenter.controllerReplicas" in found
        if config.ingress.load_balancer_controller.enabled:
            assert "ingress.loadBalancerController.replicas" in found
        metrics_server = release(plans[stack], "metrics-server")["inputs"]["values"]
        assert metrics_server["podDisruptionBudget"]["enabled"] is (config.addons.metrics_server_replicas > 1)
        cert_manager = release(plans[stack], "cert-manager")["inputs"]["values"]
        assert cert_manager["podDisruptionBudget"]["enabled"] is (config.cert_manager.replicas > 1)
    assert all(value >= HA_MINIMUM_REPLICAS for value in controller_replicas(plans["prod"]).values())


def test_protection_comes_from_cluster_protect(plans):
    for stack in ENVIRONMENTS:
        protect = shipped_config(stack).cluster.protect
        assert protect is ENVIRONMENT_DEFAULTS["cluster.protect"][stack] or is_set_in_file(
            stack_values(stack), "cluster.protect")
        for resource_type, name in (("eks:index:Cluster", None), ("aws:kms/key:Key", None),
                                    ("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")):
            assert plans[stack].one(resource_type, name)["protect"] is protect, (stack, resource_type)
        assert plans[stack].one("eks:index:Cluster")["inputs"]["deletionProtection"] is protect


def test_defaults_leave_missing_required_sections_and_bad_shapes_to_the_model():
    prod = raw_of("prod")
    del prod["cluster"]
    prod["logging"] = "verbose"
    before = copy.deepcopy(prod)
    found = problems(prod)
    assert any(p.startswith("cluster: is required") for p in found), found
    assert not any(p.startswith("cluster.") for p in found), found
    assert any(p.startswith("logging: must be a mapping") for p in found), found
    assert prod == before, "the caller's values are not changed"
