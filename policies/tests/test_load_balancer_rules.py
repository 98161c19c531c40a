"""load-balancer-service-has-class: with the AWS Load Balancer Controller in the stack (and its
Service webhook off), a LoadBalancer Service decides its own controller, where that controller
looks."""

from __future__ import annotations

import pytest

from preflight.check import Subject, evaluate

RULE = "load-balancer-service-has-class"
NLB = "service.k8s.aws/nlb"


def controller_release(**values):
    return Subject("kubernetes:helm.sh/v3:Release", "lbc", "urn:lbc",
                   {"chart": "aws-load-balancer-controller", "values": {"watchNamespace": "ingress", **values}})


def controller_deployment(*args):
    return Subject("kubernetes:apps/v1:Deployment", "lbc", "urn:lbc-deployment", {
        "metadata": {"name": "aws-load-balancer-controller", "namespace": "aws-load-balancer-controller"},
        "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/name": "aws-load-balancer-controller"}},
                              "spec": {"containers": [{"name": "c", "args": ["--cluster-name=c", *args]}]}}}})


def service(namespace="ingress", annotations=None, **spec):
    return Subject("kubernetes:core/v1:Service", "svc", "urn:svc", {
        "metadata": {"name": "traefik", "namespace": namespace, "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", **spec}})


def found(*subjects):
    return [v.message for v in evaluate(list(subjects), {"all": "mandatory"}) if v.policy == RULE]


@pytest.mark.parametrize("controller", [controller_release(), controller_deployment("--watch-namespace=ingress")])
def test_a_classless_load_balancer_next_to_the_controller_is_refused(controller):
    [message] = found(controller, service())
    assert "ingress/traefik" in message and "in-tree cloud provider" in message
    assert found(controller, service(loadBalancerClass=NLB)) == []
    # The annotation the in-tree provider leaves to the controller is as good as the class.
    assert found(controller, service(annotations={"service.beta.kubernetes.io/aws-load-balancer-type": "external"})) == []


def test_without_the_controller_the_in_tree_load_balancer_is_fine():
    assert found(service()) == []


def test_a_service_of_its_class_outside_the_namespace_it_watches_is_refused():
    [message] = found(controller_release(), service(namespace="shop", loadBalancerClass=NLB))
    assert "watches only namespace ingress" in message
    assert found(controller_release(watchNamespace=None), service(namespace="shop", loadBalancerClass=NLB)) == []
    assert found(controller_deployment(), service(namespace="shop", loadBalancerClass=NLB)) == []


def test_a_service_of_another_class_is_left_to_its_controller():
    assert found(controller_release(), service(namespace="shop", loadBalancerClass="example.com/lb")) == []


def test_cluster_ip_services_are_not_its_business():
    assert found(controller_release(), service(type="ClusterIP")) == []
