"""Image references: is an image pinned? Shared by the pack's rules and the stack-config model.

A leaf: the standard library only (no pulumi_policy, no rule module), so the config model can
use it without loading the pack."""

from __future__ import annotations

import re
from typing import Optional

# The reference grammar of the distribution project (what the kubelet and registries accept):
# [registry[:port]/]path[:tag][@digest]. A registry is only what comes before a '/', so in
# `redis:7` the 7 is a tag, while in `registry.example.com:5000/web` 5000 is a port.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# Registries are taken in lowercase only (the grammar allows uppercase hosts; nobody needs them).
_REGISTRY = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:]+\])"
_IMAGE = re.compile(
    rf"^(?:(?P<registry>{_REGISTRY}(?::[0-9]+)?)/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}))?$",
    re.ASCII,
)
EXPECTED_FORM = "[registry[:port]/]name[:tag][@sha256:digest], e.g. ghcr.io/acme/shop:1.4.2"


def image_pin_problem(image: str) -> Optional[str]:
    """Why an image reference is not pinned, or None when it is."""
    match = _IMAGE.fullmatch(image)  # fullmatch: `$` would let a trailing newline through
    if not match:
        return f"is not a valid image reference (expected {EXPECTED_FORM})"
    if match.group("digest"):
        return None
    tag = match.group("tag")
    if not tag:
        return "has no tag; pin a version tag (e.g. ':1.4.2') or a digest ('@sha256:...')"
    if tag == "latest":
        return "uses ':latest'; pin a version tag (e.g. ':1.4.2') or a digest"
    return None
