"""Stack config for the platform services: traffic, monitoring and logging."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator

from .environments import dev_default
from .base import GP3_MAX_GIB, Duration, Hostname, Quantity, Secret, StrictModel, pattern, quantity_value


class ResourcesConfig(StrictModel):
    """Container requests and limits."""

    cpu_request: Quantity
    """CPU the container is guaranteed (scheduling)."""
    memory_request: Quantity
    """Memory the container is guaranteed (scheduling)."""
    cpu_limit: Quantity
    """CPU the container is throttled at."""
    memory_limit: Quantity
    """Memory the container is OOM-killed above."""

    @model_validator(mode="after")
    def _requests_within_limits(self) -> "ResourcesConfig":
        # The API server refuses a container whose request is above its limit.
        for kind in ("cpu", "memory"):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            if quantity_value(request) > quantity_value(limit):
                raise ValueError(f"{kind}Request {request} is above {kind}Limit {limit}; Kubernetes refuses that")
        return self

    def as_kubernetes(self) -> dict[str, dict[str, str]]:
        """The container `resources` block."""
        return {"requests": {"cpu": self.cpu_request, "memory": self.memory_request},
                "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit}}


class LoadBalancerControllerConfig(StrictModel):
    """The AWS Load Balancer Controller, owner of Traefik's NLB."""

    enabled: bool = False
    """Traefik's NLB is made by the AWS Load Balancer Controller (ip targets, security groups it
    manages, deleted with the Service) instead of the in-tree cloud provider, which EKS keeps on
    critical fixes only. Turning it on for a running stack replaces the NLB and its DNS name
    (docs/runbook.md)."""
    replicas: int = Field(dev_default("ingress.loadBalancerController.replicas"), ge=1, le=10)
    """Controller replicas (one leads, the others stand by and answer its webhooks); more than one
    also gets a disruption budget. At least 2 in prod and with highAvailability."""


class GatewayConfig(StrictModel):
    """The Gateway API through Traefik: one shared Gateway the platform owns, in `ingress`."""

    enabled: bool = False
    """Install the Gateway API CRDs (v1.5.1, standard channel), turn on Traefik's Gateway
    provider and create the shared Gateway: an HTTPS listener and a cert-manager certificate for
    every app host, each admitting HTTPRoutes from the owning team's namespace only. Apps then
    choose `route: httproute` (docs/runbook.md: moving an app without downtime)."""


class IngressConfig(StrictModel):
    """Traefik, the platform's only ingress controller (behind one AWS NLB)."""

    replicas: int = Field(2, ge=1, le=20)
    """Prod runs at least 2, spread over zones, with a PDB."""
    load_balancer_scheme: Literal["internet-facing", "internal"] = "internet-facing"
    """NLB reachable from the internet, or only from inside the VPC."""
    resources: ResourcesConfig = Field(default_factory=lambda: ResourcesConfig.model_validate(
        {"cpuRequest": "100m", "memoryRequest": "128Mi", "cpuLimit": "1", "memoryLimit": "512Mi"}))
    load_balancer_controller: LoadBalancerControllerConfig = Field(default_factory=LoadBalancerControllerConfig)
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+", re.ASCII)


class CertManagerConfig(StrictModel):
    """cert-manager and the Let's Encrypt ClusterIssuers."""

    acme_email: str
    """Contact address Let's Encrypt writes to about expiring certificates."""
    replicas: int = Field(dev_default("certManager.replicas"), ge=1, le=10)
    """Replicas of each of cert-manager's controller, webhook and cainjector; more than one also gets
    a disruption budget. At least 2 in prod and with highAvailability."""
    default_issuer: Literal["letsencrypt-staging", "letsencrypt-prod"] = "letsencrypt-prod"
    """Issuer app Ingresses use: staging in dev (no rate limits), prod in prod."""
    route53_hosted_zone_id: Optional[Annotated[str, pattern(
        r"Z[A-Z0-9]{1,32}", "a Route53 hosted zone ID ('Z' and up to 32 capitals or digits)",
        "Z0123456789ABCDEFGHIJ")]] = None
    """When set, issuers also solve DNS-01 through Route53 with an IRSA role."""

    @field_validator("acme_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.fullmatch(value):
            raise ValueError("must be an email address such as 'platform@example.com'")
        return value


class AlertThresholdsConfig(StrictModel):
    """The seed alerts' thresholds and durations."""

    cpu_percent: float = Field(80, gt=0, le=100)
    """Pod CPU use, in percent of its limit, that raises a warning."""
    cpu_for: Duration = "5m"
    """How long CPU must stay above cpuPercent."""
    memory_bytes: int = Field(8 * 2**30, gt=0)
    """Pod memory working set, in bytes, that raises a warning."""
    memory_for: Duration = "5m"
    """How long memory must stay above memoryBytes."""
    service_down_for: Duration = "2m"
    """How long a scrape target may be down before a critical alert."""
    error_ratio: float = Field(0.05, gt=0, lt=1)
    """Share of requests answered with 5xx that raises a critical alert."""
    error_ratio_for: Duration = "5m"
    """How long the 5xx share must stay above errorRatio."""
    latency_seconds: float = Field(0.5, gt=0)
    """p95 request latency, in seconds, that raises a warning."""
    latency_for: Duration = "10m"
    """How long p95 latency must stay above latencySeconds."""


# The receiver components/monitoring.py adds to every Alertmanager config (it drops Watchdog).
NULL_RECEIVER = "null"


class AlertReceiverConfig(StrictModel):
    """One Alertmanager receiver; credentials are Pulumi secrets."""

    name: Annotated[str, pattern(r"[a-z0-9][a-z0-9-]*", "a receiver name of lowercase letters, digits and '-'",
                                 "team-oncall")]
    """Receiver name; routes and defaultReceiver refer to it ('null' is taken)."""
    slack_channel: Optional[str] = None
    """Slack channel to post to (quote it: '#alerts')."""
    slack_api_url: Optional[Secret] = None
    """Slack incoming-webhook URL, a secret."""
    pagerduty_routing_key: Optional[Secret] = None
    """PagerDuty Events v2 routing key, a secret."""

    @model_validator(mode="after")
    def _sends_somewhere(self) -> "AlertReceiverConfig":
        if self.slack_api_url is None and self.pagerduty_routing_key is None:
            raise ValueError(f"receiver {self.name!r} sends nowhere: set slackApiUrl or pagerdutyRoutingKey "
                             "(pulumi config set --secret --path 'monitoring.receivers[N].pagerdutyRoutingKey' ...)")
        return self


class MonitoringConfig(StrictModel):
    """kube-prometheus-stack."""

    prometheus_replicas: int = Field(1, ge=1, le=5)
    """Prometheus replicas (prod: 2, spread over zones)."""
    prometheus_retention: Duration = "15d"
    """How long Prometheus keeps samples."""
    prometheus_storage_gi: int = Field(50, ge=1, le=GP3_MAX_GIB)
    """Size of each Prometheus replica's gp3 volume."""
    alertmanager_replicas: int = Field(1, ge=1, le=5)
    """Alertmanager replicas (prod: 3, clustered)."""
    receivers: list[AlertReceiverConfig] = Field(default_factory=list)
    """Prod needs at least one: without a receiver every alert goes nowhere."""
    default_receiver: Optional[str] = None
    """Receiver of every alert no route claims; the first receiver when unset."""
    grafana_host: Optional[Hostname] = None
    """Host name of Grafana's TLS Ingress; none: no Ingress."""
    alerts: AlertThresholdsConfig = Field(default_factory=AlertThresholdsConfig)


class ElasticsearchConfig(StrictModel):
    version: Annotated[str, pattern(r"(8|9)\.\d+\.\d+", "an Elasticsearch 8.x or 9.x version, major.minor.patch",
                                    "9.2.8")] = "9.2.8"
    """Elasticsearch and Kibana version (ECK 3.5 runs 8.x and 9.x)."""
    nodes: int = Field(1, ge=1, le=30)
    """Elasticsearch nodes (prod: 3, spread over zones)."""
    storage_gi: int = Field(50, ge=1, le=GP3_MAX_GIB)
    """Size of each node's gp3 data volume."""
    heap: Quantity = "1Gi"
    """JVM heap; half the memory limit is the usual choice (at most two thirds)."""
    resources: ResourcesConfig = Field(default_factory=lambda: ResourcesConfig.model_validate(
        {"cpuRequest": "500m", "memoryRequest": "2Gi", "cpuLimit": "2", "memoryLimit": "2Gi"}))
    retain_volumes: bool = dev_default("logging.elasticsearch.retainVolumes")
    """Keep the data volumes when a claim is deleted (StorageClass reclaimPolicy Retain)."""

    @model_validator(mode="after")
    def _heap_fits(self) -> "ElasticsearchConfig":
        # Elasticsearch sizes direct (off-heap) memory at half the heap by default, so heap plus
        # half again must fit under the container limit or the pod is OOM-killed.
        heap, limit = quantity_value(self.heap), quantity_value(self.resources.memory_limit)
        if heap * 1.5 > limit:
            raise ValueError(f"heap {self.heap} does not fit resources.memoryLimit {self.resources.memory_limit}: "
                             "Elasticsearch also uses half the heap again off-heap; keep the heap at most two "
                             "thirds of the limit, usually half (e.g. heap 4Gi with memoryLimit 8Gi)")
        return self


class LoggingConfig(StrictModel):
    """EFK: Elasticsearch and Kibana through ECK, Fluent Bit."""

    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig)
    """The Elasticsearch cluster that stores the logs."""
    retention_days: int = Field(7, ge=1, le=3650)
    """Days the ILM policy keeps log indices before deleting them."""
    kibana_host: Optional[Hostname] = None
    """Host name of Kibana's TLS Ingress; none: no Ingress."""
    kibana_replicas: int = Field(dev_default("logging.kibanaReplicas"), ge=1, le=10)
    """Kibana instances. At least 2 in prod and with highAvailability."""
    operator_replicas: int = Field(dev_default("logging.operatorReplicas"), ge=1, le=10)
    """Replicas of the ECK operator (one leads, the others stand by). At least 2 in prod and with
    highAvailability."""
