"""Invariants over the plan's dependency graph: what `pulumi up` creates before what.

A resource waits for its `dependencies` (explicit and from inputs, with a component expanded
to its children, as the SDK sends them), for the resources its inputs reference, and for
whatever its parent waits for: a child is registered only once its parent is, and the engine
registers a component only after the component's own dependencies exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterable, Optional

from .findings import Finding
from .known import (LOAD_BALANCER_CONTROLLER_CHART, chart_crd_groups, gateway_controllers, ingress_classes,
                    load_balancer_services, manifest_crd_groups)
from .model import Cluster, Release, dig

NODE_GROUP_TYPES = ("eks:index:ManagedNodeGroup", "eks:index:NodeGroup", "eks:index:NodeGroupV2",
                    "aws:eks/nodeGroup:NodeGroup")
POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
ADDON_TYPES = ("eks:index:Addon", "aws:eks/addon:Addon")
# EKS add-ons whose Deployment must be scheduled before the add-on is ACTIVE. vpc-cni,
# kube-proxy and the pod identity agent are DaemonSets nodes need to become Ready: never these.
NODE_ADDONS = frozenset({"coredns", "aws-ebs-csi-driver", "aws-efs-csi-driver", "snapshot-controller",
                         "metrics-server", "aws-mountpoint-s3-csi-driver", "adot", "amazon-cloudwatch-observability"})
# Registrations under kubernetes: that apply other objects rather than being one.
COMPONENT_TYPES = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/", "pulumi:")
CONFIG_FILE = "kubernetes:yaml/v2:ConfigFile"
BUILTIN_GROUPS = frozenset({
    "core", "apps", "batch", "autoscaling", "policy", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io", "scheduling.k8s.io",
    "coordination.k8s.io", "discovery.k8s.io", "node.k8s.io", "certificates.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "resource.k8s.io", "apiregistration.k8s.io", "storagemigration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "internal.apiserver.k8s.io",
})


class Graph:
    def __init__(self, registrations: list[Any]):
        self.by_urn = {r.urn: r for r in registrations}
        self.registrations = registrations
        self._waits: dict[str, frozenset[str]] = {}

    def _references(self, value: Any) -> Iterable[str]:
        if isinstance(value, str):
            if value.startswith("urn:pulumi:") and value in self.by_urn:
                yield value
        elif isinstance(value, Mapping):
            for item in value.values():
                yield from self._references(item)
        elif isinstance(value, list):
            for item in value:
                yield from self._references(item)

    def direct(self, urn: str) -> set[str]:
        r = self.by_urn[urn]
        found = {d for d in r.dependencies if d in self.by_urn} | set(self._references(r.inputs))
        if r.parent in self.by_urn:
            found.add(r.parent)
        return found

    def waits_for(self, urn: str) -> frozenset[str]:
        """Everything created before `urn`, transitively (parents included)."""
        if urn in self._waits:
            return self._waits[urn]
        seen: set[str] = set()
        stack = [urn]
        while stack:
            for dep in self.direct(stack.pop()):
                if dep not in seen:
                    seen.add(dep)
                    stack.append(dep)
        seen.discard(urn)
        self._waits[urn] = frozenset(seen)
        return self._waits[urn]

    def ancestors(self, urn: str) -> list[str]:
        chain, parent = [], self.by_urn[urn].parent
        while parent in self.by_urn:
            chain.append(parent)
            parent = self.by_urn[parent].parent
        return chain


def _kind(resource_type: str) -> Optional[str]:
    return resource_type.rsplit(":", 1)[-1] if resource_type.startswith("kubernetes:") else None


def _group(resource_type: str) -> str:
    api_version = resource_type.split(":")[1]
    return api_version.split("/")[0] if "/" in api_version else "core"


def _label(r: Any) -> str:
    return f"{r.type}: {r.name}"


def _internal_pods(r: Any) -> Optional[str]:
    """What a remote component runs inside itself, before anything outside it exists."""
    if r.type == "eks:index:Cluster" and dig(r.inputs, "corednsAddonOptions", "enabled") is not False \
            and r.inputs.get("corednsAddonOptions") is not None:
        return "the CoreDNS add-on (corednsAddonOptions.enabled is true)"
    return None


def _runs_pods(r: Any) -> Optional[str]:
    kind = _kind(r.type)
    if kind in POD_KINDS:
        return f"its {kind}'s pods"
    if r.type == "kubernetes:helm.sh/v3:Release":
        return f"chart {r.inputs.get('chart')}'s pods (the release waits for them)"
    if r.type in ADDON_TYPES and str(r.inputs.get("addonName")) in NODE_ADDONS:
        return f"the {r.inputs.get('addonName')} add-on's pods (it is ACTIVE only once they run)"
    return None


def node_order(graph: Graph) -> list[Finding]:
    node_groups = [r.urn for r in graph.registrations if r.type in NODE_GROUP_TYPES]
    if not node_groups:
        return []
    findings = []
    for r in graph.registrations:
        inside = _internal_pods(r)
        if inside:
            waiting = sorted(graph.by_urn[n].name for n in node_groups if r.urn in graph.waits_for(n))
            if waiting:
                findings.append(Finding(
                    "readiness-order-cycle", _label(r),
                    f"{r.name} creates {inside} inside itself, before any node exists, while node groups "
                    f"{', '.join(waiting)} wait for it: the add-on never becomes healthy and the deploy times out. "
                    f"Fix: disable it in the cluster (enabled: False) and create it as its own add-on that "
                    f"depends on the node groups.", None))
            continue
        what = _runs_pods(r)
        if what and not any(n in graph.waits_for(r.urn) for n in node_groups):
            findings.append(Finding(
                "readiness-order-nodes", _label(r),
                f"{r.name} needs {what} scheduled, but it depends on no node group (directly, through its inputs or "
                f"its parents), so `pulumi up` may create it while there is no node and time out. "
                f"Fix: depends_on the node groups (or put it in a component that does).", None))
    return findings


def crd_order(graph: Graph, releases: list[Release], chart_crds: dict[str, set[tuple[str, str]]]) -> list[Finding]:
    """`chart_crds`: release URN -> (group, kind) of the CRDs its rendered contents hold."""
    installers: dict[str, list[str]] = {}
    for r in graph.registrations:
        if _kind(r.type) == "CustomResourceDefinition":
            installers.setdefault(str(dig(r.inputs, "spec", "group")), []).append(r.urn)
        if r.type == CONFIG_FILE:
            for group in manifest_crd_groups(str(r.inputs.get("file") or "")):
                installers.setdefault(group, []).append(r.urn)
    for release in releases:
        groups = {g for g, _ in chart_crds[release.urn]} if release.urn in chart_crds else chart_crd_groups(release)
        for group in groups:
            installers.setdefault(group, []).append(release.urn)
    findings = []
    for r in graph.registrations:
        kind = _kind(r.type)
        if kind is None or r.type.startswith(COMPONENT_TYPES) or _group(r.type) in BUILTIN_GROUPS:
            continue
        group = _group(r.type)
        candidates = installers.get(group, [])
        if not candidates:
            findings.append(Finding("readiness-order-crds", _label(r),
                                    f"Nothing in the plan installs the CRD of {kind} ({group}): the API server "
                                    f"rejects it. Fix: install the chart that provides it, before it.", None))
        elif not any(c in graph.waits_for(r.urn) for c in candidates):
            names = ", ".join(sorted(graph.by_urn[c].name for c in candidates))
            findings.append(Finding("readiness-order-crds", _label(r),
                                    f"{kind} {r.name} does not depend on {names}, which installs its CRD ({group}): "
                                    f"on a first deploy the kind may not exist yet. Fix: depends_on={names}.", None))
    return findings


def ingress_order(graph: Graph, cluster: Cluster, releases: list[Release]) -> list[Finding]:
    controllers: dict[str, list[str]] = {}
    default: list[str] = []
    for release in releases:
        for name, is_default in ingress_classes(release):
            controllers.setdefault(name, []).append(release.urn)
            if is_default:
                default.append(release.urn)
    for ingress_class in cluster.of_kind("IngressClass"):
        if ingress_class.urn:
            controllers.setdefault(ingress_class.name, []).append(ingress_class.urn)
    findings = []
    for ingress in cluster.of_kind("Ingress"):
        if not ingress.urn or ingress.urn not in graph.by_urn:
            continue
        class_name = ingress.get("spec", "ingressClassName") or (
            ingress.get("metadata", "annotations") or {}).get("kubernetes.io/ingress.class")
        candidates = controllers.get(class_name, []) if class_name else default
        if not candidates:
            continue
        if not any(c in graph.waits_for(ingress.urn) for c in candidates):
            names = ", ".join(sorted(graph.by_urn[c].name for c in candidates))
            findings.append(Finding(
                "readiness-order-ingress", _label(graph.by_urn[ingress.urn]),
                f"{ingress.label} (class {class_name or 'default'}) does not depend on its ingress controller "
                f"{names}: on a first deploy Pulumi waits for an address nobody publishes and times out after "
                f"10 minutes. Fix: depends_on the ingress controller.", None))
    return findings


# The AWS Load Balancer Controller's default class (values.yaml `loadBalancerClass`), and the
# aws-load-balancer-type values it takes a class-less Service for (docs/guide/service/nlb.md).
NLB_CLASS = "service.k8s.aws/nlb"
CONTROLLER_LB_TYPES = ("external", "nlb-ip")
LB_TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"


def _load_balancer_services(graph: Graph, cluster: Cluster, releases: list[Release]) -> list[tuple[str, str, Any, Any]]:
    """(label, URN of what creates it, spec, annotations) of every LoadBalancer Service: plain
    objects, chart contents when rendered, else what known.py says a chart makes."""
    by_label = {release.label: release for release in releases}
    found, rendered = [], {obj.origin for obj in cluster.objects}
    for service in cluster.of_kind("Service"):
        creator = service.urn if service.urn in graph.by_urn else getattr(by_label.get(service.origin), "urn", "")
        if creator and service.get("spec", "type") == "LoadBalancer":
            found.append((service.label, creator, service.get("spec") or {},
                          service.get("metadata", "annotations") or {}))
    for release in releases:
        if release.label not in rendered and release.urn in graph.by_urn:
            found += [(f"Service {release.namespace}/{s['name']}", release.urn, s["spec"], s["annotations"])
                      for s in load_balancer_services(release)]
    return found


def load_balancer_order(graph: Graph, cluster: Cluster, releases: list[Release]) -> list[Finding]:
    """A Service the controller serves waits for its release: Helm and Pulumi wait for the address
    it publishes, a Service its mutating webhook would change needs that webhook up, and
    `pulumi destroy` must delete the Service (so the controller deletes the NLB and its security
    groups) before the controller."""
    controllers = [r for r in releases if r.chart.rsplit("/", 1)[-1] == LOAD_BALANCER_CONTROLLER_CHART]
    findings = []
    for label, creator, spec, annotations in _load_balancer_services(graph, cluster, releases):
        explicit = spec.get("loadBalancerClass") or (
            NLB_CLASS if annotations.get(LB_TYPE_ANNOTATION) in CONTROLLER_LB_TYPES else None)
        serving = [c for c in controllers if explicit == (dig(c.values, "loadBalancerClass") or NLB_CLASS)
                   or (explicit is None and dig(c.values, "enableServiceMutatorWebhook") is not False)]
        if explicit == NLB_CLASS and not controllers:
            findings.append(Finding(
                "readiness-order-load-balancer", _label(graph.by_urn[creator]),
                f"{label} asks for load balancer class {NLB_CLASS}, but nothing in the plan runs the AWS Load "
                f"Balancer Controller: it never gets an address and the deploy waits until it times out. Fix: turn "
                f"on ingress.loadBalancerController (or drop the class).", None))
        elif serving and not any(c.urn in graph.waits_for(creator) for c in serving):
            names = ", ".join(sorted(graph.by_urn[c.urn].name for c in serving if c.urn in graph.by_urn))
            why = (f"class {explicit}" if explicit else "no class, so the controller's Service webhook gives it one")
            findings.append(Finding(
                "readiness-order-load-balancer", _label(graph.by_urn[creator]),
                f"{label} ({why}) does not depend on {names}, the AWS Load Balancer Controller that makes its NLB: "
                f"on a first deploy it may be created before the controller (and its webhooks) run, and Helm waits "
                f"for an address until it times out; `pulumi destroy` may remove the controller first, leaving the "
                f"NLB and its security groups behind. Fix: depends_on={names}.", None))
    return findings


POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
POD_IDENTITY_AGENT = "eks-pod-identity-agent"


def _service_accounts(r: Any) -> tuple[str, set[str]]:
    """The namespace a workload runs in and the ServiceAccounts its pods may use: a pod template's
    own, or every string a Helm release's values hold (a chart names its account there) and the
    release's name (a chart's default account)."""
    if r.type == "kubernetes:helm.sh/v3:Release":
        return str(r.inputs.get("namespace") or ""), {str(r.inputs.get("name") or ""), *_strings(r.inputs.get("values"))}
    if _kind(r.type) not in POD_KINDS:
        return "", set()
    spec = r.inputs.get("spec") or {}
    template = dig(spec, "jobTemplate", "spec", "template") if _kind(r.type) == "CronJob" else spec.get("template")
    pod = (template or {}).get("spec") if _kind(r.type) != "Pod" else spec
    return str(dig(r.inputs, "metadata", "namespace") or "default"), {str((pod or {}).get("serviceAccountName") or "default")}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def pod_identity_order(graph: Graph) -> list[Finding]:
    """A pod started before its association exists gets no Pod Identity credentials (the EKS
    webhook injects them at pod creation), and an association before the agent serves nobody."""
    associations = [r for r in graph.registrations if r.type == POD_IDENTITY_ASSOCIATION]
    agents = [r.urn for r in graph.registrations
              if r.type in ADDON_TYPES and r.inputs.get("addonName") == POD_IDENTITY_AGENT]
    findings = []
    for association in associations:
        if agents and not any(a in graph.waits_for(association.urn) for a in agents):
            findings.append(Finding(
                "readiness-order-pod-identity", _label(association),
                f"{association.name} does not wait for the {POD_IDENTITY_AGENT} add-on, so pods may start on nodes "
                f"with no agent to give them credentials. Fix: depends_on the agent add-on.", None))
    by_account = {(str(a.inputs.get("namespace")), str(a.inputs.get("serviceAccount"))): a for a in associations}
    for r in graph.registrations:
        namespace, accounts = _service_accounts(r)
        for account in sorted(accounts):
            association = by_account.get((namespace, account))
            if association is not None and association.urn not in graph.waits_for(r.urn):
                findings.append(Finding(
                    "readiness-order-pod-identity", _label(r),
                    f"{r.name} runs pods as {namespace}/{account}, whose Pod Identity association "
                    f"{association.name} it does not wait for: pods created first get no AWS credentials until "
                    f"they restart. Fix: depends_on the WorkloadRole (or its association).", None))
    return findings


def self_waits(graph: Graph) -> list[Finding]:
    findings = []
    for r in graph.registrations:
        for dep in r.dependencies:
            if dep in graph.by_urn and r.urn in graph.ancestors(dep):
                findings.append(Finding("readiness-order-cycle", _label(r),
                                        f"{r.name} waits for {graph.by_urn[dep].name}, which is created inside it: "
                                        f"the component is registered only after it, and it only after the "
                                        f"component. Fix: depend on something outside the component.", None))
    return findings


def gateway_order(graph: Graph, cluster: Cluster, releases: list[Release]) -> list[Finding]:
    """A Gateway or HTTPRoute waits for the release of its GatewayClass's controller, so the first
    `pulumi up` ends with the host served and `pulumi destroy` removes the routes before the
    controller; a Certificate waits for its issuer, without which its issuance cannot start."""
    serving: dict[str, list[str]] = {}
    for release in releases:
        for controller in gateway_controllers(release):
            serving.setdefault(controller, []).append(release.urn)
    classes = {c.name: c.get("spec", "controllerName") for c in cluster.of_kind("GatewayClass")}
    gateways = {(g.namespace, g.name): g for g in cluster.of_kind("Gateway")}
    findings = []

    def must_wait(obj: Any, candidates: list[str], what: str) -> None:
        if obj.urn in graph.by_urn and candidates and not any(c in graph.waits_for(obj.urn) for c in candidates):
            names = ", ".join(sorted(graph.by_urn[c].name for c in candidates))
            findings.append(Finding("readiness-order-gateway", _label(graph.by_urn[obj.urn]),
                                    f"{obj.label} does not depend on {names}, {what}. Fix: depends_on={names}.", None))

    for route in cluster.of_kind("HTTPRoute") + cluster.of_kind("Gateway"):
        parents = [route] if route.kind == "Gateway" else [
            gateways.get((p.get("namespace") or route.namespace, p.get("name")))
            for p in route.get("spec", "parentRefs") or []]
        controllers = {classes.get(g.get("spec", "gatewayClassName")) for g in parents if g is not None}
        must_wait(route, [urn for c in controllers if c for urn in serving.get(c, [])],
                  "the controller that serves it: on a first deploy `pulumi up` may end before anything serves "
                  "the host, and `pulumi destroy` may remove the controller first")
    issuers = {("ClusterIssuer", "", i.name): i.urn for i in cluster.of_kind("ClusterIssuer") if i.urn}
    issuers.update({("Issuer", i.namespace, i.name): i.urn for i in cluster.of_kind("Issuer") if i.urn})
    for certificate in cluster.of_kind("Certificate"):
        ref = certificate.get("spec", "issuerRef") or {}
        kind = ref.get("kind") or "Issuer"
        issuer = issuers.get((kind, certificate.namespace if kind == "Issuer" else "", ref.get("name")))
        must_wait(certificate, [issuer] if issuer else [], "its issuer: its issuance cannot start before it exists")
    return findings


def ordering(registrations: list[Any], cluster: Cluster, releases: list[Release],
             chart_crds: dict[str, set[tuple[str, str]]]) -> list[Finding]:
    graph = Graph(registrations)
    return (node_order(graph) + crd_order(graph, releases, chart_crds) + ingress_order(graph, cluster, releases)
            + load_balancer_order(graph, cluster, releases) + gateway_order(graph, cluster, releases)
            + pod_identity_order(graph) + self_waits(graph))

