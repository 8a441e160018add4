"""Codex CLI and Cursor hooks on payloads in each tool's documented shape (tests/data/agent_payloads), run as the
agents run them (a subprocess, the payload on stdin), and the installers for their hooks and for the MCP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.fakes import stripe_live_key
from unleak.agent import agent_hooks, hook_installers

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "agent_payloads"


def payload(name: str, **fields: str) -> dict[str, Any]:
    text = (PAYLOADS / f"{name}.json").read_text()
    for k, v in fields.items():
        text = text.replace("{" + k + "}", json.dumps(v)[1:-1])
    doc: dict[str, Any] = json.loads(text)
    return doc


def hook(agent: str, doc: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unleak", "hook", agent, *args], input=json.dumps(doc),
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "README.md").write_text("shop\n")
    return tmp_path


# --------------------------------------------------------------------------------------------------- Codex


def test_codex_bash(project: Path, canary: str) -> None:
    (project / ".env").write_text(f"GITHUB_TOKEN={canary}\n")
    assert hook("codex", payload("codex_pre_tool_use_bash", CWD=str(project), COMMAND="ls -la")).returncode == 0
    for command in ("cat .env", "printenv", f"curl -H 'Authorization: token {canary}' https://api.github.com"):
        p = hook("codex", payload("codex_pre_tool_use_bash", CWD=str(project), COMMAND=command))
        assert p.returncode == 2 and "unleak blocked" in p.stderr and canary not in p.stderr + p.stdout


def test_codex_apply_patch(project: Path, canary: str) -> None:
    p = hook("codex", payload("codex_pre_tool_use_apply_patch", CWD=str(project), LINE=f'GITHUB_TOKEN = "{canary}"'))
    assert p.returncode == 2 and "app/settings.py" in p.stderr and canary not in p.stderr
    p = hook("codex", payload("codex_pre_tool_use_apply_patch", CWD=str(project),
                              LINE='GITHUB_TOKEN = os.environ["GITHUB_TOKEN"]'))
    assert p.returncode == 0, p.stderr


def test_codex_patch_parsing() -> None:
    patch = ("*** Begin Patch\n*** Update File: a.py\n@@\n-x = 1\n+x = 2\n*** Delete File: b.py\n"
             "*** Add File: c/d.py\n+y = 3\n*** End Patch\n")
    assert agent_hooks.patch_additions(patch) == [("a.py", "x = 2\n"), ("c/d.py", "y = 3\n")]


def test_codex_mcp_tool_input_is_scanned(project: Path) -> None:
    value = stripe_live_key()
    p = hook("codex", payload("codex_pre_tool_use_mcp", CWD=str(project), VALUE=value))
    assert p.returncode == 2 and "mcp__filesystem__write_file" in p.stderr and value not in p.stderr
    p = hook("codex", payload("codex_pre_tool_use_mcp", CWD=str(project), VALUE="${SHOP_TOKEN}"))
    assert p.returncode == 0, p.stderr


def test_codex_prompt_and_json_answer(project: Path, canary: str) -> None:
    doc = payload("codex_user_prompt_submit", CWD=str(project), PROMPT=f"use this token {canary} to deploy")
    p = hook("codex", doc)
    assert p.returncode == 2 and canary not in p.stderr
    p = hook("codex", payload("codex_pre_tool_use_bash", CWD=str(project), COMMAND="printenv"), "--json")
    answer = json.loads(p.stdout)
    assert p.returncode == 0 and answer["hookSpecificOutput"]["permissionDecision"] == "deny"


# -------------------------------------------------------------------------------------------------- Cursor


def test_cursor_shell(project: Path) -> None:
    p = hook("cursor", payload("cursor_before_shell_execution", CWD=str(project), COMMAND="npm test"))
    assert p.returncode == 0 and json.loads(p.stdout) == {"permission": "allow"}
    p = hook("cursor", payload("cursor_before_shell_execution", CWD=str(project), COMMAND="env"))
    answer = json.loads(p.stdout)
    assert p.returncode == 0 and answer["permission"] == "deny"
    assert answer["user_message"] == answer["agent_message"] == answer["agentMessage"]
    assert "unleak blocked" in answer["agent_message"]


def test_cursor_read_file(project: Path, canary: str) -> None:
    (project / ".env").write_text(f"GITHUB_TOKEN={canary}\n")
    p = hook("cursor", payload("cursor_before_read_file", CWD=str(project), FILE=".env",
                               CONTENT=f"GITHUB_TOKEN={canary}\n"))
    assert json.loads(p.stdout)["permission"] == "deny" and canary not in p.stdout
    # the content Cursor is about to hand the model carries a value, whatever the file is called
    p = hook("cursor", payload("cursor_before_read_file", CWD=str(project), FILE="app/config.py",
                               CONTENT=f'TOKEN = "{canary}"\n'))
    assert json.loads(p.stdout)["permission"] == "deny" and canary not in p.stdout
    p = hook("cursor", payload("cursor_before_read_file", CWD=str(project), FILE="README.md", CONTENT="shop\n"))
    assert json.loads(p.stdout) == {"permission": "allow"}


def test_cursor_mcp_and_prompt(project: Path, canary: str) -> None:
    p = hook("cursor", payload("cursor_before_mcp_execution", CWD=str(project), VALUE=canary))
    answer = json.loads(p.stdout)
    assert answer["permission"] == "deny" and "write_file" in answer["agent_message"] and canary not in p.stdout
    p = hook("cursor", payload("cursor_before_submit_prompt", CWD=str(project), PROMPT=f"deploy with {canary}"))
    answer = json.loads(p.stdout)
    assert answer["continue"] is False and canary not in p.stdout
    p = hook("cursor", payload("cursor_before_submit_prompt", CWD=str(project), PROMPT="fix the bug"))
    assert json.loads(p.stdout) == {"continue": True}


# ---------------------------------------------------------------------------------------------- installers


def _sh(command: str, doc: dict[str, Any], path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "-c", command], input=json.dumps(doc), capture_output=True, text=True,
                          env={**os.environ, "PATH": path}, timeout=60, check=False)


def _unleak_on_path(tmp_path: Path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "unleak").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m unleak "$@"\n')
    (bin_dir / "unleak").chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def test_install_codex_hooks_merges_and_runs(project: Path, tmp_path: Path, canary: str) -> None:
    path = project / ".codex" / "hooks.json"
    path.parent.mkdir()
    mine = {"matcher": "Bash", "hooks": [{"type": "command", "command": "./audit.sh"}]}
    path.write_text(json.dumps({"hooks": {"PreToolUse": [mine]}}))
    p = run_cli("hook", "install", "codex", "-C", str(project))
    assert p.returncode == 0, p.stderr
    doc = json.loads(path.read_text())
    assert doc["hooks"]["PreToolUse"][0] == mine
    ours = doc["hooks"]["PreToolUse"][1]
    assert ours["matcher"] == "Bash|apply_patch|mcp__.*"
    assert ours["hooks"][0]["command"] == hook_installers.guarded_command("unleak hook codex")
    assert doc["hooks"]["UserPromptSubmit"][0]["hooks"] == ours["hooks"]
    before = path.read_text()
    assert "already installed" in run_cli("hook", "install", "codex", "-C", str(project)).stderr
    assert path.read_text() == before
    # the installed line, as Codex runs it: blocks with unleak on PATH, and without it
    doc_in = payload("codex_pre_tool_use_bash", CWD=str(project), COMMAND=f"echo {canary}")
    command = ours["hooks"][0]["command"]
    assert _sh(command, doc_in, _unleak_on_path(tmp_path)).returncode == 2
    assert _sh(command, doc_in, "/usr/bin:/bin").returncode == 2


def test_install_cursor_hooks(project: Path, tmp_path: Path) -> None:
    p = run_cli("hook", "install", "cursor", "-C", str(project))
    assert p.returncode == 0, p.stderr
    doc = json.loads((project / ".cursor" / "hooks.json").read_text())
    assert doc["version"] == 1
    assert set(doc["hooks"]) == set(agent_hooks.CURSOR_EVENTS)
    entry = doc["hooks"]["beforeShellExecution"][0]
    assert entry["failClosed"] is True and entry["command"] == hook_installers.guarded_command("unleak hook cursor")
    out = _sh(entry["command"], payload("cursor_before_shell_execution", CWD=str(project), COMMAND="printenv"),
              _unleak_on_path(tmp_path))
    assert json.loads(out.stdout)["permission"] == "deny"
    assert not run_cli("hook", "install", "cursor", "-C", str(project)).stderr.startswith("updated")


@pytest.mark.parametrize(("agent", "rel"), [("claude-code", ".mcp.json"), ("cursor", ".cursor/mcp.json"),
                                            ("codex", ".codex/config.toml")])
def test_mcp_install(project: Path, agent: str, rel: str) -> None:
    path = project / rel
    path.parent.mkdir(exist_ok=True)
    if agent == "codex":
        path.write_text('# my settings\nmodel = "gpt-5-codex"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n')
    else:
        path.write_text(json.dumps({"mcpServers": {"docs": {"command": "docs-mcp"}}}))
    p = run_cli("mcp", "install", agent, "-C", str(project))
    assert p.returncode == 0, p.stderr
    if agent == "codex":
        text = path.read_text()
        assert text.startswith('# my settings\nmodel = "gpt-5-codex"\n')  # the user's file, as it was, first
        servers = tomllib.loads(text)["mcp_servers"]
    else:
        servers = json.loads(path.read_text())["mcpServers"]
    assert servers["docs"]["command"] == "docs-mcp"
    assert servers["unleak"]["command"] == "unleak" and servers["unleak"]["args"] == ["mcp"]
    before = path.read_text()
    p = run_cli("mcp", "install", agent, "-C", str(project))
    assert p.returncode == 0 and "already installed" in p.stderr and path.read_text() == before


def test_mcp_install_refuses_a_different_unleak_entry(project: Path) -> None:
    (project / ".mcp.json").write_text(json.dumps({"mcpServers": {"unleak": {"command": "other"}}}))
    p = run_cli("mcp", "install", "claude-code", "-C", str(project))
    assert p.returncode == 2 and "already configured" in p.stderr


def test_mcp_install_user_scope(isolated_home: Path, tmp_path: Path) -> None:
    p = run_cli("mcp", "install", "codex", "--scope", "user", "-C", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert tomllib.loads((isolated_home / ".codex" / "config.toml").read_text())["mcp_servers"]["unleak"]
