"""Read a Compose or Swarm stack file the way `docker compose` and `docker stack deploy` do:
YAML 1.2 (so a service named `off` stays a name; anchors and merge keys included), `${VAR}`
interpolation from the environment and the `.env` file beside it, `env_file:` files relative
to it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ComposeInputError(Exception):
    """The file cannot be read, is not YAML, or is not a Compose file."""


@dataclass
class ComposeFile:
    path: Path
    services: dict[str, dict[str, Any]]
    volumes: dict[str, Any]
    """Top-level named volumes (`volumes:`), by name."""
    secrets: dict[str, Any]
    interpolation: list[tuple[Optional[str], str]] = field(default_factory=list)
    """(service or None, message) for each `${VAR}` that could not be resolved as written."""
    variables: dict[str, str] = field(default_factory=dict)


def read_compose_file(path: Path, environ: Optional[Mapping[str, str]] = None) -> ComposeFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ComposeInputError(f"{path}: cannot read the file ({err.__class__.__name__}: {err})") from None
    try:
        document = YAML(typ="safe", pure=True).load(text)
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ComposeInputError(f"{path}: broken YAML{where}: {getattr(err, 'problem', None) or err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("services"), dict) or not document["services"]:
        raise ComposeInputError(f"{path}: not a Compose or Swarm stack file: it needs a top-level 'services:' "
                                "mapping of service names to their settings")
    if document.get("include"):
        raise ComposeInputError(f"{path}: 'include:' pulls in other Compose files, which this importer does not "
                                "follow; import the resolved file instead: docker compose config > resolved.yaml")
    problems = [problem for name, service in document["services"].items() for problem in shape_problems(name, service)]
    if problems:
        raise ComposeInputError(f"{path} is not a valid Compose file ({len(problems)} problem"
                                f"{'s' if len(problems) > 1 else ''}; Compose would refuse it too):\n"
                                + "\n".join(f"  - {p}" for p in problems))

    dotenv = path.parent / ".env"
    variables = parse_env_file(dotenv, {}) if dotenv.is_file() else {}
    # The shell wins over .env, as in Compose.
    variables.update(os.environ if environ is None else environ)
    problems: list[tuple[Optional[str], str]] = []
    resolved = _interpolate_tree(document, variables, (), problems)
    return ComposeFile(path=path, services=_mapping(resolved["services"]), volumes=_mapping(resolved.get("volumes")),
                       secrets=_mapping(resolved.get("secrets")), interpolation=problems, variables=variables)


_TEXT, _NUMBER, _LIST, _MAP, _FLAG = (str,), (int, float, str), (list,), (dict,), (bool, str)
# The Compose specification's types for the keys the importer reads (a number may also be
# text: `replicas: ${REPLICAS:-2}` is text until interpolated).
_SHAPES: dict[str, tuple] = {
    "image": _TEXT, "ports": _LIST, "expose": _LIST, "volumes": _LIST, "environment": _LIST + _MAP,
    "env_file": _TEXT + _LIST, "depends_on": _LIST + _MAP, "links": _LIST, "networks": _LIST + _MAP,
    "deploy": _MAP, "healthcheck": _MAP, "secrets": _LIST, "cap_add": _LIST, "cap_drop": _LIST,
    "tmpfs": _TEXT + _LIST, "devices": _LIST, "security_opt": _LIST, "user": _NUMBER, "privileged": _FLAG,
    "network_mode": _TEXT, "pid": _TEXT, "ipc": _TEXT, "userns_mode": _TEXT, "scale": _NUMBER,
    "cpus": _NUMBER, "mem_limit": _NUMBER, "mem_reservation": _NUMBER,
    "deploy.mode": _TEXT, "deploy.replicas": _NUMBER, "deploy.resources": _MAP, "deploy.update_config": _MAP,
    "deploy.rollback_config": _MAP, "deploy.restart_policy": _MAP, "deploy.placement": _MAP,
    "deploy.endpoint_mode": _TEXT, "deploy.resources.limits": _MAP, "deploy.resources.reservations": _MAP,
    "deploy.placement.constraints": _LIST, "deploy.placement.preferences": _LIST,
    "healthcheck.test": _TEXT + _LIST, "healthcheck.retries": _NUMBER, "healthcheck.disable": _FLAG,
}


def shape_problems(name: str, service: Any) -> list[str]:
    if not isinstance(service, dict):
        return [f"services.{name} must be a mapping of settings, not {type(service).__name__}"]
    problems = []
    pending: list[tuple[str, dict]] = [("", service)]
    while pending:
        prefix, section = pending.pop()
        for key, value in section.items():
            where = f"{prefix}{key}"
            shape = _SHAPES.get(where)
            if shape is None or value is None:
                continue
            if not isinstance(value, shape) or (shape == _NUMBER and isinstance(value, bool)):
                kinds = " or ".join(sorted({_KIND_NAMES[t] for t in shape}))
                problems.append(f"services.{name}.{where} must be {kinds}, not {type(value).__name__}")
            elif isinstance(value, dict):
                pending.append((f"{where}.", value))
    return problems


_KIND_NAMES = {str: "text", int: "a number", float: "a number", list: "a list", dict: "a mapping", bool: "true/false"}


def _mapping(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


def _interpolate_tree(value: Any, variables: Mapping[str, str], where: tuple,
                      problems: list[tuple[Optional[str], str]]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate_tree(v, variables, where + (str(k),), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate_tree(v, variables, where + (str(i),), problems) for i, v in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        service = where[1] if len(where) > 1 and where[0] == "services" else None
        notes: list[str] = []
        text = interpolate(value, variables, notes)
        problems += [(service, f"{'.'.join(where[1:] if service else where)}: {note}") for note in notes]
        return text
    return value


def interpolate(text: str, variables: Mapping[str, str], notes: list[str]) -> str:
    """Compose's `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`,
    `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}` and `$$`; nested defaults are resolved too.
    What it cannot resolve is left as written, with a note."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                notes.append(f"unclosed '${{' in {text!r}; left as written")
                out.append(text[i:])
                break
            out.append(_braced(text[i + 2:end], text[i:end + 1], variables, notes))
            i = end + 1
        else:
            match = _NAME.match(text, i + 1)
            if not match:
                out.append(char)
                i += 1
                continue
            out.append(_lookup(match.group(0), variables, notes))
            i = match.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def _braced(expression: str, written: str, variables: Mapping[str, str], notes: list[str]) -> str:
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", expression, re.S)
    if not match:
        notes.append(f"{written} is not an interpolation Compose understands; left as written")
        return written
    name, operator, argument = match.groups()
    value = variables.get(name)
    if operator is None:
        return _lookup(name, variables, notes)
    unset = value is None or (operator.startswith(":") and value == "")
    kind = operator[-1]
    if kind == "-":
        return interpolate(argument, variables, notes) if unset else str(value)
    if kind == "+":
        return "" if unset else interpolate(argument, variables, notes)
    if unset:  # '?': Compose refuses to start without it
        notes.append(f"{name} is required ({argument or 'no message'}) but not set in the environment "
                     "or .env; set it and import again")
        return ""
    return str(value)


def _lookup(name: str, variables: Mapping[str, str], notes: list[str]) -> str:
    if name in variables:
        return str(variables[name])
    notes.append(f"${{{name}}} is not set in the environment or .env; Compose would use an empty string")
    return ""


def parse_env_file(path: Path, variables: Mapping[str, str]) -> dict[str, str]:
    """KEY=VALUE lines (`export ` allowed), `#` comments, quoted values; double-quoted and bare
    values are interpolated, single-quoted ones are literal (as in Compose)."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ComposeInputError(f"{path}: cannot read the env file ({err.__class__.__name__}: {err})") from None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not _NAME.fullmatch(key):
            raise ComposeInputError(f"{path}, line {number}: expected KEY=VALUE, got {raw!r}")
        if not sep:
            if key in variables:
                values[key] = str(variables[key])
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == "'":
            values[key] = value[1:-1]
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = interpolate(value, {**variables, **values}, [])
    return values
