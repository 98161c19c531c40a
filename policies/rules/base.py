"""How a rule is declared, and the Kubernetes helpers every rule shares.

Each rule is one function registered with its kebab-case name, description, severity and
remediation. Enforcement comes from the pack config (policies/config/<env>.json), so the
same rule is advisory in dev and mandatory in prod. Props are read-only proxies in a real
run: rules test for Mapping/Sequence, never dict/list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator, Optional

from pulumi_policy import (
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

POLICIES: list = []

EXEMPTIONS_SCHEMA = PolicyConfigSchema(properties={
    "exemptions": {
        "type": "array",
        "default": [],
        "items": {"type": "object", "properties": {
            "namespace": {"type": "string"}, "reason": {"type": "string"}},
            "required": ["namespace", "reason"]},
    },
})


def resource_rule(name: str, description: str, severity: Severity, remediation: str,
                  exemptible: bool = False) -> Callable:
    def register(validate: Callable) -> Callable:
        def checked(args: ResourceValidationArgs, report_violation) -> None:
            if exemptible and exemption_scope(args) in exempt_namespaces(args):
                return
            validate(args, report_violation)

        POLICIES.append(ResourceValidationPolicy(
            name=name, description=description, validate=checked, severity=severity,
            remediation_steps=remediation, config_schema=EXEMPTIONS_SCHEMA if exemptible else None,
        ))
        return validate
    return register


def stack_rule(name: str, description: str, severity: Severity, remediation: str) -> Callable:
    def register(validate: Callable) -> Callable:
        POLICIES.append(StackValidationPolicy(
            name=name, description=description, validate=validate, severity=severity,
            remediation_steps=remediation,
        ))
        return validate
    return register


def exempt_namespaces(args: ResourceValidationArgs) -> set[str]:
    config = args.get_config() or {}
    return {entry["namespace"] for entry in config.get("exemptions", []) or []}


# -- Kubernetes shapes ---------------------------------------------------------------------

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def kind_of(resource_type: str) -> Optional[str]:
    """'kubernetes:apps/v1:Deployment' -> 'Deployment' (None for non-Kubernetes types)."""
    if not resource_type.startswith("kubernetes:"):
        return None
    return resource_type.rsplit(":", 1)[-1]


def get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def namespace_of(props: Mapping) -> str:
    return get(props, "metadata", "namespace") or "default"


def exemption_scope(args: ResourceValidationArgs) -> str:
    """The namespace an exemption names: a Namespace object's own name, else its namespace."""
    if kind_of(args.resource_type) == "Namespace":
        return get(args.props, "metadata", "name") or ""
    return namespace_of(args.props)


def pod_spec(resource_type: str, props: Mapping) -> Optional[Mapping]:
    """The pod spec of a Pod or of any workload's pod template; None for other kinds."""
    kind = kind_of(resource_type)
    if kind == "Pod":
        return get(props, "spec")
    if kind in WORKLOAD_KINDS:
        return get(props, "spec", "template", "spec")
    if kind == "CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", "spec")
    return None


def pod_metadata(resource_type: str, props: Mapping) -> Mapping:
    kind = kind_of(resource_type)
    if kind == "Pod":
        return get(props, "metadata") or {}
    if kind == "CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", "metadata") or {}
    return get(props, "spec", "template", "metadata") or {}


def containers(spec: Mapping) -> Iterator[tuple[str, Mapping]]:
    """(label, container) for every container, init container and ephemeral container."""
    for list_name in CONTAINER_LISTS:
        items = spec.get(list_name)
        if isinstance(items, Sequence) and not isinstance(items, str):
            for item in items:
                if isinstance(item, Mapping):
                    yield f"{list_name}[{item.get('name', '?')}]", item


def pod_rule(name: str, description: str, severity: Severity, remediation: str,
             exemptible: bool = False) -> Callable:
    """A rule over pod specs: `check(spec, metadata)` yields violation messages."""
    def register(check: Callable[[Mapping, Mapping], Iterator[str]]) -> Callable:
        @resource_rule(name, description, severity, remediation, exemptible)
        def validate(args: ResourceValidationArgs, report_violation) -> None:
            spec = pod_spec(args.resource_type, args.props)
            if spec is None:
                return
            for message in check(spec, pod_metadata(args.resource_type, args.props)):
                report_violation(message)
        return check
    return register
