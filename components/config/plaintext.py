"""Secrets must be `secure:` values: find every secret-typed key a stack file sets in plain text.

The walk follows the raw values alongside the model's types, so it works even when other keys
are invalid, and it never needs (or shows) the value itself.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Callable

from pydantic import BaseModel, SecretStr

from .issues import ConfigIssue, key_path
from .stack import StackConfig

SecretCheck = Callable[[tuple], bool]
"""Was the value at this key path (`("monitoring", "receivers", 0, "slackApiUrl")`) `secure:`?"""


def holds_secret(annotation: Any) -> bool:
    """A secret, or a list or mapping of secrets: values of these types are never shown."""
    annotation = strip_type(annotation)
    if typing.get_origin(annotation) in (list, dict):
        return holds_secret(typing.get_args(annotation)[-1])
    return annotation is SecretStr


def plaintext_secret_issues(raw: Any, is_secret: SecretCheck) -> list[ConfigIssue]:
    issues = []
    for path in _secret_paths(raw, StackConfig, ()):
        if not is_secret(path):
            where = key_path(path)
            issues.append(ConfigIssue(where, (
                "is plain text in the stack file; a secret must be a `secure:` value: run "
                f"pulumi config set --secret --path '{where}' <value>")))
    return issues


def _secret_paths(value: Any, annotation: Any, path: tuple) -> typing.Iterator[tuple]:
    """Key paths whose type is a secret and whose value is set."""
    if value is None:
        return
    annotation = strip_type(annotation)
    if annotation is SecretStr:
        yield path
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
        fields = {field.alias: field.annotation for field in annotation.model_fields.values()}
        for key, item in value.items():
            if key in fields:
                yield from _secret_paths(item, fields[key], path + (key,))
    elif typing.get_origin(annotation) is list and isinstance(value, list):
        (item_type,) = typing.get_args(annotation)
        for index, item in enumerate(value):
            yield from _secret_paths(item, item_type, path + (index,))
    elif typing.get_origin(annotation) is dict and isinstance(value, dict):
        item_type = typing.get_args(annotation)[1]
        for key, item in value.items():
            yield from _secret_paths(item, item_type, path + (str(key),))


def strip_type(annotation: Any) -> Any:
    """X from Optional[X], Annotated[X, ...] and their combinations."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


