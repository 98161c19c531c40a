"""`preflight check`: the pack's own rule objects, evaluated in-process over a plan or a folder
of manifests, with the enforcement levels and exemptions of a pack config file."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import POLICIES
from preflight import readiness

LEVELS = {level.value: level for level in EnforcementLevel}
# libyaml's parser (in PyYAML's wheels) reads manifests about ten times faster than pure Python.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CheckInputError(Exception):
    """A policy config or manifest that cannot be read."""


@dataclass
class Violation:
    policy: str
    enforcement: str
    resource: str
    file: Optional[str]
    message: str


@dataclass
class Subject:
    """One resource to check: from the plan (inputs) or from a manifest file."""

    resource_type: str
    name: str
    urn: str
    props: dict[str, Any]
    file: Optional[str] = None
    parent: str = ""
    dependencies: list[str] = field(default_factory=list)
    """URNs, as in the plan: stack rules about creation order need them."""


def load_policy_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckInputError(f"{path}: no such policy config") from None
    except json.JSONDecodeError as err:
        raise CheckInputError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    known = {policy.name for policy in POLICIES} | set(readiness.CHECKS) | {"all"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise CheckInputError(f"{path}: unknown policies {unknown}; known: {sorted(known - {'all'})}")
    return config


def _level(policy, config: dict[str, Any]) -> EnforcementLevel:
    own = config.get(policy.name)
    if isinstance(own, str):
        return LEVELS[own]
    if isinstance(own, dict) and "enforcementLevel" in own:
        return LEVELS[own["enforcementLevel"]]
    if "all" in config:
        return LEVELS[config["all"]]
    return policy.enforcement_level or EnforcementLevel.ADVISORY


def _rule_config(policy, config: dict[str, Any]) -> dict[str, Any]:
    # The CLI fills the schema's defaults before a rule runs; do the same.
    defaults = {}
    schema = getattr(policy, "config_schema", None)
    if schema is not None:
        defaults = {key: prop.get("default") for key, prop in schema.properties.items() if "default" in prop}
    own = config.get(policy.name)
    settings = {k: v for k, v in own.items() if k != "enforcementLevel"} if isinstance(own, dict) else {}
    return {**defaults, **settings}


def exemptions(config: dict[str, Any]) -> list[dict[str, str]]:
    return [{"policy": name, **entry} for name, settings in config.items() if isinstance(settings, dict)
            for entry in settings.get("exemptions", [])]


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def evaluate(subjects: Iterable[Subject], config: dict[str, Any]) -> list[Violation]:
    """Resource rules over each subject, then stack rules over all of them, as the engine does."""
    subjects = list(subjects)
    violations: list[Violation] = []
    options = _options()
    levels = [(p, _level(p, config), _rule_config(p, config)) for p in POLICIES]
    active = [(p, level, c) for p, level, c in levels if level != EnforcementLevel.DISABLED]
    proxied = [unknown_checking_proxy(subject.props) for subject in subjects]
    for subject, props in zip(subjects, proxied):
        for policy, level, rule_config in active:
            if not isinstance(policy, ResourceValidationPolicy):
                continue
            args = ResourceValidationArgs(subject.resource_type, props, subject.urn, subject.name, options,
                                          None, rule_config)

            def report(message: str, urn: Optional[str] = None, policy=policy, level=level) -> None:
                violations.append(Violation(policy.name, level.value,
                                            f"{subject.resource_type}: {subject.name}", subject.file, message))
            policy.validate(args, report)

    stack_policies = [(p, level, c) for p, level, c in active if isinstance(p, StackValidationPolicy)]
    if stack_policies:
        by_urn = {subject.urn: subject for subject in subjects}
        resources = [PolicyResource(s.resource_type, props, s.urn, s.name, options, None, None, [], {})
                     for s, props in zip(subjects, proxied)]
        linked = {resource.urn: resource for resource in resources}
        for subject, resource in zip(subjects, resources):
            resource.parent = linked.get(subject.parent)
            resource.dependencies = [linked[urn] for urn in subject.dependencies if urn in linked]
        for policy, level, rule_config in stack_policies:
            def report_stack(message: str, urn: Optional[str] = None, policy=policy, level=level) -> None:
                subject = by_urn.get(urn or "")
                where = f"{subject.resource_type}: {subject.name}" if subject else "stack"
                violations.append(Violation(policy.name, level.value, where, subject.file if subject else None,
                                            message))
            policy.validate(StackValidationArgs(resources, rule_config), report_stack)
    return violations


def plan_subjects(plan) -> list[Subject]:
    return [Subject(r.type, r.name, r.urn, r.inputs, parent=r.parent, dependencies=r.dependencies)
            for r in plan.resources]


def manifest_subjects(folder: Path) -> list[Subject]:
    if not folder.is_dir():
        raise CheckInputError(f"{folder}: not a folder of manifests")
    subjects = []
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml")):
        try:
            documents = list(yaml.load_all(path.read_text(), Loader=_YAML_LOADER))
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise CheckInputError(f"{path}: broken YAML{where}") from None
        for index, document in enumerate(d for d in documents if d):
            if not isinstance(document, dict) or "apiVersion" not in document or "kind" not in document:
                raise CheckInputError(f"{path} (document {index + 1}): not a Kubernetes object "
                                      f"(needs apiVersion and kind)")
            api_version = document["apiVersion"] if "/" in document["apiVersion"] else f"core/{document['apiVersion']}"
            name = (document.get("metadata") or {}).get("name", f"{path.stem}-{index}")
            subjects.append(Subject(f"kubernetes:{api_version}:{document['kind']}", name,
                                    f"manifest:{path}#{index}", document, str(path)))
    return subjects


def run_readiness(subjects: list[Subject], config: dict[str, Any], plan=None, stack_config=None,
                  charts: Optional[bool] = None) -> tuple[list[Violation], list[str], int]:
    """Admission, reachability, ordering and chart contents (preflight/readiness): violations
    (the pack's, over the charts' objects, included), the report's readiness lines, and how many
    chart objects were checked."""
    result = readiness.assess(subjects, registrations=plan.resources if plan else None,
                              stack_config=stack_config, charts=charts)
    violations = evaluate(result.chart_subjects, config) if result.chart_subjects else []
    for finding in result.findings:
        enforcement = readiness.level(finding.check, config)
        if enforcement != "disabled":
            violations.append(Violation(finding.check, enforcement, finding.resource, finding.file, finding.message))
    return violations, ["Readiness (admission, reachability, ordering, chart contents):", *result.lines, ""], \
        len(result.chart_subjects)


def format_report(violations: list[Violation], checked: int, config: dict[str, Any], config_path: Path,
                  sections: Iterable[str] = ()) -> str:
    lines = [f"Policy pack eks-platform ({config_path}): {checked} resources checked", "", *sections]
    for v in sorted(violations, key=lambda v: (v.enforcement != "mandatory", v.policy, v.resource)):
        where = f" [{v.file}]" if v.file else ""
        lines.append(f"    - [{v.enforcement}]  {v.policy}  ({v.resource}){where}")
        lines.append(f"      {v.message}")
    mandatory = sum(v.enforcement == "mandatory" for v in violations)
    lines += ["", f"Violations: {mandatory} mandatory, {len(violations) - mandatory} advisory"]
    exempt = exemptions(config)
    if exempt:
        lines.append("Exemptions in force:")
        lines += [f"    - {e['policy']} in namespace {e['namespace']}: {e['reason']}" for e in exempt]
    return "\n".join(lines)


def report_json(violations: list[Violation], checked: int, config: dict[str, Any]) -> dict[str, Any]:
    return {"violations": [asdict(v) for v in violations], "resources_checked": checked,
            "exemptions": exemptions(config)}
