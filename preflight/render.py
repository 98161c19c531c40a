"""Kubernetes objects a plan creates directly, as the manifests the API server would receive.

`render --out DIR` only writes into a folder it owns: a new one, an empty one, or one holding
the marker file an earlier render left (it lists the files that render wrote, and only those
are replaced). Anything else (`--out .`, a source folder) is refused before a file is touched.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from preflight.files import PathError, describe
from preflight.runner import Plan

MARKER = ".preflight-render"

# Registrations under kubernetes: that are not objects in the cluster.
NOT_OBJECTS = ("pulumi:providers:", "kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize")


APPLY_ORDER = {kind: rank for rank, kind in enumerate((
    "Namespace", "CustomResourceDefinition", "StorageClass", "PriorityClass", "ClusterRole", "ClusterRoleBinding",
    "ServiceAccount", "Secret", "ConfigMap", "LimitRange", "ResourceQuota", "NetworkPolicy", "Role", "RoleBinding"))}


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
    # Registration order varies between runs (outputs resolve concurrently): order by what
    # `kubectl apply` needs first, then by namespace and name, so two renders diff cleanly.
    return sorted(result, key=lambda item: (APPLY_ORDER.get(item[1].get("kind"), len(APPLY_ORDER)),
                                            item[1]["metadata"].get("namespace") or "", item[1].get("kind") or "",
                                            item[1]["metadata"]["name"], item[0]))


def claim_out_dir(out_dir: Path) -> list[str]:
    """Make `out_dir` render's own, or refuse it; returns the files an earlier render wrote."""
    marker = out_dir / MARKER
    try:
        if out_dir.exists() and not out_dir.is_dir():
            raise PathError(f"{out_dir}: is a file; --out takes a folder")
        if not out_dir.exists():
            out_dir.mkdir(parents=True)
            return []
        if marker.is_file():
            # Only plain *.yaml names of this folder: a marker never reaches outside it.
            return [name for name in marker.read_text(encoding="utf-8").splitlines()
                    if name.endswith(".yaml") and "/" not in name and not name.startswith(".")]
        others = sorted(entry.name for entry in out_dir.iterdir())
        if others:
            shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
            raise PathError(f"{out_dir}: refusing to render into a folder render did not create (it holds {shown}); "
                            f"give a new or empty folder, e.g. --out out/manifests")
        return []
    except (OSError, UnicodeDecodeError) as err:
        raise PathError(describe(err, out_dir, "output folder")) from None


def write_manifests(plan: Plan, out_dir: Path) -> list[Path]:
    previous = claim_out_dir(out_dir)
    files = []
    for index, (_, manifest) in enumerate(manifests(plan)):
        metadata = manifest["metadata"]
        parts = [manifest.get("kind", "Object"), metadata.get("namespace", "cluster"), metadata["name"]]
        slug = re.sub(r"[^a-zA-Z0-9.-]+", "-", "-".join(parts)).lower()
        files.append((out_dir / f"{index:03d}-{slug}.yaml", yaml.safe_dump(manifest, sort_keys=False)))
    try:
        for name in previous:
            (out_dir / name).unlink(missing_ok=True)
        # The marker goes first: a render cut short still leaves a folder the next one may reuse.
        (out_dir / MARKER).write_text("".join(f"{path.name}\n" for path, _ in files), encoding="utf-8")
        for path, text in files:
            path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise PathError(describe(err, Path(err.filename or out_dir), "output folder")) from None
    return [path for path, _ in files]


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
