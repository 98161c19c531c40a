"""Exposure: what reaches the workloads from outside the cluster (Services, their load balancers,
Ingress and the Gateway API, and their TLS) and what keeps a team's namespace apart from the others (quota, limits,
default-deny)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Callable, Iterator, Optional

from pulumi_policy import Severity, StackValidationArgs

from .base import PLATFORM, Reference, cis_eks, resource_rule, stack_rule
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


# -- the Gateway API: what the Ingress rules above say of Ingresses (TLS from a cert-manager
# issuer, hosts the team owns), said of Gateways and HTTPRoutes. A team owns a host when the
# platform's Gateway has a listener for exactly that hostname admitting the team's namespace
# alone; an HTTPRoute in a team namespace may claim no other host, and attaches to HTTPS only.

GATEWAY_GROUP = "gateway.networking.k8s.io"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
ROUTE_PROTOCOLS = ("HTTP", "HTTPS")


def _items(value: Any) -> list:
    return [item for item in value if isinstance(item, Mapping)] \
        if isinstance(value, Sequence) and not isinstance(value, str) else []


def _listeners(props: Mapping) -> list[Mapping]:
    return _items(get(props, "spec", "listeners"))


def _is_gateway(resource_type: str) -> bool:
    return kind_of(resource_type) == "Gateway" and resource_type.split(":")[1].startswith(GATEWAY_GROUP + "/")


def _label(props: Mapping, fallback: str) -> str:
    return f"{namespace_of(props)}/{get(props, 'metadata', 'name') or fallback}"


def listener_rule(name: str, description: str, severity: Severity, remediation: str, *,
                  frameworks: Sequence[Reference]) -> Callable:
    """A rule over each listener of a Gateway: `check(listener)` yields violation messages."""
    def register(check: Callable[[Mapping], Iterator[str]]) -> Callable:
        @resource_rule(name, description, severity, remediation, frameworks=frameworks)
        def validate(args, report_violation) -> None:
            if _is_gateway(args.resource_type):
                for item in _listeners(args.props):
                    for message in check(item):
                        report_violation(message)
        return check
    return register


@listener_rule("gateway-https-listener-certificate",
               "Every HTTPS listener of a Gateway terminates TLS with a certificate it names.", Severity.HIGH,
               "Give the listener tls.mode Terminate and certificateRefs naming the Secret of a cert-manager "
               "Certificate (the platform's Gateway does: ingress.gateway).", frameworks=[cis_eks("5.4.5"), PLATFORM])
def gateway_https_listener_certificate(item: Mapping) -> Iterator[str]:
    tls = item.get("tls") if isinstance(item.get("tls"), Mapping) else {}
    if item.get("protocol") == "HTTPS" and (
            tls.get("mode", "Terminate") != "Terminate" or not _items(tls.get("certificateRefs"))):
        yield f"Listener {item.get('name')} serves HTTPS without terminating TLS with a certificate."


def _bounded(namespaces: Mapping) -> bool:
    source = namespaces.get("from", "Same")
    if source in ("Same", "None"):
        return True
    selector = namespaces.get("selector") if isinstance(namespaces.get("selector"), Mapping) else {}
    return source == "Selector" and bool(selector.get("matchLabels") or selector.get("matchExpressions"))


@listener_rule("gateway-listener-namespaces-bounded",
               "No Gateway listener admits routes from every namespace.", Severity.HIGH,
               "Admit routes from the owning team's namespace only: allowedRoutes.namespaces.from Selector with "
               "matchLabels kubernetes.io/metadata.name: <team> (an empty selector selects every namespace).",
               frameworks=[PLATFORM])
def gateway_listener_namespaces_bounded(item: Mapping) -> Iterator[str]:
    namespaces = get(item, "allowedRoutes", "namespaces")
    if isinstance(namespaces, Mapping) and not _bounded(namespaces):
        yield f"Listener {item.get('name')} admits routes from every namespace, so any team may claim its hosts."


@listener_rule("gateway-listener-hostname",
               "Every HTTP or HTTPS listener of a Gateway serves one named host.", Severity.HIGH,
               "Set the listener's hostname to the one host it serves (no wildcard): a route attached to a "
               "listener without one may claim any host.", frameworks=[PLATFORM])
def gateway_listener_hostname(item: Mapping) -> Iterator[str]:
    hostname = item.get("hostname")
    if item.get("protocol") in ROUTE_PROTOCOLS and (not hostname or str(hostname).startswith("*")):
        yield f"Listener {item.get('name')} serves {hostname or 'every host'}, not one named host."


def _gateways(args: StackValidationArgs) -> dict[tuple[str, str], Mapping]:
    return {(namespace_of(r.props), get(r.props, "metadata", "name")): r.props
            for r in args.resources if _is_gateway(r.resource_type)}


@stack_rule("gateway-certificates-issued",
            "Every certificate a Gateway listener serves is issued by a cert-manager Certificate of the stack.",
            Severity.HIGH, "Create a cert-manager Certificate whose secretName is the listener's certificateRef, in "
                           "the Gateway's namespace (the platform's Gateway does: ingress.gateway).",
            frameworks=[PLATFORM])
def gateway_certificates_issued(args: StackValidationArgs, report_violation) -> None:
    issued = {(namespace_of(c.props), get(c.props, "spec", "secretName")) for c in of_kind(args.resources, "Certificate")}
    for resource in args.resources:
        if not _is_gateway(resource.resource_type):
            continue
        for item in _listeners(resource.props):
            for ref in _items(get(item, "tls", "certificateRefs")):
                if ref.get("kind", "Secret") != "Secret" or ref.get("group", "") not in ("", "core"):
                    continue
                where = ref.get("namespace") or namespace_of(resource.props)
                if (where, ref.get("name")) not in issued:
                    report_violation(f"Gateway {_label(resource.props, resource.name)} listener {item.get('name')} "
                                     f"serves Secret {where}/{ref.get('name')}, which no cert-manager Certificate "
                                     "issues or renews.", resource.urn)


def _attached(route: Mapping, gateways: dict[tuple[str, str], Mapping]) -> Iterator[tuple[Mapping, Optional[Mapping],
                                                                                          list[Mapping]]]:
    """(parentRef, its Gateway or None, the listeners it attaches to) for each Gateway parentRef."""
    for parent in _items(get(route, "spec", "parentRefs")):
        if parent.get("kind", "Gateway") != "Gateway" or parent.get("group", GATEWAY_GROUP) != GATEWAY_GROUP:
            continue
        found = gateways.get((parent.get("namespace") or namespace_of(route), parent.get("name")))
        listeners = _listeners(found) if found else []
        if parent.get("sectionName"):
            listeners = [item for item in listeners if item.get("name") == parent.get("sectionName")]
        yield parent, found, listeners


def _admits_only(item: Mapping, namespace: str, gateway_namespace: str) -> bool:
    namespaces = get(item, "allowedRoutes", "namespaces") or {}
    source = namespaces.get("from", "Same")
    if source == "Same":
        return namespace == gateway_namespace
    labels = get(namespaces, "selector", "matchLabels") or {}
    return source == "Selector" and labels.get(NAMESPACE_NAME_LABEL) == namespace


def _team_routes(args: StackValidationArgs) -> Iterator[Any]:
    teams = {get(n.props, "metadata", "name") for n in team_namespaces(args)}
    for route in of_kind(args.resources, "HTTPRoute"):
        if namespace_of(route.props) in teams:
            yield route


@stack_rule("team-httproute-owned-hosts",
            "An HTTPRoute in a team namespace claims only hosts its team owns: hosts whose Gateway listener "
            "admits that namespace alone.", Severity.HIGH,
            "Give the app a host and route: httproute in stack config: the platform's Gateway then has a listener "
            "for that host admitting the team's namespace only, and the App component writes the HTTPRoute.",
            frameworks=[PLATFORM])
def team_httproute_owned_hosts(args: StackValidationArgs, report_violation) -> None:
    gateways = _gateways(args)
    for route in _team_routes(args):
        namespace, label = namespace_of(route.props), _label(route.props, route.name)
        hostnames = [h for h in get(route.props, "spec", "hostnames") or [] if isinstance(h, str)]
        if not hostnames:
            report_violation(f"HTTPRoute {label} lists no hostnames, so it takes every host of its listeners.",
                             route.urn)
        for parent, found, listeners in _attached(route.props, gateways):
            if found is None:
                report_violation(f"HTTPRoute {label} attaches to Gateway {parent.get('name')}, which the stack "
                                 "does not create: nothing says which hosts the team owns there.", route.urn)
                continue
            owned = {item.get("hostname") for item in listeners
                     if _admits_only(item, namespace, namespace_of(found))}
            for hostname in hostnames:
                if hostname not in owned:
                    report_violation(f"HTTPRoute {label} claims {hostname}, which no listener of Gateway "
                                     f"{parent.get('name')} grants to namespace {namespace} alone.", route.urn)


@stack_rule("team-httproute-tls", "An HTTPRoute in a team namespace is served over TLS only: it attaches to "
                                  "HTTPS listeners alone.", Severity.HIGH,
            "Name the host's HTTPS listener as the parentRef's sectionName (the App component does).",
            frameworks=[cis_eks("5.4.5"), PLATFORM])
def team_httproute_tls(args: StackValidationArgs, report_violation) -> None:
    gateways = _gateways(args)
    for route in _team_routes(args):
        for parent, found, listeners in _attached(route.props, gateways):
            plain = sorted(str(item.get("name")) for item in listeners if item.get("protocol") != "HTTPS")
            if plain:
                report_violation(f"HTTPRoute {_label(route.props, route.name)} attaches to listeners "
                                 f"{', '.join(plain)} of Gateway {parent.get('name')}, which serve no TLS.",
                                 route.urn)
