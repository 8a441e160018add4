"""``unleak install-hook`` and ``unleak hook``: git's pre-commit hook and the coding agents' hooks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from scanner.words import plural
from unleak.commands.common import (
    installed,
    project_dir,
    warn_if_not_on_path,
)
from unleak.errors import EXIT_CLEAN, EXIT_FINDINGS, UnleakError


@click.command("install-hook")
@click.option("--force", is_flag=True, help="Replace an existing pre-commit hook that unleak did not write.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def install_hook(force: bool, repo_dir: str) -> None:
    """Write a plain git pre-commit hook that runs `unleak scan --staged` (no pre-commit framework needed).

    Honours core.hooksPath. Refuses to replace a hook that unleak did not write unless --force.
    """
    from unleak.agent import hook_installers

    res = hook_installers.install_git_hook(Path(repo_dir).resolve(), force=force)
    click.echo(f"{'wrote' if res.changed else 'already installed:'} {res.path}", err=True)


@click.group("hook")
def hook_group() -> None:
    """Hooks for coding agents: block secrets before they are written, printed or sent."""


@hook_group.command("claude-code")
@click.option("--json", "as_json", is_flag=True,
              help="Answer with a JSON decision on stdout (exit 0) instead of exit code 2 and a reason on stderr.")
def hook_claude_code(as_json: bool) -> None:
    """Claude Code hook: reads the hook payload (JSON) on stdin.

    \b
    PreToolUse Write/Edit/MultiEdit/NotebookEdit: blocks a call after which the file would hold a new secret
    (the whole resulting file is scanned; allow comments and weakening repository config are ignored).
    PostToolUse Write/Edit/MultiEdit/NotebookEdit: reports a new secret in the file as written.
    PreToolUse Bash/Read: blocks commands and reads that would print secrets (printenv, cat .env, key files).
    UserPromptSubmit: blocks a prompt that contains a secret.
    Blocking exits 2 with the reason on stderr, as Claude Code's hook protocol defines; reasons never carry values.
    """

    from unleak.agent import hooks

    try:
        payload = hooks.parse_payload(_payload_text())
        decision = hooks.decide(payload)
    except Exception as exc:
        # Fail closed: any exit code but 2 lets the tool call through.
        click.echo(_failure(exc), err=True)
        sys.exit(2)
    _hook_answer(decision, as_json)


# A hook payload is a tool call's input: far below this. Reading more would only let an endless or huge stdin take
# the machine's memory (and end in an error that exits 3, which the agent's client treats as "let it through").
PAYLOAD_LIMIT = 64 * 1024 * 1024


def _payload_text() -> str:
    """The payload on stdin, decoded leniently (invalid UTF-8 must still be checked, not crash into a non-blocking
    error); ValueError past :data:`PAYLOAD_LIMIT`, which the callers answer by blocking."""
    data = sys.stdin.buffer.read(PAYLOAD_LIMIT + 1)
    if len(data) > PAYLOAD_LIMIT:
        raise ValueError("hook payload larger than 64 MiB")
    return data.decode("utf-8", "replace")


def _failure(exc: Exception) -> str:
    """Why a hook blocked without a verdict: an unleak error's own message (they never carry values), else only the
    exception's type."""
    if isinstance(exc, UnleakError):
        return f"unleak: {exc}; this was blocked to be safe"
    return (f"unleak: the secret check failed internally ({type(exc).__name__}), so this was blocked to be safe; run "
            "`unleak hook check` on the content, or remove the hook to continue")


def _hook_answer(decision: Any, as_json: bool) -> NoReturn:
    """Claude Code's hook protocol (Codex follows it): exit 0 to allow; to block, exit 2 with the reason on stderr
    ("blocking error": the tool call or prompt does not proceed), or with --json a JSON decision on stdout."""
    import json

    if not decision.block:
        sys.exit(EXIT_CLEAN)
    if as_json:
        click.echo(json.dumps(decision.claude_json()))
        sys.exit(EXIT_CLEAN)
    click.echo(decision.reason, err=True)
    sys.exit(2)


def _agent_hook(decide_name: str, as_json: bool, cursor: bool = False) -> NoReturn:
    """The body shared by the Codex and Cursor hooks: read the payload, decide, answer in the agent's form,
    and fail closed on an unexpected error."""
    import json

    from unleak.agent import agent_hooks, hooks

    event = ""
    try:
        payload = hooks.parse_payload(_payload_text())
        event = str(payload.get("hook_event_name") or "")
        decision = getattr(agent_hooks, decide_name)(payload)
    except Exception as exc:
        reason = _failure(exc)
        decision = hooks.Decision(True, reason, event)
        if not cursor:
            click.echo(reason, err=True)
            sys.exit(2)
    if cursor:
        click.echo(json.dumps(agent_hooks.cursor_answer(event, decision)))
        sys.exit(EXIT_CLEAN)
    _hook_answer(decision, as_json)


@hook_group.command("codex")
@click.option("--json", "as_json", is_flag=True,
              help="Answer with a JSON decision on stdout (exit 0) instead of exit code 2 and a reason on stderr.")
def hook_codex(as_json: bool) -> None:
    """Codex CLI hook (Claude Code's wire format): PreToolUse Bash, apply_patch and MCP tools; UserPromptSubmit.
    Blocking exits 2 with the reason on stderr; reasons never carry values."""
    _agent_hook("decide_codex", as_json)


@hook_group.command("cursor")
def hook_cursor() -> None:
    """Cursor hook: beforeShellExecution, beforeReadFile, beforeMCPExecution, beforeSubmitPrompt. Answers with
    Cursor's JSON (permission allow/deny; continue for prompts) on stdout; reasons never carry values."""
    _agent_hook("decide_cursor", False, cursor=True)


@hook_group.command("check")
@click.option("--path", "path", default="<stdin>", show_default=True,
              help="File name the content is destined for (path-specific rules use it).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def hook_check(path: str, fmt: str) -> None:
    """Scan content on stdin (for any agent's hook system). Exit 1 with redacted findings when it carries a secret."""
    import json

    from unleak.agent import hook_scan

    hits = hook_scan.scan_text(sys.stdin.buffer.read().decode("utf-8", "replace"), path,
                               hook_scan._root(Path.cwd()))
    if fmt == "json":
        click.echo(json.dumps([{"rule_id": h.rule_id, "title": h.title, "line": h.line, "preview": h.preview}
                               for h in hits], indent=2))
    else:
        for h in hits:
            click.echo(f"{path}:{h.line}: {h.rule_id} {h.title} {h.preview}")
        if hits:
            click.echo(f"unleak: {plural(len(hits), 'secret')} in the content; keep values in the vault "
                       "(`unleak secrets set NAME`) and write references instead", err=True)
    sys.exit(EXIT_FINDINGS if hits else EXIT_CLEAN)


@hook_group.group("install")
def hook_install() -> None:
    """Install unleak's hooks into a coding agent's settings."""


@hook_install.command("claude-code")
@click.option("--scope", type=click.Choice(["project", "local", "user"]), default="project", show_default=True,
              help="project: .claude/settings.json (commit it); local: .claude/settings.local.json; "
                   "user: ~/.claude/settings.json.")
@click.option("--command", "command", default="unleak hook claude-code", show_default=True,
              help="The hook command Claude Code runs.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Project directory.")
def hook_install_claude_code(scope: str, command: str, repo_dir: str) -> None:
    """Add unleak's PreToolUse, PostToolUse and UserPromptSubmit hooks to Claude Code's settings (merging;
    idempotent)."""
    from scanner import git
    from unleak.agent import hook_installers

    root = Path(repo_dir).resolve()
    project = git.toplevel(root) or root
    res = hook_installers.install_claude_code(hook_installers.claude_settings_path(scope, project),
                                              command=command)
    if res.changed:
        click.echo(f"updated {res.path}: added {', '.join(res.added)} hook(s)", err=True)
    else:
        click.echo(f"already installed in {res.path}", err=True)
    warn_if_not_on_path(command)


@hook_install.command("codex")
@click.option("--scope", type=click.Choice(["project", "user"]), default="project", show_default=True,
              help="project: .codex/hooks.json (commit it); user: ~/.codex/hooks.json.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".", help="Project directory.")
def hook_install_codex(scope: str, repo_dir: str) -> None:
    """Add unleak's PreToolUse (Bash, apply_patch, MCP tools) and UserPromptSubmit hooks to Codex's hooks.json."""
    from unleak.agent import agent_hooks

    path = agent_hooks.agent_config_path("codex", "hooks", scope, project_dir(repo_dir))
    installed(agent_hooks.install_codex_hooks(path), agent_hooks.CODEX_COMMAND)


@hook_install.command("cursor")
@click.option("--scope", type=click.Choice(["project", "user"]), default="project", show_default=True,
              help="project: .cursor/hooks.json (commit it); user: ~/.cursor/hooks.json.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".", help="Project directory.")
def hook_install_cursor(scope: str, repo_dir: str) -> None:
    """Add unleak's beforeShellExecution, beforeReadFile, beforeMCPExecution and beforeSubmitPrompt hooks to
    Cursor's hooks.json."""
    from unleak.agent import agent_hooks

    path = agent_hooks.agent_config_path("cursor", "hooks", scope, project_dir(repo_dir))
    installed(agent_hooks.install_cursor_hooks(path), agent_hooks.CURSOR_COMMAND)
