"""Pods a controller creates that no object declares: cert-manager's HTTP-01 solver.

For each TLS host of an Ingress (or dnsName of a Certificate, such as the shared Gateway's)
whose issuer solves HTTP-01, cert-manager creates a solver pod and a Service in that object's
namespace while the certificate is issued (the first `pulumi up`, and every renewal). They are built here as cert-manager builds them: its defaults
(controller flags --acme-http01-solver-resource-*: 10m/64Mi requested, 100m/64Mi limit,
runAsNonRoot, a NodePort Service), overridden by the solver's podTemplate and serviceType.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from .model import Cluster, Obj, Release, Workload, dig

SOLVER_LABEL = "acme.cert-manager.io/http01-solver"
SOLVER_PORT = 8089
ISSUER_ANNOTATIONS = {"cert-manager.io/cluster-issuer": "ClusterIssuer", "cert-manager.io/issuer": "Issuer"}
RESOURCE_FLAGS = {
    "--acme-http01-solver-resource-request-cpu": ("requests", "cpu", "10m"),
    "--acme-http01-solver-resource-request-memory": ("requests", "memory", "64Mi"),
    "--acme-http01-solver-resource-limits-cpu": ("limits", "cpu", "100m"),
    "--acme-http01-solver-resource-limits-memory": ("limits", "memory", "64Mi"),
}
# Fields of the solver's podTemplate.spec that cert-manager copies onto the pod.
POD_TEMPLATE_FIELDS = ("affinity", "imagePullSecrets", "nodeSelector", "priorityClassName",
                       "serviceAccountName", "tolerations")


@dataclass
class Solver:
    workload: Workload
    service: Obj
    ingress: Obj
    """The Ingress, or the Certificate, the challenge proves a host of."""
    host: str
    issuer: str
    ingress_class: Optional[str]
    """The class of the Ingress cert-manager creates for the challenge."""


def _controller_resources(releases: list[Release]) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = {"requests": {}, "limits": {}}
    for flag, (section, name, default) in RESOURCE_FLAGS.items():
        resources[section][name] = default
    for release in releases:
        if release.chart != "cert-manager":
            continue
        for arg in release.values.get("extraArgs") or []:
            flag, _, value = str(arg).partition("=")
            if flag in RESOURCE_FLAGS and value:
                section, name, _ = RESOURCE_FLAGS[flag]
                resources[section][name] = value
    return resources


def _selector_score(solver: Mapping[str, Any], host: str, labels: Mapping[str, str]) -> Optional[int]:
    """cert-manager picks the most specific matching solver: dnsNames, then the longest
    dnsZone, then matchLabels, then one without a selector."""
    selector = solver.get("selector") or {}
    if not selector:
        return 0
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return None
    if selector.get("dnsNames"):
        return 10_000 if host in selector["dnsNames"] else None
    zones = [z for z in selector.get("dnsZones") or [] if host == z or host.endswith("." + z)]
    if selector.get("dnsZones"):
        return 1000 + max(len(z) for z in zones) if zones else None
    return 1


def choose_solver(issuer: Obj, host: str, labels: Mapping[str, str]) -> Optional[Mapping[str, Any]]:
    best, best_score = None, -1
    for solver in issuer.get("spec", "acme", "solvers") or []:
        score = _selector_score(solver, host, labels) if isinstance(solver, Mapping) else None
        if score is not None and score > best_score:
            best, best_score = solver, score
    return best


def _solver_pod(ingress: Obj, host: str, issuer: Obj, http01: Mapping[str, Any],
                resources: dict[str, dict[str, str]]) -> tuple[Workload, Obj]:
    template = dig(http01, "ingress", "podTemplate") or {}
    template_spec = template.get("spec") or {}
    own_resources = template_spec.get("resources") or {}
    container_resources = {section: {**resources[section], **(own_resources.get(section) or {})}
                           for section in ("requests", "limits")}
    labels = {**(dig(template, "metadata", "labels") or {}), SOLVER_LABEL: "true"}
    spec: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                            **(template_spec.get("securityContext") or {})},
        "containers": [{
            "name": "acmesolver", "image": "quay.io/jetstack/cert-manager-acmesolver",
            "args": [f"--listen-port={SOLVER_PORT}", f"--domain={host}"],
            "ports": [{"name": "http", "containerPort": SOLVER_PORT, "protocol": "TCP"}],
            "resources": container_resources,
            "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}},
        }],
        **{key: template_spec[key] for key in POD_TEMPLATE_FIELDS if key in template_spec},
    }
    origin = f"cert-manager HTTP-01 solver for {host} of {ingress.label}, {issuer.label}"
    pod = Obj("Pod", "v1", f"cm-acme-http-solver-{host}", ingress.namespace,
              {"metadata": {"labels": labels}, "spec": spec}, origin, file=ingress.file)
    workload = Workload(pod, spec, labels, replicas=1, metadata={"labels": labels},
                        synthesized=origin, numeric_image_user=True)
    service_type = dig(http01, "ingress", "serviceType") or "NodePort"
    service = Obj("Service", "v1", f"cm-acme-http-solver-{host}", ingress.namespace, {"spec": {
        "type": service_type, "selector": labels,
        "ports": [{"name": "http", "port": SOLVER_PORT, "targetPort": SOLVER_PORT, "protocol": "TCP"}]}},
        origin, file=ingress.file)
    return workload, service


def http01_solvers(cluster: Cluster, releases: list[Release]) -> list[Solver]:
    resources = _controller_resources(releases)
    cluster_issuers = {o.name: o for o in cluster.of_kind("ClusterIssuer")}
    issuers = {(o.namespace, o.name): o for o in cluster.of_kind("Issuer")}
    solvers = []
    # A Certificate of its own (the shared Gateway's): the solver runs in the Certificate's namespace.
    for certificate in cluster.of_kind("Certificate"):
        ref = certificate.get("spec", "issuerRef") or {}
        issuer = cluster_issuers.get(ref.get("name")) if ref.get("kind") == "ClusterIssuer" else \
            issuers.get((certificate.namespace, ref.get("name")))
        hosts = [h for h in certificate.get("spec", "dnsNames") or [] if isinstance(h, str)]
        if issuer is not None:
            solvers += _solvers_for(certificate, hosts, issuer, certificate.get("metadata", "labels") or {}, resources,
                                    None)
    for ingress in cluster.of_kind("Ingress"):
        annotations = ingress.get("metadata", "annotations") or {}
        issuer = None
        if annotations.get("cert-manager.io/cluster-issuer"):
            issuer = cluster_issuers.get(annotations["cert-manager.io/cluster-issuer"])
        elif annotations.get("cert-manager.io/issuer"):
            issuer = issuers.get((ingress.namespace, annotations["cert-manager.io/issuer"]))
        if issuer is None:
            continue
        hosts = [h for entry in ingress.get("spec", "tls") or [] if isinstance(entry, Mapping)
                 for h in entry.get("hosts") or [] if isinstance(h, str)]
        solvers += _solvers_for(ingress, hosts, issuer, ingress.get("metadata", "labels") or {}, resources,
                                ingress.get("spec", "ingressClassName"))
    return solvers


def _solvers_for(owner: Obj, hosts: list[str], issuer: Obj, labels: Mapping[str, str],
                 resources: dict[str, dict[str, str]], own_class: Optional[str]) -> list[Solver]:
    """The solver pods cert-manager runs for `owner` (an Ingress or a Certificate) in its namespace."""
    solvers = []
    for host in hosts:
        solver = choose_solver(issuer, host, labels)
        http01 = dig(solver, "http01")
        if not isinstance(http01, Mapping) or "ingress" not in http01:
            continue
        workload, service = _solver_pod(owner, host, issuer, http01, resources)
        ingress_class = dig(http01, "ingress", "ingressClassName") or dig(http01, "ingress", "class") or own_class
        solvers.append(Solver(workload, service, owner, host, issuer.name, ingress_class))
    return solvers
