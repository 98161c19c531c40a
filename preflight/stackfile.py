"""Read `Pulumi.<stack>.yaml` the way the Pulumi engine hands it to the program.

The engine passes config to a Python program as strings: scalars as text, objects and
lists as JSON. `secure:` values cannot be decrypted here (no secrets provider offline), so
they become placeholders and their keys are marked secret, as the engine would mark them.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import PROJECT
from components.config.loader import REGION_KEY

# Namespaces a stack file of this project may use; anything else is most likely a typo
# (the engine would silently ignore `eks-platfrom:cluster`).
KNOWN_NAMESPACES = (PROJECT, "aws", "kubernetes", "eks", "pulumi")
SECRET_PLACEHOLDER = "preflight-secret-placeholder"


class StackFileError(Exception):
    """The stack file cannot be read or is not shaped like a Pulumi stack file."""


@dataclass
class StackFile:
    path: Path
    project_values: dict[str, Any]
    """This project's keys without the namespace, plus `region`: what the model validates."""
    engine_config: dict[str, str] = field(default_factory=dict)
    """Fully qualified keys with the engine's string encoding: what the program receives."""
    secret_keys: list[str] = field(default_factory=list)


def read_stack_file(path: Path) -> StackFile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such stack file (expected Pulumi.<stack>.yaml or --config FILE)") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise StackFileError(f"{path}: broken YAML{where}: {problem}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path}: a stack file is a mapping with a 'config:' key, not {type(document).__name__}")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise StackFileError(f"{path}: 'config:' must be a mapping of 'namespace:key: value'")

    problems: list[str] = []
    result = StackFile(path=path, project_values={})
    for key, value in config.items():
        key = str(key)
        namespace, sep, name = key.partition(":")
        if not sep:
            problems.append(f"{key}: config keys need a namespace; write it as '{PROJECT}:{key}'")
            continue
        if namespace not in KNOWN_NAMESPACES:
            guess = difflib.get_close_matches(namespace, KNOWN_NAMESPACES, n=1)
            hint = f"; did you mean '{guess[0]}:{name}'?" if guess else ""
            problems.append(f"{key}: unknown config namespace '{namespace}'{hint}")
            continue
        plain, has_secret = _replace_secure(value)
        if has_secret:
            result.secret_keys.append(key)
        result.engine_config[key] = _engine_encoding(plain)
        if namespace == PROJECT:
            result.project_values[name] = plain
        elif key == REGION_KEY:
            result.project_values["region"] = plain
    if problems:
        raise StackFileError(f"{path} is invalid ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n"
                             + "\n".join(f"  - {p}" for p in problems))
    return result


def _replace_secure(value: Any) -> tuple[Any, bool]:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER, True
        found = False
        out = {}
        for k, v in value.items():
            out[k], secret = _replace_secure(v)
            found = found or secret
        return out, found
    if isinstance(value, list):
        pairs = [_replace_secure(v) for v in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


def _engine_encoding(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return ""
    return str(value)
