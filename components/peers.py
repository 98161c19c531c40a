"""NetworkPolicy peers every layer writes the same way: a namespace, or some pods in one."""

from __future__ import annotations

from typing import Any

from components.names import NAMESPACE_NAME_LABEL


def from_namespace(name: str) -> dict[str, Any]:
    """Every pod of one namespace (selected by the name label the API server sets)."""
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: name}}}


def pods_in(namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """One peer: these pods in that namespace (both selectors in one peer are ANDed)."""
    return {**from_namespace(namespace), "podSelector": {"matchLabels": labels}}
