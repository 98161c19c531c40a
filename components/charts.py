"""Every Helm chart the platform installs, pinned in one table, and the one way to install it;
beside it, the released manifests it applies (CRDs no chart ships).

Versions match ../shared/reference/charts (see SOURCES.md there); tests check each release's
values against that chart's values.yaml, so bump a version here and the reference together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class PinnedChart:
    chart: str
    repository: str
    """A Helm repository URL, or an OCI registry path (`oci://...`) the chart name is appended to."""
    version: str

    @property
    def is_oci(self) -> bool:
        return self.repository.startswith("oci://")

    @property
    def reference(self) -> str:
        """What helm.v3.Release takes as `chart`: the name, or for OCI the full `oci://.../<chart>`
        (Release takes OCI charts by that path and no repository, pulumi-kubernetes #1892)."""
        return f"{self.repository.rstrip('/')}/{self.chart}" if self.is_oci else self.chart


CHARTS: dict[str, PinnedChart] = {
    "metrics-server": PinnedChart("metrics-server", "https://kubernetes-sigs.github.io/metrics-server/", "3.13.1"),
    "cluster-autoscaler": PinnedChart("cluster-autoscaler", "https://kubernetes.github.io/autoscaler", "9.59.0"),
    "traefik": PinnedChart("traefik", "https://traefik.github.io/charts", "41.3.0"),
    "cert-manager": PinnedChart("cert-manager", "https://charts.jetstack.io", "v1.21.1"),
    "kube-prometheus-stack": PinnedChart(
        "kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "88.5.3"),
    "eck-operator": PinnedChart("eck-operator", "https://helm.elastic.co", "3.5.0"),
    "fluent-bit": PinnedChart("fluent-bit", "https://fluent.github.io/helm-charts", "0.58.1"),
    "external-dns": PinnedChart("external-dns", "https://kubernetes-sigs.github.io/external-dns/", "1.21.1"),
    # Published only to ECR Public (no classic Helm repository).
    "karpenter": PinnedChart("karpenter", "oci://public.ecr.aws/karpenter", "1.14.1"),
    "aws-load-balancer-controller": PinnedChart(
        "aws-load-balancer-controller", "https://aws.github.io/eks-charts", "3.5.0"),
}


@dataclass(frozen=True)
class PinnedManifest:
    """A released manifest applied as is (yaml.v2.ConfigFile), for CRDs no pinned chart ships."""

    url: str
    version: str
    crd_groups: tuple[str, ...]
    """The API groups whose CRDs it installs: what objects of those groups wait for."""


MANIFESTS: dict[str, PinnedManifest] = {
    # Traefik's chart ships no Gateway API CRDs; Traefik v3.7 is built and tested against
    # v1.5.1 (its go.mod), so the standard channel of exactly that release.
    "gateway-api-crds": PinnedManifest(
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml",
        "v1.5.1", ("gateway.networking.k8s.io",)),
}


def pinned_release(
    resource_name: str,
    chart_key: str,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    *,
    create_namespace: bool = False,
    timeout_seconds: int = 600,
    release_name: Optional[str] = None,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart.

    helm.v3.Release, not v4.Chart: it is a real Helm release, so chart hooks run (cert-manager's
    start-up check, kube-prometheus-stack's admission-webhook jobs) and `atomic` rolls a failed
    upgrade back instead of leaving half a chart behind (../shared/NOTES.md).
    """
    pinned = CHARTS[chart_key]
    return k8s.helm.v3.Release(
        resource_name,
        name=release_name or chart_key,
        chart=pinned.reference,
        version=pinned.version,
        repository_opts=None if pinned.is_oci else k8s.helm.v3.RepositoryOptsArgs(repo=pinned.repository),
        namespace=namespace,
        create_namespace=create_namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout_seconds,
        max_history=10,
        opts=opts,
    )
