"""`python -m preflight import-compose FILE --team NAME [--stack S] [--config F] [--write]`.

Exit 0: every service mapped (notices and settings that do not apply are listed). Exit 2:
bad input (unreadable file, not a Compose file, bad YAML, bad option, unknown team without
--write, a stack file that is invalid before or after the import) or a refused service;
nothing is written then. Exit 3: an internal error (a bug: please report it). Exit 1 is
not used: it means "the Pulumi program failed", and no program runs here.
"""

from __future__ import annotations

import math
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

from pydantic import ValidationError

from components.config import StackConfigError, parse_stack_config
from components.config.base import quantity_value
from components.config.capacity import min_replicas
from components.config.tenancy import QuotaConfig, TeamConfig
from preflight.stackfile import StackFileError, read_stack_file

from .findings import KINDS, ImportedService
from .mapping import ImportOptions, map_services
from .source import ComposeInputError, read_compose_file
from .writer import StackFileShapeError, merge_apps, render_apps, secret_command

EXIT_OK, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 2, 3


class BadInput(Exception):
    """A problem with what the user gave; the message says what and how to fix it."""


def run(args) -> int:
    written: list[Path] = []
    try:
        return _import(args, written)
    except (BadInput, ComposeInputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as err:  # the command's contract: never a traceback
        outcome = f"{written[0]} was written" if written else "nothing was written"
        print(f"internal error in import-compose ({err.__class__.__name__}: {err}); {outcome}. "
              "Please report it with the Compose file.", file=sys.stderr)
        return EXIT_INTERNAL


def _pairs(values: Optional[list[str]], option: str, services: dict[str, Any]) -> dict[str, str]:
    pairs = {}
    for value in values or []:
        service, sep, setting = value.partition("=")
        if not sep or not setting:
            raise BadInput(f"{option} {value!r}: write it as SERVICE=VALUE")
        if service not in services:
            raise BadInput(f"{option} {value!r}: no service {service!r} in the Compose file "
                           f"(services: {', '.join(services)})")
        pairs[service] = setting
    return pairs


def _read(path: Path, text: str):
    """The stack file as preflight reads it (`secure:` values as placeholders), from text."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / path.name
        copy.write_text(text, encoding="utf-8")
        try:
            return read_stack_file(copy)
        except StackFileError as err:
            raise BadInput(str(err).replace(str(copy), str(path))) from None


def _validated(path: Path, text: str, stack: str, label: str):
    stack_file = _read(path, text)
    try:
        return parse_stack_config(stack_file.project_values, source=label, stack=stack,
                                  is_secret=stack_file.is_secret)
    except StackConfigError as err:
        raise BadInput(str(err)) from None


def _import(args, written: list[Path]) -> int:
    from preflight.runner import PROJECT_DIR

    stack_path: Path = args.config or PROJECT_DIR / f"Pulumi.{args.stack}.yaml"
    try:
        text = stack_path.read_text(encoding="utf-8")
    except OSError as err:
        raise BadInput(f"{stack_path}: cannot read the stack file ({err.__class__.__name__}); "
                       "give --stack NAME or --config FILE") from None
    before = _validated(stack_path, text, args.stack, f"{stack_path} (before the import)")
    team = next((t for t in before.teams if t.name == args.team), None)
    if team is None and not args.write:
        known = ", ".join(t.name for t in before.teams) or "none"
        raise BadInput(f"team {args.team!r} is not in {stack_path} (teams: {known}); add --write to create it")

    compose = read_compose_file(args.file)
    hosts = _pairs(args.host, "--host", compose.services)
    sizes = {}
    for service, size in _pairs(args.storage_gi, "--storage-gi", compose.services).items():
        if not size.isdigit() or int(size) < 1:
            raise BadInput(f"--storage-gi {service}={size}: the size is a whole number of GiB, at least 1")
        sizes[service] = int(size)
    options = ImportOptions(team=args.team, hosts=hosts, storage_gi=sizes,
                            limits=team.limits if team else TeamConfig(name=args.team).limits)
    imported = map_services(compose, options)
    refused = [item for item in imported if item.refused]
    if refused:
        accepted = [item for item in imported if not item.refused]
        if accepted:
            print(f"# App entries for the services that can be imported ({len(accepted)} of {len(imported)}):")
            print(render_apps(accepted), end="")
        _print_findings(imported)
        print(f"error: {', '.join(item.service for item in refused)} refused (see above); nothing was written",
              file=sys.stderr)
        return EXIT_BAD_INPUT

    try:
        merged = merge_apps(text, args.team, imported)
        settings = _quota_for_new_team(_read(stack_path, merged.text), merged.team_index) \
            if merged.created_team else None
        if settings:
            merged = merge_apps(text, args.team, imported, settings)
        after = _validated(stack_path, merged.text, args.stack, f"{stack_path} with the imported apps")
    except StackFileShapeError as err:
        raise BadInput(f"{stack_path}: {err}") from None
    shortfall = _quota_shortfall(next(t for t in after.teams if t.name == args.team))

    where = f"team {args.team!r} (eks-platform:teams[{merged.team_index}]) of {stack_path}"
    if args.write:
        stack_path.write_text(merged.text, encoding="utf-8")
        written.append(stack_path)
        print(f"Wrote {len(imported)} app(s) from {args.file} into {where}:")
        for change in merged.changes:
            print(f"  - {change}")
        if merged.created_team:
            print("  The new team has no access yet: add IAM roles under access.admin/developer/viewer.")
    else:
        print(f"# App entries for {where}, from {args.file}")
        print("# (add --write to merge them into the stack file)")
        print(render_apps(imported), end="")
    commands = [secret_command(merged.team_index, merged.app_indexes[item.name], key)
                for item in imported for key in item.secret_keys]
    if commands:
        print(f"\nSecrets to set before `pulumi up` ({len(commands)}; each is a placeholder until then):")
        print("\n".join(f"  {command}" for command in commands))
    if shortfall:
        print(f"\nThe team's quota does not fit its apps at full scale: raise {'; '.join(shortfall)} "
              f"(teams[{merged.team_index}].quota), or lower replicas or resources.")
    _print_findings(imported)
    print("\nEvery app runs as uid 65532 (non-root) with a read-only root filesystem; /tmp and the "
          "volume (if any) are writable. Check your images run that way before `pulumi up`.")
    return EXIT_OK


def _print_findings(imported: list[ImportedService]) -> None:
    listed = [item for item in imported if item.findings]
    if not listed:
        return
    print("\nNot mapped or worth a look, per service:")
    width = max(len(kind) for kind in KINDS)
    for item in listed:
        print(f"  {item.service}:")
        for kind in KINDS:
            for finding in item.findings:
                if finding.kind == kind:
                    print(f"    {kind:<{width}}  {finding.key}: {finding.message}")


def _needs(team: TeamConfig) -> dict[str, float]:
    """What the team's apps ask of its quota at full scale (autoscaling maximum)."""
    needs = {"requests_cpu": 0.0, "requests_memory": 0.0, "limits_cpu": 0.0, "limits_memory": 0.0,
             "requests_storage": 0.0, "persistent_volume_claims": 0.0}
    for app in team.apps:
        pods = app.autoscaling.max_replicas if app.autoscaling else min_replicas(app)
        for kind in ("cpu", "memory"):
            needs[f"requests_{kind}"] += pods * quantity_value(getattr(app.resources, f"{kind}_request"))
            needs[f"limits_{kind}"] += pods * quantity_value(getattr(app.resources, f"{kind}_limit"))
        if app.stateful:
            needs["requests_storage"] += pods * app.stateful.storage_gi * 2**30
            needs["persistent_volume_claims"] += pods
    return needs


def _over(quota: QuotaConfig, needs: dict[str, float]) -> list[str]:
    return [key for key, need in needs.items()
            if need > (getattr(quota, key) if key == "persistent_volume_claims"
                       else quantity_value(getattr(quota, key)))]


def _quota_shortfall(team: TeamConfig) -> list[str]:
    needs = _needs(team)
    return [f"{_camel(key)} to {_quantity(key, needs[key])}" for key in _over(team.quota, needs)]


def _quota_for_new_team(stack_file, team_index: int) -> Optional[dict[str, Any]]:
    """A quota that fits a new team's apps at full scale, where the default one does not."""
    try:
        team = TeamConfig.model_validate(stack_file.project_values["teams"][team_index])
    except ValidationError:
        return None  # the validation that follows names the problem
    needs = _needs(team)
    over = _over(team.quota, needs)
    return {"quota": {_camel(key): _quantity(key, needs[key]) for key in over}} if over else None


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


def _quantity(key: str, amount: float) -> Any:
    if key == "persistent_volume_claims":
        return int(amount)
    if key.endswith("cpu"):
        return str(math.ceil(amount))
    return f"{math.ceil(amount / 2**30)}Gi"
