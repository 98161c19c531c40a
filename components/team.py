"""A team: an isolated namespace (Pod Security restricted, quota, limits, default-deny
network), access from IAM through EKS access entries, and its apps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.app import App, AppArgs
from components.app_specs import Peer
from components.config.tenancy import TeamConfig, secret_ref_order
from components.names import (
    ACME_SOLVER_POD_LABELS,
    ACME_SOLVER_PORT,
    INGRESS_NAMESPACE,
    KUBE_DNS_POD_LABELS,
    KUBE_SYSTEM_NAMESPACE,
    TEAM_LABEL,
    TRAEFIK_POD_LABELS,
)
from components.namespaces import labelled_namespace
from components.naming import iam_key
from components.peers import from_namespace, pods_in
from components.platform import PlatformContext
from components.team_admission import team_admission_policies
from components.team_rbac import group_name, role_rules

ACCESS_LEVELS = ("admin", "developer", "viewer")


def quota_hard(team: TeamConfig) -> dict[str, str]:
    q = team.quota
    return {
        "requests.cpu": q.requests_cpu, "requests.memory": q.requests_memory,
        "limits.cpu": q.limits_cpu, "limits.memory": q.limits_memory,
        "requests.storage": q.requests_storage, "persistentvolumeclaims": str(q.persistent_volume_claims),
        # Nothing in a team namespace is reachable from outside but through the ingress controller.
        "services.loadbalancers": "0", "services.nodeports": "0",
    }


def limit_range_limits(team: TeamConfig) -> list[dict[str, Any]]:
    lr = team.limits
    return [{
        "type": "Container",
        "default": {"cpu": lr.default_cpu, "memory": lr.default_memory},
        "defaultRequest": {"cpu": lr.default_request_cpu, "memory": lr.default_request_memory},
        "max": {"cpu": lr.max_cpu, "memory": lr.max_memory},
        "min": {"cpu": lr.min_cpu, "memory": lr.min_memory},
    }]


def namespace_policies(team: TeamConfig, admitted_by: list[str]) -> dict[str, dict[str, Any]]:
    """name -> NetworkPolicy spec: deny everything, then open what every pod of the team needs.

    What one app needs (Traefik for its host, Prometheus for its metrics, its callers, the API
    server, AWS) is opened by that app's own policy (components/app.py), on its port only.
    """
    dns_ports = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    policies = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
            "to": [pods_in(KUBE_SYSTEM_NAMESPACE, KUBE_DNS_POD_LABELS)],
            "ports": dns_ports}]},
        # cert-manager's HTTP-01 solver pods, which it starts here for this team's Ingresses.
        "allow-acme-http01-solver": {
            "podSelector": {"matchLabels": ACME_SOLVER_POD_LABELS}, "policyTypes": ["Ingress"],
            "ingress": [{"from": [pods_in(INGRESS_NAMESPACE, TRAEFIK_POD_LABELS)],
                         "ports": [{"protocol": "TCP", "port": ACME_SOLVER_PORT}]}]},
    }
    if team.allow_from_namespaces:
        policies["allow-from-namespaces"] = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [
            {"from": [from_namespace(name) for name in team.allow_from_namespaces]}]}
    if admitted_by:
        # The other side of another team's allowFromNamespaces: this namespace denies egress too.
        policies["allow-to-namespaces"] = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {"to": [from_namespace(name) for name in admitted_by]}]}
    return policies


def namespaces_admitting(team: str, teams: list[TeamConfig]) -> list[str]:
    """The teams whose allowFromNamespaces lets this team in."""
    return [other.name for other in teams if team in other.allow_from_namespaces]


@dataclass
class TeamArgs:
    context: PlatformContext
    config: TeamConfig
    admitted_by: list[str]
    """Team namespaces whose allowFromNamespaces names this team (see namespaces_admitting)."""


class Team(pulumi.ComponentResource):
    def __init__(self, name: str, args: TeamArgs, opts: Optional[pulumi.ResourceOptions] = None):
        context = args.context
        super().__init__("eks-platform:tenancy:Team", name, None, context.layer_options(opts))
        team = args.config
        in_cluster = pulumi.ResourceOptions(parent=self, provider=context.provider)
        namespace = labelled_namespace(f"{name}-namespace", team.name, team.pod_security, context.kubernetes_version,
                                       in_cluster, labels={TEAM_LABEL: team.name})
        in_namespace = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[namespace]))
        labels = {TEAM_LABEL: team.name}

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=team.name, labels=labels)

        k8s.core.v1.ResourceQuota(f"{name}-quota", metadata=meta("team-quota"),
                                  spec={"hard": quota_hard(team)}, opts=in_namespace)
        k8s.core.v1.LimitRange(f"{name}-limits", metadata=meta("team-limits"),
                               spec={"limits": limit_range_limits(team)}, opts=in_namespace)
        for policy_name, spec in namespace_policies(team, args.admitted_by).items():
            k8s.networking.v1.NetworkPolicy(f"{name}-{policy_name}", metadata=meta(policy_name), spec=spec,
                                            opts=in_namespace)

        for role, spec in team_admission_policies(team.name, [a.host for a in team.apps if a.host]).items():
            # Cluster-scoped objects, one pair per team and concern (team_admission.py).
            object_meta = k8s.meta.v1.ObjectMetaArgs(name=f"team-{team.name}-{role}", labels=labels)
            policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                f"{name}-{role}-policy", metadata=object_meta, spec=spec, opts=in_cluster)
            k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                f"{name}-{role}-binding", metadata=object_meta,
                spec={"policyName": f"team-{team.name}-{role}", "validationActions": ["Deny"]},
                opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[policy])))

        for level in ACCESS_LEVELS:
            role = k8s.rbac.v1.Role(f"{name}-{level}-role", metadata=meta(f"team-{level}"),
                                    rules=role_rules(level), opts=in_namespace)
            k8s.rbac.v1.RoleBinding(
                f"{name}-{level}-binding", metadata=meta(f"team-{level}"),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"team-{level}"},
                subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group",
                           "name": group_name(team.name, level)}],
                opts=pulumi.ResourceOptions.merge(in_namespace, pulumi.ResourceOptions(depends_on=[role])),
            )
            for principal in getattr(team.access, level):
                aws.eks.AccessEntry(
                    # Keyed by principal alone: a level change updates its groups in place.
                    f"{name}-access-{iam_key(principal)}",
                    cluster_name=context.cluster_name, principal_arn=principal, type="STANDARD",
                    kubernetes_groups=[group_name(team.name, level)], tags=context.tags,
                    # Access entries wait for the cluster.
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[context.identity.cluster]),
                )

        ports = {app.name: app.port for app in team.apps}
        configs = {app.name: app for app in team.apps}
        created: dict[str, App] = {}
        # An app that reads another's Secret (secretRefs) is created after it, to wait for it.
        for app_name in secret_ref_order(team.apps):
            app = configs[app_name]
            callers = [Peer(other.name, ports[other.name]) for other in team.apps if app.name in other.depends_on]
            shared = [created[ref.app].secret for ref in app.secret_refs.values() if created[ref.app].secret]
            created[app_name] = App(f"{name}-{app.name}", AppArgs(
                context=context, config=app, team=team.name, namespace=namespace,
                dependencies=[Peer(d, ports[d]) for d in app.depends_on], callers=callers, shared_secrets=shared,
            ), opts=pulumi.ResourceOptions(parent=self))

        self.namespace = namespace.metadata.name
        self.register_outputs({"namespace": self.namespace})
