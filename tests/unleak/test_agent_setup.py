"""`unleak agent install` writes an agent's settings to match `unleak agent`; `unleak doctor` reports, row by row,
which guarantees hold — on this machine's real kernel, and from the real files an install wrote."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import run_cli
from unleak import confine
from unleak.agent import setup as agent_setup
from unleak.confine import unleak_dirs


def _rows(project: Path, agents: tuple[str, ...] = ()) -> dict[str, agent_setup.Check]:
    return {r.name: r for r in agent_setup.checks(project, agents)}


def test_claude_code_install_writes_sandbox_deny_rules_hooks_and_mcp_with_absolute_paths(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"model": "mine", "permissions": {"deny": ["Bash(curl:*)"]}}))
    first = agent_setup.install("claude-code", tmp_path)
    assert all(r.changed for r in first)
    doc = json.loads(settings.read_text())
    assert doc["model"] == "mine" and "Bash(curl:*)" in doc["permissions"]["deny"]  # the user's own, kept
    assert doc["sandbox"] == {"enabled": True, "allowUnsandboxedCommands": False}
    for d in unleak_dirs():
        assert f"Read(/{Path(d).resolve()}/**)" in doc["permissions"]["deny"]
    mcp = json.loads((tmp_path / ".mcp.json").read_text())["mcpServers"]["unleak"]
    assert Path(mcp["command"]).is_absolute() and mcp["args"][-1] == "mcp"
    assert not any(r.changed for r in agent_setup.install("claude-code", tmp_path))  # idempotent
    rows = _rows(tmp_path)
    for name in ("claude-code: sandbox settings", "claude-code: hooks", "claude-code: MCP server"):
        assert rows[name].ok is True, rows[name]


def test_codex_install_puts_sandbox_mode_at_the_top_and_keeps_the_users_tables(tmp_path: Path) -> None:
    config = tmp_path / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text('[profiles.fast]\nmodel = "o4-mini"\n')
    agent_setup.install("codex", tmp_path)
    doc = tomllib.loads(config.read_text())
    assert doc["sandbox_mode"] == "workspace-write"
    assert doc["profiles"]["fast"] == {"model": "o4-mini"}
    assert Path(doc["mcp_servers"]["unleak"]["command"]).is_absolute()
    rows = _rows(tmp_path)
    assert all(rows[f"codex: {n}"].ok for n in ("sandbox settings", "hooks", "MCP server")), rows
    config.write_text('sandbox_mode = "danger-full-access"\n' + config.read_text().split("\n", 1)[1])
    agent_setup.install("codex", tmp_path)  # the user's explicit choice stays, and the doctor says it is not safe
    assert tomllib.loads(config.read_text())["sandbox_mode"] == "danger-full-access"
    assert _rows(tmp_path)["codex: sandbox settings"].ok is False


def test_doctor_flags_hooks_that_name_unleak_by_a_bare_name(tmp_path: Path) -> None:
    from unleak.agent import hook_installers

    # the plain hook install: `unleak` on PATH
    hook_installers.install_claude_code(tmp_path / ".claude" / "settings.json")
    rows = _rows(tmp_path)
    assert rows["claude-code: hooks"].ok is False and "absolute path" in rows["claude-code: hooks"].detail
    assert rows["claude-code: sandbox settings"].ok is False
    assert rows["claude-code: MCP server"].ok is False


def test_doctor_reports_this_kernel_and_the_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(tmp_path)
    abi = confine.abi()
    assert rows["Landlock"].ok is (abi > 0) and (f"ABI {abi}" in rows["Landlock"].detail or abi == 0)
    assert rows["Landlock TCP rules"].ok is (abi >= confine.NET_ABI)
    assert rows["child subreaper"].ok is True
    assert rows["keyring backend"].ok is True  # tests run with the fail backend: the key is the 0600 file
    assert rows["agent settings"].ok is None
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    import keyring.core

    keyring.core._keyring_backend = None  # type: ignore[attr-defined]
    try:
        from remediate.vault.keystore import usable_keyring

        if usable_keyring() is not None:
            assert _rows(tmp_path)["keyring backend"].ok is False
    finally:
        keyring.core._keyring_backend = None  # type: ignore[attr-defined]


def test_doctor_and_agent_install_on_the_command_line(tmp_path: Path) -> None:
    res = run_cli("doctor", "-C", str(tmp_path))
    assert res.returncode in (0, 1), res.stderr
    assert "Landlock" in res.stdout and "agent settings" in res.stdout
    inst = run_cli("agent", "install", "claude-code", "-C", str(tmp_path))
    assert inst.returncode == 0, inst.stderr
    assert (tmp_path / ".mcp.json").exists() and (tmp_path / ".claude" / "settings.json").exists()
    res = run_cli("doctor", "-C", str(tmp_path))
    assert "claude-code: hooks" in res.stdout
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("claude-code")]
    assert lines and all("  ok  " in ln for ln in lines), res.stdout
    assert res.returncode == (0 if all(r.ok is not False for r in agent_setup.checks(tmp_path)) else 1)


@pytest.mark.skipif(not confine.available(), reason="this kernel has no Landlock")
def test_doctor_inside_unleak_agent_sees_the_directories_closed(tmp_path: Path) -> None:
    res = run_cli("agent", "--", "sh", "-c", f"{sys.executable} -m unleak doctor -C {tmp_path}", cwd=tmp_path)
    assert "this shell" in res.stdout and "not readable here" in res.stdout, res.stdout + res.stderr
