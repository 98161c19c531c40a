"""What RBAC cannot say about a team namespace, said by ValidatingAdmissionPolicies (CEL,
admissionregistration.k8s.io/v1, GA since Kubernetes 1.30): which hosts its Ingresses may
claim, and that its developers ship no workload that reads a Secret.

RBAC grants verbs on kinds, not on contents: a developer who may create Ingresses may name any
host (Traefik would route Grafana's to them, cert-manager would certify it), and one who may
create pods may mount any Secret of the namespace and print it. Pure data, so tests can
evaluate the CEL on sample requests.
"""

from __future__ import annotations

import json
from typing import Any

from components.names import NAMESPACE_NAME_LABEL
from components.team_rbac import group_name


# Every kind a developer may write that carries a pod template (team_rbac.WORKLOADS, and pods).
POD_TEMPLATE_RESOURCES = {"": ["pods"], "apps": ["deployments", "statefulsets", "replicasets", "daemonsets"],
                          "batch": ["jobs", "cronjobs"]}


def _in_namespace(team: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: team}}, "resourceRules": rules}


def _rule(group: str, resources: list[str]) -> dict[str, Any]:
    return {"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": resources}


def ingress_hosts_policy(team: str, hosts: list[str]) -> dict[str, Any]:
    """Ingresses in the team's namespace name only the team's hosts (its apps' `host`s), in rules
    and TLS alike, and never a catch-all (a rule without host, a defaultBackend). Whoever writes
    them: Pulumi, the team's admins and developers, cert-manager's HTTP-01 solver Ingress."""
    allowed = json.dumps(sorted(hosts))
    return {
        "failurePolicy": "Fail",
        "matchConstraints": _in_namespace(team, [{
            "apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
            "resources": ["ingresses"]}]),
        "variables": [{"name": "hosts", "expression": allowed}],
        "validations": [
            {"expression": "!has(object.spec.defaultBackend)",
             "message": f"an Ingress in {team} may not set spec.defaultBackend: it would take every host "
                        "no other Ingress claims"},
            {"expression": "!has(object.spec.rules) || "
                           "object.spec.rules.all(r, has(r.host) && r.host in variables.hosts)",
             "message": f"an Ingress in {team} may only route the team's hosts {allowed}; every rule names one "
                        "(a host is added as an app's `host` in the stack config)"},
            {"expression": "!has(object.spec.tls) || "
                           "object.spec.tls.all(t, !has(t.hosts) || t.hosts.all(h, h in variables.hosts))",
             "message": f"an Ingress in {team} may only ask for certificates of the team's hosts {allowed}"},
        ],
    }


def developer_secrets_policy(team: str) -> dict[str, Any]:
    """The team's developers may create and change workloads, but none whose pods reference a
    Secret (env, envFrom, secret or projected volumes): starting such a pod is reading the Secret.
    Workloads that need Secrets come from the stack config; the team's admins may write them."""
    developer = group_name(team, "developer")
    return {
        "failurePolicy": "Fail",
        "matchConstraints": _in_namespace(team, [_rule(g, r) for g, r in POD_TEMPLATE_RESOURCES.items()]),
        "matchConditions": [{"name": "team-developer",
                             "expression": f"request.userInfo.groups.exists(g, g == {json.dumps(developer)})"}],
        "variables": [
            {"name": "pod", "expression":
                "request.kind.kind == 'Pod' ? object.spec : request.kind.kind == 'CronJob' ? "
                "object.spec.jobTemplate.spec.template.spec : object.spec.template.spec"},
            {"name": "containers", "expression":
                "variables.pod.containers"
                " + (has(variables.pod.initContainers) ? variables.pod.initContainers : [])"
                " + (has(variables.pod.ephemeralContainers) ? variables.pod.ephemeralContainers : [])"},
        ],
        "validations": [
            {"expression": "variables.containers.all(c, "
                           "(!has(c.env) || c.env.all(e, !has(e.valueFrom) || !has(e.valueFrom.secretKeyRef))) && "
                           "(!has(c.envFrom) || c.envFrom.all(f, !has(f.secretRef))))",
             "message": f"{team}'s developers may not ship a workload whose containers read a Secret "
                        "(env valueFrom.secretKeyRef, envFrom secretRef): add it to the stack config, or ask "
                        "a team admin"},
            {"expression": "!has(variables.pod.volumes) || variables.pod.volumes.all(v, !has(v.secret) && "
                           "(!has(v.projected) || !has(v.projected.sources) || "
                           "v.projected.sources.all(s, !has(s.secret))))",
             "message": f"{team}'s developers may not ship a workload that mounts a Secret (secret or projected "
                        "volume): add it to the stack config, or ask a team admin"},
        ],
    }


def team_admission_policies(team: str, hosts: list[str]) -> dict[str, dict[str, Any]]:
    """concern -> ValidatingAdmissionPolicy spec, for one team (objects `team-<team>-<concern>`)."""
    return {"ingress-hosts": ingress_hosts_policy(team, hosts), "developer-secrets": developer_secrets_policy(team)}
