"""Kubernetes objects a plan creates directly, as the manifests the API server would receive."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from preflight.runner import Plan

# Registrations under kubernetes: that are not objects in the cluster.
NOT_OBJECTS = ("pulumi:providers:", "kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")


def is_kubernetes_object(resource_type: str) -> bool:
    return resource_type.startswith("kubernetes:") and not resource_type.startswith(NOT_OBJECTS)


def manifests(plan: Plan) -> list[tuple[str, dict[str, Any]]]:
    """(pulumi name, manifest) for each object, metadata.name filled in as auto-naming would."""
    result = []
    for resource in plan.resources:
        if not is_kubernetes_object(resource.type):
            continue
        manifest = {k: v for k, v in resource.inputs.items() if not k.startswith("__")}
        metadata = dict(manifest.get("metadata") or {})
        metadata.setdefault("name", f"{resource.name}-{hashlib.sha256(resource.urn.encode()).hexdigest()[:7]}")
        manifest["metadata"] = metadata
        ordered = {key: manifest[key] for key in ("apiVersion", "kind", "metadata") if key in manifest}
        ordered.update({k: v for k, v in manifest.items() if k not in ordered})
        result.append((resource.name, ordered))
    return result


def write_manifests(plan: Plan, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob("*.yaml"):
        stale.unlink()
    written = []
    for index, (_, manifest) in enumerate(manifests(plan)):
        metadata = manifest["metadata"]
        parts = [manifest.get("kind", "Object"), metadata.get("namespace", "cluster"), metadata["name"]]
        slug = re.sub(r"[^a-zA-Z0-9.-]+", "-", "-".join(parts)).lower()
        path = out_dir / f"{index:03d}-{slug}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        written.append(path)
    return written
