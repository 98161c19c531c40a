"""Names the platform derives from the stack config must still be valid Kubernetes and AWS
names once joined, and unique once they become objects (checked before anything is created)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .issues import ConfigIssue

if TYPE_CHECKING:
    from .stack import StackConfig

# Label values and Service names are at most 63 characters.
MAX_NAME = 63
# A StatefulSet's pods carry `controller-revision-hash: <name>-<hash of up to 10 characters>`,
# a label value, so a longer name makes pods Kubernetes refuses (kubernetes/kubernetes#64023).
MAX_STATEFULSET_NAME = 52
HEADLESS_SUFFIX = "-headless"

RESERVED_APP_NAMES = {
    "kubernetes": "would shadow the API server's Service for pods that call https://kubernetes",
    "default": "would take over the namespace's default ServiceAccount",
}

# The kubelet injects these for the API server's Service; an app that sets them breaks its own
# in-cluster clients.
_RESERVED_ENV = re.compile(r"KUBERNETES_(SERVICE_|PORT).*|KUBERNETES_PORT")


def name_issues(config: "StackConfig") -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    joined: dict[str, str] = {}
    for t, team in enumerate(config.teams):
        headless = {app.name + HEADLESS_SUFFIX: app.name for app in team.apps if _has_headless(app)}
        for a, app in enumerate(team.apps):
            path = f"teams[{t}].apps[{a}]"
            issues += _app_name_issues(team.name, app, path, headless)
            # Resources are named team-<team>-<app> (components/team.py) and pods are labelled
            # app.kubernetes.io/instance=<team>-<app>: joining with '-' must stay unique.
            key = f"{team.name}-{app.name}"
            if key in joined:
                issues.append(ConfigIssue(f"{path}.name", (
                    f"team {team.name!r} app {app.name!r} joins to {key!r}, as {joined[key]} does; resource "
                    f"names (team-{key}) and the app.kubernetes.io/instance label would collide: rename one")))
            else:
                joined[key] = f"{path} (team {team.name!r} app {app.name!r})"
            for section, keys in (("env", app.env), ("secrets", app.secrets)):
                for env_name in keys:
                    if _RESERVED_ENV.fullmatch(env_name):
                        issues.append(ConfigIssue(f"{path}.{section}.{env_name}", (
                            "is set by Kubernetes for the API server's Service (KUBERNETES_SERVICE_*, "
                            "KUBERNETES_PORT*); choose another name")))
    return issues


def _has_headless(app) -> bool:
    return bool(app.stateful or app.headless_service)


def _app_name_issues(team: str, app, path: str, headless: dict[str, str]) -> list[ConfigIssue]:
    issues = []
    name = app.name
    if name in RESERVED_APP_NAMES:
        issues.append(ConfigIssue(f"{path}.name", f"{name!r} {RESERVED_APP_NAMES[name]}; choose another name"))
    if name in headless:
        issues.append(ConfigIssue(f"{path}.name", (
            f"{name!r} is the name of app {headless[name]!r}'s headless Service; choose another name")))
    instance = f"{team}-{name}"
    if len(instance) > MAX_NAME:
        issues.append(ConfigIssue(f"{path}.name", (
            f"the label app.kubernetes.io/instance={instance!r} is {len(instance)} characters (at most "
            f"{MAX_NAME}); team and app names together may have at most {MAX_NAME - 1}")))
    if _has_headless(app) and len(name + HEADLESS_SUFFIX) > MAX_NAME:
        issues.append(ConfigIssue(f"{path}.name", (
            f"the headless Service {name + HEADLESS_SUFFIX!r} would be longer than {MAX_NAME} characters; "
            f"use at most {MAX_NAME - len(HEADLESS_SUFFIX)}")))
    if app.stateful and len(name) > MAX_STATEFULSET_NAME:
        issues.append(ConfigIssue(f"{path}.name", (
            f"a StatefulSet name may have at most {MAX_STATEFULSET_NAME} characters (its pods' "
            f"controller-revision-hash label adds 11); given {len(name)}")))
    return issues
