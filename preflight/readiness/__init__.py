"""`preflight check` proves the platform comes up, not only that each object is well formed:

- admission.py: Pod Security, LimitRange, ResourceQuota and the kubelet, for every pod;
- reachability.py: the intended connections against the NetworkPolicies;
- ordering.py: what `pulumi up` creates before what;
- charts.py: the objects inside every Helm release (when helm is on PATH).

`assess` runs them over a plan (or manifests) and returns findings, each reported like a
policy violation (preflight/check.py turns them into one), and the report's readiness section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from preflight.render import is_kubernetes_object

from . import charts as chart_contents
from .admission import admission
from .findings import CHECKS, Finding, level
from .model import Cluster, Obj, Release, make_obj, releases_of
from .ordering import ordering
from .reachability import assess as assess_network
from .reachability import build_network, intents, matrix
from .solvers import http01_solvers

POD_IDENTITY_ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"

__all__ = ["CHECKS", "Finding", "Readiness", "assess", "level"]


@dataclass
class Readiness:
    findings: list[Finding]
    lines: list[str]
    chart_subjects: list[Any] = field(default_factory=list)
    rendered: list[chart_contents.Rendered] = field(default_factory=list)
    connections: list[dict[str, Any]] = field(default_factory=list)
    """Every intended connection and its verdict (the matrix, for machines)."""


def objects_of(subjects: list[Any]) -> list[Obj]:
    objects = []
    for subject in subjects:
        if not is_kubernetes_object(subject.resource_type):
            continue
        origin = subject.file if subject.file else f"resource {subject.name}"
        obj = make_obj(subject.props, origin, urn=subject.urn if not subject.file else "", file=subject.file,
                       fallback_name=subject.name)
        if obj is not None:
            objects.append(obj)
    return objects


def _chart_objects(rendered: list[chart_contents.Rendered]) -> tuple[list[Obj], list[Any], dict[str, str],
                                                                        dict[str, set[tuple[str, str]]]]:
    from preflight.check import Subject

    objects, subjects, origins, crds = [], [], {}, {}
    for result in rendered:
        release = result.release
        crds[release.urn] = set()
        for index, manifest in enumerate(result.manifests):
            obj = make_obj(manifest, release.label, default_namespace=release.namespace,
                           fallback_name=f"{release.name}-{index}")
            if obj is None:
                continue
            if obj.kind == "CustomResourceDefinition":
                crds[release.urn].add((str(obj.get("spec", "group")), str(obj.get("spec", "names", "kind"))))
            metadata = dict(manifest.get("metadata") or {})
            # What helm install adds to every object of a release (`helm template` does not).
            metadata["annotations"] = {**(metadata.get("annotations") or {}),
                                       "meta.helm.sh/release-name": release.name,
                                       "meta.helm.sh/release-namespace": release.namespace}
            if obj.namespace:
                metadata["namespace"] = obj.namespace
            body = {**manifest, "metadata": metadata}
            objects.append(obj)
            origins[release.label] = release.name
            api_version = obj.api_version if "/" in obj.api_version else f"core/{obj.api_version}"
            subjects.append(Subject(f"kubernetes:{api_version}:{obj.kind}", f"{obj.name} ({release.label})",
                                    f"chart:{release.name}#{index}", body))
    return objects, subjects, origins, crds


def assess(subjects: list[Any], *, registrations: Optional[list[Any]] = None, stack_config: Any = None,
           charts: Optional[bool] = None, helm: Optional[str] = None) -> Readiness:
    """`charts`: None renders chart contents when helm is on PATH; True insists (and says when
    it cannot); False skips them."""
    releases: list[Release] = releases_of(registrations or [])
    lines: list[str] = []
    rendered: list[chart_contents.Rendered] = []
    helm = helm or (chart_contents.find_helm() if charts is not False else None)
    kubernetes_version = getattr(getattr(stack_config, "cluster", None), "kubernetes_version", None)
    if releases and charts is not False:
        if helm:
            rendered = chart_contents.render_all(helm, releases, kubernetes_version)
            checked = [r for r in rendered if not r.problem]
            tests = sorted(name for r in checked for name in r.test_hooks)
            skipped = (f" ({len(tests)} Helm test hook{'s' if len(tests) != 1 else ''} not checked: only `helm test` "
                       f"runs them, helm install and helm.v3.Release never create them: {', '.join(tests)})"
                       if tests else "")
            lines.append(f"Chart contents: {len(checked)} of {len(releases)} Helm releases rendered and checked{skipped}.")
            for result in rendered:
                if result.problem:
                    lines.append(f"  NOT CHECKED: contents of {result.release.label}: {result.problem}")
        else:
            lines.append(f"Chart contents NOT checked: helm is not on PATH ({len(releases)} Helm releases: "
                         f"{', '.join(r.chart for r in releases)}). Install helm to check what the charts create.")
    elif releases:
        lines.append(f"Chart contents NOT checked (--no-charts): {', '.join(r.chart for r in releases)}.")
    chart_objects, chart_subjects, origins, chart_crds = _chart_objects([r for r in rendered if not r.problem])

    cluster = Cluster(objects_of(subjects) + chart_objects)
    solvers = http01_solvers(cluster, releases)
    findings = admission(cluster, solvers)
    vpc_cidr = getattr(getattr(stack_config, "network", None), "cidr", None)
    network = build_network(cluster, releases, origins, solvers, vpc_cidr)
    pod_identity = frozenset((str(s.props.get("namespace")), str(s.props.get("serviceAccount"))) for s in subjects
                             if s.resource_type == POD_IDENTITY_ASSOCIATION)
    wanted, notes = intents(cluster, network, releases, solvers, stack_config, pod_identity)
    network_findings, verdicts = assess_network(cluster, network, wanted)
    findings += network_findings
    if registrations:
        findings += ordering(registrations, cluster, releases, chart_crds)

    lines.append(f"Admission: {len(cluster.workloads)} pod templates and {len(solvers)} HTTP-01 solver pods "
                 f"simulated (Pod Security, LimitRange, ResourceQuota, kubelet).")
    blocked = sum(not i.allowed for i in verdicts)
    lines.append(f"Reachability: {len(verdicts)} intended connections, {blocked} blocked:")
    lines += matrix(verdicts)
    lines += [f"  note: {note}" for note in sorted(set(notes))]
    connections = [{"from": i.source.name, "to": i.target.name, "port": i.port, "protocol": i.protocol,
                    "why": i.why, "allowed": i.allowed, "blockedBy": i.blocked_by or None} for i in verdicts]
    return Readiness(findings, lines, chart_subjects, rendered, connections)
