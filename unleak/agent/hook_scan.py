"""What a hook scans with: the agent-safe content scan (no repository config, no allow comments, the fast rule
families) and the redacted :class:`Hit` it reports, with the path helpers every hook check shares.

Everything here runs on every edit the agent makes, so the scanner is imported only when there is content to scan.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Hit:
    """A redacted finding as hooks describe it: never the value."""

    rule_id: str
    title: str
    line: int
    preview: str
    fingerprint: str = ""

    def describe(self) -> str:
        return f"{self.rule_id} {self.title} {self.preview} (line {self.line})"


# ------------------------------------------------------------------------------------------------ scanning


# Rule families a hook skips unless asked for everything: the detect-secrets plugins cost ~0.5 s of imports on
# every call, and a hook runs on every edit. The pre-commit scan and CI still run them.
SLOW_FAMILIES = frozenset({"detect-secrets"})


#: filters a coding agent can trigger with what it writes, so hooks never apply them
AGENT_IGNORED_FILTERS = frozenset({"allow-comment"})


def scan_text(text: str, path: str = "<stdin>", root: Path | None = None, *, thorough: bool | None = None
              ) -> list[Hit]:
    """Secrets in ``text`` (hooks check content before it is written). The scanner is imported here, not at the
    top, so a hook that has nothing to scan stays at interpreter start-up cost. ``thorough`` (default: the
    UNLEAK_HOOK_THOROUGH environment variable) also runs the slow rule families.

    What hooks check comes from a coding agent, which can also write allow comments and the repository's
    ``.unleak.toml``. So allow comments are ignored, and so is the repository's configuration (``root`` only
    places the scan): ``disable`` and ``min-confidence`` would switch the guard off, and a custom rule's regex
    could be made slow enough for the hook to time out, which lets the call through. ``unleak scan``, pre-commit
    and CI apply the configuration."""
    if not text:
        return []
    from scanner.api import scan_text as scan_request_text
    from scanner.rules import all_rules

    if thorough is None:
        thorough = os.environ.get("UNLEAK_HOOK_THOROUGH", "") not in ("", "0")
    disabled: set[str] = set() if thorough else {r.id for r in all_rules().values() if r.family in SLOW_FAMILIES}
    result = scan_request_text(text, path, root, disabled=frozenset(disabled), ignore_filters=AGENT_IGNORED_FILTERS)
    return [Hit(f.rule_id, f.title, f.line, f.preview, f.fingerprint) for f in result.findings]


def _hits_text(hits: Sequence[Hit], limit: int = 5) -> str:
    shown = "; ".join(h.describe() for h in hits[:limit])
    more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
    return shown + more


def _root(cwd: Path) -> Path | None:
    """The repository root for configuration, found without running git (this runs on every edit)."""
    for d in (cwd, *cwd.parents):
        if (d / ".git").exists():
            return d
    return cwd if cwd.is_dir() else None


def _relative(path: str, cwd: Path) -> str:
    try:
        return str(Path(path).relative_to(cwd))
    except ValueError:
        return path
