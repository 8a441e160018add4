"""Installing the hooks: unleak's entries in Claude Code's settings (merged, idempotent, failing closed) and a plain
git pre-commit hook.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError, UsageError

HOOK_COMMAND = "unleak hook claude-code"
# Every tool: MCP tools and WebFetch carry whatever their input holds (Claude Code's "*" matches all tools).
PRE_TOOL_MATCHER = "*"
# Claude Code's own permission rules for files that hold values: denied even where the hook cannot run.
DENY_READ_RULES = ("Read(./.env)", "Read(./.env.*)", "Read(./**/.env)", "Read(./**/.env.*)", "Read(./**/id_rsa)",
                   "Read(./**/id_ed25519)", "Read(./**/id_ecdsa)", "Read(./**/*.key)", "Read(~/.ssh/**)",
                   "Read(~/.aws/credentials)")
#: after a write, the file on disk is checked whole again: edits that slipped past PreToolUse (made in pieces, or
#: changed on disk in between) are reported to the agent at once
POST_TOOL_MATCHER = "Write|Edit|MultiEdit|NotebookEdit"


@dataclass
class InstallResult:
    path: Path
    changed: bool
    added: list[str] = field(default_factory=list)


def claude_settings_path(scope: str, project_dir: Path, home: Path | None = None) -> Path:
    if scope == "user":
        return (home or Path.home()) / ".claude" / "settings.json"
    if scope == "local":
        return project_dir / ".claude" / "settings.local.json"
    if scope == "project":
        return project_dir / ".claude" / "settings.json"
    raise UsageError(f"unknown scope {scope!r}; use project, local or user")


def guarded_command(command: str) -> str:
    """The hook command as written into an agent's settings: a POSIX shell line that fails closed.

    Agents treat any exit code but 2 as a non-blocking error, so a bare ``unleak …`` where unleak is not on PATH
    (exit 127), or an interpreter that cannot start, would switch the guard off without a word. The line checks
    that the program exists and turns every exit code but 0 and 2 into 2 with a message on stderr."""
    import shlex

    prog = shlex.split(command)[0] if command.strip() else "unleak"
    missing = shlex.quote(f"unleak: {prog} is not on PATH, so the secret guard cannot run and the call is "
                          "blocked; install unleak (pipx install unleak) or fix PATH for the agent")
    failed = shlex.quote("unleak: the secret guard failed, so the call is blocked (exit ")
    return (f"command -v {shlex.quote(prog)} >/dev/null 2>&1 || {{ echo {missing} >&2; exit 2; }}; "
            f"{command}; rc=$?; [ $rc -eq 0 ] || [ $rc -eq 2 ] || {{ echo {failed}\"$rc)\" >&2; exit 2; }}; "
            "exit $rc")


def _is_ours(h: Any, command: str) -> bool:
    # The guarded line, or the bare command an older unleak wrote (which the install upgrades).
    return isinstance(h, dict) and h.get("command") in (command, guarded_command(command))


def install_claude_code(settings: Path, command: str = HOOK_COMMAND, timeout: int = 10) -> InstallResult:
    """Merge unleak's hook entries into a Claude Code settings file; keep everything else; idempotent. The
    command written is :func:`guarded_command`, so a missing unleak blocks instead of silently allowing."""
    from scanner.fileio import write_project_file

    doc: dict[str, Any] = {}
    if settings.exists():
        try:
            loaded = json.loads(settings.read_text(encoding="utf-8") or "{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{settings}: not valid JSON ({exc}); fix or move it, then run the install again") \
                from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{settings}: expected a JSON object at the top level")
        doc = loaded
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ConfigError(f"{settings}: key 'hooks' must be an object")
    added: list[str] = []
    for event, matcher in (("PreToolUse", PRE_TOOL_MATCHER), ("PostToolUse", POST_TOOL_MATCHER),
                           ("UserPromptSubmit", None)):
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise ConfigError(f"{settings}: key 'hooks.{event}' must be a list")
        ours = [g for g in groups if isinstance(g, dict) and any(_is_ours(h, command) for h in g.get("hooks") or [])]
        if ours:
            # Installed before: widen a matcher an older unleak wrote (only in a group that holds nothing else).
            g = ours[0]
            if matcher is not None and g.get("matcher") != matcher and len(g.get("hooks") or []) == 1:
                g["matcher"] = matcher
                added.append(f"{event} (matcher updated)")
            for h in g.get("hooks") or []:
                if isinstance(h, dict) and h.get("command") == command:
                    h["command"] = guarded_command(command)
                    added.append(f"{event} (fails closed now)")
            continue
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": guarded_command(command),
                                            "timeout": timeout}]}
        if matcher is not None:
            group = {"matcher": matcher, **group}
        groups.append(group)
        added.append(event)
    perms = doc.setdefault("permissions", {})
    if not isinstance(perms, dict) or not isinstance(perms.setdefault("deny", []), list):
        raise ConfigError(f"{settings}: key 'permissions.deny' must be a list")
    missing = [r for r in DENY_READ_RULES if r not in perms["deny"]]
    if missing:
        perms["deny"].extend(missing)
        added.append(f"permissions.deny ({len(missing)} rule{'s' if len(missing) != 1 else ''})")
    if not added:
        return InstallResult(settings, False)
    settings.parent.mkdir(parents=True, exist_ok=True)
    write_project_file(settings, json.dumps(doc, indent=2) + "\n")
    return InstallResult(settings, True, added)


GIT_HOOK_MARKER = "# installed by `unleak install-hook`"


def git_hook_script(python: str) -> str:
    # Prefer `unleak` on PATH (a virtualenv the user activates); fall back to the interpreter that installed the
    # hook, so the hook keeps working from GUI git clients that do not see the user's PATH.
    return f"""#!/bin/sh
{GIT_HOOK_MARKER}
# Blocks a commit whose staged changes add a secret. Bypass once with: git commit --no-verify
if command -v unleak >/dev/null 2>&1; then
    exec unleak scan --staged
fi
exec {shlex.quote(python)} -m unleak scan --staged
"""


def install_git_hook(repo: Path, force: bool = False, python: str | None = None) -> InstallResult:
    """Write the pre-commit hook where git looks for it (honours core.hooksPath). Refuses to replace a hook that
    unleak did not write unless ``force``."""
    import sys

    from scanner import git
    from scanner.fileio import write_project_file

    top = git.require_repo(repo, "install-hook")
    hooks_dir = Path(git.run(["rev-parse", "--git-path", "hooks"], top).strip())
    if not hooks_dir.is_absolute():
        hooks_dir = top / hooks_dir
    target = hooks_dir / "pre-commit"
    script = git_hook_script(python or sys.executable)
    if target.exists():
        try:
            current = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = ""
        if current == script:
            return InstallResult(target, False)
        if GIT_HOOK_MARKER not in current and not force:
            raise UsageError(f"{target} already exists and was not written by unleak; add `unleak scan --staged` "
                             "to it yourself, or replace it with `unleak install-hook --force`")
    hooks_dir.mkdir(parents=True, exist_ok=True)
    write_project_file(target, script, mode=0o755)
    return InstallResult(target, True)
