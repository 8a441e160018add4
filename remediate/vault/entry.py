"""What every vault backend shares with the vault front door: the entry record and where a repository starts.

Backends import this module, never the :mod:`remediate.vault` package that imports them, so the two form no
import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SecretEntry:
    """One stored secret as anyone may see it: its name and the reference that resolves to it. No value."""

    name: str
    reference: str


def find_repo_root(start: Path) -> Path | None:
    """The top of the git working tree containing ``start``, found by looking for ``.git`` (a directory, or a
    file in worktrees and submodules). No git subprocess: this runs on every vault open."""
    p = start.resolve()
    for candidate in (p, *p.parents):
        if (candidate / ".git").exists():
            return candidate
    return None
