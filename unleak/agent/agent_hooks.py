"""Hooks for coding agents other than Claude Code, and the installers for them and for the MCP server.

Codex CLI speaks Claude Code's hook wire format (``hook_event_name``, ``tool_name``, ``tool_input``; exit 2 or a
``permissionDecision`` blocks) with its own tools: ``Bash``, ``apply_patch`` (the patch text in
``tool_input.command``) and MCP tools named ``mcp__<server>__<tool>``. Cursor has its own events
(``beforeShellExecution``, ``beforeReadFile``, ``beforeMCPExecution``, ``beforeSubmitPrompt``) answered with JSON
(``permission`` allow/deny, or ``continue`` for prompts). Each payload is translated into the Claude Code payload
:func:`unleak.agent.hooks.decide` judges, so every agent gets the same checks and the same value-free reasons.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError, UsageError
from unleak.agent.hook_installers import InstallResult, guarded_command
from unleak.agent.hook_scan import _hits_text, _root, scan_text
from unleak.agent.hooks import _BASH_ADVICE, ALLOW, Decision, _cwd, decide, scan_tool_input

CODEX_COMMAND = "unleak hook codex"
CURSOR_COMMAND = "unleak hook cursor"
CODEX_PRE_TOOL_MATCHER = "Bash|apply_patch|mcp__.*"
CURSOR_EVENTS = ("beforeShellExecution", "beforeReadFile", "beforeMCPExecution", "beforeSubmitPrompt")


# --------------------------------------------------------------------------------------------------- Codex

_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update) File: (.+)$")


def patch_additions(patch: str) -> list[tuple[str, str]]:
    """(path, added text) per file of a Codex ``apply_patch`` body (``*** Add File:`` / ``*** Update File:``
    sections whose added lines start with ``+``)."""
    out: dict[str, list[str]] = {}
    current: str | None = None
    for line in patch.splitlines():
        m = _PATCH_FILE.match(line)
        if m:
            current = m.group(1).strip()
            out.setdefault(current, [])
        elif line.startswith("*** "):
            current = None if not line.startswith("*** Move to:") else current
        elif current is not None and line.startswith("+"):
            out[current].append(line[1:])
    return [(p, "\n".join(lines) + "\n") for p, lines in out.items()]


def decide_codex(payload: dict[str, Any]) -> Decision:
    event = str(payload.get("hook_event_name") or "")
    tool = str(payload.get("tool_name") or "")
    if event == "PreToolUse" and tool == "apply_patch":
        tool_input = payload.get("tool_input") or {}
        patch = str(tool_input.get("command") or "") if isinstance(tool_input, dict) else str(tool_input)
        for path, text in patch_additions(patch):
            d = decide({**payload, "tool_name": "Write", "tool_input": {"file_path": path, "content": text}})
            if d.block:
                return d
        return ALLOW
    if event == "PreToolUse" and tool.startswith("mcp__"):
        return scan_tool_input(tool, payload.get("tool_input"), _cwd(payload), event)
    return decide(payload)


# -------------------------------------------------------------------------------------------------- Cursor


def _cursor_cwd(payload: dict[str, Any]) -> str:
    cwd = payload.get("cwd")
    if isinstance(cwd, str) and cwd:
        return cwd
    roots = payload.get("workspace_roots")
    if isinstance(roots, list) and roots and isinstance(roots[0], str):
        return roots[0]
    return str(Path.cwd())


def decide_cursor(payload: dict[str, Any]) -> Decision:
    event = str(payload.get("hook_event_name") or "")
    cwd = _cursor_cwd(payload)
    if event == "beforeShellExecution":
        d = decide({"hook_event_name": "PreToolUse", "cwd": cwd, "tool_name": "Bash",
                    "tool_input": {"command": str(payload.get("command") or "")}})
    elif event == "beforeReadFile":
        path = str(payload.get("file_path") or "")
        d = decide({"hook_event_name": "PreToolUse", "cwd": cwd, "tool_name": "Read",
                    "tool_input": {"file_path": path}})
        content = payload.get("content")
        if not d.block and isinstance(content, str) and content:
            # Cursor hands the hook the content it is about to give the model: a value in it is a value read.
            hits = scan_text(content, path or "<file>", _root(Path(cwd)))
            if hits:
                d = Decision(True, f"unleak blocked reading {path}: the file holds a secret ({_hits_text(hits)}). "
                                   f"{_BASH_ADVICE}", event)
    elif event == "beforeMCPExecution":
        tool_input: Any = payload.get("tool_input")
        if isinstance(tool_input, str):  # some Cursor versions send the arguments as a JSON string
            with contextlib.suppress(json.JSONDecodeError):
                tool_input = json.loads(tool_input)
        d = scan_tool_input(str(payload.get("tool_name") or "MCP tool"), tool_input, Path(cwd), event)
    elif event == "beforeSubmitPrompt":
        d = decide({"hook_event_name": "UserPromptSubmit", "cwd": cwd, "prompt": str(payload.get("prompt") or "")})
    else:
        return ALLOW
    return Decision(d.block, d.reason, event)


def cursor_answer(event: str, decision: Decision) -> dict[str, Any]:
    """Cursor's answer: ``continue`` for a prompt, ``permission`` for everything else; the message under both the
    snake_case names current Cursor reads and the camelCase ones earlier versions read."""
    msg = {"user_message": decision.reason, "agent_message": decision.reason,
           "userMessage": decision.reason, "agentMessage": decision.reason} if decision.block else {}
    if event == "beforeSubmitPrompt":
        return {"continue": not decision.block, **({"user_message": decision.reason,
                                                      "userMessage": decision.reason} if decision.block else {})}
    return {"permission": "deny" if decision.block else "allow", **msg}


# ---------------------------------------------------------------------------------------------- installers


def _load_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        loaded = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); fix or move it, then run the install again") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a JSON object at the top level")
    return loaded


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    from scanner.fileio import write_project_file

    path.parent.mkdir(parents=True, exist_ok=True)
    write_project_file(path, json.dumps(doc, indent=2) + "\n")


def agent_config_path(agent: str, kind: str, scope: str, project_dir: Path, home: Path | None = None) -> Path:
    """Where each agent reads hooks (``kind="hooks"``) or MCP servers (``kind="mcp"``) for a scope."""
    base = (home or Path.home()) if scope == "user" else project_dir
    if scope not in ("project", "user"):
        raise UsageError(f"unknown scope {scope!r}; use project or user")
    table = {
        ("codex", "hooks"): ".codex/hooks.json",
        ("cursor", "hooks"): ".cursor/hooks.json",
        ("codex", "mcp"): ".codex/config.toml",
        ("cursor", "mcp"): ".cursor/mcp.json",
        ("claude-code", "mcp"): ".mcp.json" if scope == "project" else ".claude.json",
    }
    if (agent, kind) not in table:
        raise UsageError(f"no {kind} configuration for {agent}")
    return base / table[(agent, kind)]


def install_codex_hooks(path: Path, command: str = CODEX_COMMAND, timeout: int = 10) -> InstallResult:
    """Codex's hooks.json has Claude Code's layout: merge a PreToolUse group (shell, patches, MCP tools) and a
    UserPromptSubmit group; keep everything else; idempotent."""
    doc = _load_json(path)
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ConfigError(f"{path}: key 'hooks' must be an object")
    line = guarded_command(command)
    added: list[str] = []
    for event, matcher in (("PreToolUse", CODEX_PRE_TOOL_MATCHER), ("UserPromptSubmit", None)):
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise ConfigError(f"{path}: key 'hooks.{event}' must be a list")
        if any(isinstance(g, dict) and any(isinstance(h, dict) and h.get("command") == line
                                           for h in g.get("hooks") or []) for g in groups):
            continue
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": line, "timeout": timeout}]}
        groups.append({"matcher": matcher, **group} if matcher else group)
        added.append(event)
    if added:
        _write_json(path, doc)
    return InstallResult(path, bool(added), added)


def install_cursor_hooks(path: Path, command: str = CURSOR_COMMAND, timeout: int = 10) -> InstallResult:
    """Cursor's hooks.json (``version: 1``): one entry per guarded event, failing closed; idempotent."""
    doc = _load_json(path)
    doc.setdefault("version", 1)
    hooks = doc.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise ConfigError(f"{path}: key 'hooks' must be an object")
    line = guarded_command(command)
    added: list[str] = []
    for event in CURSOR_EVENTS:
        entries = hooks.setdefault(event, [])
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: key 'hooks.{event}' must be a list")
        if any(isinstance(e, dict) and e.get("command") == line for e in entries):
            continue
        entries.append({"command": line, "timeout": timeout, "failClosed": True})
        added.append(event)
    if added:
        _write_json(path, doc)
    return InstallResult(path, bool(added), added)


MCP_NAME = "unleak"


def install_mcp(agent: str, path: Path, command: str = "unleak", args: tuple[str, ...] = ("mcp",)
                ) -> InstallResult:
    """Register ``unleak mcp`` as an MCP server (stdio) in the agent's configuration; idempotent; an entry of the
    same name that runs something else is left alone and reported."""
    entry = {"command": command, "args": list(args)}
    if agent == "codex":
        return _install_mcp_toml(path, entry)
    doc = _load_json(path)
    servers = doc.setdefault("mcpServers", {})
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: key 'mcpServers' must be an object")
    current = servers.get(MCP_NAME)
    if isinstance(current, dict) and current.get("command") == command and current.get("args") == list(args):
        return InstallResult(path, False)
    if current is not None:
        raise UsageError(f"{path}: an MCP server named {MCP_NAME!r} is already configured with another command; "
                         "remove it, then run the install again")
    servers[MCP_NAME] = {"type": "stdio", **entry} if agent == "claude-code" else entry
    _write_json(path, doc)
    return InstallResult(path, True, [f"mcpServers.{MCP_NAME}"])


def _install_mcp_toml(path: Path, entry: dict[str, Any]) -> InstallResult:
    """Codex's config.toml: the ``[mcp_servers.unleak]`` table is appended as text, so the user's file keeps its
    comments and layout; the result is parsed back before it is written."""
    import tomllib

    from scanner.fileio import write_project_file

    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix it, then run the install again") from None
    current = (doc.get("mcp_servers") or {}).get(MCP_NAME)
    if current is not None:
        if current.get("command") == entry["command"] and current.get("args") == entry["args"]:
            return InstallResult(path, False)
        raise UsageError(f"{path}: [mcp_servers.{MCP_NAME}] is already configured with another command; remove it, "
                         "then run the install again")
    block = (f"\n[mcp_servers.{MCP_NAME}]\ncommand = {json.dumps(entry['command'])}\n"
             f"args = {json.dumps(entry['args'])}\n")
    new = text + ("\n" if text and not text.endswith("\n") else "") + block
    parsed = tomllib.loads(new)
    if parsed["mcp_servers"][MCP_NAME] != entry:
        raise ConfigError(f"{path}: could not add [mcp_servers.{MCP_NAME}] without changing its meaning")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_project_file(path, new)
    return InstallResult(path, True, [f"mcp_servers.{MCP_NAME}"])
