"""Workload practice beyond Pod Security: probes, secrets in env, ServiceAccount tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping

from pulumi_policy import Severity

from .base import containers, get, kind_of, pod_rule, pod_spec, resource_rule

LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY)", re.I)


@resource_rule("probes-required", "Long-running workloads define liveness and readiness probes on every container.",
               Severity.MEDIUM, "Add livenessProbe and readinessProbe (and a startupProbe for slow starters).",
               exemptible=True)
def probes_required(args, report_violation):
    if kind_of(args.resource_type) not in LONG_RUNNING:
        return
    spec = pod_spec(args.resource_type, args.props) or {}
    # Init containers run to completion: probes do not apply to them.
    for container in spec.get("containers") or []:
        if not isinstance(container, Mapping):
            continue
        missing = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
        if missing:
            report_violation(f"containers[{container.get('name', '?')}] has no {' or '.join(missing)}.")


@pod_rule("no-secret-literals-in-env", "No secret-looking environment variable holds a literal value.",
          Severity.HIGH, "Put the value in a Secret and use valueFrom.secretKeyRef.", exemptible=True)
def secret_literals(spec, metadata):
    for label, container in containers(spec):
        for entry in container.get("env") or []:
            if isinstance(entry, Mapping) and SECRET_NAME.search(str(entry.get("name", ""))) and entry.get("value"):
                yield f"{label} sets {entry.get('name')} to a literal value."


@resource_rule("no-automount-service-account-token",
               "Pods and ServiceAccounts do not explicitly turn on automountServiceAccountToken.", Severity.MEDIUM,
               "Set automountServiceAccountToken: false, or leave it unset where the app calls the API.",
               exemptible=True)
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
