"""Helpers that several test modules share. Tests import from here (or conftest), never from
another test module: a test file is free to change without breaking its neighbours."""

from __future__ import annotations

import copy
import functools
import re
import subprocess
from typing import Any

from components.config import StackConfig, parse_stack_config
from components.config.issues import key_path
from components.config.plaintext import example_secret_paths
from conftest import ROOT, PlanView
from preflight.stackfile import read_stack_file
from network_policy_model import pod


def assert_bad_input(result: subprocess.CompletedProcess, *named) -> None:
    """The exit-code contract for bad input: 2, one message naming each of `named`, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for text in named:
        assert str(text) in result.stderr, result.stderr


@functools.lru_cache(maxsize=None)
def shipped_config(stack: str) -> StackConfig:
    """The shipped Pulumi.<stack>.yaml as the model parses it: tests take the region, teams and
    apps from here instead of copying them, so they hold after a user changes the stack file."""
    stack_file = read_stack_file(ROOT / f"Pulumi.{stack}.yaml")
    return parse_stack_config(stack_file.project_values, source=str(stack_file.path), stack=stack,
                              is_secret=stack_file.is_secret)


def shipped_secure_values(stack: str) -> list[str]:
    """Key paths ('teams[0].apps[2].secrets.POSTGRES_PASSWORD') of the stack file's example
    `secure:` values, the placeholders no secrets provider decrypts (the shipped files have no
    other kind). A real ciphertext a user adds with `pulumi config set --secret` is not one: the
    banner and the runbook have nothing to say about it."""
    return sorted(key_path(path) for path in example_secret_paths(shipped_config(stack)))


def absent_team(stack: str) -> str:
    """A valid team name that the shipped stack does not have."""
    teams = {team.name for team in shipped_config(stack).teams}
    return next(name for name in (f"team{n}" for n in range(len(teams) + 1)) if name not in teams)


def release(plan: PlanView, chart: str) -> dict[str, Any]:
    """The plan's one Helm release of `chart`."""
    matches = [r for r in plan.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == chart]
    assert len(matches) == 1, f"expected one {chart} release"
    return matches[0]


def is_secret(resource: dict, path: str) -> bool:
    """A value is secret if it, or an object or list holding it, is marked secret."""
    return any(path == p or path.startswith((p + ".", p + "[")) for p in resource["secretPaths"])


# Groups under k8s.io that no cluster serves built in: they come as CRDs.
CRD_GROUPS_UNDER_K8S_IO = frozenset({"gateway.networking.k8s.io", "snapshot.storage.k8s.io"})


def builtin_kind(manifest: dict) -> bool:
    """A kind of the Kubernetes API itself (core, apps, *.k8s.io), not a custom resource."""
    group = manifest["apiVersion"].split("/")[0] if "/" in manifest["apiVersion"] else ""
    return group not in CRD_GROUPS_UNDER_K8S_IO and (group == "" or "." not in group or group.endswith(".k8s.io"))


def with_app(raw: dict, **app) -> dict:
    """Stack values whose only team, shop, runs one app: web, with `app`'s fields on top."""
    raw = copy.deepcopy(raw)
    base = {"name": "web", "image": "registry.example.com:5000/shop/web:1.2.3"}
    raw["teams"] = [{"name": "shop", "apps": [{**base, **app}]}]
    return raw


def k8s(plan: PlanView, kind_type: str, namespace: str | None = None) -> dict[str, dict]:
    """metadata.name -> inputs, for objects of one type (in one namespace)."""
    found = {}
    for r in plan.of_type(kind_type):
        metadata = r["inputs"]["metadata"]
        if namespace is None or metadata.get("namespace") == namespace:
            found[metadata.get("name") or r["name"]] = {**r["inputs"], "_resource": r}
    return found


def app_pod(team: str, app: str):
    """A pod of the team's app, labelled as the App component labels it."""
    return pod(team, {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": f"{team}-{app}"})


# Keys whose value is a free-form map handed to Kubernetes or to the program's flags: the
# chart's values.yaml shows only an example (or nothing) below them.
FREE_FORM = {"resources", "annotations", "labels", "podLabels", "podAnnotations", "additionalLabels",
             "extraArgs", "securityContext", "containerSecurityContext", "podSecurityContext",
             "nodeSelector", "affinity", "tolerations", "topologySpreadConstraints"}


def commented_keys(values_text: str) -> set[str]:
    """Optional keys a chart documents as a commented default (`# maxUnavailable: 1`)."""
    return set(re.findall(r"^\s*#\s*([A-Za-z][A-Za-z0-9]*):", values_text, flags=re.MULTILINE))


def unknown_keys(ours: dict[str, Any], chart: dict[str, Any], path: str = "", *,
                 commented: frozenset[str] = frozenset(), free_paths: frozenset[str] = frozenset()) -> list[str]:
    """Paths of our Helm values that the chart's values.yaml does not know (Helm ignores them)."""
    unknown = []
    for key, value in ours.items():
        where = f"{path}.{key}" if path else key
        if key not in chart:
            # A commented default documents a leaf setting, never a whole subtree.
            if not (key in commented and not isinstance(value, dict)) and where not in free_paths:
                unknown.append(where)
            continue
        known = chart[key]
        if key in FREE_FORM or where in free_paths or not isinstance(value, dict):
            continue
        if isinstance(known, dict) and known:
            unknown += unknown_keys(value, known, where, commented=commented, free_paths=free_paths)
    return unknown


WORKLOAD_ROLE_TYPES = ("eks-platform:iam:WorkloadRole", "eks-platform:iam:IrsaRole")
ADDON_TYPES = ("eks:index:Addon", "aws:eks/addon:Addon", "eks:index:VpcCniAddon")
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def workload_role(plan: PlanView, name: str) -> dict[str, Any]:
    """The plan's WorkloadRole component `name`, of either kind (Pod Identity or IRSA)."""
    found = [r for r in plan.resources if r["type"] in WORKLOAD_ROLE_TYPES and r["name"] == name]
    assert len(found) == 1, f"expected one WorkloadRole {name}, found {len(found)}"
    return found[0]


def iam_role_of(plan: PlanView, component: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in plan.children(component) if r["type"] == "aws:iam/role:Role")


def managed_addon(plan: PlanView, addon_name: str) -> dict[str, Any]:
    """The plan's one EKS add-on `addon_name`, whichever resource makes it (eks.Addon,
    eks.VpcCniAddon or aws.eks.Addon); vpc-cni is the only one VpcCniAddon names by its type."""
    found = [a for a in plan.resources if a["type"] in ADDON_TYPES
             and (a["inputs"].get("addonName") or ("vpc-cni" if a["type"] == "eks:index:VpcCniAddon" else None))
             == addon_name]
    assert len(found) == 1, f"expected one {addon_name} add-on, found {len(found)}"
    return found[0]
