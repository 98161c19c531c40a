"""Turn raw stack config into a `StackConfig`, or into one error that lists every problem.

Two callers: the Pulumi program (values from the engine, where objects arrive as JSON
strings) and preflight (values from the stack file). Both end in `parse_stack_config`, so a
bad stack file gets the same message from `pulumi up` and from `make plan`.
"""

from __future__ import annotations

import difflib
import json
import typing
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from .stack import ConfigIssue, StackConfig, cross_key_issues

PROJECT = "eks-platform"
REGION_KEY = "aws:region"


class StackConfigError(Exception):
    """The stack config is invalid; `issues` holds every problem found."""

    def __init__(self, issues: list[ConfigIssue], source: str = "stack config"):
        self.issues = issues
        self.source = source
        count = len(issues)
        lines = [f"{source} is invalid ({count} problem{'s' if count != 1 else ''}):"]
        lines += [f"  - {issue}" for issue in issues]
        lines.append(f"Fix the keys above (they live under '{PROJECT}:' in the stack file) and run again.")
        super().__init__("\n".join(lines))


def parse_stack_config(raw: dict[str, Any], source: str = "stack config") -> StackConfig:
    """Validate unqualified keys (`cluster`, `teams`, ..., `region`) into the model."""
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as err:
        raise StackConfigError([_issue_from_pydantic(e) for e in err.errors()], source) from None
    issues = cross_key_issues(config)
    if issues:
        raise StackConfigError(issues, source)
    return config


def load_from_pulumi() -> StackConfig:
    """Read this project's keys from the running Pulumi program's config."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    # Pulumi has no "list every key" API: the engine hands config to the program as the
    # PULUMI_CONFIG environment (real runs) or sets it in-process (mocks); read both.
    values: dict[str, Any] = dict(runtime_config.get_config_env() or {})
    values.update(runtime_config.CONFIG.get())
    prefix = f"{PROJECT}:"
    raw: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(prefix):
            name = key[len(prefix):]
            raw[name] = _decode(name, value)
    region = values.get(REGION_KEY)
    if region is not None:
        raw["region"] = region
    return parse_stack_config(raw, source=f"Stack config of '{pulumi.get_stack()}'")


def _decode(name: str, value: Any) -> Any:
    # Objects and lists reach the program as JSON text; scalars stay text and pydantic
    # converts them, so "1.33" is never turned into the float 1.33 here.
    field = StackConfig.model_fields.get(_field_name(name))
    if isinstance(value, str) and field is not None and _is_structured(field.annotation):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _field_name(alias: str) -> str:
    for name, field in StackConfig.model_fields.items():
        if field.alias == alias:
            return name
    return alias


def _is_structured(annotation: Any) -> bool:
    annotation = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    return origin in (list, dict) or (isinstance(annotation, type) and issubclass(annotation, BaseModel))


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _path(loc: tuple) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _is_showable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _issue_from_pydantic(error: dict) -> ConfigIssue:
    loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return ConfigIssue(_path(loc), _unknown_key_message(loc))
    if kind == "missing":
        return ConfigIssue(_path(loc), "is required but not set")
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if message.startswith("Input should be"):
        message = "must be" + message[len("Input should be"):]
    if _is_showable(value):
        message = f"{message} (given {value!r})"
    return ConfigIssue(_path(loc), message)


def _unknown_key_message(loc: tuple) -> str:
    allowed = _allowed_keys(loc[:-1])
    key = str(loc[-1])
    guess = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else ""
    return f"unknown key{hint} Allowed here: {', '.join(sorted(allowed))}"


def _allowed_keys(loc: tuple) -> list[str]:
    """The camelCase keys the model accepts at `loc` (walks lists, dicts and sub-models)."""
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            return []
        model = _element_model(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [field.alias for field in model.model_fields.values() if field.alias]
    return []


def _element_model(annotation: Any) -> Optional[Any]:
    annotation = _unwrap_optional(annotation)
    origin = typing.get_origin(annotation)
    if origin is list:
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return annotation
