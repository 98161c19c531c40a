"""Merge app entries into a stack file under a team, keeping its comments, order and style
(ruamel.yaml round trip); and print them in the same style."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from components.config import PROJECT
from components.config.plaintext import set_secret_command

from .environment import SECRET_PLACEHOLDER
from .findings import ImportedService
from .mapping import APP_KEYS

TEAMS_KEY = f"{PROJECT}:teams"
_FLOW = ("resources", "stateful", "dependsOn", "autoscaling")
# Characters PyYAML (YAML 1.1, which preflight reads with) will not take unquoted in a flow collection.
_NEEDS_QUOTES = re.compile(r"[\[\]{},?#&*!|>'\"%@`]|: |^[-\s]|\s$")


class StackFileShapeError(Exception):
    """The stack file is not shaped so that apps can be merged into it."""


def secret_command(team_index: int, app_index: int, key: str) -> str:
    return set_secret_command(f"{TEAMS_KEY}[{team_index}].apps[{app_index}].secrets.{key}")


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    # The project's stack-file style: mappings by 2, list items by 4 with the dash at 2.
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.representer.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def _styled(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        node = CommentedMap((k, _styled(k, v)) for k, v in value.items())
        if key in _FLOW or key == "probe" and "command" not in value or set(value) == {"secure"}:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        node = CommentedSeq(_styled("", item) for item in value)
        node.fa.set_flow_style()
        return node
    if isinstance(value, str) and _NEEDS_QUOTES.search(value):
        return SingleQuotedScalarString(value)
    return value


def app_node(app: dict[str, Any]) -> CommentedMap:
    return CommentedMap((key, _styled(key, value)) for key, value in app.items())


def render_apps(imported: list[ImportedService]) -> str:
    stream = io.StringIO()
    _yaml().dump(CommentedSeq(app_node(item.app) for item in imported), stream)
    return stream.getvalue()


@dataclass
class MergeResult:
    text: str
    team_index: int
    app_indexes: dict[str, int] = field(default_factory=dict)
    created_team: bool = False
    changes: list[str] = field(default_factory=list)


def merge_apps(text: str, team: str, imported: list[ImportedService],
               team_settings: Optional[dict[str, Any]] = None) -> MergeResult:
    """The stack file with each app added to (or updated in place in) the team's apps.

    Only the keys the importer writes (mapping.APP_KEYS) are touched; `secure:` values already
    set for a secret are kept, so importing again never undoes `pulumi config set --secret`."""
    yaml = _yaml()
    try:
        document = yaml.load(text)
    except YAMLError as err:
        raise StackFileShapeError(f"broken YAML: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise StackFileShapeError("a stack file is a mapping with a 'config:' mapping")
    config = document["config"]
    teams = config.get(TEAMS_KEY)
    if teams is None:
        teams = config[TEAMS_KEY] = CommentedSeq()
    if not isinstance(teams, list):
        raise StackFileShapeError(f"{TEAMS_KEY} must be a list of teams")
    index = next((i for i, t in enumerate(teams) if isinstance(t, dict) and t.get("name") == team), None)
    result = MergeResult(text="", team_index=len(teams) if index is None else index)
    if index is None:
        teams.append(CommentedMap([("name", team), *((k, _styled(k, v)) for k, v in (team_settings or {}).items()),
                                   ("apps", CommentedSeq())]))
        result.created_team = True
        result.changes.append(f"created team {team}")
    entry = teams[result.team_index]
    if not isinstance(entry.get("apps"), list):
        entry["apps"] = CommentedSeq()
    apps = entry["apps"]
    for item in imported:
        position = next((i for i, a in enumerate(apps) if isinstance(a, dict) and a.get("name") == item.name), None)
        if position is None:
            apps.append(app_node(item.app))
            position = len(apps) - 1
            result.changes.append(f"added app {item.name}")
        else:
            changed = _update(apps[position], item.app)
            result.changes.append(f"replaced in app {item.name}: {', '.join(changed)}" if changed
                                  else f"app {item.name} unchanged")
        result.app_indexes[item.name] = position
        _comment_placeholders(apps[position], result.team_index, position)
    stream = io.StringIO()
    yaml.dump(document, stream)
    result.text = stream.getvalue()
    return result


def _update(existing: CommentedMap, app: dict[str, Any]) -> list[str]:
    changed = []
    new_secrets = app.get("secrets")
    if new_secrets and isinstance(existing.get("secrets"), dict):
        # A secret someone already set stays set.
        old = existing["secrets"]
        app = {**app, "secrets": {k: (dict(old[k]) if isinstance(old.get(k), dict) and "secure" in old[k] else v)
                                  for k, v in new_secrets.items()}}
    for key in APP_KEYS:
        if key not in app:
            if key in existing:
                del existing[key]
                changed.append(f"{key} (removed)")
            continue
        if key in existing and existing[key] == app[key]:
            continue
        before = [k for k in APP_KEYS[:APP_KEYS.index(key)] if k in existing]
        at = list(existing).index(before[-1]) + 1 if before else 0
        if key in existing:
            existing[key] = _styled(key, app[key])
        else:
            existing.insert(at, key, _styled(key, app[key]))
        changed.append(key)
    return changed


def _comment_placeholders(app: CommentedMap, team_index: int, app_index: int) -> None:
    secrets = app.get("secrets")
    if not isinstance(secrets, dict):
        return
    for key, value in secrets.items():
        if isinstance(value, dict) and value.get("secure") == SECRET_PLACEHOLDER:
            secrets.yaml_add_eol_comment(f"fill: {secret_command(team_index, app_index, key)}", key)
