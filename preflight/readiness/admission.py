"""What the API server and the kubelet do to every pod the platform creates, offline.

- Pod Security admission at the level the namespace's own `enforce` label sets: the pack's
  PSS rules (policies/rules), grouped by the level of the standard they belong to;
- LimitRange: the API's defaulting (requests from limits), the LimitRange's defaults, then
  its min, max and maxLimitRequestRatio, per container and per pod;
- ResourceQuota: every pod of the namespace at once (HPA minReplicas, plus a Deployment's
  rolling-update surge, plus HTTP-01 solver pods), volume claims and Services;
- the kubelet's start-up check: runAsNonRoot with no numeric runAsUser starts only if the
  image's USER is numeric, which nothing offline can know (CreateContainerConfigError).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Iterable

from pulumi_policy.policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from policies.rules import POLICIES

from .findings import Finding
from .model import Cluster, Obj, Workload, dig, quantity, show
from .solvers import Solver

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
# The pack's rules, by the level of the Pod Security Standards their control belongs to.
# A name the pack does not (yet) have is skipped; a pack rule no list names fails a test.
BASELINE_RULES = ("pss-host-namespaces", "pss-privileged", "pss-host-path-volumes", "pss-host-ports",
                  "pss-probe-host", "pss-apparmor", "pss-selinux", "pss-proc-mount", "pss-sysctls",
                  "pss-host-process", "pss-baseline-capabilities", "pss-baseline-seccomp")
RESTRICTED_RULES = ("pss-allow-privilege-escalation", "pss-run-as-non-root", "pss-capabilities", "pss-seccomp",
                    "pss-volume-types", "pss-restricted-proc-mount")
LEVEL_RULES = {"baseline": BASELINE_RULES, "restricted": BASELINE_RULES + RESTRICTED_RULES}
VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
COMPUTE = ("cpu", "memory")
_OPTIONS = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[])


def _pack_rules() -> dict[str, Any]:
    return {p.name: p for p in POLICIES if p.name in BASELINE_RULES + RESTRICTED_RULES}


def _who(workload: Workload) -> str:
    return f"pods of {workload.label}" if not workload.synthesized else f"the {workload.obj.origin}"


def pod_security(cluster: Cluster, workloads: Iterable[Workload]) -> list[Finding]:
    rules = _pack_rules()
    findings = []
    for workload in workloads:
        labels = cluster.labels_of_namespace(workload.namespace)
        level = labels.get(ENFORCE_LABEL)
        if level not in LEVEL_RULES:
            continue
        # Admission judges at the namespace's enforce-version ("v1.35"); "latest" or none: the pack's default.
        version = str(labels.get(VERSION_LABEL) or "")
        config = {"kubernetesVersion": version[1:]} if re.fullmatch(r"v1\.\d+", version) else {}
        props = {"metadata": {**workload.metadata, "namespace": workload.namespace}, "spec": workload.spec}
        args = ResourceValidationArgs("kubernetes:core/v1:Pod", props, workload.obj.urn or "readiness",
                                      workload.obj.name, _OPTIONS, None, config)
        problems: list[str] = []
        for name in LEVEL_RULES[level]:
            rule = rules.get(name)
            if rule is not None:
                rule.validate(args, lambda message, urn=None, rule=rule: problems.append(
                    f"{message} [{rule.name}: {rule.remediation_steps}]"))
        for problem in problems:
            findings.append(Finding("readiness-pod-security", workload.obj.resource,
                                    f"Namespace {workload.namespace} enforces Pod Security '{level}', which rejects "
                                    f"{_who(workload)}: {problem}", workload.obj.file))
    return findings


def kubelet_run_as_user(workloads: Iterable[Workload]) -> list[Finding]:
    findings = []
    for workload in workloads:
        if workload.numeric_image_user:
            continue
        pod_context = workload.spec.get("securityContext") or {}
        for container in workload.containers():
            own = container.get("securityContext") or {}
            non_root = own.get("runAsNonRoot", pod_context.get("runAsNonRoot"))
            user = own.get("runAsUser", pod_context.get("runAsUser"))
            if non_root is True and not isinstance(user, int):
                findings.append(Finding(
                    "readiness-kubelet-run-as-user", workload.obj.resource,
                    f"containers[{container.get('name')}] of {_who(workload)} sets runAsNonRoot without a numeric "
                    f"runAsUser: the kubelet refuses to start it (CreateContainerConfigError) unless the image "
                    f"{container.get('image')!r} declares a numeric USER. Fix: set securityContext.runAsUser and "
                    f"runAsGroup to the image's uid/gid.", workload.obj.file))
    return findings


# -- LimitRange ------------------------------------------------------------------------------

def _limit_items(cluster: Cluster, namespace: str, kind: str) -> list[tuple[Obj, Mapping[str, Any]]]:
    return [(lr, item) for lr in cluster.in_namespace("LimitRange", namespace)
            for item in lr.get("spec", "limits") or [] if isinstance(item, Mapping) and item.get("type") == kind]


def _defaulted_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The API server's defaulting of a Container LimitRange item: default <- max,
    defaultRequest <- default."""
    maximum = item.get("max") or {}
    default = {**maximum, **(item.get("default") or {})}
    default_request = {**default, **(item.get("defaultRequest") or {})}
    return {"default": default, "defaultRequest": default_request}


def effective_resources(cluster: Cluster, workload: Workload) -> list[tuple[str, dict[str, float], dict[str, float]]]:
    """(container, requests, limits) after pod defaulting and the namespace's LimitRange defaults."""
    items = [_defaulted_item(item) for _, item in _limit_items(cluster, workload.namespace, "Container")]
    result = []
    for container in workload.containers():
        resources = container.get("resources") or {}
        limits = {k: quantity(v) for k, v in (resources.get("limits") or {}).items() if quantity(v) is not None}
        requests = {k: quantity(v) for k, v in (resources.get("requests") or {}).items() if quantity(v) is not None}
        for key, value in limits.items():
            requests.setdefault(key, value)
        for item in items:
            for key, value in item["default"].items():
                if key not in limits and quantity(value) is not None:
                    limits[key] = quantity(value)
            for key, value in item["defaultRequest"].items():
                if key not in requests and quantity(value) is not None:
                    requests[key] = quantity(value)
        result.append((str(container.get("name")), requests, limits))
    return result


def _bound_problems(where: str, item: Mapping[str, Any], requests: dict[str, float],
                    limits: dict[str, float]) -> list[str]:
    problems = []
    for key, bound in (item.get("min") or {}).items():
        minimum = quantity(bound)
        if minimum is None:
            continue
        if key not in requests:
            problems.append(f"{where}: minimum {key} is {bound} but no request is set")
        elif requests[key] < minimum:
            problems.append(f"{where}: {key} request {show(key, requests[key])} is below the minimum {bound}")
        elif key in limits and limits[key] < minimum:
            problems.append(f"{where}: {key} limit {show(key, limits[key])} is below the minimum {bound}")
    for key, bound in (item.get("max") or {}).items():
        maximum = quantity(bound)
        if maximum is None:
            continue
        if key not in limits:
            problems.append(f"{where}: maximum {key} is {bound} but no limit is set")
        elif limits[key] > maximum:
            problems.append(f"{where}: {key} limit {show(key, limits[key])} is above the maximum {bound}")
        elif key in requests and requests[key] > maximum:
            problems.append(f"{where}: {key} request {show(key, requests[key])} is above the maximum {bound}")
    for key, bound in (item.get("maxLimitRequestRatio") or {}).items():
        if key in limits and requests.get(key):
            ratio = limits[key] / requests[key]
            if quantity(bound) is not None and ratio > quantity(bound):
                problems.append(f"{where}: {key} limit/request ratio {ratio:g} is above {bound}")
    return problems


def limit_ranges(cluster: Cluster, workloads: Iterable[Workload]) -> list[Finding]:
    findings = []
    for workload in workloads:
        resolved = effective_resources(cluster, workload)
        problems = []
        for name, requests, limits in resolved:
            for key in requests:
                if key in limits and requests[key] > limits[key]:
                    problems.append(f"containers[{name}]: {key} request {show(key, requests[key])} is above its "
                                    f"limit {show(key, limits[key])} once defaults apply")
            for lr, item in _limit_items(cluster, workload.namespace, "Container"):
                problems += [f"{p} (LimitRange {lr.name})" for p in
                             _bound_problems(f"containers[{name}]", item, requests, limits)]
        for lr, item in _limit_items(cluster, workload.namespace, "Pod"):
            pod_requests, pod_limits = _pod_totals(workload, resolved)
            problems += [f"{p} (LimitRange {lr.name})" for p in
                         _bound_problems("the pod", item, pod_requests, pod_limits)]
        for problem in problems:
            findings.append(Finding("readiness-limit-range", workload.obj.resource,
                                    f"The LimitRange of namespace {workload.namespace} rejects {_who(workload)}: "
                                    f"{problem}. Fix: set the container's requests and limits within the range "
                                    f"(or widen the team's limits in stack config).", workload.obj.file))
    return findings


def _pod_totals(workload: Workload, resolved) -> tuple[dict[str, float], dict[str, float]]:
    """A pod's requests and limits: the sum over its containers, or its largest init container."""
    init_names = {str(c.get("name")) for c in workload.spec.get("initContainers") or [] if isinstance(c, Mapping)}
    totals: list[dict[str, float]] = [defaultdict(float), defaultdict(float)]
    init_max: list[dict[str, float]] = [defaultdict(float), defaultdict(float)]
    for name, requests, limits in resolved:
        for index, values in enumerate((requests, limits)):
            for key, value in values.items():
                if name in init_names:
                    init_max[index][key] = max(init_max[index][key], value)
                else:
                    totals[index][key] += value
    return tuple({k: max(totals[i].get(k, 0), init_max[i].get(k, 0)) for k in {*totals[i], *init_max[i]}}
                 for i in range(2))  # type: ignore[return-value]


# -- ResourceQuota ---------------------------------------------------------------------------

QUOTA_COMPUTE = {"requests.cpu": ("requests", "cpu"), "cpu": ("requests", "cpu"),
                 "requests.memory": ("requests", "memory"), "memory": ("requests", "memory"),
                 "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory")}


def _service_usage(service: Obj) -> dict[str, int]:
    service_type = service.get("spec", "type") or "ClusterIP"
    ports = len(service.get("spec", "ports") or [])
    usage = {"services": 1}
    if service_type == "LoadBalancer":
        usage["services.loadbalancers"] = 1
        if service.get("spec", "allocateLoadBalancerNodePorts") is not False:
            usage["services.nodeports"] = ports
    elif service_type == "NodePort":
        usage["services.nodeports"] = ports
    return usage


def resource_quotas(cluster: Cluster, workloads: list[Workload], solvers: list[Solver]) -> list[Finding]:
    findings = []
    for quota in cluster.of_kind("ResourceQuota"):
        if quota.get("spec", "scopes") or quota.get("spec", "scopeSelector"):
            continue  # a scoped quota counts only some pods; not modelled
        hard = {k: quantity(v) for k, v in (quota.get("spec", "hard") or {}).items()}
        namespace = quota.namespace
        used: dict[str, float] = defaultdict(float)
        shares: dict[str, list[str]] = defaultdict(list)
        inside = [w for w in workloads if w.namespace == namespace]
        for workload in inside:
            pods = workload.replicas + workload.surge
            how = f"{workload.label} {workload.replicas}" + (f"+{workload.surge} surge" if workload.surge else "")
            used["pods"] += pods
            shares["pods"].append(f"{how} pods")
            resolved = effective_resources(cluster, workload)
            pod_requests, pod_limits = _pod_totals(workload, resolved)
            for key, (section, resource) in QUOTA_COMPUTE.items():
                if key not in hard:
                    continue
                values = pod_requests if section == "requests" else pod_limits
                missing = [name for name, requests, limits in resolved
                           if resource not in (requests if section == "requests" else limits)]
                if missing:
                    findings.append(Finding(
                        "readiness-resource-quota", workload.obj.resource,
                        f"ResourceQuota {namespace}/{quota.name} tracks {key}, so it rejects {_who(workload)}: "
                        f"containers {missing} set no {section}.{resource} and no LimitRange default fills it. "
                        f"Fix: set resources.{section}.{resource}.", workload.obj.file))
                used[key] += values.get(resource, 0) * pods
                shares[key].append(f"{how} x {show(resource, values.get(resource, 0))}")
            for claim in workload.volume_claims:
                size = quantity(dig(claim, "spec", "resources", "requests", "storage")) or 0
                used["persistentvolumeclaims"] += workload.replicas
                used["requests.storage"] += size * workload.replicas
                shares["requests.storage"].append(f"{workload.label} {workload.replicas} x {show('storage', size)}")
                shares["persistentvolumeclaims"].append(f"{workload.label} {workload.replicas}")
        for claim in cluster.in_namespace("PersistentVolumeClaim", namespace):
            size = quantity(claim.get("spec", "resources", "requests", "storage")) or 0
            used["persistentvolumeclaims"] += 1
            used["requests.storage"] += size
            shares["requests.storage"].append(f"{claim.label} {show('storage', size)}")
        services = cluster.in_namespace("Service", namespace) + [s.service for s in solvers
                                                                 if s.service.namespace == namespace]
        for service in services:
            for key, amount in _service_usage(service).items():
                if amount:
                    used[key] += amount
                    shares[key].append(f"{service.label}" + (f" ({service.origin})" if service.origin.startswith(
                        "cert-manager") else f" type {service.get('spec', 'type')}"))
        for key, limit in sorted(hard.items()):
            if limit is None or key not in used or used[key] <= limit:
                continue
            findings.append(Finding(
                "readiness-resource-quota", quota.resource,
                f"Namespace {namespace} needs {key} {show(key, used[key])} but the quota allows {show(key, limit)}: "
                f"{'; '.join(shares[key])}. Fix: "
                + ("use ClusterIP Services (for HTTP-01 solvers: serviceType ClusterIP in the issuer's solver)."
                   if key.startswith("services") else "raise the team's quota in stack config or lower replicas, "
                   "surge or requests."), quota.file))
    return findings


def admission(cluster: Cluster, solvers: list[Solver]) -> list[Finding]:
    workloads = cluster.workloads + [s.workload for s in solvers]
    return (pod_security(cluster, workloads) + limit_ranges(cluster, workloads)
            + resource_quotas(cluster, workloads, solvers) + kubelet_run_as_user(workloads))


def unclassified_pss_rules() -> list[str]:
    """PSS rules of the pack no level lists (a renamed or new rule must be placed)."""
    return sorted(p.name for p in POLICIES if p.name.startswith("pss-")
                  and p.name not in BASELINE_RULES + RESTRICTED_RULES)

