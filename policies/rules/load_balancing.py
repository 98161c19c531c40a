"""Stack rules for the AWS Load Balancer Controller: which controller makes a LoadBalancer Service's
load balancer, decided by the Service itself, where the controller will see it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Iterator

from pulumi_policy import Severity, StackValidationArgs

from .base import get, kind_of, namespace_of, stack_rule

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
                (get(r.props, "spec", "template", "metadata", "labels") or {}).get("app.kubernetes.io/name") == CONTROLLER:
            for container in get(r.props, "spec", "template", "spec", "containers") or []:
                flags = (container.get("args") or []) if isinstance(container, Mapping) else []
                if _flag(flags, "cluster-name") is not None:
                    yield _flag(flags, "load-balancer-class") or NLB_CLASS, _flag(flags, "watch-namespace") or ""


@stack_rule("load-balancer-service-has-class",
            "With the AWS Load Balancer Controller in the stack, every LoadBalancer Service names its class, "
            "in a namespace the controller watches.",
            Severity.HIGH,
            "Set spec.loadBalancerClass: service.k8s.aws/nlb with the controller's annotations "
            "(components/ingress_controller.py), in the namespace the controller watches (values.watchNamespace).")
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
