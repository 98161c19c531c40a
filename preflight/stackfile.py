"""Read `Pulumi.<stack>.yaml` the way the Pulumi engine hands it to the program.

The engine passes config to a Python program as strings: scalars as text, objects and
lists as JSON. `secure:` values cannot be decrypted here (no secrets provider offline), so
they become placeholders and their keys are marked secret, as the engine would mark them.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.config import PROJECT
from components.config.loader import REGION_KEY
from components.config.plaintext import EXAMPLE_SECRET_PLACEHOLDER, SECRET_PLACEHOLDER, is_example_ciphertext

# Namespaces a stack file of this project may use; anything else is most likely a typo
# (the engine would silently ignore `eks-platfrom:cluster`).
KNOWN_NAMESPACES = (PROJECT, "aws", "kubernetes", "eks", "pulumi")


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
    secret_paths: set[tuple] = field(default_factory=set)
    """Key paths of this project's `secure:` values (`("teams", 0, "apps", 0, "secrets", "A")`)."""

    def is_secret(self, path: tuple) -> bool:
        """Was the value at `path` (or an object holding it) a `secure:` value?"""
        return any(path[:length] in self.secret_paths for length in range(1, len(path) + 1))


def read_stack_file(path: Path) -> StackFile:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StackFileError(f"{path}: no such stack file (expected Pulumi.<stack>.yaml or --config FILE)") from None
    loader = _StackFileLoader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise StackFileError(f"{path}: broken YAML{where}: {problem}") from None
    finally:
        loader.dispose()
    if loader.problems:
        raise StackFileError(f"{path} is invalid ({len(loader.problems)} problem"
                             f"{'s' if len(loader.problems) > 1 else ''}):\n"
                             + "\n".join(f"  - {p}" for p in loader.problems))
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
        not_json = _first_non_json(value, key)
        if not_json:
            problems.append(not_json)
            continue
        plain, secure_paths = _replace_secure(value, (name,))
        if secure_paths:
            result.secret_keys.append(key)
            if namespace == PROJECT:
                result.secret_paths.update(secure_paths)
        result.engine_config[key] = _engine_encoding(plain)
        if namespace == PROJECT:
            result.project_values[name] = plain
        elif key == REGION_KEY:
            result.project_values["region"] = plain
    if problems:
        raise StackFileError(f"{path} is invalid ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n"
                             + "\n".join(f"  - {p}" for p in problems))
    return result


def _replace_secure(value: Any, path: tuple) -> tuple[Any, list[tuple]]:
    """The value with each `secure:` object replaced by a placeholder, and the paths replaced."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            example = is_example_ciphertext(str(value["secure"]))
            return EXAMPLE_SECRET_PLACEHOLDER if example else SECRET_PLACEHOLDER, [path]
        out, found = {}, []
        for k, v in value.items():
            out[k], inner = _replace_secure(v, path + (str(k),))
            found += inner
        return out, found
    if isinstance(value, list):
        out_list, found = [], []
        for index, item in enumerate(value):
            plain, inner = _replace_secure(item, path + (index,))
            out_list.append(plain)
            found += inner
        return out_list, found
    return value, []


def _first_non_json(value: Any, where: str) -> str | None:
    """A problem for the first value the engine could not pass on (it speaks JSON), or None."""
    if isinstance(value, dict):
        return next((p for k, v in value.items() if (p := _first_non_json(v, f"{where}.{k}"))), None)
    if isinstance(value, list):
        return next((p for i, v in enumerate(value) if (p := _first_non_json(v, f"{where}[{i}]"))), None)
    if value is None or isinstance(value, (str, int, float, bool)):
        return None
    return (f"{where}: YAML read this as {type(value).__name__}; a stack file holds text, numbers, booleans, "
            "lists and mappings: quote the value")


class _StackFileLoader(yaml.SafeLoader):
    """SafeLoader that notes what PyYAML accepts silently: a key given twice in one mapping
    (the last one wins, so the first value is dropped) and `key: #value`, where an unquoted
    '#' turned the value into a comment."""

    # Dates stay text, as the YAML 1.2 schema reads them: `name: 2024-01-01` is not a datetime.
    yaml_implicit_resolvers = {
        first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str):
        super().__init__(stream)
        self.text_lines = stream.splitlines()
        self.problems: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                self.problems.append(
                    f"line {line}: key {key!r} is set twice in one mapping (also at line {first_line[key]}); "
                    "YAML keeps only the last, so the first is silently dropped: merge them into one")
            else:
                first_line[key] = line
            self._note_comment_value(key, key_node, value_node)
        return super().construct_mapping(node, deep=deep)

    def _note_comment_value(self, key: Any, key_node: yaml.Node, value_node: yaml.Node) -> None:
        # `slackChannel: #alerts` reads as an empty value. A comment usually has a space after
        # '#'; text glued to it right after the colon is a value that needed quotes.
        if not (isinstance(value_node, yaml.ScalarNode) and value_node.tag == "tag:yaml.org,2002:null"
                and value_node.value == ""):
            return
        mark = key_node.end_mark
        rest = self.text_lines[mark.line][mark.column:] if mark.line < len(self.text_lines) else ""
        if re.match(r"\s*:\s+#[^\s#]", rest):
            value = rest.split("#", 1)[1].strip()
            self.problems.append(
                f"line {mark.line + 1}: {key!r} is empty because YAML reads ' #{value}' as a comment; "
                f"quote the value: {key}: '#{value}'")


def _engine_encoding(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return ""
    return str(value)
