"""What the platform's charts and operators create, for when their contents cannot be rendered
(no helm, or no chart repository offline). Each fact names where it comes from, and rendered
chart contents always take precedence over it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .model import Release, dig

# CRD groups a chart installs, and the values switch that turns them off.
CHART_CRDS: dict[str, tuple[tuple[str, ...], Any]] = {
    # kube-prometheus-stack values.yaml: crds.enabled (default true).
    "kube-prometheus-stack": (("monitoring.coreos.com",), lambda v: dig(v, "crds", "enabled") is not False),
    # cert-manager values.yaml: crds.enabled or the deprecated installCRDs (both default false).
    "cert-manager": (("cert-manager.io", "acme.cert-manager.io"),
                     lambda v: dig(v, "crds", "enabled") is True or v.get("installCRDs") is True),
    # eck-operator values.yaml: installCRDs (default true).
    "eck-operator": (("elasticsearch.k8s.elastic.co", "kibana.k8s.elastic.co", "apm.k8s.elastic.co",
                      "beat.k8s.elastic.co", "agent.k8s.elastic.co", "enterprisesearch.k8s.elastic.co",
                      "maps.k8s.elastic.co", "logstash.k8s.elastic.co", "stackconfigpolicy.k8s.elastic.co",
                      "autoscaling.k8s.elastic.co"), lambda v: v.get("installCRDs") is not False),
    # traefik's crds/ folder (Helm installs crds/ unless --skip-crds).
    "traefik": (("traefik.io", "hub.traefik.io"), lambda v: True),
    # karpenter's crds/ folder (NodePool, NodeClaim, EC2NodeClass; reference/SOURCES.md).
    "karpenter": (("karpenter.sh", "karpenter.k8s.aws"), lambda v: True),
    # aws-load-balancer-controller's crds/ folder (crds.yaml, gateway-crds.yaml; reference/SOURCES.md).
    "aws-load-balancer-controller": (("elbv2.k8s.aws", "aga.k8s.aws", "gateway.k8s.aws"), lambda v: True),
}


def manifest_crd_groups(url: str) -> tuple[str, ...]:
    """CRD groups a pinned released manifest (a yaml ConfigFile of that URL) installs."""
    from components.charts import MANIFESTS

    return next((m.crd_groups for m in MANIFESTS.values() if m.url == url), ())


# The served version of each group above that charts test for with .Capabilities.APIVersions.
GROUP_VERSIONS = {"monitoring.coreos.com": ("v1",), "cert-manager.io": ("v1",), "acme.cert-manager.io": ("v1",),
                  "elasticsearch.k8s.elastic.co": ("v1",), "kibana.k8s.elastic.co": ("v1",),
                  "traefik.io": ("v1alpha1",), "karpenter.sh": ("v1",), "karpenter.k8s.aws": ("v1",)}


# Built-in kinds every Kubernetes version the platform supports (1.30 and later) serves, as
# `group/version/Kind`: a cluster's discovery answers `.Capabilities.APIVersions.Has` with kinds,
# while `helm template` knows only group/versions unless told, so a chart asking for
# "policy/v1/PodDisruptionBudget" (Traefik's PDB) would render a policy/v1beta1 object no 1.25+
# cluster serves. The GA kinds a chart creates or asks about; from the Kubernetes API reference.
BUILTIN_KINDS = (
    "v1/ConfigMap", "v1/Endpoints", "v1/LimitRange", "v1/Namespace", "v1/PersistentVolume",
    "v1/PersistentVolumeClaim", "v1/Pod", "v1/PodTemplate", "v1/ReplicationController", "v1/ResourceQuota",
    "v1/Secret", "v1/Service", "v1/ServiceAccount",
    "admissionregistration.k8s.io/v1/MutatingWebhookConfiguration",
    "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
    "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding",
    "admissionregistration.k8s.io/v1/ValidatingWebhookConfiguration",
    "apiextensions.k8s.io/v1/CustomResourceDefinition", "apiregistration.k8s.io/v1/APIService",
    "apps/v1/DaemonSet", "apps/v1/Deployment", "apps/v1/ReplicaSet", "apps/v1/StatefulSet",
    "autoscaling/v1/HorizontalPodAutoscaler", "autoscaling/v2/HorizontalPodAutoscaler",
    "batch/v1/CronJob", "batch/v1/Job", "coordination.k8s.io/v1/Lease", "discovery.k8s.io/v1/EndpointSlice",
    "networking.k8s.io/v1/Ingress", "networking.k8s.io/v1/IngressClass", "networking.k8s.io/v1/NetworkPolicy",
    "node.k8s.io/v1/RuntimeClass", "policy/v1/PodDisruptionBudget",
    "rbac.authorization.k8s.io/v1/ClusterRole", "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
    "rbac.authorization.k8s.io/v1/Role", "rbac.authorization.k8s.io/v1/RoleBinding",
    "scheduling.k8s.io/v1/PriorityClass", "storage.k8s.io/v1/CSIDriver", "storage.k8s.io/v1/StorageClass",
)


def installed_api_versions(releases: list[Release]) -> list[str]:
    """API versions a real cluster would list for `helm template`, which has none to ask: the
    built-in kinds, and the group/versions of the CRDs the plan's charts install."""
    installed = {f"{group}/{version}" for release in releases for group in chart_crd_groups(release)
                 for version in GROUP_VERSIONS.get(group, ())}
    return sorted(installed | set(BUILTIN_KINDS))


def chart_crd_groups(release: Release) -> tuple[str, ...]:
    # An OCI chart is named by its full path (oci://public.ecr.aws/karpenter/karpenter).
    groups, enabled = CHART_CRDS.get(release.chart.rsplit("/", 1)[-1], ((), None))
    return groups if groups and enabled(release.values) else ()


def gateway_controllers(release: Release) -> list[str]:
    """The GatewayClass controllerNames a controller chart serves (traefik: its Gateway provider)."""
    if release.chart == "traefik" and dig(release.values, "providers", "kubernetesGateway", "enabled") is True:
        # Traefik's controller name (its Gateway API docs: GatewayClass spec.controllerName).
        return ["traefik.io/gateway-controller"]
    return []


def ingress_classes(release: Release) -> list[tuple[str, bool]]:
    """(IngressClass name, is default) a controller chart creates."""
    values: Mapping[str, Any] = release.values
    if release.chart == "traefik":
        if dig(values, "ingressClass", "enabled") is False:
            return []
        return [(dig(values, "ingressClass", "name") or release.name,
                 dig(values, "ingressClass", "isDefaultClass") is not False)]
    if release.chart == "ingress-nginx":
        resource = dig(values, "controller", "ingressClassResource") or {}
        if resource.get("enabled") is False:
            return []
        return [(resource.get("name") or "nginx", resource.get("default") is True)]
    return []


LOAD_BALANCER_CONTROLLER_CHART = "aws-load-balancer-controller"


def load_balancer_services(release: Release) -> list[dict[str, Any]]:
    """LoadBalancer Services a chart makes, as its values give them: name, `spec`, `annotations`.
    Traefik's values.yaml: `service.spec` is added to the Service's spec as is, with
    `service.annotations`; the Service is named after the release (its fullname)."""
    values: Mapping[str, Any] = release.values
    if release.chart == "traefik" and dig(values, "service", "enabled") is not False:
        spec = {"type": "LoadBalancer", **(dig(values, "service", "spec") or {})}
        if spec.get("type") == "LoadBalancer":
            return [{"name": release.name, "spec": spec, "annotations": dig(values, "service", "annotations") or {}}]
    return []


def chart_pods(release: Release) -> list[dict[str, Any]]:
    """Pods a chart runs, as the chart's selector labels and ports give them (a rendered chart's
    pods that carry those labels take the entry's role); `api`: they call
    the Kubernetes API (controllers, discovery, Fluent Bit's kubernetes filter); `scrape`: the
    port the chart's own ServiceMonitor has Prometheus scrape, when its values turn one on."""
    values, name = release.values, release.name
    if release.chart == "traefik":
        monitored = dig(values, "metrics", "prometheus", "serviceMonitor", "enabled") is True
        return [{"role": "ingress controller", "labels": {"app.kubernetes.io/name": "traefik",
                                                          "app.kubernetes.io/instance": f"{name}-{release.namespace}"},
                 "ports": {"web": 8000, "websecure": 8443, "metrics": 9100}, "api": True,
                 "scrape": "metrics" if monitored else None}]
    if release.chart == "kube-prometheus-stack":
        pods = [{"role": "prometheus", "labels": {"app.kubernetes.io/name": "prometheus",
                                                  "prometheus": f"{name}-prometheus"}, "ports": {"http-web": 9090},
                 "api": True}]
        if dig(values, "grafana", "enabled") is not False:
            pods.append({"role": "grafana", "labels": {"app.kubernetes.io/name": "grafana",
                                                       "app.kubernetes.io/instance": name},
                         "ports": {"grafana": 3000}, "services": {f"{name}-grafana": {80: "grafana"}},
                         "api": dig(values, "grafana", "sidecar", "dashboards", "enabled") is True})
        return pods
    if release.chart == "fluent-bit":
        return [{"role": "log shipper", "labels": {"app.kubernetes.io/name": "fluent-bit",
                                                   "app.kubernetes.io/instance": name}, "ports": {"http": 2020},
                 "api": True, "scrape": "http" if dig(values, "serviceMonitor", "enabled") is True else None}]
    if release.chart == "eck-operator":
        # The chart's selectorLabels (templates/_helpers.tpl; `control-plane: elastic-operator`
        # only under global.manifestGen, for ECK's all-in-one manifests); nameOverride defaults
        # to elastic-operator in its values.yaml.
        labels = {"control-plane": "elastic-operator"} if dig(values, "global", "manifestGen") is True else {
            "app.kubernetes.io/name": values.get("nameOverride") or "elastic-operator",
            "app.kubernetes.io/instance": name}
        return [{"role": "operator", "labels": labels, "ports": {"https": 9443}, "api": True}]
    if release.chart == "cert-manager":
        monitored = dig(values, "prometheus", "enabled") is not False and \
            dig(values, "prometheus", "servicemonitor", "enabled") is True
        return [{"role": "controller", "labels": {"app.kubernetes.io/name": "cert-manager",
                                                  "app.kubernetes.io/instance": name,
                                                  "app.kubernetes.io/component": "controller"},
                 "ports": {"http-metrics": 9402}, "api": True, "scrape": "http-metrics" if monitored else None}]
    return []


def operator_pods(kind: str, name: str) -> list[dict[str, Any]]:
    """Pods (and Services) the ECK operator makes for an Elasticsearch or Kibana (ECK's naming)."""
    if kind == "Elasticsearch":
        return [{"role": "elasticsearch", "labels": {"elasticsearch.k8s.elastic.co/cluster-name": name,
                                                     "common.k8s.elastic.co/type": "elasticsearch"},
                 "ports": {"https": 9200, "transport": 9300}, "services": {f"{name}-es-http": {9200: "https"}}}]
    if kind == "Kibana":
        return [{"role": "kibana", "labels": {"kibana.k8s.elastic.co/name": name,
                                              "common.k8s.elastic.co/type": "kibana"},
                 "ports": {"http": 5601}, "services": {f"{name}-kb-http": {5601: "http"}}}]
    return []


# The cluster DNS (EKS's CoreDNS add-on), in every cluster.
COREDNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": {"dns": 53, "dns-tcp": 53}}
