"""`preflight check`: the pack's own rule objects, evaluated in-process over a plan or a folder
of manifests, with the enforcement levels and exemptions of a pack config file."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policies.rules import all_rules
from preflight import readiness
from preflight.files import PathError, read_text
from preflight.manifests import read_documents

LEVELS = {level.value: level for level in EnforcementLevel}
# `preflight check` evaluates the whole pack: the rules register here, as the pack registers them.
POLICIES = all_rules()
JSON_TYPES = {"string": str, "array": list, "object": dict, "boolean": bool, "integer": int, "number": (int, float)}


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
    """The pack config, validated as the Pulumi CLI would (each rule's config schema) and more
    strictly: an unknown rule, level or setting is an error, never silently ignored."""
    try:
        config = json.loads(read_text(path, "policy config"))
    except PathError as err:
        raise CheckInputError(str(err).replace("no such file or folder", "no such policy config")) from None
    except json.JSONDecodeError as err:
        raise CheckInputError(f"{path}: invalid JSON at line {err.lineno}: {err.msg}") from None
    problems = policy_config_problems(config)
    if problems:
        raise CheckInputError(f"{path} is not a valid policy config ({len(problems)} problem"
                              f"{'s' if len(problems) > 1 else ''}):\n" + "\n".join(f"  - {p}" for p in problems))
    return config


def policy_config_problems(config: Any) -> list[str]:
    if not isinstance(config, dict):
        return [f"the config is a JSON object of rule names, not a {type(config).__name__}"]
    # A readiness check (preflight/readiness) takes a level like a rule, and no settings.
    schemas = {**{name: None for name in readiness.CHECKS},
               **{policy.name: getattr(policy, "config_schema", None) for policy in POLICIES}}
    levels = sorted(LEVELS)
    problems = []
    for name, value in config.items():
        if name == "all":
            if value not in LEVELS:
                problems.append(f"all: {value!r} is not an enforcement level; use one of {levels}")
            continue
        if name not in schemas:
            problems.append(f"{name}: unknown policy; known: {sorted(schemas)}")
        elif isinstance(value, str):
            if value not in LEVELS:
                problems.append(f"{name}: {value!r} is not an enforcement level; use one of {levels}")
        elif isinstance(value, dict):
            problems += _settings_problems(name, schemas[name], value, levels)
        else:
            problems.append(f"{name}: give an enforcement level ({levels}) or an object of settings, "
                            f"not {json.dumps(value)}")
    return problems


def _settings_problems(name: str, schema, settings: dict[str, Any], levels: list[str]) -> list[str]:
    properties = dict(schema.properties) if schema is not None else {}
    problems = []
    for key, value in settings.items():
        where = f"{name}.{key}"
        if key == "enforcementLevel":
            if value not in LEVELS:
                problems.append(f"{where}: {value!r} is not an enforcement level; use one of {levels}")
        elif key not in properties:
            allowed = ["enforcementLevel", *sorted(properties)]
            problems.append(f"{where}: unknown setting for this rule; allowed: {allowed}")
        else:
            problems += _schema_problems(value, properties[key], where)
    return problems


def _schema_problems(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """The subset of JSON Schema the rules' config schemas use: type, items, properties,
    required, additionalProperties, minLength, pattern, enum."""
    expected = schema.get("type")
    if expected and (not isinstance(value, JSON_TYPES[expected]) or (expected != "boolean" and isinstance(value, bool))):
        return [f"{where}: must be {'an' if expected[0] in 'aeiou' else 'a'} {expected}, not {json.dumps(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where}: {value!r} is not one of {schema['enum']}"]
    problems = []
    if isinstance(value, str):
        if len(value.strip()) < schema.get("minLength", 0):
            problems.append(f"{where}: must not be empty")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{where}: {value!r} is not of the form {schema.get('description', schema['pattern'])}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += _schema_problems(item, schema["items"], f"{where}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        if schema.get("additionalProperties") is False:
            problems += [f"{where}.{key}: unknown key; allowed: {sorted(properties)}"
                         for key in value if key not in properties]
        for key, item in value.items():
            if key in properties:
                problems += _schema_problems(item, properties[key], f"{where}.{key}")
    return problems


def with_kubernetes_version(config: dict[str, Any], version: str) -> dict[str, Any]:
    """The config with `kubernetesVersion` set to the stack's version for every rule that takes
    one and is not given one: the cluster being planned is the target the rules judge for."""
    result = dict(config)
    for policy in POLICIES:
        schema = getattr(policy, "config_schema", None)
        if schema is None or "kubernetesVersion" not in schema.properties:
            continue
        own = result.get(policy.name)
        if isinstance(own, dict) and "kubernetesVersion" in own:
            continue
        settings = dict(own) if isinstance(own, dict) else ({"enforcementLevel": own} if isinstance(own, str) else {})
        result[policy.name] = {**settings, "kubernetesVersion": version}
    return result


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


def manifest_subjects(root: Path, notices: Optional[list[str]] = None) -> list[Subject]:
    """A Subject per object under `root` (a folder or one file); skipped documents are
    described in `notices`."""
    subjects = []
    for document in read_documents(root, notices if notices is not None else []):
        body = document.body
        api_version = body["apiVersion"] if "/" in body["apiVersion"] else f"core/{body['apiVersion']}"
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        name = metadata.get("name") or metadata.get("generateName") or f"{document.path.stem}{document.where}"
        subjects.append(Subject(f"kubernetes:{api_version}:{body['kind']}", str(name),
                                f"manifest:{document.path}{document.where}", body, str(document.path)))
    return subjects


@dataclass
class ReadinessReport:
    violations: list[Violation]
    """The readiness findings, and the pack's violations over the charts' objects."""
    sections: list[str]
    """The report's readiness lines (chart contents, admission, the reachability matrix)."""
    chart_objects: int
    connections: list[dict[str, Any]]
    """The reachability matrix for --json: every intended connection and its verdict."""


def run_readiness(subjects: list[Subject], config: dict[str, Any], plan=None, stack_config=None,
                  charts: Optional[bool] = None) -> ReadinessReport:
    """Admission, reachability, ordering and chart contents (preflight/readiness)."""
    result = readiness.assess(subjects, registrations=plan.resources if plan else None,
                              stack_config=stack_config, charts=charts)
    violations = evaluate(result.chart_subjects, config) if result.chart_subjects else []
    for finding in result.findings:
        enforcement = readiness.level(finding.check, config)
        if enforcement != "disabled":
            violations.append(Violation(finding.check, enforcement, finding.resource, finding.file, finding.message))
    return ReadinessReport(violations, ["Readiness (admission, reachability, ordering, chart contents):",
                                        *result.lines, ""], len(result.chart_subjects), result.connections)


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


def report_json(violations: list[Violation], checked: int, config: dict[str, Any],
                skipped: Iterable[str] = (), reachability: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
    report = {"violations": [asdict(v) for v in violations], "resources_checked": checked,
              "exemptions": exemptions(config), "skipped": list(skipped)}
    if reachability is not None:
        report["reachability"] = reachability
    return report
