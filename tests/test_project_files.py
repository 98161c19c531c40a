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


def test_no_file_keeps_a_merge_conflict_marker():
    """A conflict resolved by hand once left its markers in README.md with every test green:
    no tracked text file may hold a line that is a conflict marker."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    marker = re.compile(r"^(<{7}|>{7}|={7})( |$)", re.M)
    found = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".yaml", ".yml", ".json", ".txt", ".toml", ""} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}" for m in marker.finditer(text)]
    assert not found, f"conflict markers left in: {found}"
