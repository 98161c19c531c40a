"""How component modules may depend on each other: a layer that needs another layer's name
(a namespace, a pod label, a storage class) takes it from `components/names.py`, never from
the other layer, so moving or renaming a layer breaks no one who only wanted a string."""

from __future__ import annotations

import ast

from conftest import ROOT

COMPONENTS = ROOT / "components"


def _tree(module: str) -> ast.Module:
    return ast.parse((COMPONENTS / f"{module}.py").read_text())


def _defines_component_resource(tree: ast.Module) -> bool:
    return any(isinstance(node, ast.ClassDef) and any(
        (isinstance(base, ast.Attribute) and base.attr == "ComponentResource") for base in node.bases)
        for node in tree.body)


def _functions_and_classes(tree: ast.Module) -> set[str]:
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def _imports_from_components(tree: ast.Module) -> list[tuple[str, str]]:
    """(module under components, imported name) for every `from components.X import name`."""
    return [(node.module.removeprefix("components."), alias.name)
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
            and node.module.startswith("components.") for alias in node.names]


def test_shared_names_module_is_a_leaf():
    tree = _tree("names")
    imported = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                and getattr(node, "module", "") != "__future__"]
    assert imported == [], "components/names.py must import nothing: every layer imports it"


def test_no_component_module_imports_another_layer_for_a_constant():
    modules = sorted(path.stem for path in COMPONENTS.glob("*.py") if path.stem != "__init__")
    layers = {module for module in modules if _defines_component_resource(_tree(module))}
    assert {"ingress_controller", "monitoring", "addons", "team", "app"} <= layers  # the scan sees them
    offenders = []
    for module in modules:
        for source, name in _imports_from_components(_tree(module)):
            if source in layers and name not in _functions_and_classes(_tree(source)):
                offenders.append(f"components/{module}.py imports {name} from components/{source}.py")
    assert offenders == [], "take shared names from components/names.py:\n" + "\n".join(offenders)


def test_layer_args_take_what_every_layer_shares_from_the_platform_context():
    import dataclasses
    import importlib

    from components.platform import PlatformContext

    shared = {f.name for f in dataclasses.fields(PlatformContext)} | {
        "oidc_provider_arn", "oidc_issuer", "cluster_name", "issuer", "monitoring_crds"}
    layer_args = {}
    for path in sorted(COMPONENTS.glob("*.py")):
        module = importlib.import_module(f"components.{path.stem}")
        for attr, value in vars(module).items():
            if attr.endswith("Args") and dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                layer_args[attr] = {f.name for f in dataclasses.fields(value)}
    with_context = {attr: fields for attr, fields in layer_args.items() if "context" in fields}
    assert {"MonitoringArgs", "CertManagerArgs", "IngressControllerArgs", "LoggingArgs", "GrafanaIngressArgs",
            "TeamArgs", "AppArgs", "ClusterAddonsArgs", "ClusterAutoscalerArgs", "KarpenterArgs"} <= set(with_context)
    repeated = {attr: sorted(fields & shared) for attr, fields in with_context.items() if fields & shared}
    assert repeated == {}, f"these Args repeat what PlatformContext carries: {repeated}"
