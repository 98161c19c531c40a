"""Image references: is an image pinned? Shared by the pack and the stack-config model."""

from __future__ import annotations

import re
from typing import Optional

# [registry[:port]/]path[:tag][@digest]; a ':' before the first '/' belongs to a registry port.
_IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def image_pin_problem(image: str) -> Optional[str]:
    """Why an image reference is not pinned, or None when it is."""
    match = _IMAGE.match(image)
    if not match:
        return "is not a valid image reference"
    if match.group("digest"):
        return None
    tag = match.group("tag")
    if not tag:
        return "has no tag; pin a version tag (e.g. ':1.4.2') or a digest ('@sha256:...')"
    if tag == "latest":
        return "uses ':latest'; pin a version tag (e.g. ':1.4.2') or a digest"
    return None
