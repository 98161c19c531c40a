"""Chart contents: every helm.v3.Release of the plan rendered with `helm template`, with its
exact chart, version, repository, namespace and values, so the policy pack, admission and
reachability see the objects inside the charts too.

Charts are downloaded once into ~/.cache/eks-platform/charts (`helm pull`); a `file://` (or
plain directory) repository is read from its index.yaml. When helm is missing or a chart
cannot be fetched or rendered, the report says which chart contents were not checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional
from urllib.parse import unquote, urlparse

import yaml

from preflight.manifests import ManifestLoader

from .known import installed_api_versions
from .model import Release

CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "eks-platform" / "charts"
PULL_TIMEOUT = 60
TEMPLATE_TIMEOUT = 120


@dataclass
class Rendered:
    release: Release
    manifests: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""
    """Why the contents were not checked; empty when they were."""
    test_hooks: list[str] = field(default_factory=list)
    """'Kind namespace/name' of the chart's Helm tests, left out of `manifests`."""


# `helm test` runs these; `helm install`/`upgrade` (and Pulumi's helm.v3.Release) never create
# them. Every other hook (pre-install, post-upgrade...) is created by the install, so it is kept.
TEST_HOOK_EVENTS = frozenset({"test", "test-success"})


def is_test_hook(manifest: dict[str, Any]) -> bool:
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    events = {e.strip() for e in str(annotations.get("helm.sh/hook") or "").split(",") if e.strip()}
    return bool(events) and events <= TEST_HOOK_EVENTS


def find_helm() -> Optional[str]:
    return shutil.which("helm")


def _helm_env(cache: Path) -> dict[str, str]:
    # Helm's own repository cache and config stay beside the charts, not in the user's helm setup.
    home = cache / "helm"
    return {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data")}


def _local_repository(repository: str) -> Optional[Path]:
    if repository.startswith("file://"):
        return Path(unquote(urlparse(repository).path))
    if repository and "://" not in repository and Path(repository).is_dir():
        return Path(repository)
    return None


def _from_local_repository(release: Release, folder: Path) -> Path:
    index_path = folder / "index.yaml"
    if not index_path.is_file():
        raise LookupError(f"{folder} has no index.yaml (make one with `helm repo index`)")
    index = yaml.load(index_path.read_text(), Loader=ManifestLoader) or {}
    for entry in (index.get("entries") or {}).get(release.chart) or []:
        if str(entry.get("version")) == release.version and entry.get("urls"):
            url = entry["urls"][0]
            path = Path(unquote(urlparse(url).path)) if "://" in url else folder / url
            if path.is_file():
                return path
            raise LookupError(f"{path} (listed in {index_path}) does not exist")
    raise LookupError(f"{index_path} lists no {release.chart} {release.version}")


def fetch(helm: str, release: Release, cache: Optional[Path] = None) -> Path:
    """The chart archive of a release, downloaded once."""
    cache = cache or CACHE_DIR
    local = _local_repository(release.repository)
    if local is not None:
        return _from_local_repository(release, local)
    key = hashlib.sha256(f"{release.repository}|{release.chart}|{release.version}".encode()).hexdigest()[:16]
    folder = cache / f"{release.chart}-{release.version}-{key}"
    archives = sorted(folder.glob("*.tgz")) if folder.is_dir() else []
    if archives:
        return archives[0]
    folder.mkdir(parents=True, exist_ok=True)
    command = [helm, "pull", release.chart, "--version", release.version, "--destination", str(folder)]
    if release.repository and not release.repository.startswith("oci://"):
        command += ["--repo", release.repository]
    elif release.repository.startswith("oci://"):
        command[2] = f"{release.repository.rstrip('/')}/{release.chart}"
    result = subprocess.run(command, capture_output=True, text=True, timeout=PULL_TIMEOUT, env=_helm_env(cache))
    archives = sorted(folder.glob("*.tgz"))
    if result.returncode != 0 or not archives:
        raise LookupError((result.stderr or result.stdout).strip().splitlines()[-1].removeprefix("Error: ") if (result.stderr or result.stdout)
                          else f"helm pull exited {result.returncode}")
    return archives[0]


def render(helm: str, release: Release, kubernetes_version: Optional[str], cache: Optional[Path] = None,
           api_versions: tuple[str, ...] = ()) -> Rendered:
    cache = cache or CACHE_DIR
    try:
        archive = fetch(helm, release, cache)
    except (LookupError, OSError, subprocess.TimeoutExpired) as err:
        return Rendered(release, problem=f"could not fetch it from {release.repository or 'its repository'}: {err}")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as values_file:
        json.dump(release.values, values_file)
    command = [helm, "template", release.name, str(archive), "--namespace", release.namespace,
               "--values", values_file.name, "--include-crds"]
    if kubernetes_version:
        command += ["--kube-version", kubernetes_version]
    for api_version in api_versions:
        command += ["--api-versions", api_version]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TEMPLATE_TIMEOUT,
                                env=_helm_env(cache))
    except subprocess.TimeoutExpired:
        return Rendered(release, problem="helm template timed out")
    finally:
        os.unlink(values_file.name)
    if result.returncode != 0:
        return Rendered(release, problem=f"helm template failed: {result.stderr.strip()}")
    documents = [d for d in yaml.load_all(result.stdout, Loader=ManifestLoader) if isinstance(d, dict) and d.get("kind")]
    tests = [d for d in documents if is_test_hook(d)]
    return Rendered(release, manifests=[d for d in documents if not is_test_hook(d)],
                    test_hooks=[f"{d.get('kind')} {(d.get('metadata') or {}).get('namespace') or release.namespace}/"
                                f"{(d.get('metadata') or {}).get('name')}" for d in tests])


def render_all(helm: str, releases: list[Release], kubernetes_version: Optional[str],
               cache: Optional[Path] = None) -> list[Rendered]:
    if not releases:
        return []
    # Other releases' CRDs are served by the time a chart is installed after them.
    api_versions = tuple(installed_api_versions(releases))
    with ThreadPoolExecutor(max_workers=min(4, len(releases))) as pool:
        return list(pool.map(lambda r: render(helm, r, kubernetes_version, cache, api_versions), releases))


def manifest_file_name(index: int, manifest: dict[str, Any]) -> str:
    """A stable file name: same chart, same values -> same names, in the same order."""
    metadata = manifest.get("metadata") or {}
    parts = [manifest.get("kind", "Object"), metadata.get("namespace") or "cluster", metadata.get("name") or "unnamed"]
    slug = "-".join(parts).lower()
    return f"{index:03d}-" + "".join(c if c.isalnum() or c in ".-" else "-" for c in slug) + ".yaml"


def sort_key(manifest: dict[str, Any]) -> tuple[str, str, str, str]:
    metadata = manifest.get("metadata") or {}
    return (str(manifest.get("kind")), str(metadata.get("namespace") or ""), str(metadata.get("name") or ""),
            str(manifest.get("apiVersion")))
