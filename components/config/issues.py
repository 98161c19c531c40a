"""One problem found in a stack config, and how every message spells a key's path."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a stack config: where (`teams[0].apps[1].replicas`) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def key_path(loc: tuple) -> str:
    """('teams', 0, 'apps') -> 'teams[0].apps', the spelling every message uses."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"
