"""external-dns (issue #17, item 5): Route53, the zone from config, TXT ownership records, and
limited to the hosts the platform serves, by its filters and by its IAM role's conditions."""

from __future__ import annotations

import copy
import json
from types import SimpleNamespace

import pytest
import yaml

from components.config.access import placeholder_issues
from components.config import parse_stack_config
from components.config.services import IAM_ROLE_POLICY_CHARACTERS, ExternalDnsConfig, IngressConfig
from components.external_dns import external_dns_values, route53_policy
from components.ingress_controller import traefik_values
from components.names import INGRESS_NAMESPACE
from conftest import PlanView
from config_cases import problems, stack_values
from helpers import release, shipped_config, with_app

CHART = "external-dns"
ZONE = "Z0123456789ABCDEFGHIJ"
ON = {"enabled": True, "hostedZoneId": ZONE, "domain": "example.com"}


def dns(**fields) -> ExternalDnsConfig:
    return ExternalDnsConfig.model_validate({**ON, **fields})


def conditions(policy: str) -> dict:
    [change] = [s for s in json.loads(policy)["Statement"] if s["Action"] == ["route53:ChangeResourceRecordSets"]]
    return change["Condition"]["ForAllValues:StringEquals"]


@pytest.fixture
def dev() -> dict:
    raw = with_app(copy.deepcopy(stack_values("dev")), host="shop.example.com")
    raw["monitoring"] = {**raw.get("monitoring", {}), "grafanaHost": "grafana.example.com"}
    raw["logging"] = {**raw.get("logging", {}), "kibanaHost": None}
    return raw


def enabled(raw: dict, **fields) -> dict:
    raw["ingress"] = {**raw.get("ingress", {}), "externalDns": {**ON, **fields}}
    return raw


# -- Config ------------------------------------------------------------------------------------

def test_off_by_default():
    assert IngressConfig().external_dns.enabled is False
    assert ExternalDnsConfig().policy == "upsert-only"


def test_enabled_without_a_zone_names_the_keys(dev):
    dev["ingress"] = {"externalDns": {"enabled": True}}
    [found] = [p for p in problems(dev) if p.startswith("ingress.externalDns")]
    assert "without hostedZoneId and domain" in found and "hostedZoneId: Z0123456789ABCDEFGHIJ" in found


@pytest.mark.parametrize("zone", ["/hostedzone/Z0123", "z0123abc", "Z", "0123ABC"])
def test_a_zone_id_not_in_route53s_form_is_refused_with_an_example(dev, zone):
    assert any(p.startswith("ingress.externalDns.hostedZoneId: must be a Route53 hosted zone ID")
               and "'Z0123456789ABCDEFGHIJ'" in p for p in problems(enabled(dev, hostedZoneId=zone)))


def test_a_served_host_outside_the_zone_names_its_key_and_the_fix(dev):
    found = problems(enabled(dev, domain="shop.example.com"))
    assert any(p.startswith("monitoring.grafanaHost: grafana.example.com is not inside ingress.externalDns.domain")
               and "ending in '.shop.example.com'" in p for p in found)
    assert any(p.startswith("teams[0].apps[0].host: shop.example.com is the apex of ingress.externalDns.domain")
               and "cname-shop.example.com" in p for p in found)
    raw = enabled(dev)
    raw["logging"] = {"kibanaHost": "kibana.example.org"}
    assert [p.split(":")[0] for p in problems(raw)] == ["logging.kibanaHost"]


def test_a_host_whose_ownership_record_would_not_fit_a_dns_label(dev):
    raw = enabled(with_app(dev, host=f"{'a' * 58}.example.com"))
    assert any(p.startswith("teams[0].apps[0].host: the first label") for p in problems(raw))
    parse_stack_config(enabled(with_app(dev, host=f"{'a' * 57}.example.com")))


def test_the_hosts_outside_the_zone_are_fine_while_it_is_off(dev):
    dev["ingress"] = {"externalDns": {**ON, "enabled": False, "domain": "elsewhere.org"}}
    parse_stack_config(dev)


def test_on_with_no_host_to_publish(dev):
    raw = enabled(dev)
    raw["monitoring"]["grafanaHost"] = None
    raw["teams"][0]["apps"][0]["host"] = None
    assert any(p.startswith("ingress.externalDns.enabled: external-dns is on but the platform serves no host")
               for p in problems(raw))


def test_txt_owner_id_is_refused_when_it_would_break_the_ownership_record(dev):
    assert any(p.startswith("ingress.externalDns.txtOwnerId: must be")
               for p in problems(enabled(dev, txtOwnerId="prod,owner=x")))
    assert parse_stack_config(enabled(dev, txtOwnerId="prod-eu")).ingress.external_dns.txt_owner_id == "prod-eu"


def test_too_many_hosts_for_the_iam_policy_is_a_config_error_and_what_passes_fits():
    config = dns()
    hosts = [f"service-number-{n:04d}.example.com" for n in range(200)]
    # The largest host count the check accepts makes a policy IAM accepts (it counts no whitespace).
    accepted = max(n for n in range(1, len(hosts)) if not config.stack_issues(
        SimpleNamespace(served_hosts=[("k", h) for h in hosts[:n]]), "ingress.externalDns"))
    assert 50 < accepted < len(hosts)
    minified = json.dumps(json.loads(route53_policy("aws-us-gov", config, hosts[:accepted])), separators=(",", ":"))
    assert len(minified) <= IAM_ROLE_POLICY_CHARACTERS
    [issue] = config.stack_issues(SimpleNamespace(served_hosts=[("k", h) for h in hosts]), "ingress.externalDns")
    assert issue.path == "ingress.externalDns.enabled" and "too many" in issue.message


def test_example_zone_and_domain_are_placeholders_pulumi_up_refuses(dev):
    raw = enabled(dev, hostedZoneId="Z0123456789EXAMPLE")
    found = [str(i) for i in placeholder_issues(parse_stack_config(raw))]
    assert any(i.startswith("ingress.externalDns.hostedZoneId: Z0123456789EXAMPLE is an example zone ID") for i in found)
    assert any(i.startswith("ingress.externalDns.domain: example.com is a documentation domain") for i in found)
    real = enabled(copy.deepcopy(dev), domain="acme.io")
    real["monitoring"]["grafanaHost"], real["teams"][0]["apps"][0]["host"] = "grafana.acme.io", "shop.acme.io"
    assert not [i for i in placeholder_issues(parse_stack_config(real)) if i.path.startswith("ingress")]


# -- IAM: one zone, the platform's names ---------------------------------------------------------

def test_the_role_may_change_only_the_served_names_and_their_ownership_records():
    policy = route53_policy("aws", dns(), ["shop.example.com", "grafana.example.com"])
    assert conditions(policy) == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
            "grafana.example.com", "cname-grafana.example.com", "aaaa-grafana.example.com",
            "shop.example.com", "cname-shop.example.com", "aaaa-shop.example.com"],
        "route53:ChangeResourceRecordSetsRecordTypes": ["A", "AAAA", "TXT"],
        "route53:ChangeResourceRecordSetsActions": ["CREATE", "UPSERT"],
    }
    statements = json.loads(policy)["Statement"]
    zone = f"arn:aws:route53:::hostedzone/{ZONE}"
    assert {(tuple(s["Action"]), tuple(s["Resource"])) for s in statements} == {
        (("route53:ChangeResourceRecordSets",), (zone,)), (("route53:ListResourceRecordSets",), (zone,)),
        (("route53:ListHostedZones",), ("*",))}


def test_only_sync_may_delete_and_arns_follow_the_partition():
    policy = route53_policy("aws-cn", dns(policy="sync"), ["shop.example.com"])
    assert conditions(policy)["route53:ChangeResourceRecordSetsActions"] == ["CREATE", "UPSERT", "DELETE"]
    assert f"arn:aws-cn:route53:::hostedzone/{ZONE}" in policy and "arn:aws:" not in policy


# -- Chart values ---------------------------------------------------------------------------------

def test_values_limit_it_to_the_zone_and_traefiks_ingresses():
    values = external_dns_values(IngressConfig.model_validate({"externalDns": ON}), "eks-platform-dev", "eu-west-1", {})
    assert values["provider"] == {"name": "aws"} and values["sources"] == ["ingress"]
    assert (values["policy"], values["registry"], values["txtOwnerId"]) == ("upsert-only", "txt", "eks-platform-dev")
    assert values["domainFilters"] == ["example.com"]
    assert values["extraArgs"] == {"zone-id-filter": ZONE, "ingress-class": "traefik"}
    assert {"name": "AWS_REGION", "value": "eu-west-1"} in values["env"]
    # No prefix or suffix: the TXT names are the ones the IAM role lists.
    assert "txtPrefix" not in values and "txtSuffix" not in values
    own = external_dns_values(IngressConfig.model_validate({"externalDns": {**ON, "txtOwnerId": "blue"}}), "c", "r", {})
    assert own["txtOwnerId"] == "blue"


def test_with_the_gateway_on_it_also_publishes_httproute_hosts(reference):
    """An app on `route: httproute` has no Ingress: its host is published from its HTTPRoute,
    whose target is the shared Gateway's status address, which Traefik copies from its Service."""
    ingress = IngressConfig.model_validate({"externalDns": ON, "gateway": {"enabled": True}})
    assert external_dns_values(ingress, "c", "r", {})["sources"] == ["ingress", "gateway-httproute"]
    chart = yaml.safe_load((reference / "charts" / "traefik" / "values.yaml").read_text())
    assert chart["providers"]["kubernetesGateway"]["statusAddress"]["service"]["enabled"] is True
    gateway = traefik_values(ingress, False, {})["providers"]["kubernetesGateway"]
    assert "statusAddress" not in gateway, "the chart's default (copy Traefik's Service address) must stay"


def test_traefik_publishes_its_load_balancer_on_ingress_status(reference):
    """external-dns reads an Ingress's target from its status, which Traefik fills from its
    Service only with publishedService on."""
    providers = traefik_values(IngressConfig(), False, {})["providers"]["kubernetesIngress"]
    assert providers["publishedService"] == {"enabled": True}
    chart = yaml.safe_load((reference / "charts" / "traefik" / "values.yaml").read_text())
    assert chart["providers"]["kubernetesIngress"]["publishedService"]["pathOverride"] == ""


# -- On the shipped plans ------------------------------------------------------------------------

def test_prod_runs_it_and_dev_does_not(plans):
    assert shipped_config("prod").ingress.external_dns.enabled
    assert not [r for r in plans["dev"].of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == CHART]
    values = release(plans["prod"], CHART)["inputs"]["values"]
    config = shipped_config("prod").ingress.external_dns
    assert values["extraArgs"]["zone-id-filter"] == config.hosted_zone_id
    assert values["domainFilters"] == [config.domain]
    assert values["txtOwnerId"] == "eks-platform-prod"


def test_prods_role_lists_exactly_the_hosts_the_platform_serves(plans):
    plan: PlanView = plans["prod"]
    [association] = [r for r in plan.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
                     if r["inputs"]["namespace"] == INGRESS_NAMESPACE]
    assert association["inputs"]["serviceAccount"] == "external-dns"
    [policy] = [r for r in plan.of_type("aws:iam/rolePolicy:RolePolicy") if r["parent"] == association["parent"]]
    hosts = sorted(host for _, host in shipped_config("prod").served_hosts)
    assert len(hosts) >= 3  # Grafana, Kibana and the shop's frontend
    names = conditions(policy["inputs"]["policy"])["route53:ChangeResourceRecordSetsNormalizedRecordNames"]
    assert sorted(names) == sorted([*hosts, *(f"cname-{h}" for h in hosts), *(f"aaaa-{h}" for h in hosts)])
    chart = release(plan, CHART)
    assert chart["inputs"]["namespace"] == INGRESS_NAMESPACE
    assert chart["inputs"]["values"]["serviceAccount"]["name"] == "external-dns"
    # It starts after its credentials and after Traefik, whose Service address it publishes.
    assert {association["urn"], release(plan, "traefik")["urn"]} <= set(chart["dependencies"])


def test_its_pod_is_hardened(plans):
    values = release(plans["prod"], CHART)["inputs"]["values"]
    assert values["podSecurityContext"]["runAsUser"] == 65532 and values["podSecurityContext"]["runAsNonRoot"]
    assert values["securityContext"]["readOnlyRootFilesystem"] and values["securityContext"]["capabilities"] == {
        "drop": ["ALL"]}
    assert {"cpu", "memory"} <= set(values["resources"]["requests"]) & set(values["resources"]["limits"])
