"""Traffic layer: Traefik behind the platform's only NLB, cert-manager and its issuers."""

from __future__ import annotations

import copy
import json
from typing import Any, Iterator

import pytest
import yaml

from components.config import StackConfigError, parse_stack_config
from components.config.base import quantity_value
from components.names import ENTRYPOINTS_ANNOTATION, ISSUER_ANNOTATION
from conftest import ROOT, PlanView
from helpers import release, shipped_config
from variants import ROUTE53_ZONE
from preflight.stackfile import read_stack_file

EXTERNAL_TYPES = {"LoadBalancer", "NodePort"}


def external_service_settings(value: Any, path: str = "") -> Iterator[str]:
    """Every `type: LoadBalancer|NodePort` anywhere in a values tree."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            if key in ("type", "serviceType") and item in EXTERNAL_TYPES:
                yield where
            yield from external_service_settings(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from external_service_settings(item, f"{path}[{index}]")


def external_services(plan: PlanView) -> list[str]:
    found = [f"Service {r['name']}" for r in plan.of_type("kubernetes:core/v1:Service")
             if (r["inputs"].get("spec") or {}).get("type") in EXTERNAL_TYPES]
    for r in plan.of_type("kubernetes:helm.sh/v3:Release"):
        found += [f"{r['inputs']['chart']}:{p}" for p in external_service_settings(r["inputs"]["values"])]
    return found


def test_only_the_ingress_controller_is_exposed_outside_the_cluster(plan: PlanView):
    assert external_services(plan) == ["traefik:service.spec.type"]


def test_the_exposure_check_catches_another_load_balancer(plan: PlanView):
    values = {"grafana": {"service": {"type": "NodePort"}}, "ports": [{"serviceType": "LoadBalancer"}]}
    assert list(external_service_settings(values)) == ["grafana.service.type", "ports[0].serviceType"]


def test_traefik_is_the_default_ingress_class_behind_an_nlb(plan: PlanView):
    values = release(plan, "traefik")["inputs"]["values"]
    assert values["ingressClass"] == {"enabled": True, "isDefaultClass": True, "name": "traefik"}
    annotations = values["service"]["annotations"]
    # Both shipped stacks have the AWS Load Balancer Controller make it, internet-facing
    # (tests/test_load_balancer_controller.py covers the in-tree NLB without it).
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert "service.beta.kubernetes.io/aws-load-balancer-internal" not in annotations
    assert values["service"]["spec"]["type"] == "LoadBalancer"


def test_http_redirects_to_https(plan: PlanView):
    redirect = release(plan, "traefik")["inputs"]["values"]["ports"]["web"]["http"]["redirections"]["entryPoint"]
    assert redirect == {"to": "websecure", "scheme": "https", "permanent": True}


def test_prod_runs_at_least_two_spread_replicas_with_a_pdb(plans):
    prod = release(plans["prod"], "traefik")["inputs"]["values"]
    assert prod["deployment"]["replicas"] >= 2
    assert prod["podDisruptionBudget"] == {"enabled": True, "maxUnavailable": 1}
    zone = [c for c in prod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zone and zone[0]["whenUnsatisfiable"] == "DoNotSchedule"
    dev = release(plans["dev"], "traefik")["inputs"]["values"]
    assert dev["deployment"]["replicas"] == 1 and dev["podDisruptionBudget"]["enabled"] is False


def test_traefik_is_hardened_scraped_and_bounded(plan: PlanView):
    values = release(plan, "traefik")["inputs"]["values"]
    container = values["securityContext"]
    assert container["allowPrivilegeEscalation"] is False and container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert values["podSecurityContext"]["runAsNonRoot"] is True
    assert values["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(values["resources"]) == {"requests", "limits"}
    assert values["metrics"]["prometheus"]["serviceMonitor"]["enabled"] is True


def test_charts_that_create_service_monitors_wait_for_their_crd(plan: PlanView):
    monitoring = release(plan, "kube-prometheus-stack")["urn"]
    for chart in ("traefik", "cert-manager", "fluent-bit"):
        assert monitoring in release(plan, chart)["dependencies"], chart


def test_cert_manager_installs_its_crds(plan: PlanView):
    values = release(plan, "cert-manager")["inputs"]["values"]
    assert values["crds"] == {"enabled": True, "keep": True}
    assert release(plan, "cert-manager")["inputs"]["version"] == "v1.21.1"


def test_both_lets_encrypt_issuers_solve_http01_through_traefik(plan: PlanView):
    issuers = {r["inputs"]["metadata"]["name"]: r["inputs"]["spec"]["acme"]
               for r in plan.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer")}
    assert set(issuers) == {"letsencrypt-staging", "letsencrypt-prod"}
    assert "acme-staging-v02" in issuers["letsencrypt-staging"]["server"]
    assert issuers["letsencrypt-prod"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    for acme in issuers.values():
        assert acme["email"] == "platform@example.com"
        [solver] = acme["solvers"]
        assert solver["http01"]["ingress"]["ingressClassName"] == "traefik"


def test_http01_solver_pods_are_admitted_in_team_namespaces(plan: PlanView):
    """Issue #13, finding 5: the solver runs in the team namespace of the Ingress it proves, under
    that namespace's quota (no NodePorts), LimitRange and restricted Pod Security."""
    limit_ranges = [r["inputs"]["spec"]["limits"][0] for r in plan.of_type("kubernetes:core/v1:LimitRange")]
    quotas = [r["inputs"]["spec"]["hard"] for r in plan.of_type("kubernetes:core/v1:ResourceQuota")]
    assert limit_ranges and all(q["services.nodeports"] == "0" for q in quotas)
    for issuer in plan.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer"):
        [solver] = issuer["inputs"]["spec"]["acme"]["solvers"]
        ingress = solver["http01"]["ingress"]
        assert ingress["serviceType"] == "ClusterIP"
        spec = ingress["podTemplate"]["spec"]
        resources = spec["resources"]
        for limits in limit_ranges:
            for kind in ("cpu", "memory"):
                for bound in ("requests", "limits"):
                    value = quantity_value(resources[bound][kind])
                    assert quantity_value(limits["min"][kind]) <= value <= quantity_value(limits["max"][kind]), (
                        bound, kind)
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True and security["seccompProfile"] == {"type": "RuntimeDefault"}
        assert isinstance(security["runAsUser"], int) and security["runAsUser"] > 0


def test_http01_solver_fields_exist_in_the_pinned_crd(plan: PlanView, reference):
    crd = yaml.safe_load((reference / "crds" / "cert-manager.io_clusterissuers.yaml").read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    solver = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["acme"]["properties"][
        "solvers"]["items"]["properties"]["http01"]["properties"]["ingress"]

    def check(value, schema, where):
        if isinstance(value, dict) and "properties" in schema:
            for key, item in value.items():
                assert key in schema["properties"], f"{where}.{key} is not in the ClusterIssuer CRD"
                check(item, schema["properties"][key], f"{where}.{key}")

    for issuer in plan.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer"):
        check(issuer["inputs"]["spec"]["acme"]["solvers"][0]["http01"]["ingress"], solver, "http01.ingress")
    assert "ClusterIP" in solver["properties"]["serviceType"]["description"]


def test_a_team_limit_range_that_refuses_the_solver_is_a_config_error():
    raw = copy.deepcopy(read_stack_file(ROOT / "Pulumi.dev.yaml").project_values)
    # The analytics app still fits (250m/256Mi requests); cert-manager's solver would not.
    raw["teams"][1]["limits"] = {"minCpu": "200m", "minMemory": "200Mi"}
    with pytest.raises(StackConfigError) as caught:
        parse_stack_config(raw)
    found = [str(issue) for issue in caught.value.issues]
    assert any(p.startswith("teams[1].limits.minCpu") and "HTTP-01" in p for p in found), found
    assert any(p.startswith("teams[1].limits.minMemory") and "HTTP-01" in p for p in found), found
    # With DNS-01 no solver pod runs in team namespaces.
    raw["certManager"]["route53HostedZoneId"] = "Z0123456789ABCDEF"
    parse_stack_config(raw)


def test_dev_certificates_come_from_staging_and_prod_from_prod(plans):
    for stack, issuer in (("dev", "letsencrypt-staging"), ("prod", "letsencrypt-prod")):
        ingresses = plans[stack].of_type("kubernetes:networking.k8s.io/v1:Ingress")
        assert ingresses
        for ingress in ingresses:
            metadata, spec = ingress["inputs"]["metadata"], ingress["inputs"]["spec"]
            assert metadata["annotations"][ISSUER_ANNOTATION] == issuer
            assert metadata["annotations"][ENTRYPOINTS_ANNOTATION] == "websecure"
            hosts = [rule["host"] for rule in spec["rules"]]
            assert spec["tls"][0]["hosts"] == hosts and spec["ingressClassName"] == "traefik"


@pytest.mark.parametrize("stack, identity", [("dev", "pod-identity"), ("prod", "irsa")])
def test_route53_zone_switches_issuers_to_dns01_with_a_scoped_role(variants, stack, identity):
    # Both variants set certManager.route53HostedZoneId: ROUTE53_ZONE; prod's runs workloadIdentity: irsa
    # (tests/variants.py).
    plan = variants[stack]

    for issuer in plan.of_type("kubernetes:cert-manager.io/v1:ClusterIssuer"):
        assert issuer["inputs"]["spec"]["acme"]["solvers"] == [
            {"dns01": {"route53": {"region": shipped_config(stack).region, "hostedZoneID": ROUTE53_ZONE}}}]
    role = plan.one("aws:iam/role:Role", "cert-manager-route53-role")
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    conditions = trust["Statement"][0]["Condition"]["StringEquals"]
    if identity == "irsa":
        assert "system:serviceaccount:cert-manager:cert-manager" in conditions.values()
    else:
        assert (conditions["aws:RequestTag/kubernetes-namespace"],
                conditions["aws:RequestTag/kubernetes-service-account"]) == ("cert-manager", "cert-manager")
    policy = json.loads(plan.one("aws:iam/rolePolicy:RolePolicy", "cert-manager-route53-policy")["inputs"]["policy"])
    change = [s for s in policy["Statement"] if "route53:ChangeResourceRecordSets" in s["Action"]][0]
    assert change["Resource"] == [f"arn:aws:route53:::hostedzone/{ROUTE53_ZONE}"]
    values = release(plan, "cert-manager")["inputs"]["values"]
    if identity == "irsa":
        annotated = values["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert annotated.startswith("arn:aws:iam::") and ":role/" in annotated
        assert values["serviceAccount"]["name"] == "cert-manager"
    else:
        # The chart's own account, named after the release, carries no annotation.
        assert "serviceAccount" not in values
        association = plan.one("aws:eks/podIdentityAssociation:PodIdentityAssociation",
                               "cert-manager-route53-association")["inputs"]
        assert (association["namespace"], association["serviceAccount"]) == ("cert-manager", "cert-manager")
