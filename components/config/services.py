"""Stack config for the platform services: traffic, monitoring and logging."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator

from .environments import dev_default
from .base import GP3_MAX_GIB, Duration, Hostname, Quantity, Secret, StrictModel, pattern, quantity_value
from .issues import ConfigIssue

Route53ZoneId = Annotated[str, pattern(
    r"Z[A-Z0-9]{1,32}", "a Route53 hosted zone ID ('Z' and up to 32 capitals or digits)", "Z0123456789ABCDEFGHIJ")]


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


# What external-dns 0.21's TXT registry (no prefix or suffix) names a record's ownership record:
# `<type>-<first label>.<rest>`, where an AWS alias A record counts as `cname`. A host served through
# the NLB gets an alias A and an alias AAAA record, so these two.
TXT_OWNERSHIP_PREFIXES = ("cname-", "aaaa-")
# RFC 2606 names nobody can own: a zone under them was never filled in.
_DOCUMENTATION_DOMAINS = ("example.com", "example.net", "example.org", "example", "test", "invalid")
# IAM's limit on a role's inline policies, whitespace not counted (IAM quotas).
IAM_ROLE_POLICY_CHARACTERS = 10240


class ExternalDnsConfig(StrictModel):
    """external-dns: publishes the hosts the platform serves as Route53 records pointing at
    Traefik's load balancer, in one hosted zone, and may change no other record."""

    enabled: bool = False
    """Run external-dns. Turning it on for a running stack: docs/runbook.md."""
    hosted_zone_id: Optional[Route53ZoneId] = None
    """The public hosted zone it writes (Route53 console, "Hosted zone ID"); required when enabled."""
    domain: Optional[Hostname] = None
    """The zone's domain name; every host the platform serves (apps, Grafana, Kibana) must be
    below it. Required when enabled."""
    policy: Literal["upsert-only", "sync"] = "upsert-only"
    """`upsert-only` creates and updates records and never deletes one (its IAM role cannot);
    `sync` may also delete its own records of a host the stack still lists whose Ingress is gone
    (deleted by hand). Removing a host from the stack leaves its records under either policy: the
    same `pulumi up` takes the name off the role first (docs/runbook.md)."""
    txt_owner_id: Optional[Annotated[str, pattern(
        r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", "at most 63 letters, digits, '.', '_' or '-'", "eks-platform-prod")]] = None
    """The owner written in its TXT ownership records; it changes only records carrying it.
    Default: the cluster name. Keep it stable for the zone's lifetime (docs/runbook.md)."""

    @model_validator(mode="after")
    def _zone_when_enabled(self) -> "ExternalDnsConfig":
        missing = [key for key, value in (("hostedZoneId", self.hosted_zone_id), ("domain", self.domain))
                   if value is None]
        if self.enabled and missing:
            raise ValueError(f"enabled without {' and '.join(missing)}: name the Route53 zone it may write, e.g. "
                             "hostedZoneId: Z0123456789ABCDEFGHIJ, domain: platform.example.com")
        return self

    def record_names(self, hosts: list[str]) -> list[str]:
        """Every record name external-dns writes for `hosts`: each host and its TXT ownership names."""
        return [name for host in hosts
                for name in (host, *(prefix + host for prefix in TXT_OWNERSHIP_PREFIXES))]

    def stack_issues(self, stack, path: str) -> list[ConfigIssue]:
        if not self.enabled:
            return []
        issues = []
        domain, hosts = self.domain, stack.served_hosts
        for key, host in hosts:
            if host == domain:
                issues.append(ConfigIssue(key, (
                    f"{host} is the apex of {path}.domain: the TXT ownership record external-dns would "
                    f"write for it (cname-{host}) lies outside the zone; serve a name below it (www.{domain})")))
            elif not host.endswith(f".{domain}"):
                issues.append(ConfigIssue(key, (
                    f"{host} is not inside {path}.domain {domain!r}, so external-dns may not publish it; "
                    f"use a host ending in '.{domain}' or point {path} at the zone that holds it")))
            elif len(host.split(".")[0]) + max(map(len, TXT_OWNERSHIP_PREFIXES)) > 63:
                issues.append(ConfigIssue(key, (
                    f"the first label of {host} is too long for its TXT ownership record (a DNS label holds "
                    f"63 characters, external-dns prefixes 'cname-'); shorten it to at most 57")))
        if not hosts:
            issues.append(ConfigIssue(f"{path}.enabled", (
                "external-dns is on but the platform serves no host (no app host, monitoring.grafanaHost or "
                "logging.kibanaHost); set one or turn it off")))
        # The names fill the role's inline policy; beyond IAM's limit `pulumi up` fails halfway.
        elif len(",".join(f'"{name}"' for name in self.record_names([h for _, h in hosts]))) \
                > IAM_ROLE_POLICY_CHARACTERS - 1500:
            issues.append(ConfigIssue(f"{path}.enabled", (
                f"{len(hosts)} hosts are too many for external-dns's IAM policy, which lists each with its "
                f"TXT ownership names (IAM allows {IAM_ROLE_POLICY_CHARACTERS} characters per role); "
                "serve fewer or shorter hosts from this stack")))
        return issues

    def placeholder_issues(self, path: str) -> list[ConfigIssue]:
        issues = []
        if self.enabled and self.hosted_zone_id and "EXAMPLE" in self.hosted_zone_id:
            issues.append(ConfigIssue(f"{path}.hostedZoneId", f"{self.hosted_zone_id} is an example zone ID; "
                                      "put your hosted zone's ID here (Route53 console, \"Hosted zone ID\")"))
        if self.enabled and self.domain and any(self.domain == d or self.domain.endswith(f".{d}")
                                                for d in _DOCUMENTATION_DOMAINS):
            issues.append(ConfigIssue(f"{path}.domain", f"{self.domain} is a documentation domain (RFC 2606) "
                                      "nobody can own; put your hosted zone's domain here"))
        return issues


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
    external_dns: ExternalDnsConfig = Field(default_factory=ExternalDnsConfig)


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
    route53_hosted_zone_id: Optional[Route53ZoneId] = None
    """When set, issuers also solve DNS-01 through Route53 with a role of cert-manager's own
    (Pod Identity or IRSA, as workloadIdentity says)."""

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
