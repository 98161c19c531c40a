"""Print a plan the way `pulumi preview` lists what it would create."""

from __future__ import annotations

from collections import Counter, defaultdict

from preflight.runner import Plan


def format_tree(plan: Plan) -> str:
    children: dict[str, list] = defaultdict(list)
    known = {r.urn for r in plan.resources}
    for resource in plan.resources:
        parent = resource.parent if resource.parent in known else ""
        children[parent].append(resource)

    width = max((len(r.type) for r in plan.resources), default=4)
    lines = [f"Previewing update ({plan.stack}) offline with preflight:", "",
             f"     {'Type':<{width + 6}} Name"]
    stack_type = "pulumi:pulumi:Stack"
    lines.append(f" +   {stack_type:<{width + 6}} eks-platform-{plan.stack}")

    def walk(parent: str, depth: int) -> None:
        for resource in children.get(parent, []):
            indent = "   " * depth + "└─ "
            label = f"{indent}{resource.type}"
            flags = " [protect]" if resource.protect else ""
            lines.append(f" +   {label:<{width + 6}} {resource.name}{flags}")
            walk(resource.urn, depth + 1)

    walk("", 1)
    counts = Counter(r.type for r in plan.resources)
    lines += ["", "Resources:", f"    + {len(plan.resources)} to create", "", "By type:"]
    lines += [f"    {count:>4}  {typ}" for typ, count in sorted(counts.items())]
    if plan.outputs:
        lines += ["", "Outputs:"]
        for key in sorted(plan.outputs):
            value = "[secret]" if key in plan.secret_outputs else plan.outputs[key]
            lines.append(f"    {key}: {value}")
    return "\n".join(lines)
