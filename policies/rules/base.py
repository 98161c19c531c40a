"""How a rule is declared: its name, description, severity, framework references and
remediation, next to the function that checks it.

Each rule is one function registered with its kebab-case name. Its concern (Pod Security, RBAC,
exposure, workloads, AWS) is the module it lives in (CONCERNS); its `frameworks` name the
published controls it enforces (Reference), or PLATFORM for the platform's own practice; its
severity is the default the pack reports. Enforcement comes from the pack config
(policies/config/<env>.json), so the same rule is advisory in dev and mandatory in prod.

Registration fills the pack's own fields: `severity`, `framework` (the first reference, which the
Pulumi service shows) and `tags` (the concern). Every registered policy also carries `concern`
and `references` (all of them), which the reference generator (policies/reference.py) prints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

from pulumi_policy import (
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from .helpers import exemption_scope, is_windows, kind_of, pod_metadata, pod_spec

POLICIES: list = []

# The rule modules and the concern of each; a rule registered from any other module is refused.
CONCERNS = {
    "pod_security": "Pod Security",
    "rbac": "RBAC",
    "exposure": "exposure",
    "workloads": "workloads",
    "aws": "AWS",
}

# The frameworks a rule may cite: (full name, edition) by the short name rules use. CIS Amazon
# EKS Benchmark section numbers are those of v1.8.0 as aquasecurity/kube-bench's cfg/eks-1.8.0
# lists them; a framework cited without a verified number names no control.
FRAMEWORKS = {
    "PSS Baseline": ("Kubernetes Pod Security Standards, Baseline", None),
    "PSS Restricted": ("Kubernetes Pod Security Standards, Restricted", None),
    "CIS Amazon EKS Benchmark": ("CIS Amazon Elastic Kubernetes Service (EKS) Benchmark", "1.8.0"),
    "CIS AWS Foundations Benchmark": ("CIS Amazon Web Services Foundations Benchmark", None),
    "NSA/CISA": ("NSA/CISA Kubernetes Hardening Guidance", "1.2"),
    "platform": ("eks-platform's own practice", None),
}
RULE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class Reference:
    """One control of a framework (a key of FRAMEWORKS) that a rule enforces."""

    framework: str
    control: str = ""
    """The control as the framework names or numbers it; empty where none is verified."""

    def __post_init__(self) -> None:
        if self.framework not in FRAMEWORKS:
            raise ValueError(f"unknown framework {self.framework!r}; use one of {sorted(FRAMEWORKS)}")

    def __str__(self) -> str:
        return f"{self.framework}: {self.control}" if self.control else self.framework


def pss_baseline(control: str) -> Reference:
    return Reference("PSS Baseline", control)


def pss_restricted(control: str) -> Reference:
    return Reference("PSS Restricted", control)


def cis_eks(section: str = "") -> Reference:
    return Reference("CIS Amazon EKS Benchmark", section)


def nsa_cisa(section: str) -> Reference:
    return Reference("NSA/CISA", section)


PLATFORM = Reference("platform")

EXEMPTIONS_PROPERTY = {
    "type": "array",
    "default": [],
    "items": {"type": "object", "properties": {
        "namespace": {"type": "string", "minLength": 1}, "reason": {"type": "string", "minLength": 1}},
        "required": ["namespace", "reason"], "additionalProperties": False},
}


def _register(policy_class, name: str, description: str, severity: Severity, remediation: str,
              frameworks: Sequence[Reference], module: str, **extra):
    concern = CONCERNS.get(module.rsplit(".", 1)[-1])
    if concern is None:
        raise ValueError(f"rule {name} is declared in {module}: put it in the module of its concern, "
                         f"one of policies/rules/{{{','.join(CONCERNS)}}}.py (a new module: add it to CONCERNS)")
    if not RULE_NAME.match(name):
        raise ValueError(f"rule name {name!r} is not kebab-case")
    references = tuple(frameworks)
    if not references or not all(isinstance(r, Reference) for r in references):
        raise ValueError(f"rule {name}: give frameworks as one or more Reference (PLATFORM for our own)")
    primary = references[0]
    policy = policy_class(
        name=name, description=description, severity=severity, remediation_steps=remediation,
        framework=PolicyComplianceFramework(*FRAMEWORKS[primary.framework], reference=primary.control or None),
        tags=[concern], **extra,
    )
    policy.concern = concern
    policy.references = references
    POLICIES.append(policy)


def resource_rule(name: str, description: str, severity: Severity, remediation: str, *,
                  frameworks: Sequence[Reference], exemptible: bool = False,
                  settings: Optional[dict[str, dict]] = None) -> Callable:
    """`exemptible`: the pack config may exempt namespaces by name (each with a reason).
    `settings`: further config properties (JSON Schema, each with a default)."""
    properties = {**({"exemptions": EXEMPTIONS_PROPERTY} if exemptible else {}), **(settings or {})}

    def register(validate: Callable) -> Callable:
        def checked(args: ResourceValidationArgs, report_violation) -> None:
            if exemptible and exemption_scope(args.resource_type, args.props) in exempt_namespaces(args):
                return
            validate(args, report_violation)

        _register(ResourceValidationPolicy, name, description, severity, remediation, frameworks,
                  validate.__module__, validate=checked,
                  config_schema=PolicyConfigSchema(properties=properties) if properties else None)
        return validate
    return register


def stack_rule(name: str, description: str, severity: Severity, remediation: str, *,
               frameworks: Sequence[Reference]) -> Callable:
    def register(validate: Callable) -> Callable:
        _register(StackValidationPolicy, name, description, severity, remediation, frameworks,
                  validate.__module__, validate=validate)
        return validate
    return register


def exempt_namespaces(args: ResourceValidationArgs) -> set[str]:
    config = args.get_config() or {}
    return {entry["namespace"] for entry in config.get("exemptions", []) or []}


def pod_rule(name: str, description: str, severity: Severity, remediation: str, *,
             frameworks: Sequence[Reference], exemptible: bool = False, linux_only: bool = False,
             kinds: Optional[Sequence[str]] = None, settings: Optional[dict[str, dict]] = None) -> Callable:
    """A rule over pod specs: `check(spec, metadata)` yields violation messages.

    `linux_only`: the control is about Linux-only fields and is skipped for pods declaring
    `spec.os.name: windows`, as Pod Security admission does since 1.25 (the API refuses those
    fields on Windows pods). `kinds`: only these kinds' pods (default: every kind with a pod spec).
    With `settings`, `check(spec, metadata, config)` gets the rule's config.
    """
    def register(check: Callable[..., Iterator[str]]) -> Callable:
        def validate(args: ResourceValidationArgs, report_violation) -> None:
            if kinds is not None and kind_of(args.resource_type) not in kinds:
                return
            spec = pod_spec(args.resource_type, args.props)
            if not isinstance(spec, Mapping) or (linux_only and is_windows(spec)):
                return
            metadata = pod_metadata(args.resource_type, args.props)
            extra = (args.get_config() or {},) if settings else ()
            for message in check(spec, metadata, *extra):
                report_violation(message)

        validate.__module__ = check.__module__  # the concern is the module of the check
        resource_rule(name, description, severity, remediation, frameworks=frameworks,
                      exemptible=exemptible, settings=settings)(validate)
        return check
    return register
