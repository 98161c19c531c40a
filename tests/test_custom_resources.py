"""Every custom resource the platform creates is valid against its CRD (strictly), and waits
for the chart that installs that CRD."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.charts import CHARTS
from conftest import STACKS, PlanView
from crd_schema import load_crds, validation_errors
from helpers import builtin_kind

# The chart whose release installs each API group's CRDs.
CRD_CHARTS = {
    "cert-manager.io": "cert-manager",
    "monitoring.coreos.com": "kube-prometheus-stack",
    "elasticsearch.k8s.elastic.co": "eck-operator",
    "kibana.k8s.elastic.co": "eck-operator",
    "karpenter.sh": CHARTS["karpenter"].reference,
    "karpenter.k8s.aws": CHARTS["karpenter"].reference,
}


@pytest.fixture(scope="module")
def crds(reference: Path):
    return load_crds(reference / "crds")


def custom_resources(folder: Path) -> list[tuple[str, dict]]:
    found = []
    for path in sorted(folder.glob("*.yaml")):
        manifest = yaml.safe_load(path.read_text())
        if not builtin_kind(manifest):
            found.append((path.name, manifest))
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_is_valid_against_its_crd(rendered, crds, stack):
    resources = custom_resources(rendered[stack])
    kinds = {m["kind"] for _, m in resources}
    assert {"ClusterIssuer", "PrometheusRule", "Elasticsearch", "Kibana"} <= kinds
    if stack == "dev":  # dev runs Karpenter (tests/test_karpenter.py) and the Gateway (tests/test_gateway.py)
        assert {"EC2NodeClass", "NodePool", "GatewayClass", "Gateway", "HTTPRoute", "Certificate"} <= kinds
    for file_name, manifest in resources:
        schema = crds.get((manifest["apiVersion"], manifest["kind"]))
        assert schema is not None, f"{file_name}: no CRD for {manifest['apiVersion']} {manifest['kind']} in reference"
        errors = list(validation_errors(manifest, schema))
        assert not errors, f"{file_name}: {errors[:5]}"


def test_strict_validation_rejects_a_field_the_crd_does_not_know(rendered, crds):
    issuer = next(m for _, m in custom_resources(rendered["dev"]) if m["kind"] == "ClusterIssuer")
    schema = crds[("cert-manager.io/v1", "ClusterIssuer")]
    assert list(validation_errors(issuer, schema)) == []
    ingress = issuer["spec"]["acme"]["solvers"][0]["http01"]["ingress"]
    ingress["ingressClasName"] = ingress.pop("ingressClassName")
    errors = list(validation_errors(issuer, schema))
    assert errors and "ingressClasName" in errors[0]


def test_strict_validation_rejects_a_wrong_type(rendered, crds):
    search = next(m for _, m in custom_resources(rendered["prod"]) if m["kind"] == "Elasticsearch")
    search["spec"]["nodeSets"][0]["count"] = "three"
    assert list(validation_errors(search, crds[("elasticsearch.k8s.elastic.co/v1", "Elasticsearch")]))


def test_custom_resources_wait_for_the_chart_that_installs_their_crd(plan: PlanView):
    releases = {r["urn"]: r["inputs"]["chart"] for r in plan.of_type("kubernetes:helm.sh/v3:Release")}
    checked = 0
    for resource in plan.resources:
        group = resource["type"].split(":")[1].split("/")[0]
        if group not in CRD_CHARTS:
            continue
        charts = {releases[urn] for urn in resource["dependencies"] if urn in releases}
        assert CRD_CHARTS[group] in charts, f"{resource['name']} does not depend on the {CRD_CHARTS[group]} release"
        checked += 1
    assert checked >= 6
