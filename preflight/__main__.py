"""python -m preflight plan|render|check ... (see README).\n\nExit 0 ok; 1 the program failed (plan, render) or a mandatory violation (check); 2 bad input."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_PROGRAM_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m preflight",
                                     description="Offline plan, render and policy gate for eks-platform.")
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="print what `pulumi up` would create")
    plan.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    plan.add_argument("--config", type=Path, help="a stack file to read instead of Pulumi.<stack>.yaml")
    plan.add_argument("--json", type=Path, dest="json_out", help="also write the plan as JSON here")

    render = commands.add_parser("render", help="write every Kubernetes object as a YAML manifest")
    render.add_argument("--stack", required=True)
    render.add_argument("--config", type=Path)
    render.add_argument("--out", type=Path, required=True, help="folder for the manifests")
    render.add_argument("--charts", action=argparse.BooleanOptionalAction, default=None,
                        help="also write each Helm release's rendered contents (default: when helm is on PATH)")
    check = commands.add_parser("check", help="evaluate the policy pack over a plan or manifests")
    source = check.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="check the plan of this stack")
    source.add_argument("--manifests", type=Path, help="check every YAML document in this folder")
    check.add_argument("--config", type=Path, help="stack file to plan instead of Pulumi.<stack>.yaml")
    check.add_argument("--policy-config", type=Path,
                       help="pack config; default policies/config/<stack>.json (prod's for --manifests)")
    check.add_argument("--json", type=Path, dest="json_out", help="also write the report as JSON here")
    check.add_argument("--readiness", action=argparse.BooleanOptionalAction, default=True,
                       help="simulate admission, reachability, ordering and chart contents (default: on)")
    check.add_argument("--charts", action=argparse.BooleanOptionalAction, default=None,
                       help="render every Helm release with helm and check its contents (default: when helm is on PATH)")

    compose = commands.add_parser("import-compose", help="turn a Compose or Swarm stack file into app entries")
    compose.add_argument("file", type=Path, help="the docker-compose.yml or Swarm stack file")
    compose.add_argument("--team", required=True, help="the team the apps belong to")
    compose.add_argument("--stack", default="dev", help="stack name: Pulumi.<stack>.yaml (default dev)")
    compose.add_argument("--config", type=Path, help="a stack file to use instead of Pulumi.<stack>.yaml")
    compose.add_argument("--write", action="store_true", help="merge the apps into the stack file (else print)")
    compose.add_argument("--host", action="append", metavar="SERVICE=HOST",
                         help="host name of a service published on 80/443 (repeatable)")
    compose.add_argument("--storage-gi", action="append", metavar="SERVICE=GI",
                         help="volume claim size of a service with a named volume (repeatable)")
    return parser


def _check(args) -> int:
    from preflight import check
    from preflight.runner import PROJECT_DIR

    config_path = args.policy_config or PROJECT_DIR / "policies" / "config" / f"{args.stack or 'prod'}.json"
    plan = None
    try:
        policy_config = check.load_policy_config(config_path)
        if args.manifests:
            subjects = check.manifest_subjects(args.manifests)
        else:
            plan = _run(args.stack, args.config)
            subjects = check.plan_subjects(plan)
    except check.CheckInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    violations = check.evaluate(subjects, policy_config)
    sections, checked = [], len(subjects)
    if args.readiness:
        stack_config = _load(args.stack, args.config)[1] if plan else None
        found, sections, chart_objects = check.run_readiness(subjects, policy_config, plan, stack_config, args.charts)
        violations += found
        checked += chart_objects
    print(check.format_report(violations, checked, policy_config, config_path, sections))
    if args.json_out:
        args.json_out.write_text(json.dumps(check.report_json(violations, checked, policy_config), indent=2))
    return EXIT_PROGRAM_FAILED if any(v.enforcement == "mandatory" for v in violations) else EXIT_OK


def _load(stack: str, config_path: Path | None):
    from components.config import StackConfigError, parse_stack_config
    from preflight.runner import PROJECT_DIR
    from preflight.stackfile import StackFileError, read_stack_file

    path = config_path or PROJECT_DIR / f"Pulumi.{stack}.yaml"
    try:
        stack_file = read_stack_file(path)
        config = parse_stack_config(stack_file.project_values, source=str(path), stack=stack,
                                    is_secret=stack_file.is_secret)
    except (StackFileError, StackConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None
    return stack_file, config


def _run(stack: str, config_path: Path | None):
    from preflight.runner import ProgramError, run_program

    stack_file, config = _load(stack, config_path)
    try:
        return run_program(stack, stack_file, config)
    except ProgramError as err:
        print(f"error: the Pulumi program failed:\n{err}", file=sys.stderr)
        raise SystemExit(EXIT_PROGRAM_FAILED) from None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "plan":
        from preflight.tree import format_tree

        plan = _run(args.stack, args.config)
        print(format_tree(plan))
        if args.json_out:
            args.json_out.write_text(json.dumps(plan.as_json(), indent=2, sort_keys=False))
            print(f"\nPlan written to {args.json_out}")
        return EXIT_OK
    if args.command == "render":
        from preflight.render import write_manifests

        plan = _run(args.stack, args.config)
        written = write_manifests(plan, args.out)
        print(f"Rendered {len(written)} Kubernetes manifests to {args.out}")
        if args.charts is not False:
            from preflight.render import write_charts

            print("\n".join(write_charts(plan, _load(args.stack, args.config)[1], args.out, args.charts)))
        return EXIT_OK
    if args.command == "check":
        return _check(args)
    if args.command == "import-compose":
        from preflight.compose.importer import run

        return run(args)
    return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
