"""Reading the resources the rules judge, in every shape a plan or a manifest gives them.

A leaf: the standard library only (no pulumi_policy, no rule), so preflight's readiness model
and the tests can use it without loading the pack. Props are read-only proxies in a real run:
everything here tests for Mapping/Sequence, never dict/list.

Two shapes of the same AWS object: in a real run the pulumi-eks components register with empty
props and their children (aws:eks/cluster:Cluster, aws:eks/nodeGroup:NodeGroup) carry the
settings; offline only the component inputs (eks:index:Cluster, eks:index:ManagedNodeGroup)
exist. The type tuples below name both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Iterable, Iterator, Optional

# -- values ----------------------------------------------------------------------------------


def get(value: Any, *path: str) -> Any:
    """The value at `path` in nested mappings; None where any step is missing or not a mapping."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def as_list(value: Any) -> list:
    """A string as a one-item list, a sequence as a list, anything else as []: IAM and RBAC take
    either a string or a list in the same field."""
    if isinstance(value, str):
        return [value]
    return list(value) if isinstance(value, Sequence) else []


# -- resource types, both shapes ---------------------------------------------------------------

EKS_COMPONENT = "eks:index:Cluster"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_CLUSTER_TYPES = (EKS_COMPONENT, EKS_CLUSTER)
NODE_GROUP_TYPES = ("eks:index:ManagedNodeGroup", "aws:eks/nodeGroup:NodeGroup")
SECURITY_GROUP_RULE_TYPES = ("aws:ec2/securityGroupRule:SecurityGroupRule",
                             "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")


def is_empty_component(resource_type: str, props: Mapping) -> bool:
    """A pulumi-eks component in a real run: nothing to check on it, its child is checked instead."""
    return resource_type.startswith("eks:index:") and not props


def of_type(resources: Iterable, *resource_types: str) -> list:
    """The stack resources of any of these Pulumi types."""
    return [r for r in resources if r.resource_type in resource_types]


# -- Kubernetes objects ----------------------------------------------------------------------

# Kinds whose spec.template is a pod template (PodTemplate's is at the top: `template`).
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job")
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
ROLE_KINDS = ("Role", "ClusterRole")
BINDING_KINDS = ("RoleBinding", "ClusterRoleBinding")
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


def api_group(resource_type: str) -> str:
    """'kubernetes:apps/v1:Deployment' -> 'apps'; the core group is ''."""
    api_version = resource_type.split(":")[1] if resource_type.count(":") >= 2 else ""
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    return "" if group == "core" else group


def of_kind(resources: Iterable, kind: str) -> list:
    """The stack resources that are Kubernetes objects of this kind."""
    return [r for r in resources if kind_of(r.resource_type) == kind]


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


def labels_of(props: Mapping) -> Mapping:
    return get(props, "metadata", "labels") or {}


def selects(selector: Optional[Mapping], labels: Mapping) -> bool:
    """Whether a label selector's matchLabels (non-empty) all hold in `labels`."""
    match = get(selector, "matchLabels") or {}
    return bool(match) and all(labels.get(k) == v for k, v in match.items())


# Helm stamps every object a release installs with the release's namespace; for a
# cluster-scoped object (a chart's ClusterRole) that is the namespace it belongs to.
HELM_RELEASE_NAMESPACE = "meta.helm.sh/release-namespace"


def exemption_scope(resource_type: str, props: Mapping) -> Optional[str]:
    """The namespace an exemption names: a Namespace object's own name, else its namespace;
    for another cluster-scoped object, the namespace of the Helm release that installed it
    (None when none did: no namespace exemption covers it)."""
    if kind_of(resource_type) == "Namespace":
        return get(props, "metadata", "name") or ""
    if is_cluster_scoped(resource_type):
        release_namespace = get(props, "metadata", "annotations", HELM_RELEASE_NAMESPACE)
        return release_namespace if isinstance(release_namespace, str) and release_namespace else None
    return object_namespace(resource_type, props)


# -- pods, in every workload kind --------------------------------------------------------------

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


def containers(spec: Mapping, lists: Sequence[str] = CONTAINER_LISTS) -> Iterator[tuple[str, Mapping]]:
    """(label, container) for every container of the named lists: by default containers, init
    containers and ephemeral containers."""
    for list_name in lists:
        items = spec.get(list_name)
        if isinstance(items, Sequence) and not isinstance(items, str):
            for item in items:
                if isinstance(item, Mapping):
                    yield f"{list_name}[{item.get('name', '?')}]", item


def volumes(spec: Mapping) -> Iterator[Mapping]:
    """The pod's volumes (entries that are not mappings are passed over)."""
    for volume in spec.get("volumes") or []:
        if isinstance(volume, Mapping):
            yield volume


def is_windows(spec: Mapping) -> bool:
    """A pod that declares spec.os.name: windows (the field the admission code reads)."""
    return get(spec, "os", "name") == "windows"
