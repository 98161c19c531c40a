"""Stack config for teams (isolated namespaces) and the apps they run."""

from __future__ import annotations

import re
from graphlib import TopologicalSorter
from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator

from components.app_kinds import WORKLOAD_KINDS, kind_for_keys, unsupported_key_message
from components.hardening import NON_ROOT_GROUP, NON_ROOT_USER
from policies.rules.image_reference import image_pin_problem

from .base import (GP3_MAX_GIB, DnsLabel, Hostname, IamPrincipalArn, Quantity, Secret, ServiceName, StrictModel,
                   WorkloadIdentity, quantity_value)
from .cron import CronSchedule
from .services import ResourcesConfig


# An IAM policy (AWS managed: account "aws"), never a role, user or bare name.
_IAM_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/([\w+=,.@-]+/)*[\w+=,.@-]+$")


class QuotaConfig(StrictModel):
    """ResourceQuota of a team namespace (defaults from the seeds). Each must hold the team's apps
    at their minimum replicas; rollouts need headroom on top (maxSurge)."""

    requests_cpu: Quantity = "20"
    """Sum of CPU requests of all pods in the namespace."""
    requests_memory: Quantity = "40Gi"
    """Sum of memory requests."""
    limits_cpu: Quantity = "40"
    """Sum of CPU limits."""
    limits_memory: Quantity = "80Gi"
    """Sum of memory limits."""
    requests_storage: Quantity = "200Gi"
    """Sum of storage requested by PersistentVolumeClaims."""
    persistent_volume_claims: int = Field(20, ge=0)
    """Number of PersistentVolumeClaims."""


# What cert-manager's HTTP-01 solver pod asks for (requests = limits). It runs in the team
# namespace of the Ingress it proves, so every team's LimitRange must admit it
# (components/cert_manager.py sets it; config/stack.py checks the teams).
ACME_SOLVER_RESOURCES = {"cpu": "100m", "memory": "128Mi"}


class LimitRangeConfig(StrictModel):
    """Container LimitRange of a team namespace (defaults from the seeds)."""

    default_cpu: Quantity = "500m"
    """CPU limit of a container that sets none."""
    default_memory: Quantity = "1Gi"
    """Memory limit of a container that sets none."""
    default_request_cpu: Quantity = "250m"
    """CPU request of a container that sets none."""
    default_request_memory: Quantity = "512Mi"
    """Memory request of a container that sets none."""
    max_cpu: Quantity = "2"
    """Largest CPU limit a container may have."""
    max_memory: Quantity = "4Gi"
    """Largest memory limit a container may have."""
    min_cpu: Quantity = "100m"
    """Smallest CPU request a container may have."""
    min_memory: Quantity = "128Mi"
    """Smallest memory request a container may have."""

    @model_validator(mode="after")
    def _ordered(self) -> "LimitRangeConfig":
        # The API server refuses a LimitRange unless min <= defaultRequest <= default <= max.
        problems = []
        for kind in ("cpu", "memory"):
            chain = [(f"min{kind.title()}", getattr(self, f"min_{kind}")),
                     (f"defaultRequest{kind.title()}", getattr(self, f"default_request_{kind}")),
                     (f"default{kind.title()}", getattr(self, f"default_{kind}")),
                     (f"max{kind.title()}", getattr(self, f"max_{kind}"))]
            for i, (low_key, low) in enumerate(chain):
                for high_key, high in chain[i + 1:]:
                    if quantity_value(low) > quantity_value(high):
                        problems.append(f"{low_key} {low} is above {high_key} {high}")
        if problems:
            raise ValueError("Kubernetes refuses a LimitRange unless min <= defaultRequest <= default <= max: "
                             + "; ".join(problems))
        return self


class TeamAccessConfig(StrictModel):
    """IAM principals of a team, by the namespace role they get."""

    admin: list[IamPrincipalArn] = Field(default_factory=list)
    """IAM principals with the team's admin Role in its namespace."""
    developer: list[IamPrincipalArn] = Field(default_factory=list)
    """IAM principals with the team's developer Role (workloads, no RBAC)."""
    viewer: list[IamPrincipalArn] = Field(default_factory=list)
    """IAM principals with read-only access to the namespace (no Secrets)."""


class AppResourcesConfig(ResourcesConfig):
    """Container requests and limits of an app (within the team's LimitRange)."""

    cpu_request: Quantity = "250m"
    """CPU each pod is guaranteed; times the minimum replicas, it counts against the team quota."""
    memory_request: Quantity = "256Mi"
    """Memory each pod is guaranteed; counts against the team quota like cpuRequest."""
    cpu_limit: Quantity = "500m"
    """CPU each pod is throttled at (at most the team's limits.maxCpu)."""
    memory_limit: Quantity = "512Mi"
    """Memory each pod is OOM-killed above (at most the team's limits.maxMemory)."""


class AutoscalingConfig(StrictModel):
    """HorizontalPodAutoscaler (autoscaling/v2)."""

    min_replicas: int = Field(2, ge=1)
    """Fewest pods the HPA keeps (also the quota check's count)."""
    max_replicas: int = Field(10, ge=1)
    """Most pods the HPA may run."""
    cpu_utilization: int = Field(70, ge=1, le=100)
    """Target average CPU use, in percent of requests."""
    memory_utilization: int = Field(80, ge=1, le=100)
    """Target average memory use, in percent of requests."""
    scale_up_stabilization_seconds: int = Field(0, ge=0, le=3600)
    """Scale up at once (at most doubling, or +4 pods, every 15 s)."""
    scale_down_stabilization_seconds: int = Field(300, ge=0, le=3600)
    """Scale down only after 5 minutes of low load, by at most 10% a minute."""


class ProbeConfig(StrictModel):
    """The app container's startup, liveness and readiness probes: one check, three timings."""

    path: str = "/healthz"
    """HTTP path; set tcp: true for a TCP probe instead (databases)."""
    tcp: bool = False
    """Probe by opening the port instead of an HTTP GET."""
    command: Optional[list[str]] = Field(None, min_length=1)
    """Run this command in the container instead (exit 0 = healthy), e.g. [pg_isready, -q]."""
    period_seconds: Optional[int] = Field(None, ge=1, le=3600)
    """How often liveness and readiness check; unset: 10 s and 5 s."""
    timeout_seconds: Optional[int] = Field(None, ge=1, le=3600)
    """How long one check may take; unset: 2 s."""
    failure_threshold: Optional[int] = Field(None, ge=1, le=100)
    """Failures in a row before a restart (liveness) or leaving the Service (readiness); unset: 3."""
    start_seconds: int = Field(150, ge=5, le=3600)
    """Time to start before liveness may restart the container (startupProbe, every 5 s)."""

    @model_validator(mode="after")
    def _one_check(self) -> "ProbeConfig":
        if self.command is not None and self.tcp:
            raise ValueError("set either command (an exec probe) or tcp: true, not both")
        return self


class MetricsConfig(StrictModel):
    """A ServiceMonitor scrapes this path on the app port."""

    path: str = "/metrics"
    """HTTP path Prometheus scrapes on the app port."""
    error_ratio: float = Field(0.05, gt=0, lt=1)
    """Share of 5xx answers that raises the app's critical alert."""
    latency_seconds: float = Field(0.5, gt=0)
    """p95 latency, in seconds, that raises the app's warning."""


class StatefulConfig(StrictModel):
    """Run the app as a StatefulSet with one volume per replica (and, unless asked, no HPA)."""

    storage_gi: int = Field(10, ge=1, le=GP3_MAX_GIB)
    """Size of each replica's gp3 volume."""
    mount_path: str = "/data"
    """Where the volume is mounted in the container."""
    retain_volume: Optional[bool] = None
    """Keep the EBS volume when its claim is deleted (the gp3-retain class). Default: true in
    prod, false in dev; a retained volume is deleted by hand (docs/runbook.md)."""


class CronJobConfig(StrictModel):
    """Run the app as a CronJob: one pod per scheduled run, to completion. It serves nothing, so
    it has no Service, HPA, PDB, probes, host or metrics, and no app can depend on it."""

    schedule: CronSchedule
    """When a run starts, in UTC: minute hour day-of-month month day-of-week, e.g. '30 2 * * *'."""
    concurrency_policy: Literal["Forbid", "Replace", "Allow"] = "Forbid"
    """A run due while the last one still runs: Forbid skips it, Replace stops the old run,
    Allow runs both (with Replace or Allow the team quota needs room for two runs)."""
    starting_deadline_seconds: int = Field(300, ge=10, le=86400)
    """A run that cannot start within this many seconds of its time is skipped (counted as
    missed), so a controller outage does not start a burst of late runs."""
    successful_jobs_history_limit: int = Field(3, ge=0, le=100)
    """Finished successful runs (Jobs and their pods) kept for inspection."""
    failed_jobs_history_limit: int = Field(1, ge=0, le=100)
    """Failed runs kept for inspection (`kubectl logs job/<name>`)."""
    active_deadline_seconds: int = Field(3600, ge=1)
    """A run still going after this many seconds is stopped and counts as failed; with Forbid,
    a run that hangs would otherwise block every later one."""
    backoff_limit: int = Field(2, ge=0, le=100)
    """Retries of a failed run (each a new pod) before the run counts as failed."""


class SecretRefConfig(StrictModel):
    """A key of another app's Secret (same team), e.g. the database's password for its client."""

    app: DnsLabel
    """The app (same team) whose Secret holds the value."""
    key: str
    """The key in that app's `secrets`."""


class _Refused:
    """Stands in for a value the app's kind cannot use, so the error is reported at its key."""

    def __init__(self, message: str):
        self.message = message


class AppConfig(StrictModel):
    """One app of a team: a Deployment (or a StatefulSet, or a CronJob) with everything around it."""

    name: ServiceName
    """Names the app's workload (Deployment, StatefulSet or CronJob), Service, ServiceAccount and PDB."""
    image: str
    """Container image pinned by tag or digest, e.g. ghcr.io/example/web:1.4.2 (never :latest)."""
    port: int = Field(8080, ge=1, le=65535)
    """Container port the Service, probes and metrics use (not for a CronJob, which serves none)."""
    replicas: int = Field(2, ge=1, le=100)
    """A fixed pod count, for an app without autoscaling (with an HPA, use autoscaling.minReplicas)."""
    resources: AppResourcesConfig = Field(default_factory=AppResourcesConfig)
    autoscaling: Optional[AutoscalingConfig] = None
    """An HPA. Left out: on (these defaults) for a Deployment, off for a stateful app, whose
    pods are not interchangeable. `autoscaling: null` turns it off; `{}` turns it on."""
    max_surge: str = "25%"
    """Extra pods a Deployment's rollout may add: a count (1) or a percentage ('25%'), at most 100%."""
    max_unavailable: str = "0"
    """Pods a Deployment's rollout may take down: a count or a percentage, at most 100%; not both 0 with maxSurge."""
    env: dict[str, str] = Field(default_factory=dict)
    """Plain environment variables (names: letters, digits, '_'; not KUBERNETES_SERVICE_* or KUBERNETES_PORT*)."""
    secrets: dict[str, Secret] = Field(default_factory=dict)
    """Secret env vars from `pulumi config set --secret`; stored in the app's Secret `<app>-env`."""
    secret_refs: dict[str, SecretRefConfig] = Field(default_factory=dict)
    """Env vars read from another app's Secret, so a value two apps share is set once (the
    database's password for the backend): `DATABASE_PASSWORD: {app: database, key: POSTGRES_PASSWORD}`."""
    host: Optional[Hostname] = None
    """Host name of the app's TLS Ingress; none: reachable only inside the cluster."""
    route: Literal["ingress", "httproute"] = "ingress"
    """How the host reaches the app: a TLS Ingress, or an HTTPRoute on the platform's shared
    Gateway (needs ingress.gateway.enabled)."""
    depends_on: list[ServiceName] = Field(default_factory=list)
    """Apps (same team) this app calls; opens egress to them and ingress on their side."""
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    metrics: Optional[MetricsConfig] = None
    stateful: Optional[StatefulConfig] = None
    cron_job: Optional[CronJobConfig] = None
    min_available: Optional[int] = Field(None, ge=0)
    """PodDisruptionBudget minAvailable; by default the PDB allows one pod down at a time."""
    headless_service: bool = False
    """Also create `<app>-headless` for per-pod DNS names (stateful apps always get one)."""
    service_account_token: bool = False
    """Mount the ServiceAccount token (only for apps that call the Kubernetes API)."""
    irsa_policy_arns: list[str] = Field(default_factory=list)
    """IAM policy ARNs for an IRSA role bound to the app's ServiceAccount (always IRSA, whatever
    workloadIdentity says; for new apps use awsPolicyArns)."""
    aws_policy_arns: list[str] = Field(default_factory=list)
    """IAM policy ARNs for the app's own IAM role, bound to its ServiceAccount through `identity`."""
    identity: Optional[WorkloadIdentity] = None
    """How the pods get the awsPolicyArns role: pod-identity or irsa. Default: the stack's
    workloadIdentity."""
    run_as_user: int = Field(NON_ROOT_USER, ge=1)
    """The numeric user the container runs as: the image's own user where its files need one
    (999 for the official Debian postgres image). Root (0) is refused by the restricted level."""
    run_as_group: int = Field(NON_ROOT_GROUP, ge=0)
    """The numeric primary group of that user."""
    fs_group: Optional[int] = Field(None, ge=1)
    """Group that owns the app's volumes, so its user can write them. Default: runAsGroup for
    a stateful app, unset otherwise."""
    writable_paths: list[str] = Field(default_factory=list)
    """Directories the app writes besides /tmp and its volume, each an emptyDir under the
    read-only root filesystem (e.g. /var/run/postgresql for postgres' socket and lock)."""

    @model_validator(mode="before")
    @classmethod
    def _fit_the_kind(cls, data: object) -> object:
        """Refuse, key by key, what the app's workload kind cannot use (components/app_kinds.py),
        and give autoscaling the kind's default."""
        if not isinstance(data, dict):
            return data
        blocks = [row.config_key for row in WORKLOAD_KINDS if row.config_key and data.get(row.config_key) is not None]
        kind = kind_for_keys(set(blocks[:1]))
        refused = {key: _Refused(f"sets a second kind; an app runs as one ({' or '.join(blocks)}): keep one")
                   for key in blocks[1:]}
        for key, value in data.items():
            message = unsupported_key_message(kind, key) if value is not None else None
            if message:
                refused[key] = _Refused(message)
        if "autoscaling" not in data and kind.autoscales_by_default:
            data = {**data, "autoscaling": {}}
        return {**data, **refused}

    @field_validator("writable_paths")
    @classmethod
    def _writable_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not re.match(r"^(/[\w.-]+)+$", path):
                raise ValueError(f"{path!r} must be an absolute directory such as '/var/run/app'")
            if path == "/tmp":
                raise ValueError("/tmp is always writable; leave it out")
        if len(set(paths)) != len(paths):
            raise ValueError("lists a directory twice")
        return paths

    @field_validator("image")
    @classmethod
    def _pinned_image(cls, value: str) -> str:
        # The reference pattern is the pack's; a newline or non-ASCII must not slip past its `$`.
        problem = image_pin_problem(value) if value.isascii() and value.strip() == value else "invalid"
        if problem and not problem.startswith(("has no tag", "uses ':latest'")):
            problem = ("must be an image reference, lowercase [registry[:port]/]repository:tag or "
                       "repository@sha256:<64 hex>, such as 'ghcr.io/example/shop-frontend:1.4.2'")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("irsa_policy_arns", "aws_policy_arns")
    @classmethod
    def _policy_arns(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _IAM_POLICY_ARN.match(value):
                raise ValueError(
                    f"{value!r} is not an IAM policy ARN; use one such as "
                    "'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess' (AWS managed) or "
                    "'arn:aws:iam::123456789012:policy/shop-uploads' (your own)"
                )
        return values

    @field_validator("max_surge", "max_unavailable", mode="before")
    @classmethod
    def _int_or_percent(cls, value: object) -> str:
        text = str(value)
        if not re.fullmatch(r"\d+%?", text, re.ASCII):
            raise ValueError("must be a count (1) or a percentage ('25%')")
        return text

    @model_validator(mode="after")
    def _one_aws_role(self) -> "AppConfig":
        if self.irsa_policy_arns and self.aws_policy_arns:
            raise ValueError("irsaPolicyArns and awsPolicyArns are both set, and an app has one IAM role: move the "
                             "ARNs to awsPolicyArns (add identity: irsa to stay on IRSA) and remove irsaPolicyArns")
        if self.identity is not None and not self.aws_policy_arns:
            raise ValueError(f"identity: {self.identity} is set but awsPolicyArns is empty; identity says how the "
                             "awsPolicyArns role reaches the pods: add awsPolicyArns or remove identity")
        return self

    def aws_identity(self, stack_default: WorkloadIdentity) -> Optional[WorkloadIdentity]:
        """How this app's pods get its IAM role (pod-identity or irsa), or None without one.
        irsaPolicyArns always mean IRSA, so a stack that had them keeps its mechanism."""
        if self.irsa_policy_arns:
            return "irsa"
        if self.aws_policy_arns:
            return self.identity or stack_default
        return None

    @model_validator(mode="after")
    def _rollout_can_progress(self) -> "AppConfig":
        # The API server refuses both at 0 (no rollout could start) and maxUnavailable above 100%.
        surge, unavailable = self.max_surge, self.max_unavailable
        if surge.rstrip("%") == "0" and unavailable.rstrip("%") == "0":
            raise ValueError("maxSurge and maxUnavailable are both 0, so a rollout could never replace a pod; "
                             "set maxSurge (e.g. '25%') or maxUnavailable (e.g. 1)")
        for key, value in (("maxSurge", surge), ("maxUnavailable", unavailable)):
            if value.endswith("%") and int(value[:-1]) > 100:
                raise ValueError(f"{key} {value} is above 100%; use a percentage up to 100% or a count")
        return self

    @model_validator(mode="after")
    def _hpa_bounds(self) -> "AppConfig":
        if self.autoscaling and "replicas" in self.model_fields_set:
            raise ValueError(
                f"replicas ({self.replicas}) and autoscaling are both set, and the HPA would ignore replicas: "
                "set autoscaling.minReplicas/maxReplicas and remove replicas, or set autoscaling: null "
                "for a fixed count"
            )
        if self.stateful and self.stateful.mount_path in self.writable_paths:
            raise ValueError(f"writablePaths lists {self.stateful.mount_path}, the stateful volume's mountPath")
        if self.autoscaling and self.autoscaling.min_replicas > self.autoscaling.max_replicas:
            raise ValueError(
                f"autoscaling.minReplicas ({self.autoscaling.min_replicas}) is greater than "
                f"autoscaling.maxReplicas ({self.autoscaling.max_replicas})"
            )
        return self

    # Last in the class: pydantic runs `before` validators last-defined first, so this one sees
    # a refused value before any field's own check does.
    @field_validator("*", mode="before")
    @classmethod
    def _refused(cls, value: object) -> object:
        if isinstance(value, _Refused):
            raise ValueError(value.message)
        return value


class TeamConfig(StrictModel):
    """A team: one namespace, its access, quotas, network rules and apps."""

    name: DnsLabel
    """Team name; also its namespace."""
    access: TeamAccessConfig = Field(default_factory=TeamAccessConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    limits: LimitRangeConfig = Field(default_factory=LimitRangeConfig)
    allow_from_namespaces: list[DnsLabel] = Field(default_factory=list)
    """Other namespaces allowed to reach this team's pods."""
    pod_security: Literal["restricted"] = "restricted"
    """Pod Security Standard enforced on the namespace (only restricted)."""
    apps: list[AppConfig] = Field(default_factory=list)


def secret_ref_order(apps: list[AppConfig]) -> list[str]:
    """App names, each after the apps whose Secrets it reads (graphlib.CycleError on a circle)."""
    graph = {app.name: {ref.app for ref in app.secret_refs.values()} for app in apps}
    names = {app.name for app in apps}
    return [name for name in TopologicalSorter(graph).static_order() if name in names]
