"""The cluster a plan (or a folder of manifests, or a rendered chart) would build, as plain
Kubernetes objects, and the pod templates in them: what every readiness check reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from math import ceil
from typing import Any, Iterable, Optional

from components.config.base import quantity_value
from policies.rules.helpers import get as dig

NAME_LABEL = "kubernetes.io/metadata.name"
CONTROLLERS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
# Kinds that live in no namespace (the rest default to the release's or `default`).
CLUSTER_SCOPED = frozenset({
    "Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PersistentVolume", "PriorityClass",
    "CustomResourceDefinition", "ClusterIssuer", "IngressClass", "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration", "APIService", "CSIDriver", "RuntimeClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "NodePool", "EC2NodeClass", "NodeClaim",  # Karpenter
})


@dataclass
class Obj:
    """One Kubernetes object, and where it comes from (a Pulumi resource, a chart, a file)."""

    kind: str
    api_version: str
    name: str
    namespace: str
    body: Mapping[str, Any]
    origin: str
    urn: str = ""
    file: Optional[str] = None

    @property
    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    @property
    def resource(self) -> str:
        """How a finding names the object: kind, namespace/name and where it comes from."""
        return f"{self.label} ({self.origin})"

    def get(self, *path: str) -> Any:
        return dig(self.body, *path)




def make_obj(body: Mapping[str, Any], origin: str, *, urn: str = "", file: Optional[str] = None,
             default_namespace: str = "default", fallback_name: str = "") -> Optional[Obj]:
    kind, api_version = body.get("kind"), body.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return None
    name = dig(body, "metadata", "name") or fallback_name
    namespace = "" if kind in CLUSTER_SCOPED else (dig(body, "metadata", "namespace") or default_namespace)
    return Obj(kind, api_version, str(name), str(namespace), body, origin, urn, file)


def quantity(value: Any) -> Optional[float]:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return quantity_value(str(value))
    except ValueError:
        return None


def show(resource: str, value: float) -> str:
    """A quantity as people write it: cpu in cores or millicores, bytes in Mi/Gi."""
    if resource.endswith("cpu"):
        return f"{value:g}" if value >= 1 else f"{round(value * 1000)}m"
    if resource.endswith(("memory", "storage")):
        return f"{value / 2**30:g}Gi" if value >= 2**30 else f"{value / 2**20:g}Mi"
    return f"{value:g}"


def selects(selector: Optional[Mapping], labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: an empty selector selects everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


@dataclass
class Workload:
    """A pod template and how many pods of it run at once."""

    obj: Obj
    spec: Mapping[str, Any]
    labels: Mapping[str, str]
    replicas: int
    surge: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    synthesized: str = ""
    """Why a pod no object in the plan declares will exist (e.g. cert-manager's HTTP-01 solver)."""
    numeric_image_user: bool = False
    """The image is known to declare a numeric USER, so runAsNonRoot alone starts."""
    volume_claims: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.obj.namespace

    @property
    def label(self) -> str:
        return self.obj.label

    def containers(self, init: bool = True) -> Iterable[Mapping[str, Any]]:
        lists = ("initContainers", "containers") if init else ("containers",)
        for list_name in lists:
            for container in self.spec.get(list_name) or []:
                if isinstance(container, Mapping):
                    yield container

    def ports(self) -> dict[str, tuple[int, str]]:
        """Container port name -> (number, protocol)."""
        named = {}
        for container in self.containers(init=False):
            for port in container.get("ports") or []:
                if isinstance(port, Mapping) and port.get("name") and as_int(port.get("containerPort"), 0):
                    named[port["name"]] = (as_int(port["containerPort"], 0), port.get("protocol") or "TCP")
        return named

    def port_numbers(self) -> list[tuple[int, str]]:
        return sorted({(as_int(p["containerPort"], 0), p.get("protocol") or "TCP")
                       for c in self.containers(init=False) for p in c.get("ports") or []
                       if isinstance(p, Mapping) and as_int(p.get("containerPort"), 0)})


def as_int(value: Any, default: int) -> int:
    """An integer field as the API would read it; anything else (a typo, an expression) -> default."""
    if isinstance(value, bool):
        return default
    if isinstance(value, (int, float)):
        return int(value)
    return int(value) if isinstance(value, str) and value.isdigit() else default


def rolling_amount(value: Any, replicas: int, default: str, round_up: bool) -> int:
    value = default if value is None else value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        exact = replicas * int(value[:-1]) / 100
        return ceil(exact) if round_up else int(exact)
    return as_int(value, 0)


def workload_of(obj: Obj, hpa_min: dict[tuple[str, str, str], int]) -> Optional[Workload]:
    kind = obj.kind
    if kind not in CONTROLLERS:
        return None
    if kind == "Pod":
        template: Mapping = obj.body
    elif kind == "CronJob":
        template = obj.get("spec", "jobTemplate", "spec", "template") or {}
    else:
        template = obj.get("spec", "template") or {}
    spec = dig(template, "spec") or {}
    labels = dig(template, "metadata", "labels") or {}
    replicas = 1
    if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        declared = obj.get("spec", "replicas")
        replicas = as_int(declared, 1)
        replicas = hpa_min.get((obj.namespace, kind, obj.name), replicas)
    elif kind == "Job":
        replicas = as_int(obj.get("spec", "parallelism"), 1)
    elif kind == "CronJob":
        replicas = as_int(obj.get("spec", "jobTemplate", "spec", "parallelism"), 1)
    surge = 0
    if kind == "Deployment" and (obj.get("spec", "strategy", "type") or "RollingUpdate") == "RollingUpdate":
        surge = rolling_amount(obj.get("spec", "strategy", "rollingUpdate", "maxSurge"), replicas, "25%", True)
    elif kind == "CronJob" and (obj.get("spec", "concurrencyPolicy") or "Allow") != "Forbid":
        # Replace starts the next run while the last one's pods terminate; Allow runs them side
        # by side: at least one more run's pods than Forbid.
        surge = replicas
    claims = list(obj.get("spec", "volumeClaimTemplates") or []) if kind == "StatefulSet" else []
    return Workload(obj, spec, labels, replicas, surge, metadata=dig(template, "metadata") or {},
                    volume_claims=claims)


class Cluster:
    """Every object, indexed the ways the checks look things up."""

    def __init__(self, objects: list[Obj]):
        self.objects = objects
        self.by_kind: dict[str, list[Obj]] = {}
        for obj in objects:
            self.by_kind.setdefault(obj.kind, []).append(obj)
        self.namespace_labels: dict[str, dict[str, str]] = {}
        for ns in self.of_kind("Namespace"):
            self.namespace_labels[ns.name] = {**(ns.get("metadata", "labels") or {}), NAME_LABEL: ns.name}
        hpa_min = {}
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            target = hpa.get("spec", "scaleTargetRef") or {}
            hpa_min[(hpa.namespace, target.get("kind"), target.get("name"))] = as_int(
                hpa.get("spec", "minReplicas"), 1)
        self.workloads: list[Workload] = [w for w in (workload_of(o, hpa_min) for o in objects) if w]

    def of_kind(self, kind: str) -> list[Obj]:
        return self.by_kind.get(kind, [])

    def in_namespace(self, kind: str, namespace: str) -> list[Obj]:
        return [o for o in self.of_kind(kind) if o.namespace == namespace]

    def labels_of_namespace(self, namespace: str) -> dict[str, str]:
        # Namespaces the plan does not create still carry the name label the API server adds.
        return self.namespace_labels.get(namespace, {NAME_LABEL: namespace})


@dataclass
class Release:
    """A helm.v3.Release of the plan: its exact chart, and the resource that creates it."""

    name: str
    chart: str
    version: str
    repository: str
    namespace: str
    values: Mapping[str, Any]
    resource: str
    urn: str = ""

    @property
    def label(self) -> str:
        return f"chart {self.chart} {self.version} (release {self.namespace}/{self.name})"


HELM_RELEASE_TYPES = ("kubernetes:helm.sh/v3:Release",)


def releases_of(registrations: Iterable[Any]) -> list[Release]:
    releases = []
    for r in registrations:
        if r.type not in HELM_RELEASE_TYPES:
            continue
        inputs = r.inputs
        releases.append(Release(
            name=str(inputs.get("name") or r.name), chart=str(inputs.get("chart") or ""),
            version=str(inputs.get("version") or ""), repository=str(dig(inputs, "repositoryOpts", "repo") or ""),
            namespace=str(inputs.get("namespace") or "default"), values=inputs.get("values") or {},
            resource=r.name, urn=r.urn))
    # Registration order varies from run to run (outputs resolve concurrently); reports must not.
    return sorted(releases, key=lambda r: (r.namespace, r.name))
