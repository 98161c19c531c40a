"""`environment`, `env_file` and `secrets` of a service: plain values into `env`, anything the
policy pack would call a secret into `secrets` as `secure:` placeholders to fill."""

from __future__ import annotations

import re
from typing import Any

from policies.rules.workloads import SECRET_NAME

from .findings import NOT_MAPPED, NOTICE, REFUSED, ImportedService
from .source import ComposeFile, ComposeInputError, parse_env_file

SECRET_PLACEHOLDER = "import-compose-placeholder"
"""The `secure:` value written for a secret to fill; `pulumi config set --secret` replaces it."""
SECRETS_DIR = "/run/secrets/"
_CREDENTIAL_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^/:@\s]+:[^@\s]+@", re.I)


def looks_secret(key: str, value: str) -> bool:
    """The pack's no-secret-literals rule flags these names; a URL with a password is one too."""
    return bool(SECRET_NAME.search(key)) or bool(_CREDENTIAL_URL.match(value))


def _env_files(service: dict[str, Any], compose: ComposeFile, out: ImportedService) -> dict[str, str]:
    entries = service.get("env_file") or []
    values: dict[str, str] = {}
    for entry in [entries] if isinstance(entries, (str, dict)) else entries:
        path_text, required = (entry.get("path"), entry.get("required", True)) if isinstance(entry, dict) \
            else (entry, True)
        path = (compose.path.parent / str(path_text)).resolve()
        if not path.is_file():
            if required:
                out.note(REFUSED, "env_file", f"{path_text} not found (read relative to the Compose file, "
                         f"{path}); Compose would refuse to start the service too")
            continue
        try:
            values.update(parse_env_file(path, compose.variables))
        except ComposeInputError as err:
            out.note(REFUSED, "env_file", str(err))
    return values


def _environment(service: dict[str, Any], compose: ComposeFile, out: ImportedService) -> dict[str, str]:
    raw = service.get("environment") or {}
    pairs: list[tuple[str, Any]] = []
    if isinstance(raw, dict):
        pairs = [(str(k), v) for k, v in raw.items()]
    elif isinstance(raw, list):
        for item in raw:
            key, sep, value = str(item).partition("=")
            pairs.append((key, value if sep else None))
    values: dict[str, str] = {}
    for key, value in pairs:
        if value is None:
            if key in compose.variables:
                values[key] = str(compose.variables[key])
            else:
                out.note(NOT_MAPPED, f"environment.{key}", "has no value (Compose takes it from the shell, where "
                         "it is not set); add it to env or secrets by hand")
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        else:
            values[key] = str(value)
    return values


def _service_secrets(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(secret name, file name under /run/secrets) of each secret the service uses."""
    found = []
    for entry in service.get("secrets") or []:
        if isinstance(entry, dict) and entry.get("source"):
            target = str(entry.get("target") or entry["source"])
            found.append((str(entry["source"]), target.removeprefix(SECRETS_DIR)))
        elif isinstance(entry, str):
            found.append((entry, entry))
    return found


def map_environment(service: dict[str, Any], compose: ComposeFile, out: ImportedService) -> dict[str, str]:
    """Fills env and secrets; returns every value it read (for the dependency check)."""
    values = _env_files(service, compose, out)
    values.update(_environment(service, compose, out))  # environment wins over env_file, as in Compose
    secret_files = dict((target, name) for name, target in _service_secrets(service))
    env: dict[str, str] = {}
    secrets: list[str] = []
    for key, value in values.items():
        target = value.removeprefix(SECRETS_DIR) if value.startswith(SECRETS_DIR) else None
        if key.endswith("_FILE") and target in secret_files:
            # The official images' convention (POSTGRES_PASSWORD_FILE): the value itself, as env.
            secret_key = key[: -len("_FILE")]
            secrets.append(secret_key)
            out.note(NOTICE, f"environment.{key}", f"reads secret {secret_files.pop(target)!r} from a file; the "
                     f"platform passes the value as the env var {secret_key} instead (the images that take "
                     f"{key} also take {secret_key})")
        elif looks_secret(key, value):
            secrets.append(key)
        else:
            env[key] = value
    for target, name in secret_files.items():
        key = re.sub(r"[^A-Za-z0-9_]", "_", target).upper()
        secrets.append(key)
        out.note(NOTICE, f"secrets.{name}", f"Swarm mounts it as the file {SECRETS_DIR}{target}; here it is the "
                 f"env var {key}: have the app read it from there")
    for name, _ in _service_secrets(service):
        definition = compose.secrets.get(name)
        if isinstance(definition, dict) and definition.get("file"):
            out.note(NOTICE, f"secrets.{name}", f"its value is in {definition['file']} beside the Compose file: "
                     "set it with the command printed for it")
    if env:
        out.app["env"] = env
    if secrets:
        out.secret_keys = list(dict.fromkeys(secrets))
        out.app["secrets"] = {key: {"secure": SECRET_PLACEHOLDER} for key in out.secret_keys}
    return values


def service_names_in(values: dict[str, str], services: set[str]) -> set[str]:
    """Which of `services` the values name as a host (`postgres://app@db:5432/shop` names db)."""
    named: set[str] = set()
    for value in values.values():
        named |= set(re.split(r"[^A-Za-z0-9_.-]+", value)) & services
    return named
