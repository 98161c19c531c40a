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


def write_chart_manifests(rendered: list, out_dir: Path) -> tuple[list[Path], list[str]]:
    """Each rendered Helm release under charts/<namespace>-<release>/, objects sorted by kind,
    namespace and name, so two runs write the same files in the same order. Returns the files
    and a line for each release whose contents could not be rendered."""
    from preflight.readiness.charts import manifest_file_name, sort_key

    charts_dir = out_dir / "charts"
    for stale in sorted(charts_dir.glob("*/*.yaml")) if charts_dir.is_dir() else []:
        stale.unlink()
    written, missing = [], []
    for result in sorted(rendered, key=lambda r: (r.release.namespace, r.release.name)):
        if result.problem:
            missing.append(f"contents of {result.release.label} not written: {result.problem}")
            continue
        folder = charts_dir / f"{result.release.namespace}-{result.release.name}"
        folder.mkdir(parents=True, exist_ok=True)
        for index, manifest in enumerate(sorted(result.manifests, key=sort_key)):
            path = folder / manifest_file_name(index, manifest)
            path.write_text(yaml.safe_dump(manifest, sort_keys=False))
            written.append(path)
    return written, missing


def write_charts(plan: Plan, stack_config, out_dir: Path, insist: bool | None) -> list[str]:
    """`render --charts`: each Helm release's contents beside the manifests; lines to print."""
    from preflight.readiness import charts
    from preflight.readiness.model import releases_of

    releases = releases_of(plan.resources)
    helm = charts.find_helm()
    if not helm:
        return [f"Chart contents NOT written: helm is not on PATH ({len(releases)} Helm releases)."] if insist else []
    rendered = charts.render_all(helm, releases, stack_config.cluster.kubernetes_version)
    written, missing = write_chart_manifests(rendered, out_dir)
    return [f"Rendered {len(written)} chart objects of {len(releases) - len(missing)} of {len(releases)} Helm "
            f"releases to {out_dir / 'charts'}", *(f"  NOT CHECKED: {line}" for line in missing)]
