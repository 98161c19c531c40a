"""What the importer says about one service: an app entry, and everything it did not map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REFUSED = "refused"
"""The service cannot run on the platform as written; nothing is written while one is refused."""
NOT_APPLICABLE = "not applicable"
"""A Compose/Swarm setting whose job the platform does differently (explained)."""
NOT_MAPPED = "not mapped"
"""A setting the App spec has no place for; the app runs without it."""
NOTICE = "notice"
"""Mapped, but with an assumption or a placeholder the team should look at."""

KINDS = (REFUSED, NOT_MAPPED, NOT_APPLICABLE, NOTICE)

POD_SECURITY = ("team namespaces enforce the restricted Pod Security level "
                "(pod-security.kubernetes.io/enforce: restricted)")


@dataclass(frozen=True)
class Finding:
    kind: str
    key: str
    """The Compose key it is about (`deploy.restart_policy`)."""
    message: str


@dataclass
class ImportedService:
    service: str
    """The name in the Compose file."""
    name: str
    """The app name (a DNS-1035 label)."""
    app: dict[str, Any] = field(default_factory=dict)
    """The app entry, camelCase, in the key order it is written."""
    secret_keys: list[str] = field(default_factory=list)
    """Keys of `app["secrets"]`, each a `secure:` placeholder to fill."""
    findings: list[Finding] = field(default_factory=list)

    def note(self, kind: str, key: str, message: str) -> None:
        self.findings.append(Finding(kind, key, message))

    @property
    def refused(self) -> bool:
        return any(f.kind == REFUSED for f in self.findings)
