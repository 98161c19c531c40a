"""The whole stack config: one typed model, plus the checks that span several keys."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections import Counter
from graphlib import CycleError
from typing import Literal

from pydantic import Field, field_validator

from components.app_features import SERVICE
from components.app_kinds import kind_of

from .access import access_issues, endpoint_network_issues
from .base import StrictModel, WorkloadIdentity, quantity_value, sections
from .capacity import quota_issues
from .cluster import (
    AUTOSCALER_IMAGE_TAGS,
    AddonVersionsConfig,
    AutoscalerConfig,
    ClusterConfig,
    NetworkConfig,
    NodeGroupConfig,
    addon_version_issues,
    node_group_name_issues,
)
from .environments import HA_MINIMUM_REPLICAS, HA_REPLICA_KEYS, dev_default, value_at
from .issues import ConfigIssue, key_path
from .gateway import gateway_issues
from .karpenter import karpenter_issues
from .names import name_issues
from .regions import AVAILABILITY_ZONES
from .services import NULL_RECEIVER, CertManagerConfig, IngressConfig, LoggingConfig, MonitoringConfig
from .tenancy import ACME_SOLVER_RESOURCES, TeamConfig, secret_ref_order

# Namespaces the platform itself owns; a team may not take one.
PLATFORM_NAMESPACES = frozenset({
    "default", "kube-system", "kube-public", "kube-node-lease",
    "ingress", "cert-manager", "monitoring", "node-exporter", "logging", "elastic-system",
    "aws-load-balancer-controller",
})


ENVIRONMENTS = ("dev", "prod")


class StackConfig(StrictModel):
    """Everything a stack file says, under the `eks-platform:` namespace (and `aws:region`)."""

    environment: Literal["dev", "prod"]
    """Picks the defaults of the keys that differ between dev and prod (shown as 'dev: …, prod: …'
    here; ENVIRONMENT_DEFAULTS in components/config/environments.py); prod also requires at least
    2 replicas of each platform controller and of Traefik."""
    high_availability: bool = dev_default("highAvailability")
    """Platform and app replicas spread over zones as a rule (not a preference), so losing a zone
    leaves a replica running; requires at least 2 replicas of each platform controller
    (addons.metricsServerReplicas, certManager.replicas, logging.operatorReplicas,
    logging.kibanaReplicas, autoscaler.karpenter.controllerReplicas)."""
    retain_volumes: bool = dev_default("retainVolumes")
    """Whether a stateful app's volumes outlive their claims when the app does not say
    (stateful.retainVolume)."""
    region: str
    """AWS region of the whole stack, set as `aws:region`; one of the regions in
    `components/config/regions.py` (which also caps network.azCount)."""
    workload_identity: WorkloadIdentity = "pod-identity"
    """How platform components (VPC CNI, EBS CSI, cluster-autoscaler, Karpenter, cert-manager's
    DNS-01, the AWS Load Balancer Controller) and apps' `awsPolicyArns` get their IAM roles: `pod-identity` (EKS Pod Identity
    associations, the eks-pod-identity-agent add-on) or `irsa` (the OIDC provider and the
    role-arn annotation). Moving a running stack: docs/runbook.md."""
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig
    node_groups: list[NodeGroupConfig] = Field(min_length=1)
    addons: AddonVersionsConfig = Field(default_factory=AddonVersionsConfig)
    autoscaler: AutoscalerConfig = Field(default_factory=AutoscalerConfig)
    ingress: IngressConfig = Field(default_factory=IngressConfig)
    cert_manager: CertManagerConfig
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    teams: list[TeamConfig] = Field(default_factory=list)

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in AVAILABILITY_ZONES:
            guess = difflib.get_close_matches(value, AVAILABILITY_ZONES, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            raise ValueError(f"is not an AWS region this platform knows; {hint}"
                             f"Known: {', '.join(sorted(AVAILABILITY_ZONES))}")
        return value

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def served_hosts(self) -> list[tuple[str, str]]:
        """(key, host) for every host name the platform serves, in stack-file order."""
        hosts = [("monitoring.grafanaHost", self.monitoring.grafana_host),
                 ("logging.kibanaHost", self.logging.kibana_host)]
        hosts += [(f"teams[{t}].apps[{a}].host", app.host)
                  for t, team in enumerate(self.teams) for a, app in enumerate(team.apps)]
        return [(key, host) for key, host in hosts if host]


def stack_name_issues(config: StackConfig, stack: str | None) -> list[ConfigIssue]:
    """A stack named after an environment (`prod`, `prod-eu`, `acme/eks-platform/dev`) must be it."""
    if not stack:
        return []
    words = set(re.split(r"[-_./]", stack.rsplit("/", 1)[-1].lower()))
    named = sorted(words & set(ENVIRONMENTS))
    if len(named) == 1 and named[0] != config.environment:
        return [ConfigIssue("environment", (
            f"is {config.environment!r} but the stack is {stack!r}; a {named[0]} stack must say "
            f"environment: {named[0]} (or use a stack name without '{named[0]}')"))]
    return []


def _duplicates(names: list[str]) -> set[str]:
    return {name for name, count in Counter(names).items() if count > 1}


def cross_key_issues(config: StackConfig) -> list[ConfigIssue]:
    """Rules no single field can check; every issue is returned, not just the first."""
    issues: list[ConfigIssue] = []

    for dup in _duplicates([group.name for group in config.node_groups]):
        issues.append(ConfigIssue("nodeGroups", f"node group name {dup!r} is used more than once"))

    from .loader import PROJECT  # loader imports this module; the cluster name is PROJECT-env
    issues += [ConfigIssue(k, m) for k, m in node_group_name_issues(config.node_groups,
                                                                     f"{PROJECT}-{config.environment}")]

    version = config.cluster.kubernetes_version
    issues += [ConfigIssue(k, m) for k, m in addon_version_issues(config.addons, version)]
    if config.autoscaler.kind == "cluster-autoscaler" and config.autoscaler.image_tag is None \
            and version not in AUTOSCALER_IMAGE_TAGS:
        issues.append(ConfigIssue(
            "autoscaler.imageTag",
            f"no cluster-autoscaler image is known for Kubernetes {version} (known: "
            f"{sorted(AUTOSCALER_IMAGE_TAGS)}); set the matching v{version}.x tag",
        ))

    issues += karpenter_issues(config.autoscaler, config.node_groups, config.cluster.kubernetes_version)

    zones = AVAILABILITY_ZONES[config.region]
    if config.network.az_count > zones:
        issues.append(ConfigIssue(
            "network.azCount",
            f"{config.region} has {zones} Availability Zones; use at most {zones} (given {config.network.az_count})",
        ))

    if config.is_prod:
        issues += _prod_endpoint_issues(config.cluster.endpoint.public_access_cidrs)
        if config.ingress.replicas < PROD_MIN_INGRESS_REPLICAS:
            issues.append(ConfigIssue("ingress.replicas", (
                f"prod runs at least {PROD_MIN_INGRESS_REPLICAS} Traefik replicas, spread over zones, so losing "
                f"one pod or zone does not cut off every app (given {config.ingress.replicas}); "
                f"set {PROD_MIN_INGRESS_REPLICAS} or more, or remove the key for the default")))
    issues += _ha_replica_issues(config)
    issues.extend(endpoint_network_issues(config))

    receiver_names = [receiver.name for receiver in config.monitoring.receivers]
    for r, name in enumerate(receiver_names):
        if name == NULL_RECEIVER:
            issues.append(ConfigIssue(f"monitoring.receivers[{r}].name", (
                f"{NULL_RECEIVER!r} is the platform's built-in receiver that drops alerts (the Watchdog route); "
                "choose another name")))
    for dup in _duplicates(receiver_names):
        issues.append(ConfigIssue("monitoring.receivers", (
            f"receiver name {dup!r} is used more than once; Alertmanager refuses duplicate receiver names")))
    receivers = set(receiver_names)
    default_receiver = config.monitoring.default_receiver
    if default_receiver and default_receiver not in receivers:
        issues.append(ConfigIssue(
            "monitoring.defaultReceiver",
            f"names receiver {default_receiver!r}, which is not in monitoring.receivers "
            f"(known: {sorted(receivers) or 'none'})",
        ))

    issues.extend(access_issues(config))

    for dup in _duplicates([team.name for team in config.teams]):
        issues.append(ConfigIssue("teams", f"team name {dup!r} is used more than once"))

    hosts: dict[str, str] = {}
    for key, host in config.served_hosts:
        if host in hosts:
            issues.append(ConfigIssue(key, f"host {host!r} is already used by {hosts[host]}"))
        else:
            hosts[host] = key

    for t, team in enumerate(config.teams):
        team_path = f"teams[{t}]"
        if team.name in PLATFORM_NAMESPACES:
            issues.append(ConfigIssue(
                f"{team_path}.name",
                f"{team.name!r} is a platform namespace; choose another team name",
            ))
        app_names = [app.name for app in team.apps]
        for dup in _duplicates(app_names):
            issues.append(ConfigIssue(f"{team_path}.apps", f"app name {dup!r} is used more than once"))
        for a, app in enumerate(team.apps):
            app_path = f"{team_path}.apps[{a}]"
            issues.extend(_app_issues(app, app_path, app_names, team))
        issues += quota_issues(team, team_path)
        if not config.cert_manager.route53_hosted_zone_id:
            issues.extend(_solver_limit_issues(team, team_path))
        try:
            secret_ref_order(team.apps)
        except CycleError as err:
            issues.append(ConfigIssue(f"{team_path}.apps", "secretRefs go round in a circle ("
                                      + " -> ".join(err.args[1]) + "); one app must own the shared value"))

    if config.is_prod and not config.monitoring.receivers:
        issues.append(ConfigIssue(
            "monitoring.receivers",
            "prod has no alert receiver, so every alert goes nowhere; add one, e.g. "
            "receivers: [{name: oncall}] with defaultReceiver: oncall, then "
            "`pulumi config set --secret --path 'monitoring.receivers[0].pagerdutyRoutingKey' <key>` "
            "(or slackApiUrl)",
        ))

    for path, section in sections(config):
        issues += section.stack_issues(config, path)
    return issues + gateway_issues(config) + name_issues(config)


# Traefik is every app's only way in.
PROD_MIN_INGRESS_REPLICAS = 2

def _ha_replica_issues(config: StackConfig) -> list[ConfigIssue]:
    """Prod, and any stack with highAvailability, runs every platform controller at least twice."""
    if not (config.is_prod or config.high_availability):
        return []
    why = ("prod runs" if config.is_prod else "highAvailability: true needs") + \
        f" at least {HA_MINIMUM_REPLICAS} replicas of each platform controller, so losing a node or zone does not stop it"
    issues = []
    unused = {"autoscaler.karpenter.": config.autoscaler.kind != "karpenter",
              "ingress.loadBalancerController.": not config.ingress.load_balancer_controller.enabled}
    for key in HA_REPLICA_KEYS:
        if any(key.startswith(section) and off for section, off in unused.items()):
            continue
        replicas = value_at(config, key)
        if replicas < HA_MINIMUM_REPLICAS:
            fix = "or remove the key for the default" if config.is_prod else "or set highAvailability: false"
            issues.append(ConfigIssue(key, f"{why} (given {replicas}); set {HA_MINIMUM_REPLICAS} or more, {fix}"))
    return issues


# The public endpoint in prod is for VPN and office ranges: refuse anything wider than a /8 in
# total, which also catches halves and quarters that together cover the whole internet.
_MAX_PROD_PUBLIC_ADDRESSES = 2**24


def _prod_endpoint_issues(cidrs: list[str]) -> list[ConfigIssue]:
    blocks = list(ipaddress.collapse_addresses(ipaddress.IPv4Network(cidr) for cidr in cidrs))
    total = sum(block.num_addresses for block in blocks)
    if total == 2**32:
        reach = "together cover the whole internet (as 0.0.0.0/0 does)"
    elif total > _MAX_PROD_PUBLIC_ADDRESSES:
        reach = f"together open it to {total:,} addresses, more than a /8"
    else:
        return []
    return [ConfigIssue("cluster.endpoint.publicAccessCidrs", (
        f"prod may not open the API endpoint this wide: these CIDRs {reach}; list your VPN/office "
        "CIDRs or set publicAccess: false"))]


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _solver_limit_issues(team: TeamConfig, team_path: str) -> list[ConfigIssue]:
    """HTTP-01 solver pods run in team namespaces: a LimitRange that refuses them stalls every certificate."""
    issues = []
    for kind, amount in ACME_SOLVER_RESOURCES.items():
        low, high = getattr(team.limits, f"min_{kind}"), getattr(team.limits, f"max_{kind}")
        if quantity_value(low) > quantity_value(amount):
            issues.append(ConfigIssue(
                f"{team_path}.limits.min{kind.capitalize()}",
                f"{low} is above the {amount} cert-manager's HTTP-01 solver pod uses in this namespace; "
                f"use at most {amount} (or issue certificates with DNS-01: certManager.route53HostedZoneId)"))
        if quantity_value(high) < quantity_value(amount):
            issues.append(ConfigIssue(
                f"{team_path}.limits.max{kind.capitalize()}",
                f"{high} is below the {amount} cert-manager's HTTP-01 solver pod uses in this namespace; "
                f"use at least {amount} (or DNS-01: certManager.route53HostedZoneId)"))
    return issues


def _app_issues(app, app_path: str, app_names: list[str], team: TeamConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    apps = {other.name: other for other in team.apps}
    for d, dependency in enumerate(app.depends_on):
        if dependency == app.name:
            issues.append(ConfigIssue(f"{app_path}.dependsOn[{d}]", "an app cannot depend on itself"))
        elif dependency not in app_names:
            issues.append(ConfigIssue(
                f"{app_path}.dependsOn[{d}]",
                f"no app named {dependency!r} in team {team.name!r} (apps: {sorted(app_names)})",
            ))
        elif SERVICE not in kind_of(apps[dependency]).supports:
            issues.append(ConfigIssue(f"{app_path}.dependsOn[{d}]", (
                f"app {dependency!r} is a {kind_of(apps[dependency]).kind}, which serves no port, so nothing can "
                f"call it; remove {dependency!r} from dependsOn (to share a value, use secretRefs)")))

    for key, ref in app.secret_refs.items():
        where = f"{app_path}.secretRefs.{key}"
        if ref.app == app.name:
            issues.append(ConfigIssue(f"{where}.app", "names the app itself; use secrets for its own values"))
        elif ref.app not in apps:
            issues.append(ConfigIssue(f"{where}.app", f"no app named {ref.app!r} in team {team.name!r} "
                                                      f"(apps: {sorted(apps)})"))
        elif ref.key not in apps[ref.app].secrets:
            issues.append(ConfigIssue(f"{where}.key", f"app {ref.app!r} has no secret {ref.key!r} "
                                                      f"(its secrets: {sorted(apps[ref.app].secrets) or 'none'})"))

    for section, keys in (("env", app.env), ("secrets", app.secrets), ("secretRefs", app.secret_refs)):
        for key in keys:
            if not _ENV_NAME.fullmatch(key):
                issues.append(ConfigIssue(
                    f"{app_path}.{section}.{key}",
                    "is not a valid environment variable name (letters, digits and '_')",
                ))
    for key in set(app.env) & set(app.secrets):
        issues.append(ConfigIssue(f"{app_path}.secrets.{key}", "is also set in env; keep one"))
    for key in set(app.secret_refs) & (set(app.env) | set(app.secrets)):
        issues.append(ConfigIssue(f"{app_path}.secretRefs.{key}", "is also set in env or secrets; keep one"))

    lowest_replicas = app.autoscaling.min_replicas if app.autoscaling else app.replicas
    if app.min_available is not None and app.min_available >= lowest_replicas:
        issues.append(ConfigIssue(
            f"{app_path}.minAvailable",
            f"minAvailable {app.min_available} with as few as {lowest_replicas} replicas would block "
            f"every node drain; use at most {lowest_replicas - 1}",
        ))

    limits = team.limits
    for field, value, max_value, min_value in (
        ("cpuRequest", app.resources.cpu_request, limits.max_cpu, limits.min_cpu),
        ("memoryRequest", app.resources.memory_request, limits.max_memory, limits.min_memory),
        ("cpuLimit", app.resources.cpu_limit, limits.max_cpu, limits.min_cpu),
        ("memoryLimit", app.resources.memory_limit, limits.max_memory, limits.min_memory),
    ):
        amount = quantity_value(value)
        if amount > quantity_value(max_value):
            issues.append(ConfigIssue(
                f"{app_path}.resources.{field}",
                f"{value} is above the team's LimitRange max {max_value} (teams[].limits)",
            ))
        elif amount < quantity_value(min_value):
            issues.append(ConfigIssue(
                f"{app_path}.resources.{field}",
                f"{value} is below the team's LimitRange min {min_value} (teams[].limits)",
            ))
    return issues
