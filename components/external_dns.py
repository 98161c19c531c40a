"""external-dns: publishes the hosts the platform serves in one Route53 hosted zone
(`ingress.externalDns`), as alias records to the load balancer Traefik writes on every Ingress's
status (and, with the Gateway on, on the shared Gateway's for HTTPRoutes), each with a TXT
ownership record.

It is limited to those hosts twice: its filters see only the configured zone, and its IAM role
may change, in that zone only, the record names of the served hosts and their TXT ownership
names (Route53's ChangeResourceRecordSets condition keys). A team that writes an Ingress for any
other name gets no record: Route53 refuses the change. The role is rewritten with the stack's
hosts on every `pulumi up`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi

from components.charts import pinned_release
from components.config.services import ExternalDnsConfig, IngressConfig
from components.hardening import RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT
from components.names import INGRESS_CLASS
from components.names import INGRESS_NAMESPACE as NAMESPACE
from components.platform import PlatformContext
from components.workload_identity import WorkloadRole, WorkloadRoleArgs

RELEASE = "external-dns"
SERVICE_ACCOUNT = "external-dns"
# Alias A and AAAA records to the NLB, and their TXT ownership records (never a CNAME: the AWS
# provider turns a load balancer's host name into alias records).
RECORD_TYPES = ("A", "AAAA", "TXT")
ACTIONS = {"upsert-only": ("CREATE", "UPSERT"), "sync": ("CREATE", "UPSERT", "DELETE")}


def route53_policy(partition: str, config: ExternalDnsConfig, hosts: list[str]) -> str:
    """The AWS tutorial's permissions, narrowed to one zone and the platform's record names.

    Route53 compares `ChangeResourceRecordSetsNormalizedRecordNames` lower-case and without the
    trailing dot, which is how hosts are written in the stack config. ListTagsForResources is left
    out: external-dns asks for zone tags only with --zone-tag-filter, which is not set.
    """
    zone = f"arn:{partition}:route53:::hostedzone/{config.hosted_zone_id}"
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets"], "Resource": [zone],
             "Condition": {"ForAllValues:StringEquals": {
                 "route53:ChangeResourceRecordSetsNormalizedRecordNames": config.record_names(sorted(hosts)),
                 "route53:ChangeResourceRecordSetsRecordTypes": list(RECORD_TYPES),
                 "route53:ChangeResourceRecordSetsActions": list(ACTIONS[config.policy]),
             }}},
            {"Effect": "Allow", "Action": ["route53:ListResourceRecordSets"], "Resource": [zone]},
            {"Effect": "Allow", "Action": ["route53:ListHostedZones"], "Resource": ["*"]},
        ],
    })


def external_dns_values(config: IngressConfig, owner_id: str, region: str,
                        service_account_annotations: dict[str, pulumi.Input[str]]) -> dict[str, Any]:
    dns = config.external_dns
    return {
        "provider": {"name": "aws"},
        # HTTPRoutes (apps on `route: httproute`) take the shared Gateway's address, which Traefik
        # copies from its Service (the chart's providers.kubernetesGateway.statusAddress default).
        "sources": ["ingress", *(["gateway-httproute"] if config.gateway.enabled else [])],
        "policy": dns.policy,
        "registry": "txt",
        "txtOwnerId": dns.txt_owner_id or owner_id,
        "domainFilters": [dns.domain],
        "extraArgs": {
            "zone-id-filter": dns.hosted_zone_id,
            # Only Ingresses Traefik serves: their status carries its load balancer.
            "ingress-class": INGRESS_CLASS,
        },
        # Pods cannot reach the instance metadata service (IMDSv2, hop limit 1), where the AWS
        # SDK would look for a region; Route53's endpoint is resolved from it.
        "env": [{"name": "AWS_REGION", "value": region}],
        "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT, "annotations": service_account_annotations},
        # One replica: external-dns has no leader election, and a missed minute of DNS updates
        # during a drain is harmless (the chart's Recreate strategy for the same reason).
        "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
        # The image's user is distroless "nonroot" (65532), made numeric for the kubelet.
        "podSecurityContext": RESTRICTED_POD_SECURITY_CONTEXT,
        "securityContext": RESTRICTED_CONTAINER_SECURITY_CONTEXT,
        "serviceMonitor": {"enabled": True},
    }


@dataclass
class ExternalDnsArgs:
    context: PlatformContext
    """Its ingress_controller (the namespace and the load balancer it publishes) and monitoring_crds."""
    config: IngressConfig
    hosts: list[str]
    """Every host the platform serves (StackConfig.served_hosts): the only names it may write."""


class ExternalDns(pulumi.ComponentResource):
    def __init__(self, name: str, args: ExternalDnsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context, dns = args.context, args.config.external_dns
        super().__init__("eks-platform:traffic:ExternalDns", name, None, context.layer_options(opts))
        role = WorkloadRole(f"{name}-role", WorkloadRoleArgs(
            identity=context.identity, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
            kind=context.workload_identity, inline_policy=route53_policy(context.partition, dns, args.hosts),
            tags=context.tags,
        ), opts=pulumi.ResourceOptions(parent=self))
        values = external_dns_values(args.config, context.cluster_name, context.region,
                                     role.service_account_annotations)
        self.release = pinned_release(
            f"{name}-chart", "external-dns", NAMESPACE, values,
            pulumi.ResourceOptions(parent=self, provider=context.provider, depends_on=[
                role, *context.ingress_controller, *context.monitoring_crds,
                # Its gateway-httproute source lists HTTPRoutes from the start: their CRDs must exist.
                *(context.gateway_api_crds if args.config.gateway.enabled else ())]),
            release_name=RELEASE,
        )
        self.register_outputs({"roleArn": role.arn})
