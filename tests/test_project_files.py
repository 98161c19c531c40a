"""The project files users read: Pulumi.yaml declarations and the README config reference."""

from __future__ import annotations

import re

import yaml

from components.config import StackConfig
from conftest import ROOT

SIMPLE_TYPES = {"string", "integer", "boolean", "array"}


def test_pulumi_yaml_is_a_python_project_with_valid_config_declarations():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "eks-platform"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    for key, declaration in project["config"].items():
        assert declaration["type"] in SIMPLE_TYPES, f"{key}: Pulumi has no '{declaration['type']}' type"
        assert declaration["description"]


def test_readme_config_reference_lists_every_top_level_key():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([a-zA-Z:]+)` \|", readme, flags=re.M))
    model_keys = {field.alias for field in StackConfig.model_fields.values()} - {"region"} | {"aws:region"}
    assert model_keys <= documented, f"undocumented keys: {sorted(model_keys - documented)}"
