"""Names the platform derives from the stack config must still be valid Kubernetes and AWS
names once joined, and unique once they become objects (checked before anything is created)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from components.app_features import HEADLESS_SERVICE
from components.app_kinds import features_in_use, kind_of
from components.names import HEADLESS_SUFFIX

from .issues import ConfigIssue

if TYPE_CHECKING:
    from .stack import StackConfig

# Label values and Service names are at most 63 characters.
MAX_NAME = 63

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
    return HEADLESS_SERVICE in features_in_use(app)


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
    kind = kind_of(app)
    if kind.name_limit and len(name) > kind.name_limit.length:
        issues.append(ConfigIssue(f"{path}.name", (
            f"a {kind.kind} name may have at most {kind.name_limit.length} characters "
            f"({kind.name_limit.reason}); given {len(name)}")))
    return issues
