"""The kinds of workload an app can run as, one row each: the Kubernetes kind, its spec, and
what it supports. The App's wiring and the config model's checks both read this table, so a
new kind is one row and its spec builder, never a new branch in each of them.

Pure data (no Pulumi resources, no Pulumi import): the config model validates against it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional

from pydantic.alias_generators import to_snake

from components.app_features import (AUTOSCALING, DISRUPTION_BUDGET, EXPOSURE, FEATURE_KEYS, HEADLESS_SERVICE,
                                     METRICS, PROBES, REPLICAS, ROLLOUT, SERVICE, VOLUMES)
from components.app_workload import cron_job_spec, deployment_spec, stateful_set_spec

if TYPE_CHECKING:
    from components.config.tenancy import AppConfig


class WorkloadPlacement(NamedTuple):
    """Where and how a workload runs, beyond its own config (from the platform context)."""

    team: str
    high_availability: bool
    retain_volumes: bool
    """Whether volumes outlive their claims when the app's config does not say."""


class NameLimit(NamedTuple):
    length: int
    reason: str


@dataclass(frozen=True)
class WorkloadKind:
    kind: str
    api_version: str
    role: str
    """Suffix of the workload's Pulumi resource name (`<app>-deployment`)."""
    config_key: Optional[str]
    """The app's config block that selects this kind (`stateful:`); None for the default kind."""
    spec: Callable[["AppConfig", "WorkloadKind", WorkloadPlacement], dict[str, Any]]
    supports: frozenset[str]
    autoscales_by_default: bool = False
    """An app that does not mention autoscaling gets an HPA."""
    always_headless: bool = False
    """It needs `<app>-headless` whatever headlessService says (a StatefulSet's serviceName)."""
    name_limit: Optional[NameLimit] = None
    """A limit on the app's name below the 63 characters of any label value or Service."""

    def resource_class(self) -> type:
        """The pulumi_kubernetes class for apiVersion/kind (imported here, so the config model,
        which reads this table, does not load the Kubernetes SDK)."""
        group, _, version = self.api_version.rpartition("/")
        module = importlib.import_module(f"pulumi_kubernetes.{group.split('.')[0] or 'core'}.{version}")
        return getattr(module, self.kind)

    def build_spec(self, app: "AppConfig", placement: WorkloadPlacement) -> dict[str, Any]:
        return self.spec(app, self, placement)

    def selected_by(self) -> str:
        return f"a `{self.config_key}:` block" if self.config_key else "no " + " or ".join(
            f"`{row.config_key}:`" for row in WORKLOAD_KINDS if row.config_key) + " block"


# Pods that serve: the port is theirs, probes say when they can take traffic.
_SERVING = frozenset({SERVICE, REPLICAS, DISRUPTION_BUDGET, PROBES, EXPOSURE, METRICS})

WORKLOAD_KINDS: tuple[WorkloadKind, ...] = (
    WorkloadKind("Deployment", "apps/v1", "deployment", None, deployment_spec,
                 _SERVING | {HEADLESS_SERVICE, AUTOSCALING, ROLLOUT}, autoscales_by_default=True),
    # A StatefulSet's pods carry `controller-revision-hash: <name>-<hash of up to 10 characters>`,
    # a label value, so a longer name makes pods Kubernetes refuses (kubernetes/kubernetes#64023).
    WorkloadKind("StatefulSet", "apps/v1", "statefulset", "stateful", stateful_set_spec,
                 _SERVING | {HEADLESS_SERVICE, AUTOSCALING, VOLUMES}, always_headless=True,
                 name_limit=NameLimit(52, "its pods' controller-revision-hash label adds 11")),
    # Runs to completion on a schedule and serves nothing. Its Jobs are named
    # `<name>-<scheduled minute>`, which the API server keeps within 63 characters.
    WorkloadKind("CronJob", "batch/v1", "cronjob", "cronJob", cron_job_spec, frozenset(),
                 name_limit=NameLimit(52, "its Jobs' names add 11: a dash and the scheduled time")),
)


def kind_of(app: "AppConfig") -> WorkloadKind:
    """The row whose config block the app sets (the default kind when it sets none)."""
    return kind_for_keys({key for key in _BLOCK_FIELDS if getattr(app, _BLOCK_FIELDS[key]) is not None})


def kind_for_keys(blocks: set[str]) -> WorkloadKind:
    """The row selected by these config blocks (camelCase keys given a value); at most one is set,
    which the config model checks before asking."""
    for row in WORKLOAD_KINDS:
        if row.config_key in blocks:
            return row
    return next(row for row in WORKLOAD_KINDS if row.config_key is None)


_BLOCK_FIELDS = {row.config_key: to_snake(row.config_key) for row in WORKLOAD_KINDS if row.config_key}


def features_in_use(app: "AppConfig") -> frozenset[str]:
    """What the App creates around the workload for this config: the table's support, narrowed
    by the optional parts the config asks for (the config model refuses the rest)."""
    kind = kind_of(app)
    asked = {HEADLESS_SERVICE: kind.always_headless or app.headless_service,
             AUTOSCALING: app.autoscaling is not None, EXPOSURE: app.host is not None,
             METRICS: app.metrics is not None}
    return frozenset(feature for feature in kind.supports if asked.get(feature, True))


def unsupported_key_message(kind: WorkloadKind, key: str) -> Optional[str]:
    """Why `key` (camelCase) means nothing for this kind, and the fix; None when it does."""
    for feature, keys in FEATURE_KEYS.items():
        if key in keys and feature not in kind.supports:
            others = [row for row in WORKLOAD_KINDS if feature in row.supports]
            where = " or ".join(f"a {row.kind} ({row.selected_by()})" for row in others)
            return (f"a {kind.kind} app has no {feature}, so {key} would be ignored; remove {key}"
                    + (f", or run the app as {where}" if where else ""))
    return None
