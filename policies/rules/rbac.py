"""RBAC and API access: what Roles grant, whom bindings name, and which pods hold an API token.

A rule grants what the API server's RBAC authorizer would allow it: `*` in apiGroups,
resources or verbs matches everything, and `*/<sub>` matches that subresource of every resource.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import Severity

from .base import PLATFORM, cis_eks, nsa_cisa, resource_rule
from .helpers import BINDING_KINDS, ROLE_KINDS, as_list, get, kind_of, pod_spec

READ_VERBS = ("get", "list", "watch")
RBAC_GROUP = "rbac.authorization.k8s.io"
# verb -> the (apiGroup, resource) pairs it acts on to climb.
ESCALATIONS = {
    "escalate": ((RBAC_GROUP, "roles"), (RBAC_GROUP, "clusterroles")),
    "bind": ((RBAC_GROUP, "roles"), (RBAC_GROUP, "clusterroles")),
    "impersonate": (("", "users"), ("", "groups"), ("", "serviceaccounts"),
                    ("authentication.k8s.io", "uids"), ("authentication.k8s.io", "userextras")),
}
PRIVILEGED_GROUPS = {"system:unauthenticated", "system:anonymous", "system:masters"}


def _rules(args):
    if kind_of(args.resource_type) not in ROLE_KINDS:
        return []
    return [rule for rule in args.props.get("rules") or [] if isinstance(rule, Mapping)]


def _listed(rule: Mapping, field: str) -> list[str]:
    return [str(v) for v in as_list(rule.get(field))]


def grants(rule: Mapping, verb: str, group: str, resource: str) -> bool:
    """Whether an RBAC rule allows `verb` on `resource` ('nodes/proxy' for a subresource) in `group`."""
    if not ({"*", verb} & set(_listed(rule, "verbs"))) or not ({"*", group} & set(_listed(rule, "apiGroups"))):
        return False
    subresource = resource.partition("/")[2]
    return any(r in ("*", resource) or (subresource and r == f"*/{subresource}")
               or (resource == "userextras" and r.startswith("userextras/")) for r in _listed(rule, "resources"))


@resource_rule("rbac-no-wildcards", "Roles grant no wildcard verbs or resources.", Severity.HIGH,
               "List the verbs and resources the subject needs.", exemptible=True, frameworks=[cis_eks("4.1.3")])
def rbac_no_wildcards(args, report_violation):
    for rule in _rules(args):
        if "*" in (rule.get("verbs") or []) or "*" in (rule.get("resources") or []):
            report_violation(f"A rule grants '*' (verbs {list(rule.get('verbs') or [])}, "
                             f"resources {list(rule.get('resources') or [])}).")


@resource_rule("rbac-no-cluster-admin-binding", "Nothing is bound to the cluster-admin ClusterRole.", Severity.CRITICAL,
               "Bind a namespace-scoped Role instead; cluster admins come through EKS access entries.",
               frameworks=[cis_eks("4.1.1")])
def rbac_no_cluster_admin(args, report_violation):
    if kind_of(args.resource_type) in BINDING_KINDS and get(args.props, "roleRef", "name") == "cluster-admin":
        report_violation("The binding grants cluster-admin.")


@resource_rule("rbac-no-cluster-wide-secret-read", "No ClusterRole reads Secrets in every namespace.",
               Severity.HIGH, "Grant Secret access with a Role in the one namespace that needs it.", exemptible=True,
               frameworks=[cis_eks("4.1.2")])
def cluster_wide_secrets(args, report_violation):
    if kind_of(args.resource_type) != "ClusterRole":
        return
    for rule in _rules(args):
        verbs = [verb for verb in READ_VERBS if grants(rule, verb, "", "secrets")]
        if verbs:
            report_violation(f"The ClusterRole grants {verbs} on secrets (verbs {_listed(rule, 'verbs')}, "
                             f"resources {_listed(rule, 'resources')}).")


@resource_rule("rbac-no-escalation-verbs", "Roles grant none of escalate, bind or impersonate.", Severity.HIGH,
               "Remove the verb (and any '*' that covers it); platform admins act through EKS access entries.",
               frameworks=[cis_eks("4.1.8")])
def escalation_verbs(args, report_violation):
    for rule in _rules(args):
        found = sorted(verb for verb, targets in ESCALATIONS.items()
                       if any(grants(rule, verb, group, resource) for group, resource in targets))
        if found:
            report_violation(f"A rule grants {found} (verbs {_listed(rule, 'verbs')}, "
                             f"resources {_listed(rule, 'resources')}).")


@resource_rule("rbac-no-nodes-proxy", "Roles grant no access to nodes/proxy (the kubelet API).", Severity.HIGH,
               "Remove nodes/proxy (and any '*' that covers it); use metrics-server or the monitoring stack.",
               frameworks=[cis_eks("4.1.10")])
def nodes_proxy(args, report_violation):
    for rule in _rules(args):
        if any(grants(rule, verb, "", "nodes/proxy") for verb in _listed(rule, "verbs")):
            report_violation("A rule grants nodes/proxy.")


@resource_rule("rbac-no-privileged-group-binding",
               "Nothing is bound to system:unauthenticated, system:anonymous or system:masters.", Severity.CRITICAL,
               "Bind a named group that comes through an EKS access entry.", frameworks=[PLATFORM])
def privileged_groups(args, report_violation):
    if kind_of(args.resource_type) not in BINDING_KINDS:
        return
    for subject in get(args.props, "subjects") or []:
        if isinstance(subject, Mapping) and subject.get("name") in PRIVILEGED_GROUPS:
            report_violation(f"The binding grants {get(args.props, 'roleRef', 'name')} to {subject.get('name')}.")


@resource_rule("no-automount-service-account-token",
               "Pods and ServiceAccounts do not explicitly turn on automountServiceAccountToken.", Severity.MEDIUM,
               "Set automountServiceAccountToken: false, or leave it unset where the app calls the API.",
               exemptible=True, frameworks=[cis_eks("4.1.6"), nsa_cisa("Protecting Pod service account tokens")])
def automount_token(args, report_violation):
    kind = kind_of(args.resource_type)
    if kind == "ServiceAccount":
        value = get(args.props, "automountServiceAccountToken")
    else:
        spec = pod_spec(args.resource_type, args.props)
        if spec is None:
            return
        value = spec.get("automountServiceAccountToken")
    if value is True:
        report_violation(f"{kind} sets automountServiceAccountToken: true.")
