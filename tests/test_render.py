"""Every Kubernetes object the program creates is valid for the cluster's version (strict)."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from components.config import parse_stack_config
from preflight.stackfile import read_stack_file
from conftest import ROOT, STACKS
from helpers import builtin_kind


def cluster_version(stack: str) -> str:
    return parse_stack_config(read_stack_file(ROOT / f"Pulumi.{stack}.yaml").project_values).cluster.kubernetes_version


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_objects_are_valid_kubernetes(rendered, stack):
    files = sorted(rendered[stack].glob("*.yaml"))
    assert files, "render wrote nothing"
    version = cluster_version(stack)
    checked = 0
    for path in files:
        manifest = yaml.safe_load(path.read_text())
        if not builtin_kind(manifest):
            continue  # custom resources are checked against their CRDs
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            pytest.fail(f"{path.name}: {err.message}")
        checked += 1
    assert checked > 0


def test_strict_validation_catches_unknown_fields(rendered):
    manifest = yaml.safe_load(sorted(rendered["dev"].glob("*storageclass*.yaml"))[0].read_text())
    manifest["provisionr"] = "typo"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(manifest, cluster_version("dev"), strict=True)


def test_default_storage_class_is_encrypted_gp3(rendered):
    classes = [yaml.safe_load(p.read_text()) for p in rendered["prod"].glob("*storageclass*.yaml")]
    default = [c for c in classes
               if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert len(default) == 1
    assert default[0]["provisioner"] == "ebs.csi.aws.com"
    assert default[0]["parameters"]["type"] == "gp3" and default[0]["parameters"]["encrypted"] == "true"


def test_schemas_are_those_of_the_cluster_minor():
    # kubernetes-validate falls back to an older schema when it has none for a minor: make sure
    # the objects are checked against the cluster's own minor.
    shipped = kubernetes_validate.utils.all_versions()
    for stack in STACKS:
        version = cluster_version(stack)
        assert any(v.startswith(f"{version}.") for v in shipped), (version, shipped[-3:])
