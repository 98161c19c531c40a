"""Exposure: what reaches the workloads from outside the cluster (Services, their load balancers,
Ingress and its TLS) and what keeps a team's namespace apart from the others (quota, limits,
default-deny)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Iterator

from pulumi_policy import Severity, StackValidationArgs

from .base import PLATFORM, cis_eks, resource_rule, stack_rule
from .helpers import containers, get, kind_of, labels_of, namespace_of, of_kind, pod_metadata, pod_spec

TEAM_LABEL = "eks-platform/team"
ISSUER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")


def ingress_hosts(props: Mapping) -> set:
    """The hosts an Ingress's rules name."""
    return {r.get("host") for r in get(props, "spec", "rules") or [] if isinstance(r, Mapping) and r.get("host")}


def tls_hosts(props: Mapping) -> set:
    """The hosts an Ingress's tls entries cover."""
    return {h for entry in get(props, "spec", "tls") or [] if isinstance(entry, Mapping)
            for h in entry.get("hosts") or []}


@resource_rule("no-external-services", "Services are neither LoadBalancer nor NodePort and set no externalIPs.",
               Severity.HIGH, "Use a ClusterIP Service behind the ingress controller.",
               frameworks=[PLATFORM], exemptible=True)
def no_external_services(args, report_violation):
    if kind_of(args.resource_type) != "Service":
        return
    service_type = get(args.props, "spec", "type")
    if service_type in ("LoadBalancer", "NodePort"):
        report_violation(f"Service type {service_type} exposes pods outside the cluster.")
    if get(args.props, "spec", "externalIPs"):
        report_violation("The Service sets externalIPs.")


@resource_rule("ingress-tls", "Every Ingress host is served over TLS.", Severity.HIGH,
               "Add a tls entry listing every host, with a cert-manager issuer annotation.",
               frameworks=[cis_eks("5.4.5")])
def ingress_tls(args, report_violation):
    if kind_of(args.resource_type) != "Ingress":
        return
    missing = sorted(ingress_hosts(args.props) - tls_hosts(args.props))
    if missing:
        report_violation(f"Hosts without TLS: {', '.join(missing)}.")


def team_namespaces(args: StackValidationArgs) -> list:
    return [r for r in of_kind(args.resources, "Namespace") if labels_of(r.props).get(TEAM_LABEL)]


def is_default_deny(props: Mapping) -> bool:
    spec = get(props, "spec") or {}
    return (get(spec, "podSelector") in ({}, None) and not get(spec, "podSelector", "matchLabels")
            and set(spec.get("policyTypes") or []) == {"Ingress", "Egress"}
            and not spec.get("ingress") and not spec.get("egress"))


@stack_rule("team-namespace-isolation",
            "Every team namespace has a ResourceQuota, a LimitRange and a default-deny NetworkPolicy.",
            Severity.HIGH, "Declare the team in stack config (teams[]); the Team component creates all three.",
            frameworks=[cis_eks("4.3.2"), cis_eks("4.5.1")])
def team_isolation(args: StackValidationArgs, report_violation) -> None:
    for namespace in team_namespaces(args):
        name = get(namespace.props, "metadata", "name")
        inside = [r for r in args.resources if namespace_of(r.props) == name]
        missing = [kind for kind in ("ResourceQuota", "LimitRange") if not of_kind(inside, kind)]
        if not any(is_default_deny(r.props) for r in of_kind(inside, "NetworkPolicy")):
            missing.append("default-deny NetworkPolicy")
        if missing:
            report_violation(f"Team namespace {name} has no {', '.join(missing)}.", namespace.urn)


@stack_rule("team-ingress-tls", "Every Ingress in a team namespace serves all its hosts over TLS from a cert-manager issuer.",
            Severity.HIGH, "Give the app a host in stack config: the App component adds the tls block and issuer.",
            frameworks=[cis_eks("5.4.5"), PLATFORM])
def team_ingress_tls(args: StackValidationArgs, report_violation) -> None:
    teams = {get(n.props, "metadata", "name") for n in team_namespaces(args)}
    for ingress in of_kind(args.resources, "Ingress"):
        if namespace_of(ingress.props) not in teams:
            continue
        name = get(ingress.props, "metadata", "name") or ingress.name
        uncovered = ingress_hosts(ingress.props) - tls_hosts(ingress.props)
        tls = get(ingress.props, "spec", "tls") or []
        annotations = get(ingress.props, "metadata", "annotations") or {}
        if uncovered or not isinstance(tls, Sequence) or not tls:
            report_violation(f"Ingress {name} serves {sorted(uncovered) or 'hosts'} without TLS.", ingress.urn)
        elif not any(annotations.get(a) for a in ISSUER_ANNOTATIONS):
            report_violation(f"Ingress {name} names no cert-manager issuer, so its certificate is never issued.",
                             ingress.urn)


# -- the AWS Load Balancer Controller: which controller makes a LoadBalancer Service's load
# balancer, decided by the Service itself, where the controller will see it.

CONTROLLER = "aws-load-balancer-controller"
NLB_CLASS = "service.k8s.aws/nlb"
CONTROLLER_LB_TYPES = ("external", "nlb-ip")


def _flag(args: list, flag: str) -> str | None:
    prefix = f"--{flag}="
    return next((str(a)[len(prefix):] for a in args if str(a).startswith(prefix)), None)


def controllers(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    """(class it serves, namespace it watches or "" for all) of each controller in the stack: its
    Helm release (what `pulumi preview` sees) or its Deployment (rendered chart contents)."""
    for r in args.resources:
        if r.resource_type == "kubernetes:helm.sh/v3:Release" and \
                str(get(r.props, "chart") or "").rsplit("/", 1)[-1] == CONTROLLER:
            values = get(r.props, "values") or {}
            yield str(get(values, "loadBalancerClass") or NLB_CLASS), str(get(values, "watchNamespace") or "")
        elif kind_of(r.resource_type) == "Deployment" and \
                (get(pod_metadata(r.resource_type, r.props), "labels") or {}).get("app.kubernetes.io/name") == CONTROLLER:
            for _, container in containers(pod_spec(r.resource_type, r.props) or {}, lists=("containers",)):
                flags = container.get("args") or []
                if _flag(flags, "cluster-name") is not None:
                    yield _flag(flags, "load-balancer-class") or NLB_CLASS, _flag(flags, "watch-namespace") or ""


@stack_rule("load-balancer-service-has-class",
            "With the AWS Load Balancer Controller in the stack, every LoadBalancer Service names its class, "
            "in a namespace the controller watches.",
            Severity.HIGH,
            "Set spec.loadBalancerClass: service.k8s.aws/nlb with the controller's annotations "
            "(components/ingress_controller.py), in the namespace the controller watches (values.watchNamespace).",
            frameworks=[PLATFORM])
def load_balancer_service_has_class(args: StackValidationArgs, report_violation) -> None:
    served = dict(controllers(args))
    if not served:
        return
    for service in args.resources:
        if kind_of(service.resource_type) != "Service" or get(service.props, "spec", "type") != "LoadBalancer":
            continue
        name = f"{namespace_of(service.props)}/{get(service.props, 'metadata', 'name') or service.name}"
        annotations = get(service.props, "metadata", "annotations") or {}
        load_balancer_class = get(service.props, "spec", "loadBalancerClass")
        if not load_balancer_class:
            if annotations.get("service.beta.kubernetes.io/aws-load-balancer-type") in CONTROLLER_LB_TYPES:
                load_balancer_class = NLB_CLASS
            else:
                report_violation(
                    f"Service {name} is a LoadBalancer without spec.loadBalancerClass: the in-tree cloud provider "
                    "would make it a load balancer nobody here manages (the controller's Service webhook, which "
                    "would set the class, is off or may be down).", service.urn)
                continue
        watched = served.get(load_balancer_class)
        if watched and watched != namespace_of(service.props):
            report_violation(f"Service {name} asks for class {load_balancer_class}, but the controller watches only "
                             f"namespace {watched}: it never gets a load balancer.", service.urn)
