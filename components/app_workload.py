"""The pod an app runs: hardened, probed, bounded, and spread in prod, and the workload specs
that carry it (the spec builders of components/app_kinds.py's table). Pure data, so tests (and
the policy pack) read exactly what the workload will carry."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from components.app_features import PROBES, REPLICAS, SERVICE, VOLUMES
from components.hardening import (
    RESTRICTED_CONTAINER_SECURITY_CONTEXT,
    restricted_pod_security_context,
    spread_constraints,
)
from components.names import DEFAULT_STORAGE_CLASS, HEADLESS_SUFFIX, RETAIN_STORAGE_CLASS

if TYPE_CHECKING:
    from components.app_kinds import WorkloadKind, WorkloadPlacement
    from components.config.tenancy import AppConfig

PORT_NAME = "http"
DATA_VOLUME = "data"
# Every emptyDir an app writes (/tmp and its writablePaths) is bounded: a runaway writer is
# evicted instead of filling the node's disk.
EMPTY_DIR = {"sizeLimit": "256Mi"}


def selector_labels(team: str, app: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": f"{team}-{app}"}


def app_labels(team: str, app: str) -> dict[str, str]:
    return {**selector_labels(team, app), "app.kubernetes.io/part-of": team, "app.kubernetes.io/managed-by": "pulumi"}


def secret_name(app: str) -> str:
    return f"{app}-env"


def probes(app: AppConfig) -> dict[str, Any]:
    probe = app.probe
    if probe.command:
        check: dict[str, Any] = {"exec": {"command": list(probe.command)}}
    elif probe.tcp:
        check = {"tcpSocket": {"port": PORT_NAME}}
    else:
        check = {"httpGet": {"path": probe.path, "port": PORT_NAME}}
    timeout = probe.timeout_seconds or 2
    failures = probe.failure_threshold or 3
    return {
        # Up to start_seconds (150 s unless set) to start before liveness may restart it.
        "startupProbe": {**check, "periodSeconds": 5, "failureThreshold": -(-probe.start_seconds // 5),
                         **({"timeoutSeconds": timeout} if probe.timeout_seconds else {})},
        "livenessProbe": {**check, "periodSeconds": probe.period_seconds or 10, "timeoutSeconds": timeout,
                          "failureThreshold": failures},
        "readinessProbe": {**check, "periodSeconds": probe.period_seconds or 5, "timeoutSeconds": timeout,
                           "failureThreshold": failures},
    }


def env(app: AppConfig) -> list[dict[str, Any]]:
    plain = [{"name": key, "value": value} for key, value in sorted(app.env.items())]
    # Secret values live only in the Secret; the pod refers to them by key.
    secret = [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name(app.name), "key": key}}}
              for key in sorted(app.secrets)]
    shared = [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name(ref.app), "key": ref.key}}}
              for key, ref in sorted(app.secret_refs.items())]
    return plain + secret + shared


def writable_volumes(app: AppConfig) -> list[tuple[str, str]]:
    """(volume name, mount path) of every emptyDir the app writes."""
    return [("tmp", "/tmp")] + [(f"writable-{i}", path) for i, path in enumerate(app.writable_paths)]


def container(app: AppConfig, kind: WorkloadKind) -> dict[str, Any]:
    mounts = [{"name": volume, "mountPath": path} for volume, path in writable_volumes(app)]
    if VOLUMES in kind.supports:
        assert app.stateful is not None
        mounts.append({"name": DATA_VOLUME, "mountPath": app.stateful.mount_path})
    serving = SERVICE in kind.supports
    return {
        "name": app.name,
        "image": app.image,
        **({"ports": [{"name": PORT_NAME, "containerPort": app.port, "protocol": "TCP"}]} if serving else {}),
        "env": env(app),
        "resources": app.resources.as_kubernetes(),
        # A copy: a caller that edits the spec must not edit every other app's.
        "securityContext": copy.deepcopy(RESTRICTED_CONTAINER_SECURITY_CONTEXT),
        "volumeMounts": mounts,
        **(probes(app) if PROBES in kind.supports else {}),
    }


def pod_template(app: AppConfig, kind: WorkloadKind, placement: WorkloadPlacement) -> dict[str, Any]:
    team = placement.team
    pod_security = restricted_pod_security_context(app.run_as_user, app.run_as_group)
    fs_group = app.fs_group if app.fs_group is not None else (
        app.run_as_group if VOLUMES in kind.supports else None)
    if fs_group is not None:
        # The volume must be writable by the image's non-root user.
        pod_security.update({"fsGroup": fs_group, "fsGroupChangePolicy": "OnRootMismatch"})
    return {
        "metadata": {"labels": app_labels(team, app.name)},
        "spec": {
            "serviceAccountName": service_account(app),
            **({} if app.service_account_token else {"automountServiceAccountToken": False}),
            "securityContext": pod_security,
            "containers": [container(app, kind)],
            "volumes": [{"name": volume, "emptyDir": dict(EMPTY_DIR)} for volume, _ in writable_volumes(app)],
            # Replicas spread; a kind without them runs one pod at a time, with nothing to spread from.
            **({"topologySpreadConstraints": spread_constraints(selector_labels(team, app.name),
                                                                placement.high_availability)}
               if REPLICAS in kind.supports else {}),
        },
    }


def rolling_value(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def service_account(app: AppConfig) -> str:
    return app.name


def headless_service_name(app: str) -> str:
    return f"{app}{HEADLESS_SUFFIX}"


def initial_replicas(app: AppConfig) -> int:
    """The workload's replicas: the HPA's minimum when it has one (the HPA owns the count after)."""
    return app.autoscaling.min_replicas if app.autoscaling else app.replicas


def deployment_spec(app: AppConfig, kind: WorkloadKind, placement: WorkloadPlacement) -> dict[str, Any]:
    return {
        "replicas": initial_replicas(app),
        "selector": {"matchLabels": selector_labels(placement.team, app.name)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {
            "maxSurge": rolling_value(app.max_surge), "maxUnavailable": rolling_value(app.max_unavailable)}},
        "template": pod_template(app, kind, placement),
    }


def stateful_set_spec(app: AppConfig, kind: WorkloadKind, placement: WorkloadPlacement) -> dict[str, Any]:
    assert app.stateful is not None
    retain = app.stateful.retain_volume if app.stateful.retain_volume is not None else placement.retain_volumes
    storage_class = RETAIN_STORAGE_CLASS if retain else DEFAULT_STORAGE_CLASS
    return {
        "replicas": initial_replicas(app),
        "serviceName": headless_service_name(app.name),
        "selector": {"matchLabels": selector_labels(placement.team, app.name)},
        "updateStrategy": {"type": "RollingUpdate"},
        "template": pod_template(app, kind, placement),
        "volumeClaimTemplates": [{
            "metadata": {"name": DATA_VOLUME},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                     "resources": {"requests": {"storage": f"{app.stateful.storage_gi}Gi"}}},
        }],
    }


def cron_job_spec(app: AppConfig, kind: WorkloadKind, placement: WorkloadPlacement) -> dict[str, Any]:
    """batch/v1 CronJob: the app's pod, once per scheduled run, to completion."""
    assert app.cron_job is not None
    cron = app.cron_job
    template = pod_template(app, kind, placement)
    # A Job's pod must not restart in place; a failed run is retried as a new pod (backoffLimit).
    template["spec"]["restartPolicy"] = "Never"
    return {
        "schedule": cron.schedule,
        "concurrencyPolicy": cron.concurrency_policy,
        "startingDeadlineSeconds": cron.starting_deadline_seconds,
        "successfulJobsHistoryLimit": cron.successful_jobs_history_limit,
        "failedJobsHistoryLimit": cron.failed_jobs_history_limit,
        "jobTemplate": {
            "metadata": {"labels": app_labels(placement.team, app.name)},
            "spec": {"backoffLimit": cron.backoff_limit, "activeDeadlineSeconds": cron.active_deadline_seconds,
                     "template": template},
        },
    }


def hpa_behavior(app: AppConfig) -> dict[str, Any]:
    assert app.autoscaling is not None
    return {
        "scaleUp": {"stabilizationWindowSeconds": app.autoscaling.scale_up_stabilization_seconds,
                    "selectPolicy": "Max",
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15},
                                 {"type": "Pods", "value": 4, "periodSeconds": 15}]},
        "scaleDown": {"stabilizationWindowSeconds": app.autoscaling.scale_down_stabilization_seconds,
                      "selectPolicy": "Max",
                      "policies": [{"type": "Percent", "value": 10, "periodSeconds": 60}]},
    }


def pdb_spec(app: AppConfig, team: str) -> dict[str, Any]:
    # Config already refuses a minAvailable that would block a drain (config/stack.py).
    budget = {"minAvailable": app.min_available} if app.min_available is not None else {"maxUnavailable": 1}
    return {**budget, "selector": {"matchLabels": selector_labels(team, app.name)}}
