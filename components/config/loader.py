"""Turn raw stack config into a `StackConfig`, or into one error that lists every problem.

Two callers: the Pulumi program (values from the engine, where objects arrive as JSON
strings) and preflight (values from the stack file). Both end in `parse_stack_config`, so a
bad stack file gets the same message from `pulumi up` and from `make plan`.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any, Optional

from pydantic import BaseModel, ValidationError

from .plaintext import SecretCheck, holds_secret, plaintext_secret_issues, strip_type, unpack_secure_objects
from .issues import ConfigIssue, key_path
from .access import caller_access_issues, placeholder_issues
from .environments import ENVIRONMENT_DEFAULTS
from .stack import ENVIRONMENTS, StackConfig, cross_key_issues, stack_name_issues

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


def parse_stack_config(raw: dict[str, Any], source: str = "stack config", *, stack: Optional[str] = None,
                       is_secret: Optional[SecretCheck] = None) -> StackConfig:
    """Validate unqualified keys (`cluster`, `teams`, ..., `region`) into the model.

    `stack` is the stack's name (its environment must agree); `is_secret` says whether the
    value at a key path (`("teams", 0, "apps", 1, "secrets", "TOKEN")`) was a `secure:` value.
    Both callers pass both; without `is_secret` plain-text secrets cannot be detected.
    """
    issues: list[ConfigIssue] = []
    raw = with_environment_defaults(unpack_secure_objects(raw, issues))
    if is_secret is not None:
        issues += plaintext_secret_issues(raw, is_secret)
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as err:
        reported = {issue.path for issue in issues}
        issues += [issue for issue in map(_issue_from_pydantic, err.errors()) if issue.path not in reported]
        raise StackConfigError(issues, source) from None
    issues += stack_name_issues(config, stack) + cross_key_issues(config)
    if issues:
        raise StackConfigError(issues, source)
    return config


def with_environment_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` with the environment's column of ENVIRONMENT_DEFAULTS filled in under the file's
    keys: a key the file sets (even to something invalid) is kept for the model to judge. A
    missing section is created for its default, unless the section is required (the model then
    says so); a section that is not a mapping is left alone (the model says so too)."""
    environment = raw.get("environment")
    if not isinstance(environment, str) or environment not in ENVIRONMENTS:
        return raw
    merged = dict(raw)
    for key, defaults in ENVIRONMENT_DEFAULTS.items():
        *sections, leaf = key.split(".")
        node, path = merged, ()
        for section in sections:
            path += (section,)
            if section not in node:
                field = _field_at(path)
                if field is None or field.is_required():
                    break
                node[section] = {}
            elif not isinstance(node[section], dict):
                break
            node[section] = dict(node[section])  # a copy: the caller's mapping stays as given
            node = node[section]
        else:
            node.setdefault(leaf, defaults[environment])
    return merged


def load_from_pulumi() -> StackConfig:
    """Read this project's keys from the running Pulumi program's config."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    # Pulumi has no "list every key" API: the engine hands config to the program as the
    # PULUMI_CONFIG environment (real runs) or sets it in-process (mocks); read both.
    values: dict[str, Any] = dict(runtime_config.get_config_env() or {})
    values.update(runtime_config.CONFIG.get())
    # Secret keys: the language host lists them in PULUMI_CONFIG_SECRET_KEYS; set_all_config
    # (mocks, providers) keeps them in-process, where is_config_secret reads them.
    secret_keys = set(runtime_config.get_config_secret_keys_env() or [])
    secret_keys |= {key for key in values if runtime_config.is_config_secret(key)}
    prefix = f"{PROJECT}:"
    raw: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(prefix):
            name = key[len(prefix):]
            raw[name] = _decode(value)
    region = values.get(REGION_KEY)
    if region is not None:
        raw["region"] = region
    # The engine sees only top-level keys: a key is secret when any value under it is `secure:`.
    # preflight, which reads the file, checks each value (plain values under a secret key too).
    secret_names = {key[len(prefix):] for key in secret_keys if key.startswith(prefix)}
    stack = pulumi.get_stack()
    source = f"Stack config of '{stack}'"
    config = parse_stack_config(raw, source=source, stack=stack,
                                is_secret=lambda path: bool(path) and path[0] in secret_names)
    creating = creates_resources()
    warning = check_placeholders(config, source, creating=creating, stack=stack)
    if warning:
        pulumi.log.warn(warning)
    if creating:
        import pulumi_aws as aws

        issues = caller_access_issues(config, aws.get_caller_identity().arn)
        if issues:
            raise StackConfigError(issues, source)
    return config


def creates_resources() -> bool:
    """True only in a real `pulumi up` (or destroy/refresh): a real engine, not a preview.

    preflight runs the program with preview=False under Pulumi's mock monitor, where nothing
    real is created; outside any run there is no monitor at all.
    """
    from pulumi.runtime.mocks import MockMonitor
    from pulumi.runtime.settings import get_monitor, is_dry_run

    monitor = get_monitor()
    return monitor is not None and not isinstance(monitor, MockMonitor) and not is_dry_run()


def check_placeholders(config: StackConfig, source: str, creating: bool, stack: Optional[str] = None) -> Optional[str]:
    """Example principals, networks and secrets: an error before `pulumi up` creates anything,
    else a warning to print (previews and `make plan` of the shipped examples still work)."""
    issues = placeholder_issues(config, stack)
    if not issues:
        return None
    if creating:
        raise StackConfigError(issues, f"{source} (example values stop `pulumi up` before creating anything)")
    lines = [f"{len(issues)} PLACEHOLDER value{'s' if len(issues) != 1 else ''} in {source}: "
             "`pulumi up` will refuse to run until they are replaced (EKS rejects access entries "
             "for principals that do not exist, and Pulumi cannot decrypt an example secret):"]
    lines += [f"  - {issue}" for issue in issues]
    banner = "!" * 100
    return "\n".join([banner, *lines, banner])


def _decode(value: Any) -> Any:
    # Objects and lists reach the program as JSON text (parse_stack_config decodes them where the
    # model wants one); scalars stay text, so "1.33" is never turned into the float 1.33 here.
    if value == "":
        return None  # `key:` with nothing after it (or only a `# comment`) in the stack file
    return value


# pydantic's words for a wrong shape, in the stack file's terms.
_SHAPES = {
    "model_type": "must be a mapping of keys (key: value lines)",
    "model_attributes_type": "must be a mapping of keys (key: value lines)",
    "dict_type": "must be a mapping (key: value lines)",
    "list_type": "must be a list (one '- item' per line, or [a, b])",
    "string_type": "must be text",
}


def _is_showable(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) or value is None


def _issue_from_pydantic(error: dict) -> ConfigIssue:
    loc = tuple(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        return ConfigIssue(key_path(loc), _unknown_key_message(loc))
    if kind == "missing":
        return ConfigIssue(key_path(loc), "is required but not set")
    if value is None:
        field = _field_at(loc)
        required = field is not None and field.is_required()
        fix = "give it a value" if required else "give it a value or remove the key to use the default"
        return ConfigIssue(key_path(loc), f"is empty; {fix}. If the value has a '#', quote it "
                                          "(YAML starts a comment at ' #')")
    message = _SHAPES.get(kind) or error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if message.startswith("Input should be"):
        message = "must be" + message[len("Input should be"):]
    if kind in _SHAPES and isinstance(value, (list, dict)):
        message += f" (given a {'list' if isinstance(value, list) else 'mapping'})"
    if isinstance(value, bool) and kind == "string_type":
        message += (f"; YAML reads unquoted yes/no/on/off/true/false as booleans: quote it "
                    f"('{str(value).lower()}')")
    if any(holds_secret(_annotation_at(loc[:i])) for i in range(1, len(loc) + 1)):
        message = f"{message} (the value given is not shown: it is a secret)"
    elif _is_showable(value):
        message = f"{message} (given {value!r})"
    return ConfigIssue(key_path(loc), message)


def _unknown_key_message(loc: tuple) -> str:
    allowed = _allowed_keys(loc[:-1])
    key = str(loc[-1])
    guess = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean '{guess[0]}'?" if guess else ""
    return f"unknown key{hint} Allowed here: {', '.join(sorted(allowed))}"


def _annotation_at(loc: tuple) -> Any:
    """The type the model expects at `loc` (list items and dict values followed), or None."""
    annotation: Any = StackConfig
    for part in loc:
        current = strip_type(annotation)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for f in current.model_fields.values() if f.alias == part), None)
            if field is None:
                return None
            annotation = field.annotation
        elif typing.get_origin(current) in (list, dict):
            annotation = typing.get_args(current)[-1]
        else:
            return None
    return annotation


def _field_at(loc: tuple) -> Any:
    """The pydantic FieldInfo of the key at `loc`, or None (list items, dict values)."""
    if not loc or not isinstance(loc[-1], str):
        return None
    parent = strip_type(_annotation_at(loc[:-1]))
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        return next((f for f in parent.model_fields.values() if f.alias == loc[-1]), None)
    return None


def _allowed_keys(loc: tuple) -> list[str]:
    """The camelCase keys the model accepts at `loc` (walks lists, dicts and sub-models)."""
    model = strip_type(_annotation_at(loc))
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [field.alias for field in model.model_fields.values() if field.alias]
    return []
