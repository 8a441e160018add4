"""What the MCP server works on: the repository it was started in, by the directories' own account, and the built-in
rules. The agent edits ``.git/config`` and ``.unleak.toml``; neither may widen what the server reads or writes, or
turn its answers into a way to read a value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scanner import git
from scanner.errors import UsageError


def served_root(start: Path) -> Path:
    """The work tree the server was started in (``start`` itself outside a repository). core.worktree in
    .git/config, or a .git file naming another repository's git directory, would make git name another directory:
    serving it would scan, and rewrite with fix, files outside this repository. Refused."""
    here = start.resolve()
    top = git.toplevel(here)
    if top is None:
        return here
    own = git.own_work_tree(here)
    if own is None:
        raise UsageError(f"git names {top.resolve()} as the work tree of the repository at {here}, and that is not the "
                         "directory whose own .git holds it (core.worktree in .git/config, or a .git file naming "
                         "another repository's git directory); unleak mcp serves only the repository it is started in")
    return own


def agent_request(req: Any) -> Any:
    """``req`` without the repository's custom rules: the agent writes .unleak.toml, and a rule whose regex matches
    the first k characters of a value makes each answer's fingerprint a check of a guess at them, character by
    character, for any value a scan reads (allowlists on built-in rules, carried as rules, too). The built-in rules
    and the rest of the configuration (exclusions, disabled rules, baseline) apply. Named files are read as git
    lists them: one git ignores (a developer's .env) is not scanned for an agent."""
    from dataclasses import replace

    return replace(req, extra_rules=(), named_ignored=False)
