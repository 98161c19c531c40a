"""RBAC rules beyond wildcards and cluster-admin: what lets a subject climb.

A rule grants what the API server's RBAC authorizer would allow it: `*` in apiGroups,
resources or verbs matches everything, and `*/<sub>` matches that subresource of every resource.
"""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import Severity

from .base import get, kind_of, resource_rule

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
    if kind_of(args.resource_type) not in ("Role", "ClusterRole"):
        return []
    return [rule for rule in args.props.get("rules") or [] if isinstance(rule, Mapping)]


def _listed(rule: Mapping, field: str) -> list[str]:
    values = rule.get(field) or []
    return [values] if isinstance(values, str) else [str(v) for v in values]


def grants(rule: Mapping, verb: str, group: str, resource: str) -> bool:
    """Whether an RBAC rule allows `verb` on `resource` ('nodes/proxy' for a subresource) in `group`."""
    if not ({"*", verb} & set(_listed(rule, "verbs"))) or not ({"*", group} & set(_listed(rule, "apiGroups"))):
        return False
    subresource = resource.partition("/")[2]
    return any(r in ("*", resource) or (subresource and r == f"*/{subresource}")
               or (resource == "userextras" and r.startswith("userextras/")) for r in _listed(rule, "resources"))


@resource_rule("rbac-no-cluster-wide-secret-read", "No ClusterRole reads Secrets in every namespace.",
               Severity.HIGH, "Grant Secret access with a Role in the one namespace that needs it.", exemptible=True)
def cluster_wide_secrets(args, report_violation):
    if kind_of(args.resource_type) != "ClusterRole":
        return
    for rule in _rules(args):
        verbs = [verb for verb in READ_VERBS if grants(rule, verb, "", "secrets")]
        if verbs:
            report_violation(f"The ClusterRole grants {verbs} on secrets (verbs {_listed(rule, 'verbs')}, "
                             f"resources {_listed(rule, 'resources')}).")


@resource_rule("rbac-no-escalation-verbs", "Roles grant none of escalate, bind or impersonate.", Severity.HIGH,
               "Remove the verb (and any '*' that covers it); platform admins act through EKS access entries.")
def escalation_verbs(args, report_violation):
    for rule in _rules(args):
        found = sorted(verb for verb, targets in ESCALATIONS.items()
                       if any(grants(rule, verb, group, resource) for group, resource in targets))
        if found:
            report_violation(f"A rule grants {found} (verbs {_listed(rule, 'verbs')}, "
                             f"resources {_listed(rule, 'resources')}).")


@resource_rule("rbac-no-nodes-proxy", "Roles grant no access to nodes/proxy (the kubelet API).", Severity.HIGH,
               "Remove nodes/proxy (and any '*' that covers it); use metrics-server or the monitoring stack.")
def nodes_proxy(args, report_violation):
    for rule in _rules(args):
        if any(grants(rule, verb, "", "nodes/proxy") for verb in _listed(rule, "verbs")):
            report_violation("A rule grants nodes/proxy.")


@resource_rule("rbac-no-privileged-group-binding",
               "Nothing is bound to system:unauthenticated, system:anonymous or system:masters.", Severity.CRITICAL,
               "Bind a named group that comes through an EKS access entry.")
def privileged_groups(args, report_violation):
    if kind_of(args.resource_type) not in ("RoleBinding", "ClusterRoleBinding"):
        return
    for subject in get(args.props, "subjects") or []:
        if isinstance(subject, Mapping) and subject.get("name") in PRIVILEGED_GROUPS:
            report_violation(f"The binding grants {get(args.props, 'roleRef', 'name')} to {subject.get('name')}.")
