"""The pack's rules, one module per concern: pod_security, rbac, exposure, workloads, aws.
Importing this package (or a module without rules: base, helpers, image_reference) registers
nothing; `all_rules()` imports the rule modules, whose decorators register each rule once.

Callers that need the rules ask for them: the pack (policies/__main__.py), `preflight check` and
the reference generator. `from policies.rules import POLICIES` still works and means the same.
"""

from __future__ import annotations

import importlib
import pkgutil


def all_rules() -> list:
    """Every rule of the pack by name, registered on first call (a module's decorators run once).
    Every module of this package is imported, so a new rule needs no list to be added to; the
    order is the names', so where a rule lives does not change the order of a report."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    from .base import POLICIES

    POLICIES.sort(key=lambda policy: policy.name)
    return POLICIES


def __getattr__(name: str):
    if name == "POLICIES":
        return all_rules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["POLICIES", "all_rules"]
