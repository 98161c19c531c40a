"""cert-manager and the Let's Encrypt ClusterIssuers every TLS Ingress uses."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.charts import pinned_release
from components.config.services import CertManagerConfig
from components.config.tenancy import ACME_SOLVER_RESOURCES
from components.hardening import RESTRICTED_CONTAINER_SECURITY_CONTEXT, RESTRICTED_POD_SECURITY_CONTEXT
from components.names import CERT_MANAGER_NAMESPACE as NAMESPACE
from components.names import INGRESS_CLASS
from components.namespaces import labelled_namespace
from components.platform import PlatformContext
from components.workload_identity import WorkloadRole, WorkloadRoleArgs

SERVICE_ACCOUNT = "cert-manager"
ACME_SERVERS = {
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "letsencrypt-prod": "https://acme-v02.api.letsencrypt.org/directory",
}


def route53_policy(hosted_zone_id: str, partition: str) -> str:
    """What cert-manager's Route53 solver needs, and only on the configured zone: it may change
    nothing but the TXT records of `_acme-challenge` names (DNS-01), never the zone's A or MX."""
    zone = f"arn:{partition}:route53:::hostedzone/{hosted_zone_id}"
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["route53:GetChange"],
             "Resource": [f"arn:{partition}:route53:::change/*"]},
            {"Effect": "Allow", "Action": ["route53:ListResourceRecordSets"], "Resource": [zone]},
            {"Effect": "Allow", "Action": ["route53:ChangeResourceRecordSets"], "Resource": [zone],
             "Condition": {
                 "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
                 "ForAllValues:StringLike": {
                     "route53:ChangeResourceRecordSetsNormalizedRecordNames": ["_acme-challenge.*"]},
             }},
            {"Effect": "Allow", "Action": ["route53:ListHostedZonesByName"], "Resource": ["*"]},
        ],
    })


def acme_solver(config: CertManagerConfig, region: str) -> dict[str, Any]:
    if config.route53_hosted_zone_id:
        # DNS-01 needs no inbound HTTP and can issue wildcard certificates.
        return {"dns01": {"route53": {"region": region, "hostedZoneID": config.route53_hosted_zone_id}}}
    return {"http01": {"ingress": {
        "ingressClassName": INGRESS_CLASS,
        # The solver pod and Service live in the namespace of the Ingress being proved: a team
        # namespace, whose quota forbids NodePorts (the default) and whose LimitRange refuses the
        # default 10m/64Mi request. Traefik reaches the pod on 8089 (team NetworkPolicies).
        "serviceType": "ClusterIP",
        "podTemplate": {"spec": {
            "resources": {"requests": dict(ACME_SOLVER_RESOURCES), "limits": dict(ACME_SOLVER_RESOURCES)},
            # Replaces cert-manager's pod security context as a whole: restricted, numeric user.
            "securityContext": RESTRICTED_POD_SECURITY_CONTEXT,
        }},
    }}}


def cluster_issuer_spec(issuer: str, config: CertManagerConfig, region: str) -> dict[str, Any]:
    return {"acme": {
        "server": ACME_SERVERS[issuer],
        "email": config.acme_email,
        # cert-manager creates this Secret to hold the ACME account key.
        "privateKeySecretRef": {"name": f"{issuer}-account-key"},
        "solvers": [acme_solver(config, region)],
    }}


def cert_manager_values(replicas: int,
                        account_annotations: Optional[dict[str, pulumi.Input[str]]]) -> dict[str, Any]:
    """`account_annotations`: what the Route53 role needs on the ServiceAccount (IRSA's role ARN);
    None or empty leaves the chart's account as it is (Pod Identity binds it by name)."""
    security = {"securityContext": RESTRICTED_POD_SECURITY_CONTEXT,
                "containerSecurityContext": RESTRICTED_CONTAINER_SECURITY_CONTEXT}
    pdb = {"enabled": replicas > 1, "maxUnavailable": 1}
    values: dict[str, Any] = {
        # The chart owns its CRDs, and keeps them on uninstall so certificates survive.
        "crds": {"enabled": True, "keep": True},
        "replicaCount": replicas,
        "podDisruptionBudget": pdb,
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        **security,
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": True}},
        "webhook": {
            "replicaCount": replicas, "podDisruptionBudget": pdb, **security,
            "resources": {"requests": {"cpu": "20m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "256Mi"}},
        },
        "cainjector": {
            "replicaCount": replicas, "podDisruptionBudget": pdb, **security,
            "resources": {"requests": {"cpu": "20m", "memory": "128Mi"}, "limits": {"cpu": "200m", "memory": "512Mi"}},
        },
        # The post-install Job that waits for the webhook: the chart's default is runAsNonRoot
        # with no numeric user, which the kubelet refuses for its image.
        "startupapicheck": {
            **security,
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}},
        },
    }
    if account_annotations:
        values["serviceAccount"] = {"name": SERVICE_ACCOUNT, "annotations": account_annotations}
    return values


@dataclass
class CertManagerArgs:
    context: PlatformContext
    """Its monitoring_crds: the chart creates a ServiceMonitor."""
    config: CertManagerConfig


class CertManager(pulumi.ComponentResource):
    default_issuer: str

    def __init__(self, name: str, args: CertManagerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:traffic:CertManager", name, None, context.layer_options(opts))
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        namespace = labelled_namespace(f"{name}-namespace", NAMESPACE, "restricted", context.kubernetes_version,
                                       in_cluster)
        account_annotations = None
        roles: list[pulumi.Resource] = []
        if args.config.route53_hosted_zone_id:
            # The solver takes the controller's own (ambient) credentials, which a ClusterIssuer
            # may use by default; with Pod Identity they come from the node's agent (cert-manager's
            # Route53 docs list it with IRSA). `-route53` is the name the IRSA role always had.
            role = WorkloadRole(f"{name}-route53", WorkloadRoleArgs(
                identity=context.identity, namespace=NAMESPACE, service_account=SERVICE_ACCOUNT,
                kind=context.workload_identity,
                inline_policy=route53_policy(args.config.route53_hosted_zone_id, context.partition), tags=context.tags,
            ), opts=pulumi.ResourceOptions(parent=self))
            account_annotations, roles = role.service_account_annotations, [role]

        self.release = pinned_release(
            f"{name}-chart", "cert-manager", namespace.metadata.name,
            cert_manager_values(args.config.replicas, account_annotations),
            pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(
                depends_on=[namespace, *roles, *context.monitoring_crds])),
        )
        # The ClusterIssuer kind exists only once the chart has installed its CRDs.
        after_chart = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[self.release]))
        for issuer in ACME_SERVERS:
            k8s.apiextensions.CustomResource(
                f"{name}-{issuer}",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=issuer),
                spec=cluster_issuer_spec(issuer, args.config, context.region),
                opts=after_chart,
            )
        self.default_issuer = args.config.default_issuer
        self.register_outputs({"defaultIssuer": self.default_issuer})
