"""Kubernetes objects from a folder of manifest files, read the way `kubectl apply -f` reads them.

- `.yaml`, `.yml` and `.json` files, in sorted order, in sub-folders too (hidden ones skipped);
- every YAML document of a file; `kind: List` and any `*List` (PodList...) give their `items`;
- YAML as Kubernetes parses it: a bare `=` is a string (PyYAML alone resolves it to the YAML 1.1
  `value` tag and has no constructor for it), and timestamps stay strings;
- a document that is not a Kubernetes object (no apiVersion/kind, a kustomization, a Helm values
  file) is skipped with a notice; broken YAML or JSON and non-UTF-8 files are bad input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from preflight.files import PathError, read_text

SUFFIXES = (".yaml", ".yml", ".json")
# Tool configuration that looks like an object but never reaches the API server.
NOT_CLUSTER_OBJECTS = ("kustomize.config.k8s.io/", "config.kubernetes.io/")


class ManifestLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's parser (about ten times faster than pure Python) with Kubernetes' scalars."""


def _plain_string(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    return loader.construct_scalar(node)


ManifestLoader.add_constructor("tag:yaml.org,2002:value", _plain_string)
ManifestLoader.add_constructor("tag:yaml.org,2002:timestamp", _plain_string)


class ManifestError(PathError):
    """A manifest file that cannot be parsed (exit 2)."""


@dataclass
class Document:
    path: Path
    where: str
    """'#1' for the first document of a file, '#2.3' for the third item of a List in the second."""
    body: dict[str, Any]


def manifest_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise PathError(f"{root}: no such folder of manifests")
    return sorted(path for path in root.rglob("*")
                  if path.suffix.lower() in SUFFIXES and path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(root).parts))


def _parse(path: Path) -> list[Any]:
    text = read_text(path, "manifest")
    if path.suffix.lower() == ".json":
        try:
            return [json.loads(text)]
        except json.JSONDecodeError as err:
            raise ManifestError(f"{path}: broken JSON at line {err.lineno}: {err.msg}") from None
    try:
        return list(yaml.load_all(text, Loader=ManifestLoader))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or ""
        raise ManifestError(f"{path}: broken YAML{where}{': ' + problem if problem else ''}") from None


def _is_list(document: Mapping) -> bool:
    return str(document.get("kind", "")).endswith("List") and isinstance(document.get("items"), list)


def _object_problem(document: Any) -> str | None:
    if not isinstance(document, Mapping):
        return f"not a Kubernetes object (a {type(document).__name__}, not a mapping)"
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        return "not a Kubernetes object (needs apiVersion and kind)"
    if api_version.startswith(NOT_CLUSTER_OBJECTS):
        return f"{kind} ({api_version}) is tool configuration, not a cluster object"
    return None


def _expand(path: Path, where: str, document: Any, notices: list[str]) -> Iterator[Document]:
    if isinstance(document, Mapping) and _is_list(document):
        for index, item in enumerate(document["items"]):
            yield from _expand(path, f"{where}.{index + 1}", item, notices)
        return
    problem = _object_problem(document)
    if problem:
        notices.append(f"{path} (document {where}): skipped, {problem}")
        return
    yield Document(path, where, dict(document))


def read_documents(root: Path, notices: list[str]) -> list[Document]:
    """Every object under `root`; what is skipped is appended to `notices`."""
    files = manifest_files(root)
    if not files:
        raise PathError(f"{root}: no manifests found (no {', '.join(SUFFIXES)} files); nothing to check")
    documents = []
    for path in files:
        for index, document in enumerate(_parse(path)):
            if document is None:
                continue  # an empty document (a leading or trailing ---)
            documents.extend(_expand(path, f"#{index + 1}", document, notices))
    if not documents:
        raise PathError(f"{root}: no Kubernetes objects found in {len(files)} file(s); nothing to check:\n"
                        + "\n".join(f"  - {notice}" for notice in notices))
    return documents
