"""What each team access level may do in its namespace, without a single wildcard.

IAM principals reach these roles only through EKS access entries that put them in a
Kubernetes group; the RoleBindings below bind those groups, never users.
"""

from __future__ import annotations

from typing import Any

READ = ["get", "list", "watch"]
WRITE = ["create", "update", "patch", "delete"]

WORKLOADS = {"apps": ["deployments", "statefulsets", "replicasets", "daemonsets"],
             "batch": ["jobs", "cronjobs"],
             "autoscaling": ["horizontalpodautoscalers"],
             "policy": ["poddisruptionbudgets"],
             "networking.k8s.io": ["ingresses"],
             "monitoring.coreos.com": ["servicemonitors", "prometheusrules"]}
CORE = ["pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts", "endpoints", "events"]


def _rules(verbs: list[str], with_secrets: bool) -> list[dict[str, Any]]:
    core = CORE + (["secrets"] if with_secrets else [])
    rules = [{"apiGroups": [""], "resources": core, "verbs": verbs}]
    rules += [{"apiGroups": [group], "resources": resources, "verbs": verbs} for group, resources in WORKLOADS.items()]
    return rules


def role_rules(level: str) -> list[dict[str, Any]]:
    if level == "viewer":
        # Viewers read everything but Secrets, and pod logs; they cannot exec.
        return _rules(READ, with_secrets=False) + [
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]
    logs = [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create", "get"]}]
    if level == "developer":
        # Developers ship workloads; Secrets and RBAC stay with the team's admins. No exec: a shell
        # in a pod reads its Secret env and files. Creating a pod that mounts a Secret is reading
        # it too; RBAC cannot see pod contents, so the team's developer-secrets admission policy
        # refuses those (components/team_admission.py).
        return _rules(READ + WRITE, with_secrets=False) + logs
    if level == "admin":
        return _rules(READ + WRITE, with_secrets=True) + logs + [
            {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": READ}]
    raise ValueError(f"unknown access level {level!r}")


def group_name(team: str, level: str) -> str:
    # EKS refuses group names starting with "system:".
    return f"team:{team}:{level}"
