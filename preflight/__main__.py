"""python -m preflight plan|render|check ... (see README).

Exit codes, the same for every command:
  0  ok: the plan ran (plan, render); no mandatory violation (check).
  1  the thing checked is wrong: a mandatory policy violation (check), or the Pulumi program
     itself failed (plan, render, check --stack; the program's error is printed).
  2  bad input or usage: a stack config, policy config or manifest that cannot be used, a path
     that cannot be read or written, nothing to check. One message naming the file; no traceback.
  3  an unexpected error inside preflight (a bug): one line on stderr; --debug prints the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

EXIT_OK, EXIT_PROGRAM_FAILED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_VIOLATIONS = EXIT_PROGRAM_FAILED


class BadInput(Exception):
    """Raised by a command for input it cannot use (exit 2)."""


class ProgramFailed(Exception):
    """The Pulumi program failed under the mocks (exit 1)."""


def _parser() -> argparse.ArgumentParser:
    # --debug is accepted before or after the command; SUPPRESS keeps a subcommand's default
    # from overwriting a --debug given before it.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="print the traceback of an unexpected error")
    parser = argparse.ArgumentParser(prog="python -m preflight", parents=[debug],
                                     description="Offline plan, render and policy gate for eks-platform.")
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", parents=[debug], help="print what `pulumi up` would create")
    plan.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    plan.add_argument("--config", type=Path, help="a stack file to read instead of Pulumi.<stack>.yaml")
    plan.add_argument("--json", type=Path, dest="json_out", help="also write the plan as JSON here")

    render = commands.add_parser("render", parents=[debug], help="write every Kubernetes object as a YAML manifest")
    render_source = render.add_mutually_exclusive_group(required=True)
    render_source.add_argument("--stack", help="plan this stack and render it")
    render_source.add_argument("--plan", type=Path, help="render the plan JSON `plan --json` wrote (no new run)")
    render.add_argument("--config", type=Path, help="a stack file to plan instead of Pulumi.<stack>.yaml")
    render.add_argument("--out", type=Path, required=True,
                        help="folder for the manifests: new, empty, or one an earlier render wrote")
    render.add_argument("--charts", action=argparse.BooleanOptionalAction, default=None,
                        help="also write each Helm release's rendered contents (default: when helm is on PATH)")
    compose = commands.add_parser("import-compose", parents=[debug],
                                  help="turn a Compose or Swarm stack file into app entries")
    compose.add_argument("file", type=Path, help="the docker-compose.yml or Swarm stack file")
    compose.add_argument("--team", required=True, help="the team the apps belong to")
    compose.add_argument("--stack", default="dev", help="stack name: Pulumi.<stack>.yaml (default dev)")
    compose.add_argument("--config", type=Path, help="a stack file to use instead of Pulumi.<stack>.yaml")
    compose.add_argument("--write", action="store_true", help="merge the apps into the stack file (else print)")
    compose.add_argument("--host", action="append", metavar="SERVICE=HOST",
                         help="host name of a service published on 80/443 (repeatable)")
    compose.add_argument("--storage-gi", action="append", metavar="SERVICE=GI",
                         help="volume claim size of a service with a named volume (repeatable)")

    check = commands.add_parser("check", parents=[debug], help="evaluate the policy pack over a plan or manifests")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="check the plan of this stack")
    source.add_argument("--plan", type=Path, help="check the plan JSON `plan --json` wrote (no new run)")
    source.add_argument("--manifests", type=Path,
                        help="check every .yaml, .yml and .json file in this folder (or this one file)")
    check.add_argument("--config", type=Path, help="stack file to plan instead of Pulumi.<stack>.yaml")
    check.add_argument("--policy-config", type=Path,
                       help="pack config; default policies/config/<stack>.json (prod's for --manifests)")
    check.add_argument("--json", type=Path, dest="json_out", help="also write the report as JSON here")
    check.add_argument("--readiness", action=argparse.BooleanOptionalAction, default=True,
                       help="simulate admission, reachability, ordering and chart contents (default: on)")
    check.add_argument("--charts", action=argparse.BooleanOptionalAction, default=None,
                       help="render every Helm release with helm and check its contents (default: when helm is on PATH)")
    return parser


def _check(args) -> int:
    from preflight import check
    from preflight.files import check_writable, write_text
    from preflight.runner import PROJECT_DIR

    planned = _read_plan(args) if args.plan else None
    stack = args.stack or (planned[0].stack if planned else None)
    config_path = args.policy_config or PROJECT_DIR / "policies" / "config" / f"{stack or 'prod'}.json"
    policy_config = check.load_policy_config(config_path)
    loaded = _load(args.stack, args.config) if args.stack else None
    if args.json_out:
        check_writable(args.json_out, "JSON report")
    notices: list[str] = []
    plan = stack_config = None
    if args.manifests:
        subjects = check.manifest_subjects(args.manifests, notices)
    else:
        plan, stack_config = planned or _run(args.stack, *loaded)
        subjects = check.plan_subjects(plan)
        policy_config = check.with_kubernetes_version(policy_config, stack_config.cluster.kubernetes_version)
    for notice in notices:
        print(f"note: {notice}", file=sys.stderr)
    violations = check.evaluate(subjects, policy_config)
    ready = check.run_readiness(subjects, policy_config, plan, stack_config, args.charts) if args.readiness else None
    if ready:
        violations += ready.violations
    checked = len(subjects) + (ready.chart_objects if ready else 0)
    print(check.format_report(violations, checked, policy_config, config_path, ready.sections if ready else ()))
    if args.json_out:
        report = check.report_json(violations, checked, policy_config, skipped=notices,
                                   reachability=ready.connections if ready else None)
        write_text(args.json_out, json.dumps(report, indent=2), "JSON report")
    return EXIT_VIOLATIONS if any(v.enforcement == "mandatory" for v in violations) else EXIT_OK


def _load(stack: str, config_path: Path | None):
    from components.config import parse_stack_config
    from preflight.files import PathError, describe
    from preflight.runner import PROJECT_DIR
    from preflight.stackfile import read_stack_file

    path = config_path or PROJECT_DIR / f"Pulumi.{stack}.yaml"
    if path.is_dir():
        raise PathError(f"{path}: is a folder; --config takes a stack file such as Pulumi.{stack}.yaml")
    try:
        stack_file = read_stack_file(path)
    except (OSError, UnicodeDecodeError) as err:
        raise PathError(describe(err, path, "stack file")) from None
    config = parse_stack_config(stack_file.project_values, source=str(path), stack=stack,
                                is_secret=stack_file.is_secret)
    return stack_file, config


def _read_plan(args):
    """(plan, stack config) from the file `--plan` names."""
    from preflight.runner import read_plan

    if args.config:
        raise BadInput(f"--config {args.config}: --config names a stack file to plan; a --plan file already "
                       f"holds the stack config it was planned with (drop --config, or plan again)")
    return read_plan(args.plan)


def _run(stack: str, stack_file, config):
    """(plan, stack config) of a loaded stack, run under the mocks."""
    from preflight.runner import ProgramError, run_program

    try:
        return run_program(stack, stack_file, config), config
    except ProgramError as err:
        raise ProgramFailed(str(err)) from None


def _plan(args) -> int:
    from preflight.files import check_writable, write_text
    from preflight.tree import format_tree

    loaded = _load(args.stack, args.config)  # a bad stack config is reported first
    if args.json_out:
        check_writable(args.json_out, "plan JSON")
    plan, _ = _run(args.stack, *loaded)
    print(format_tree(plan))
    if args.json_out:
        write_text(args.json_out, json.dumps(plan.as_json(), indent=2, sort_keys=False), "plan JSON")
        print(f"\nPlan written to {args.json_out}")
    return EXIT_OK


def _render(args) -> int:
    from preflight.render import claim_out_dir, write_charts, write_manifests

    planned = _read_plan(args) if args.plan else None
    loaded = None if planned else _load(args.stack, args.config)
    claim_out_dir(args.out)  # refuse a folder render does not own before planning
    plan, stack_config = planned or _run(args.stack, *loaded)
    written = write_manifests(plan, args.out)
    print(f"Rendered {len(written)} Kubernetes manifests to {args.out}")
    if args.charts is not False:
        for line in write_charts(plan, stack_config, args.out, args.charts):
            print(line)
    return EXIT_OK


def _import_compose(args) -> int:
    from preflight.compose.importer import run  # keeps its own 2/3 contract (it may have written a file)

    return run(args)


COMMANDS = {"plan": _plan, "render": _render, "check": _check, "import-compose": _import_compose}


def _bad_input_errors() -> tuple[type[Exception], ...]:
    from components.config import StackConfigError
    from preflight.check import CheckInputError
    from preflight.files import PathError
    from preflight.runner import PlanFileError
    from preflight.stackfile import StackFileError

    return BadInput, CheckInputError, PathError, PlanFileError, StackConfigError, StackFileError


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # usage errors exit 2 here, as argparse does
    try:
        return COMMANDS[args.command](args)
    except ProgramFailed as err:
        print(f"error: the Pulumi program failed:\n{err}", file=sys.stderr)
        return EXIT_PROGRAM_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (the exit-code contract: 2 for input, 3 for the rest)
        if isinstance(err, _bad_input_errors()):
            print(f"error: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"internal error: {type(err).__name__}: {err} (a bug in preflight; rerun with --debug for the "
              f"traceback)".replace("\n", " "), file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
