"""Secure values in the stack config: every secret must be one, and whole objects may be one.

The walks follow the raw values alongside the model's types, so they work even when other keys
are invalid, and they never need (or show) a secret's value.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import types
import typing
from typing import Any, Callable, Iterator, Optional

from pydantic import BaseModel, SecretStr

from .issues import ConfigIssue, key_path
from .stack import StackConfig

SECRET_PLACEHOLDER = "preflight-secret-placeholder"
"""What preflight reads in place of a `secure:` value: it has no key to decrypt it offline."""
EXAMPLE_SECRET_PLACEHOLDER = f"{SECRET_PLACEHOLDER}:example"
"""What it reads in place of an example `secure:` value, which no secrets provider decrypts."""

# The words the examples this repository ships (`REPLACE-with-...`, and base64 of
# `replace-me-with-...` shaped like a Pulumi Cloud ciphertext) and import-compose writes
# (`import-compose-placeholder`) carry. A real ciphertext is random bytes, raw or decoded.
_EXAMPLE_WORDS = re.compile(r"replace|placeholder|change-?me", re.IGNORECASE)


def is_example_ciphertext(text: str) -> bool:
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode("latin-1")
    except (binascii.Error, ValueError):
        decoded = ""
    return bool(_EXAMPLE_WORDS.search(text) or _EXAMPLE_WORDS.search(decoded))


def is_secret_placeholder(value: Any) -> bool:
    """A `secure:` value preflight could not read, an example or not."""
    return isinstance(value, str) and value.startswith(SECRET_PLACEHOLDER)


def set_secret_command(where: str, stack: Optional[str] = None) -> str:
    on_stack = f" --stack {stack}" if stack else ""
    return f"pulumi config set{on_stack} --secret --path '{where}' <value>"


def example_secret_paths(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Key paths (stack-file spelling) of the secrets in a parsed config that were examples."""
    if isinstance(value, SecretStr):
        if value.get_secret_value() == EXAMPLE_SECRET_PLACEHOLDER:
            yield path
    elif isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            yield from example_secret_paths(getattr(value, name), path + (field.alias or name,))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from example_secret_paths(item, path + (index,))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from example_secret_paths(item, path + (str(key),))

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
                f"{set_secret_command(where)}")))
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
        if is_secret_placeholder(value):
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


