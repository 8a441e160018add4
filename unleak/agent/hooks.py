"""Claude Code's hook protocol: a hook payload in, a :class:`Decision` out.

Claude Code runs a hook command with a JSON payload on stdin (``hook_event_name``, ``tool_name``, ``tool_input``,
``prompt``, ``cwd`` …). A hook blocks by exiting with code 2 and a reason on stderr (the reason goes to the model
for PreToolUse, to the user for UserPromptSubmit), or by printing a JSON decision and exiting 0. :func:`decide` turns
a payload into a :class:`Decision`; the CLI renders it either way. What each check looks at lives beside it:
:mod:`unleak.agent.hook_scan` (content), :mod:`unleak.agent.hook_writes` (write tools),
:mod:`unleak.agent.secret_reads` (reads and shell commands); the installers are in :mod:`unleak.agent.hook_installers`.

Everything here runs on every edit the agent makes, so imports of the scanner are lazy and only happen when there
is content to scan. No message ever carries a value: findings are described by rule, line and redacted preview.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from scanner.errors import UsageError
from unleak.agent.hook_scan import _hits_text, _relative, _root, scan_text
from unleak.agent.hook_writes import file_hits_after_write, write_hits
from unleak.agent.secret_reads import _is_dotenv, bash_reason, secret_file_reason

# --------------------------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Decision:
    """What a hook answers: allow, or block with a reason written for whoever reads it (model or user)."""

    block: bool
    reason: str = ""
    event: str = ""

    def claude_json(self) -> dict[str, Any]:
        """Claude Code's JSON decision form (printed on stdout with exit code 0)."""
        if not self.block:
            return {}
        if self.event == "PreToolUse":
            return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                           "permissionDecisionReason": self.reason}}
        return {"decision": "block", "reason": self.reason}


ALLOW = Decision(block=False)


# ------------------------------------------------------------------------------------- Claude Code events

_WRITE_TOOLS = {"Write", "Edit", "MultiEdit", "NotebookEdit"}

_FIX_ADVICE = ("Do not put secret values in files. Write code that reads the value from the environment "
               "(e.g. os.environ[\"NAME\"]) and keep a reference such as unleak://<namespace>/NAME in .env.unleak; "
               "run `unleak fix <file>` to move an existing secret into the vault, and `unleak run -- <command>` to "
               "run with it (from an agent, that needs a grant: the human approves the request it makes).")
_BASH_ADVICE = ("Secrets must not be printed where an agent or a log can read them. Use `unleak secrets list` to see "
                "names and references, and `unleak run -- <command>` to run a program with the values injected "
                "(from an agent, under a grant the human approves).")
_PROMPT_ADVICE = ("It was not sent. Store the value with `unleak secrets set NAME` (it asks with a hidden prompt) "
                  "and refer to it by name, e.g. \"use NAME from the vault\". If it was real, consider it exposed "
                  "wherever you pasted it and rotate it.")


def _cwd(payload: dict[str, Any]) -> Path:
    cwd = payload.get("cwd")
    return Path(cwd) if isinstance(cwd, str) and cwd else Path.cwd()


def decide(payload: dict[str, Any]) -> Decision:
    """Claude Code's decision for one hook payload. Unknown events and tools are allowed: the hook only guards
    what it understands, and Claude Code's own permission flow still applies."""
    event = str(payload.get("hook_event_name") or "")
    cwd = _cwd(payload)
    if event == "PreToolUse":
        tool = str(payload.get("tool_name") or "")
        tool_input = payload.get("tool_input") or {}
        if not isinstance(tool_input, dict):
            raise UsageError("hook payload: tool_input is not an object")
        if tool in _WRITE_TOOLS:
            path = str(tool_input.get("file_path") or tool_input.get("notebook_path") or "<content>")
            rel = _relative(path, cwd)
            hits = write_hits(tool, tool_input, cwd)
            if hits:
                return Decision(True, f"unleak blocked this {tool} to {rel}: the new content carries a secret "
                                      f"({_hits_text(hits)}). {_FIX_ADVICE}", event)
            return ALLOW
        if tool == "Bash":
            command = str(tool_input.get("command") or "")
            why = bash_reason(command, cwd)
            if why:
                return Decision(True, f"unleak blocked this command: {why}. {_BASH_ADVICE}", event)
            hits = scan_text(command, "<command>", _root(cwd))
            if hits:
                return Decision(True, "unleak blocked this command: it carries a secret literal on its command line "
                                      f"({_hits_text(hits)}), where every process listing and log can read it. "
                                      f"{_BASH_ADVICE}", event)
            return ALLOW
        if tool == "Read":
            why = secret_file_reason(str(tool_input.get("file_path") or ""), cwd)
            if why:
                return Decision(True, f"unleak blocked reading {tool_input.get('file_path')}: {why}. "
                                      f"{_BASH_ADVICE}", event)
            return ALLOW
        if tool == "Grep":
            # Grep prints matching lines: searching a secret-bearing file (or a glob naming .env files) reads it.
            target = str(tool_input.get("path") or "")
            why = secret_file_reason(target, cwd) if target else None
            glob = str(tool_input.get("glob") or "")
            if why is None and glob and _is_dotenv(PurePosixPath(glob.rstrip("*").rstrip(".") or glob).name):
                why = f"the glob {glob} selects .env files, which hold secret values"
            if why:
                return Decision(True, f"unleak blocked this search: {why}. {_BASH_ADVICE}", event)
            return ALLOW
        # Any other tool (MCP tools, WebFetch, subagents …): a value anywhere in its input leaves with the call.
        return scan_tool_input(tool, tool_input, cwd, event)
    if event == "PostToolUse":
        tool = str(payload.get("tool_name") or "")
        tool_input = payload.get("tool_input") or {}
        if tool not in _WRITE_TOOLS or not isinstance(tool_input, dict):
            return ALLOW
        hits = file_hits_after_write(tool_input, payload.get("tool_response"), cwd)
        if hits:
            rel = _relative(str(tool_input.get("file_path") or tool_input.get("notebook_path")), cwd)
            return Decision(True, f"unleak: after this {tool}, {rel} holds a secret it did not hold before "
                                  f"({_hits_text(hits)}). Remove it from the file now. {_FIX_ADVICE}", event)
        return ALLOW
    if event == "UserPromptSubmit":
        hits = scan_text(str(payload.get("prompt") or ""), "<prompt>", _root(cwd))
        if hits:
            return Decision(True, f"unleak: your prompt contains a secret ({_hits_text(hits)}). {_PROMPT_ADVICE}",
                            event)
        return ALLOW
    return ALLOW


def _strings(obj: Any) -> Iterator[str]:
    """Every string in a JSON value (keys included: a secret can be a key as well)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def scan_tool_input(tool: str, tool_input: Any, cwd: Path, event: str) -> Decision:
    """Block a call whose input carries a secret anywhere (every string of it, however nested)."""
    hits = scan_text("\n".join(_strings(tool_input)), f"<{tool} input>", _root(cwd))
    if hits:
        return Decision(True, f"unleak blocked this call to {tool}: its input carries a secret "
                              f"({_hits_text(hits)}). Pass a reference or a secret's name, never its value.", event)
    return ALLOW


def parse_payload(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw) if raw.strip() else None
    except json.JSONDecodeError as exc:
        raise UsageError(f"stdin is not a Claude Code hook payload: invalid JSON at line {exc.lineno} column "
                         f"{exc.colno}") from None
    if not isinstance(data, dict):
        raise UsageError("stdin is not a Claude Code hook payload: expected a JSON object with hook_event_name")
    return data
