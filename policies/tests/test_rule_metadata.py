"""Every rule says what it is: a unique kebab-case name, its concern (the module it lives in),
the framework controls it enforces and a default severity; the pack configs name only rules
that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pulumi_policy import Severity

from policies.rules import POLICIES
from policies.rules.base import CONCERNS, FRAMEWORKS, Reference, resource_rule
from preflight import readiness
from preflight.check import policy_config_problems

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# CIS Amazon EKS Benchmark v1.8.0 sections a rule may cite: the recommendations the rules
# enforce, as aquasecurity/kube-bench's cfg/eks-1.8.0 lists them. A new number goes here only
# once checked against the benchmark.
VERIFIED_CIS_EKS_SECTIONS = {"2.1.1", "4.1.1", "4.1.2", "4.1.3", "4.1.6", "4.1.8", "4.1.10", "4.2.1", "4.2.2",
                             "4.2.3", "4.2.4", "4.2.5", "4.3.2", "4.5.1", "4.5.2", "5.3.1", "5.4.1", "5.4.5"}


def test_rule_names_are_unique_kebab_case():
    names = [p.name for p in POLICIES]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert [n for n in names if not KEBAB.match(n)] == []


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_every_rule_has_concern_framework_and_severity(policy):
    assert policy.concern in CONCERNS.values()
    assert policy.tags == [policy.concern]
    assert isinstance(policy.severity, Severity)
    assert policy.references and all(r.framework in FRAMEWORKS for r in policy.references)
    primary = policy.references[0]
    assert (policy.framework.name, policy.framework.version) == FRAMEWORKS[primary.framework]
    assert policy.framework.reference == (primary.control or None)
    assert policy.description and policy.remediation_steps


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
def test_framework_references_are_ones_we_can_stand_behind(policy):
    for reference in policy.references:
        if reference.framework == "CIS Amazon EKS Benchmark":
            assert reference.control in VERIFIED_CIS_EKS_SECTIONS, reference
        elif reference.framework.startswith("CIS"):
            assert reference.control == "", f"{reference}: no section number verified for this benchmark"
        elif reference.framework.startswith("PSS"):
            assert reference.control, f"{policy.name}: name the Pod Security Standards control"
        elif reference.framework == "platform":
            assert reference.control == ""


def test_pss_rules_cite_the_pod_security_standards():
    for policy in POLICIES:
        if policy.name.startswith("pss-"):
            assert policy.concern == "Pod Security"
            assert policy.references[0].framework in ("PSS Baseline", "PSS Restricted"), policy.name


def test_every_concern_holds_rules():
    assert {p.concern for p in POLICIES} == set(CONCERNS.values())


def test_a_rule_outside_a_concern_module_is_refused():
    def validate(args, report_violation):
        pass

    validate.__module__ = "policies.rules.misc"
    with pytest.raises(ValueError, match="module of its concern"):
        resource_rule("misc-anything", "d", Severity.LOW, "r", frameworks=[Reference("platform")])(validate)


def test_an_unknown_framework_is_refused():
    with pytest.raises(ValueError, match="unknown framework"):
        Reference("CIS Kubernetes Benchmark v9")


@pytest.mark.parametrize("environment", ["dev", "prod"])
def test_policy_configs_reference_only_existing_rules(environment):
    config = json.loads((CONFIG_DIR / f"{environment}.json").read_text())
    known = {p.name for p in POLICIES} | set(readiness.CHECKS)
    assert sorted(set(config) - {"all"} - known) == []
    assert policy_config_problems(config) == []
