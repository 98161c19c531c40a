"""Secure values in the stack config: every secret must be one, and whole objects may be one.

The walks follow the raw values alongside the model's types, so they work even when other keys
are invalid, and they never need (or show) a secret's value.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Callable

from pydantic import BaseModel, SecretStr

from .issues import ConfigIssue, key_path
from .stack import StackConfig

SECRET_PLACEHOLDER = "preflight-secret-placeholder"
"""What preflight reads in place of a `secure:` value: it has no key to decrypt it offline."""

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


def unpack_secure_objects(value: Any, issues: list[ConfigIssue], annotation: Any = StackConfig,
                          path: tuple = ()) -> Any:
    """`value` with every whole object that was set as one secret turned back into an object.

    `pulumi config set --secret --path 'teams[0].apps[0].secrets' '{"TOKEN": "..."}'` stores one
    `secure:` value; the engine hands the program its text. Where the model wants a list, mapping
    or object and gets JSON text of that shape, decode it. Offline preflight sees a placeholder:
    a mapping of secrets becomes empty (its keys are unknown until decrypted); any other object
    cannot be planned offline, which is reported."""
    annotation = strip_type(annotation)
    origin = typing.get_origin(annotation)
    is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
    if (origin in (list, dict) or is_model) and isinstance(value, str):
        if value == SECRET_PLACEHOLDER:
            if origin is dict and holds_secret(annotation):
                return {}
            issues.append(ConfigIssue(key_path(path), (
                "is one `secure:` value, which `pulumi up` decrypts but preflight cannot read offline; "
                "keep the structure in plain text and encrypt only the secret values inside it "
                "(pulumi config set --secret --path '<key path of the secret>' <value>)")))
            return value
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        if isinstance(decoded, list if origin is list else dict):
            value = decoded
    if is_model and isinstance(value, dict):
        fields = {field.alias: field.annotation for field in annotation.model_fields.values()}
        return {key: unpack_secure_objects(item, issues, fields[key], path + (key,)) if key in fields else item
                for key, item in value.items()}
    if origin is list and isinstance(value, list):
        (item_type,) = typing.get_args(annotation)
        return [unpack_secure_objects(item, issues, item_type, path + (i,)) for i, item in enumerate(value)]
    if origin is dict and isinstance(value, dict):
        item_type = typing.get_args(annotation)[1]
        return {key: unpack_secure_objects(item, issues, item_type, path + (str(key),)) for key, item in value.items()}
    return value


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


