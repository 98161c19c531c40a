"""Custom resources checked the way the API server would, but strictly.

The API server prunes a field its CRD does not know, silently: the setting never happens.
So every object is validated against its CRD's openAPIV3Schema with unknown fields made
errors (`additionalProperties: false` wherever the schema lists properties and does not say
`x-kubernetes-preserve-unknown-fields`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml


class _CrdLoader(yaml.SafeLoader):
    pass


# alertmanagerconfigs has a bare `=` in an enum, which PyYAML reads as the YAML 1.1 'value'
# tag (reference/SOURCES.md, "Parsing caveats").
_CrdLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_crds(folder: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema, for every served version of every CRD."""
    schemas = {}
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_CrdLoader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = \
                        version["schema"]["openAPIV3Schema"]
    return schemas


def strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: strict(value) if key in ("properties", "items", "additionalProperties", "allOf", "anyOf",
                                            "oneOf", "not") or isinstance(value, (dict, list)) else value
              for key, value in schema.items()}
    if "properties" in result and isinstance(result["properties"], dict):
        result["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in schema and not schema.get("x-kubernetes-preserve-unknown-fields") \
            and "additionalProperties" not in schema:
        result["additionalProperties"] = False
    return result


def validation_errors(manifest: dict[str, Any], schema: dict[str, Any]) -> Iterator[str]:
    body = copy.deepcopy(manifest)
    # metadata is checked by the API server's ObjectMeta, not by the CRD schema.
    body.pop("metadata", None)
    schema = strict(schema)
    schema.get("properties", {}).pop("metadata", None)
    validator = jsonschema.Draft7Validator(schema)
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(root)"
        yield f"{where}: {error.message}"
