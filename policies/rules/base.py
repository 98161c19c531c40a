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

EXEMPTIONS_PROPERTY = {
    "type": "array",
    "default": [],
    "items": {"type": "object", "properties": {
        "namespace": {"type": "string", "minLength": 1}, "reason": {"type": "string", "minLength": 1}},
        "required": ["namespace", "reason"], "additionalProperties": False},
}


def resource_rule(name: str, description: str, severity: Severity, remediation: str,
                  exemptible: bool = False, settings: Optional[dict[str, dict]] = None) -> Callable:
    """`exemptible`: the pack config may exempt namespaces by name (each with a reason).
    `settings`: further config properties (JSON Schema, each with a default)."""
    properties = {**({"exemptions": EXEMPTIONS_PROPERTY} if exemptible else {}), **(settings or {})}

    def register(validate: Callable) -> Callable:
        def checked(args: ResourceValidationArgs, report_violation) -> None:
            if exemptible and exemption_scope(args) in exempt_namespaces(args):
                return
            validate(args, report_violation)

        POLICIES.append(ResourceValidationPolicy(
            name=name, description=description, validate=checked, severity=severity,
            remediation_steps=remediation, config_schema=PolicyConfigSchema(properties=properties) if properties else None,
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

# Kinds whose spec.template is a pod template (PodTemplate's is at the top: `template`).
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# Kinds with no namespace: the built-in APIs' cluster-scoped kinds, and the custom resources of
# the charts this platform installs (by API group). Nothing of these is "in the default namespace".
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "ClusterTrustBundle",
    "ComponentStatus", "CSIDriver", "CSINode", "CustomResourceDefinition", "DeviceClass", "FlowSchema",
    "IngressClass", "IPAddress", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume", "PodSecurityPolicy",
    "PriorityClass", "PriorityLevelConfiguration", "ResourceSlice", "RuntimeClass", "SelfSubjectAccessReview",
    "SelfSubjectReview", "SelfSubjectRulesReview", "ServiceCIDR", "StorageClass", "StorageVersion",
    "StorageVersionMigration", "SubjectAccessReview", "TokenReview", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration", "VolumeAttachment",
    "VolumeAttributesClass",
})
CLUSTER_SCOPED_CUSTOM_KINDS = frozenset({
    ("cert-manager.io", "ClusterIssuer"), ("gateway.networking.k8s.io", "GatewayClass"),
    ("snapshot.storage.k8s.io", "VolumeSnapshotClass"), ("snapshot.storage.k8s.io", "VolumeSnapshotContent"),
    ("karpenter.sh", "NodePool"), ("karpenter.sh", "NodeClaim"), ("karpenter.k8s.aws", "EC2NodeClass"),
})


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


def api_group(resource_type: str) -> str:
    """'kubernetes:apps/v1:Deployment' -> 'apps'; the core group is ''."""
    api_version = resource_type.split(":")[1] if resource_type.count(":") >= 2 else ""
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return "" if group == "core" else group


def is_cluster_scoped(resource_type: str) -> bool:
    kind = kind_of(resource_type)
    group = api_group(resource_type)
    builtin = "." not in group or group.endswith(".k8s.io")
    return (builtin and kind in CLUSTER_SCOPED_KINDS) or (group, kind) in CLUSTER_SCOPED_CUSTOM_KINDS


def namespace_of(props: Mapping) -> str:
    """The namespace of a namespaced object (an object without one lands in `default`)."""
    return get(props, "metadata", "namespace") or "default"


def object_namespace(resource_type: str, props: Mapping) -> Optional[str]:
    """The object's namespace; None for a cluster-scoped kind."""
    return None if is_cluster_scoped(resource_type) else namespace_of(props)


# Helm stamps every object a release installs with the release's namespace; for a
# cluster-scoped object (a chart's ClusterRole) that is the namespace it belongs to.
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def exemption_scope(args: ResourceValidationArgs) -> Optional[str]:
    """The namespace an exemption names: a Namespace object's own name, else its namespace;
    for another cluster-scoped object, the namespace of the Helm release that installed it
    (None when none did: no namespace exemption covers it)."""
    if kind_of(args.resource_type) == "Namespace":
        return get(args.props, "metadata", "name") or ""
    if is_cluster_scoped(args.resource_type):
        release_namespace = get(args.props, "metadata", "annotations", HELM_RELEASE_NAMESPACE)
        return release_namespace if isinstance(release_namespace, str) and release_namespace else None
    return object_namespace(args.resource_type, args.props)


def pod_spec(resource_type: str, props: Mapping) -> Optional[Mapping]:
    """The pod spec of a Pod or of any workload's pod template; None for other kinds."""
    kind = kind_of(resource_type)
    if kind == "Pod":
        return get(props, "spec")
    if kind == "PodTemplate":
        return get(props, "template", "spec")
    if kind in WORKLOAD_KINDS:
        return get(props, "spec", "template", "spec")
    if kind == "CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", "spec")
    return None


def pod_metadata(resource_type: str, props: Mapping) -> Mapping:
    kind = kind_of(resource_type)
    if kind == "Pod":
        return get(props, "metadata") or {}
    if kind == "PodTemplate":
        return get(props, "template", "metadata") or {}
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


def is_windows(spec: Mapping) -> bool:
    """A pod that declares spec.os.name: windows (the field the admission code reads)."""
    return get(spec, "os", "name") == "windows"


def pod_rule(name: str, description: str, severity: Severity, remediation: str,
             exemptible: bool = False, linux_only: bool = False,
             settings: Optional[dict[str, dict]] = None) -> Callable:
    """A rule over pod specs: `check(spec, metadata)` yields violation messages.

    `linux_only`: the control is about Linux-only fields and is skipped for pods declaring
    `spec.os.name: windows`, as Pod Security admission does since 1.25 (the API refuses those
    fields on Windows pods). With `settings`, `check(spec, metadata, config)` gets the rule's config.
    """
    def register(check: Callable[..., Iterator[str]]) -> Callable:
        @resource_rule(name, description, severity, remediation, exemptible, settings)
        def validate(args: ResourceValidationArgs, report_violation) -> None:
            spec = pod_spec(args.resource_type, args.props)
            if not isinstance(spec, Mapping) or (linux_only and is_windows(spec)):
                return
            metadata = pod_metadata(args.resource_type, args.props)
            extra = (args.get_config() or {},) if settings else ()
            for message in check(spec, metadata, *extra):
                report_violation(message)
        return check
    return register
