"""Ordering (issue #14, deliverable 3): each ordering blocker of issues #12 and #13 put back into
a copy of the prod plan, found and named."""

from __future__ import annotations

import pytest

from preflight.monitor import Registration
from preflight.readiness.ordering import Graph, self_waits
from readiness_support import assess, descendants, drop_dependencies, of_check, of_kind, one, registrations

NODE_GROUPS = ("eks:index:ManagedNodeGroup",)


@pytest.fixture(scope="module")
def prod(plans):
    return plans["prod"]


def _named(findings, name: str) -> list:
    return [f for f in findings if f.resource.endswith(f": {name}")]


def test_coredns_created_inside_the_cluster_before_nodes_is_a_cycle(prod):
    regs = registrations(prod)
    cluster = [r for r in regs if r.type == "eks:index:Cluster"][0]
    cluster.inputs.setdefault("corednsAddonOptions", {})["enabled"] = True
    found = _named(of_check(assess(regs), "readiness-order-cycle"), cluster.name)
    assert found and "CoreDNS" in found[0].message and "nodes-system" in found[0].message

    cluster.inputs["corednsAddonOptions"]["enabled"] = False
    assert _named(of_check(assess(regs), "readiness-order-cycle"), cluster.name) == []


def _node_urns(regs) -> set[str]:
    return {r.urn for r in regs if r.type in NODE_GROUPS} | {
        urn for r in regs if r.type == "eks-platform:cluster:NodeGroups" for urn in descendants(regs, r.urn)}


@pytest.mark.parametrize("chart", ["metrics-server", "cluster-autoscaler"])
def test_a_release_that_runs_pods_must_wait_for_nodes(prod, chart):
    regs = registrations(prod)
    release = [r for r in regs if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == chart][0]
    drop_dependencies(regs, release, _node_urns(regs))
    found = _named(of_check(assess(regs), "readiness-order-nodes"), release.name)
    assert found and "depends on no node group" in found[0].message


def test_an_eks_addon_that_runs_pods_must_wait_for_nodes(prod):
    regs = registrations(prod)
    addon = [r for r in regs if r.type in ("eks:index:Addon", "aws:eks/addon:Addon")
             and r.inputs.get("addonName") == "aws-ebs-csi-driver"][0]
    drop_dependencies(regs, addon, _node_urns(regs))
    found = _named(of_check(assess(regs), "readiness-order-nodes"), addon.name)
    assert found and "aws-ebs-csi-driver" in found[0].message


@pytest.mark.parametrize("namespace, name", [("monitoring", "grafana"), ("logging", "kibana")])
def test_an_ingress_must_wait_for_its_controller(prod, namespace, name):
    regs = registrations(prod)
    controller = [r for r in regs if r.type == "eks-platform:traffic:IngressController"][0]
    resource = [r for r in of_kind(regs, "Ingress", namespace) if r.inputs["metadata"]["name"] == name][0]
    drop_dependencies(regs, resource, descendants(regs, controller.urn))
    found = _named(of_check(assess(regs), "readiness-order-ingress"), resource.name)
    assert found and f"Ingress {namespace}/{name}" in found[0].message and "10 minutes" in found[0].message


def test_a_custom_resource_must_wait_for_its_crd(prod):
    regs = registrations(prod)
    issuer = [r for r in regs if r.type.endswith(":ClusterIssuer")][0]
    release = [r for r in regs if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "cert-manager"][0]
    drop_dependencies(regs, issuer, {release.urn})
    found = _named(of_check(assess(regs), "readiness-order-crds"), issuer.name)
    assert found and release.name in found[0].message and "cert-manager.io" in found[0].message


def test_an_unknown_custom_resource_kind_is_reported(prod):
    regs = registrations(prod)
    issuer = [r for r in regs if r.type.endswith(":ClusterIssuer")][0]
    issuer.type = "kubernetes:certmanager.example.com/v1:ClusterIssuer"
    found = _named(of_check(assess(regs), "readiness-order-crds"), issuer.name)
    assert found and "Nothing in the plan installs" in found[0].message


def test_a_component_waiting_on_its_own_child_is_a_cycle():
    def reg(name, parent="", dependencies=()):
        return Registration(urn=f"urn:pulumi:s::p::t::{name}", type="eks-platform:test:Thing", name=name,
                            parent=f"urn:pulumi:s::p::t::{parent}" if parent else "", custom=False, protect=False,
                            provider="", dependencies=list(dependencies), inputs={})
    component = reg("component", dependencies=["urn:pulumi:s::p::t::child"])
    findings = self_waits(Graph([component, reg("child", parent="component")]))
    assert findings and findings[0].check == "readiness-order-cycle" and "created inside it" in findings[0].message


def test_children_inherit_what_their_parents_wait_for(prod):
    regs = registrations(prod)
    graph = Graph(regs)
    team_ingress = one(regs, "team-shop-frontend-ingress")
    nodes = _node_urns(regs)
    assert set(graph.waits_for(team_ingress.urn)) & nodes  # through Team's depends_on, two parents up


def _release_of(regs, chart: str):
    return [r for r in regs if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == chart][0]


def test_traefiks_nlb_service_must_wait_for_the_load_balancer_controller(prod):
    regs = registrations(prod)
    assert of_check(assess(regs), "readiness-order-load-balancer") == []
    traefik, controller = _release_of(regs, "traefik"), _release_of(regs, "aws-load-balancer-controller")
    drop_dependencies(regs, traefik, descendants(regs, controller.urn) | {controller.urn})
    found = _named(of_check(assess(regs), "readiness-order-load-balancer"), traefik.name)
    assert found and "Service ingress/traefik (class service.k8s.aws/nlb)" in found[0].message
    assert controller.name in found[0].message and "security groups behind" in found[0].message


def test_a_service_of_the_controllers_class_without_the_controller_is_reported(prod):
    regs = [r for r in registrations(prod) if not (
        r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "aws-load-balancer-controller")]
    found = _named(of_check(assess(regs), "readiness-order-load-balancer"), _release_of(regs, "traefik").name)
    assert found and "nothing in the plan runs the AWS Load Balancer Controller" in found[0].message


def test_with_the_service_webhook_on_a_classless_load_balancer_must_wait_for_it_too(prod):
    regs = registrations(prod)
    traefik, controller = _release_of(regs, "traefik"), _release_of(regs, "aws-load-balancer-controller")
    drop_dependencies(regs, traefik, descendants(regs, controller.urn) | {controller.urn})
    traefik.inputs["values"]["service"] = {"spec": {"type": "LoadBalancer"}, "annotations": {}}
    assert _named(of_check(assess(regs), "readiness-order-load-balancer"), traefik.name) == []
    controller.inputs["values"]["enableServiceMutatorWebhook"] = True
    found = _named(of_check(assess(regs), "readiness-order-load-balancer"), traefik.name)
    assert found and "webhook gives it one" in found[0].message
