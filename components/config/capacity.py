"""A team's ResourceQuota must hold its apps: the sums of requests, limits, storage and claims
at each app's minimum replica count (HPA minReplicas, else replicas; one pod for a kind that
runs one pod at a time, such as a CronJob's run).

That is the steady state only. A rollout adds up to maxSurge pods on top and the HPA scales
beyond the minimum; headroom for those is a readiness concern, not a config error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from components.app_features import REPLICAS
from components.app_kinds import kind_of

from .base import quantity_value
from .issues import ConfigIssue

if TYPE_CHECKING:
    from .tenancy import AppConfig, TeamConfig

GI = 2**30


def min_replicas(app: "AppConfig") -> int:
    if REPLICAS not in kind_of(app).supports:
        return 1
    return app.autoscaling.min_replicas if app.autoscaling else app.replicas


def quota_issues(team: "TeamConfig", team_path: str) -> list[ConfigIssue]:
    needed = {"requestsCpu": 0.0, "requestsMemory": 0.0, "limitsCpu": 0.0, "limitsMemory": 0.0,
              "requestsStorage": 0.0, "persistentVolumeClaims": 0.0}
    parts: dict[str, list[str]] = {key: [] for key in needed}
    for app in team.apps:
        count = min_replicas(app)
        resources = app.resources
        for key, per_pod in (("requestsCpu", resources.cpu_request), ("requestsMemory", resources.memory_request),
                             ("limitsCpu", resources.cpu_limit), ("limitsMemory", resources.memory_limit)):
            needed[key] += count * quantity_value(per_pod)
            parts[key].append(f"{app.name} {count} x {per_pod}")
        if app.stateful:
            needed["requestsStorage"] += count * app.stateful.storage_gi * GI
            parts["requestsStorage"].append(f"{app.name} {count} x {app.stateful.storage_gi}Gi")
            needed["persistentVolumeClaims"] += count
            parts["persistentVolumeClaims"].append(f"{app.name} {count}")

    quota = team.quota
    have = {"requestsCpu": quota.requests_cpu, "requestsMemory": quota.requests_memory,
            "limitsCpu": quota.limits_cpu, "limitsMemory": quota.limits_memory,
            "requestsStorage": quota.requests_storage, "persistentVolumeClaims": str(quota.persistent_volume_claims)}
    issues = []
    for key, total in needed.items():
        if total > quantity_value(have[key]) + 1e-9:
            issues.append(ConfigIssue(f"{team_path}.quota.{key}", (
                f"{have[key]} is less than the team's apps need at their minimum replicas "
                f"({_amount(key, total)}: {', '.join(parts[key])}); raise the quota or shrink the apps. "
                "Rollouts (maxSurge) and autoscaling need more on top")))
    return issues


def _amount(key: str, value: float) -> str:
    if key.endswith("Memory") or key == "requestsStorage":
        return f"{value / GI:g}Gi"
    if key.endswith("Cpu"):
        return f"{value:g} CPU"
    return f"{value:g}"
