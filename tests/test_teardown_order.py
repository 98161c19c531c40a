"""`pulumi destroy` deletes in reverse dependency order, and a child before its parent. These
dependencies make it remove apps and Ingresses, then the controllers, then the CRD-installing
charts, and only then node groups and the cluster (docs/runbook.md, "Teardown")."""

from __future__ import annotations

from conftest import PlanView


def component(plan: PlanView, type_suffix: str) -> list[dict]:
    return [r for r in plan.resources if r["type"].endswith(type_suffix) and not r["custom"]]


# The SDK records a dependency on a component as dependencies on the resources inside it.
def test_platform_layers_depend_on_nodes_and_addons(plan: PlanView):
    must_outlive = {r["urn"] for r in plan.of_type("eks:index:ManagedNodeGroup") + plan.of_type("eks:index:Addon")}
    assert len(must_outlive) >= 3
    for suffix in (":Monitoring", ":CertManager", ":IngressController", ":Logging", ":Team"):
        layers = component(plan, suffix)
        assert layers, suffix
        for layer in layers:
            assert must_outlive <= set(layer["dependencies"]), f"{layer['name']} would outlive the nodes"


def test_teams_go_before_the_ingress_controller_and_cert_manager(plan: PlanView):
    controllers = {r["urn"] for r in plan.of_type("kubernetes:helm.sh/v3:Release")
                   if r["inputs"]["chart"] in ("traefik", "cert-manager")}
    assert len(controllers) == 2
    for team in component(plan, ":Team"):
        assert controllers <= set(team["dependencies"])


def test_in_cluster_objects_are_children_of_their_layer(plan: PlanView):
    layers = {r["urn"] for r in plan.resources if not r["custom"]}
    for resource in plan.resources:
        if resource["type"].startswith("kubernetes:") and not resource["type"].startswith("pulumi:"):
            assert resource["parent"] in layers, f"{resource['name']} is not inside a component"


def test_traefik_goes_before_the_load_balancer_controller(plan: PlanView):
    """The controller deletes the NLB, its target groups and security groups when Traefik's
    Service goes: `pulumi destroy` must delete Traefik's release while the controller still runs,
    or they are left behind in the VPC (and block deleting it)."""
    releases = {r["inputs"]["chart"]: r for r in plan.of_type("kubernetes:helm.sh/v3:Release")}
    controller, traefik = releases["aws-load-balancer-controller"], releases["traefik"]
    assert controller["urn"] in traefik["dependencies"]
    # An atomic Release is uninstalled with --wait (pulumi-kubernetes #1742): its deletion returns
    # once the Service is gone, that is once the controller has released its finalizer.
    assert traefik["inputs"]["atomic"] is True
    assert traefik["inputs"]["values"]["service"]["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"
