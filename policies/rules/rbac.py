"""RBAC rules beyond wildcards and cluster-admin: what lets a subject climb."""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import Severity

from .base import get, kind_of, resource_rule

READ_VERBS = {"get", "list", "watch"}
ESCALATING_VERBS = {"escalate", "bind", "impersonate"}
PRIVILEGED_GROUPS = {"system:unauthenticated", "system:anonymous", "system:masters"}


def _rules(args):
    if kind_of(args.resource_type) not in ("Role", "ClusterRole"):
        return []
    return [rule for rule in args.props.get("rules") or [] if isinstance(rule, Mapping)]


@resource_rule("rbac-no-cluster-wide-secret-read", "No ClusterRole reads Secrets in every namespace.",
               Severity.HIGH, "Grant Secret access with a Role in the one namespace that needs it.")
def cluster_wide_secrets(args, report_violation):
    if kind_of(args.resource_type) != "ClusterRole":
        return
    for rule in _rules(args):
        if "secrets" in (rule.get("resources") or []) and READ_VERBS & set(rule.get("verbs") or []):
            report_violation(f"The ClusterRole grants {sorted(READ_VERBS & set(rule.get('verbs')))} on secrets.")


@resource_rule("rbac-no-escalation-verbs", "Roles grant none of escalate, bind or impersonate.", Severity.HIGH,
               "Remove the verb; platform admins act through EKS access entries.")
def escalation_verbs(args, report_violation):
    for rule in _rules(args):
        found = sorted(ESCALATING_VERBS & set(rule.get("verbs") or []))
        if found:
            report_violation(f"A rule grants {found}.")


@resource_rule("rbac-no-nodes-proxy", "Roles grant no access to nodes/proxy (the kubelet API).", Severity.HIGH,
               "Remove nodes/proxy; use metrics-server or the monitoring stack for node data.")
def nodes_proxy(args, report_violation):
    for rule in _rules(args):
        if "nodes/proxy" in (rule.get("resources") or []):
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
