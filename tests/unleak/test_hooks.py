"""Claude Code hook protocol, the generic `hook check`, and the installers (Claude Code settings, git pre-commit).

Payloads follow the shapes Claude Code documents for each event (common fields session_id, transcript_path, cwd,
permission_mode, hook_event_name; tool events add tool_name, tool_input, tool_use_id; UserPromptSubmit adds prompt).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import stripe_live_key
from unleak.agent import hook_installers, hook_scan, hooks, secret_reads


def payload(cwd: Path, event: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "session_id": "3f1c2a9e-0000-4000-8000-000000000001",
        "transcript_path": str(cwd / ".claude-transcript.jsonl"),
        "cwd": str(cwd),
        "permission_mode": "default",
        "hook_event_name": event,
    }
    if event in ("PreToolUse", "PostToolUse"):
        base["tool_use_id"] = "toolu_01ABCDEF"
    base.update(fields)
    return base


def tool(cwd: Path, name: str, **tool_input: Any) -> dict[str, Any]:
    return payload(cwd, "PreToolUse", tool_name=name, tool_input=tool_input)


def hook(data: dict[str, Any] | str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    raw = data if isinstance(data, str) else json.dumps(data)
    return run_cli("hook", "claude-code", *args, input=raw, cwd=cwd)


# ------------------------------------------------------------------------------------- write/edit content

WRITE_CASES = [
    # (id, tool, tool_input builder taking (path, secret), blocked?)
    ("write-secret", "Write", lambda p, s: {"file_path": p, "content": f'TOKEN = "{s}"\n'}, True),
    ("write-clean", "Write", lambda p, s: {"file_path": p, "content": 'TOKEN = os.environ["TOKEN"]\n'}, False),
    ("write-reference", "Write", lambda p, s: {"file_path": p, "content": "TOKEN=unleak://app/TOKEN\n"}, False),
    ("edit-secret", "Edit", lambda p, s: {"file_path": p, "old_string": "TOKEN = None",
                                          "new_string": f"TOKEN = '{s}'", "replace_all": False}, True),
    ("edit-removes-secret", "Edit", lambda p, s: {"file_path": p, "old_string": f"TOKEN = '{s}'",
                                                  "new_string": "TOKEN = os.environ['TOKEN']"}, False),
    ("multiedit-second-edit", "MultiEdit", lambda p, s: {"file_path": p, "edits": [
        {"old_string": "a = 1", "new_string": "a = 2"},
        {"old_string": "b = None", "new_string": f"b = '{s}'", "replace_all": False}]}, True),
    ("notebook-secret", "NotebookEdit", lambda p, s: {"notebook_path": p.replace(".py", ".ipynb"),
                                                      "new_source": f"token = '{s}'", "cell_type": "code"}, True),
    ("multiedit-clean", "MultiEdit", lambda p, s: {"file_path": p, "edits": [
        {"old_string": "a = 1", "new_string": "a = 2"}]}, False),
]


@pytest.mark.parametrize(("case", "tool_name", "build", "blocked"), WRITE_CASES, ids=[c[0] for c in WRITE_CASES])
def test_write_tools(tmp_path: Path, canary: str, case: str, tool_name: str, build: Any, blocked: bool) -> None:
    d = hooks.decide(tool(tmp_path, tool_name, **build(str(tmp_path / "settings.py"), canary)))
    assert d.block is blocked
    assert canary not in d.reason
    if blocked:
        assert "unleak fix" in d.reason and "settings." in d.reason and "UL" in d.reason


def test_other_provider_format_blocked(tmp_path: Path) -> None:
    key = stripe_live_key()
    d = hooks.decide(tool(tmp_path, "Write", file_path=str(tmp_path / "pay.py"), content=f"stripe.api_key = '{key}'"))
    assert d.block and key not in d.reason


def test_write_ignores_the_repo_config(repo: GitRepo) -> None:
    """The agent can write the repository's config, so hooks do not read it: not even custom rules, whose regex
    could be made slow enough for the hook to time out (which lets the call through). `unleak scan` applies them;
    weakening keys are tested in tests/agent/redteam/test_write_hook.py."""
    repo.write(".unleak.toml", '[[rules]]\nid = "acme-key"\nregex = "ACME-INTERNAL-[0-9a-f]{10}"\n'
                               'keywords = ["acme-internal"]\n')
    content = "code = 'ACME-INTERNAL-7f3a9c2e1b'\n"
    assert not hooks.decide(tool(repo.path, "Write", file_path=str(repo.path / "a.py"), content=content)).block
    repo.commit("custom rule", {"a.py": content})
    assert run_cli("scan", cwd=repo.path).returncode == 1


# -------------------------------------------------------------------------------------------- Bash commands

BASH_CASES = [
    ("cat .env", True),
    ("cat ./.env | grep STRIPE", True),
    ("grep -r KEY .env.local", True),
    ("head -n 3 config/.env.production", True),
    ("sort < .env", True),
    ("printenv", True),
    ("printenv STRIPE_KEY", True),
    ("env", True),
    ("env | sort", True),
    ("env -0", True),
    ("FOO=1 env", True),
    ("export -p", True),
    ("declare -p", True),
    ("set", True),
    ("echo $STRIPE_SECRET_KEY", True),
    ("cat ~/.ssh/id_ed25519", True),
    ("cat certs/server.pem", True),
    ("cat ~/.aws/credentials", True),
    ("base64 secrets/deploy.key", True),
    ("cat $XDG_DATA_HOME/unleak/vault.key", True),
    ("ls $XDG_DATA_HOME/unleak/vaults && cat $XDG_DATA_HOME/unleak/vaults/app.vault", True),
    ("python -c 'print(1)' && cat .env", True),
    ("cat 'unbalanced .env", True),
    # allowed
    ("ls -la", False),
    ("cat README.md", False),
    ("cat .env.example", False),
    ("cat refs/.env", False),  # references only: safe to read
    ("env FOO=1 python app.py", False),
    ("echo $HOME", False),
    ("cat ~/.ssh/id_ed25519.pub", False),
    ("cat certs/ca.pem", False),  # a certificate: public
    ("cat certs/missing.pem", True),  # cannot tell: blocked
    ("pytest -q", False),
    ("unleak run -- python app.py", False),
    ("git diff .env", False),  # git shows the diff of a tracked file; scanning history is unleak scan's job
    ("set -euo pipefail", False),
    ("source .venv/bin/activate", False),
]


@pytest.mark.parametrize(("command", "blocked"), BASH_CASES)
def test_bash_commands(tmp_path: Path, canary: str, command: str, blocked: bool) -> None:
    (tmp_path / ".env").write_text(f"GITHUB_TOKEN={canary}\n")
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / ".env").write_text("# references\nGITHUB_TOKEN=unleak://app/GITHUB_TOKEN\nEMPTY=\n"
                                            "OP='op://dev/stripe/credential'\n")
    (tmp_path / ".env.example").write_text("GITHUB_TOKEN=\n")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    (tmp_path / "certs" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    (tmp_path / ".env.local").write_text("KEY=plain-value-here\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / ".env.production").write_text("KEY=plain-value-here\n")
    d = hooks.decide(tool(tmp_path, "Bash", command=command, description="run it"))
    assert d.block is blocked, d.reason
    assert canary not in d.reason
    if blocked:
        assert "unleak run" in d.reason


def test_bash_command_carrying_a_secret_literal(tmp_path: Path, canary: str) -> None:
    d = hooks.decide(tool(tmp_path, "Bash", command=f"curl -H 'Authorization: token {canary}' https://api.example"))
    assert d.block and canary not in d.reason and "command line" in d.reason


@pytest.mark.parametrize(("name", "blocked"), [(".env", True), ("app.py", False), ("id_rsa", True),
                                               ("refs/.env", False)])
def test_read_tool(tmp_path: Path, canary: str, name: str, blocked: bool) -> None:
    (tmp_path / ".env").write_text(f"T={canary}\n")
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / ".env").write_text("T=unleak://app/T\n")
    d = hooks.decide(tool(tmp_path, "Read", file_path=str(tmp_path / name)))
    assert d.block is blocked
    assert canary not in d.reason


@pytest.mark.parametrize(("tool_input", "blocked"), [
    ({"pattern": "TOKEN", "path": ".env"}, True),
    ({"pattern": "TOKEN", "glob": ".env*"}, True),
    ({"pattern": "TOKEN", "glob": "*.env"}, True),
    ({"pattern": "TOKEN", "path": "src"}, False),
    ({"pattern": "TOKEN", "glob": "*.py"}, False),
    ({"pattern": "TOKEN", "glob": ".env.example"}, False),
])
def test_grep_tool(tmp_path: Path, canary: str, tool_input: dict[str, str], blocked: bool) -> None:
    (tmp_path / ".env").write_text(f"T={canary}\n")
    d = hooks.decide(tool(tmp_path, "Grep", output_mode="content", **tool_input))
    assert d.block is blocked
    assert canary not in d.reason


# ------------------------------------------------------------------------------------------- prompts, misc


def test_user_prompt_with_secret_blocked(tmp_path: Path, canary: str) -> None:
    d = hooks.decide(payload(tmp_path, "UserPromptSubmit", prompt=f"deploy with token {canary} please"))
    assert d.block and "unleak secrets set" in d.reason and canary not in d.reason


def test_user_prompt_clean_allowed(tmp_path: Path) -> None:
    assert not hooks.decide(payload(tmp_path, "UserPromptSubmit", prompt="add a test for the login view")).block


@pytest.mark.parametrize("event", ["PostToolUse", "Stop", "SessionStart", "Notification"])
def test_other_events_allowed(tmp_path: Path, canary: str, event: str) -> None:
    assert not hooks.decide(payload(tmp_path, event, tool_name="Write", tool_input={"content": canary},
                                    message=canary)).block


def test_other_tools_with_clean_input_are_allowed(tmp_path: Path) -> None:
    assert not hooks.decide(tool(tmp_path, "WebFetch", url="https://example.com", prompt="summarise")).block
    assert not hooks.decide(tool(tmp_path, "Glob", pattern="**/*.py")).block


# ------------------------------------------------------------------------------ the protocol, end to end


def test_cli_blocks_with_exit_2_and_reason_on_stderr(tmp_path: Path, canary: str) -> None:
    p = hook(tool(tmp_path, "Write", file_path=str(tmp_path / "a.py"), content=f"X = '{canary}'"))
    assert p.returncode == 2
    assert "unleak blocked this Write" in p.stderr and p.stdout == ""
    assert canary not in p.stdout + p.stderr


def test_cli_allows_with_exit_0_and_no_output(tmp_path: Path) -> None:
    p = hook(tool(tmp_path, "Write", file_path=str(tmp_path / "a.py"), content="X = 1\n"))
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


def test_cli_json_decisions(tmp_path: Path, canary: str) -> None:
    p = hook(tool(tmp_path, "Bash", command="printenv"), "--json")
    assert p.returncode == 0
    out = json.loads(p.stdout)["hookSpecificOutput"]
    assert out["hookEventName"] == "PreToolUse" and out["permissionDecision"] == "deny"
    assert "printenv" in out["permissionDecisionReason"]
    p = hook(payload(tmp_path, "UserPromptSubmit", prompt=f"key {canary}"), "--json")
    assert p.returncode == 0
    d = json.loads(p.stdout)
    assert d["decision"] == "block" and canary not in p.stdout


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '{"hook_event_name": "PreToolUse", "tool_input": 3}'])
def test_cli_malformed_payload(raw: str) -> None:
    p = hook(raw)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr and p.stderr.startswith("unleak:")


# ------------------------------------------------------------------------------------------- hook check


def test_hook_check_finds_and_redacts(tmp_path: Path, canary: str) -> None:
    p = run_cli("hook", "check", "--path", "config.py", input=f"a = 1\nTOKEN = '{canary}'\n", cwd=tmp_path)
    assert p.returncode == 1
    assert "config.py:2:" in p.stdout and canary not in p.stdout + p.stderr
    p = run_cli("hook", "check", "--format", "json", input=f"T={canary}", cwd=tmp_path)
    rows = json.loads(p.stdout)
    assert p.returncode == 1 and rows[0]["line"] == 1 and rows[0]["rule_id"].startswith("UL")
    assert canary not in p.stdout


def test_hook_check_clean(tmp_path: Path) -> None:
    p = run_cli("hook", "check", input="print('hello')\n", cwd=tmp_path)
    assert (p.returncode, p.stdout) == (0, "")


# -------------------------------------------------------------------------------------------- installers


def test_install_claude_code_merges_and_is_idempotent(repo: GitRepo) -> None:
    settings = repo.path / ".claude" / "settings.json"
    settings.parent.mkdir()
    existing = {"permissions": {"allow": ["Bash(npm test)"]},
                "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "mine.sh"}]}]}}
    settings.write_text(json.dumps(existing))
    sub = repo.path / "src"
    sub.mkdir()
    p = run_cli("hook", "install", "claude-code", cwd=sub)
    assert p.returncode == 0, p.stderr
    doc = json.loads(settings.read_text())
    assert doc["permissions"]["allow"] == existing["permissions"]["allow"]
    assert set(hook_installers.DENY_READ_RULES) <= set(doc["permissions"]["deny"])
    pre = doc["hooks"]["PreToolUse"]
    assert pre[0] == existing["hooks"]["PreToolUse"][0]
    ours = pre[1]
    assert all(claude_matches(ours["matcher"], t) for t in ("Write", "Edit", "MultiEdit", "Bash", "WebFetch",
                                                              "mcp__fs__write_file"))
    assert ours["hooks"] == [{"type": "command", "command": hook_installers.guarded_command("unleak hook claude-code"),
                              "timeout": 10}]
    assert doc["hooks"]["UserPromptSubmit"] == [{"hooks": ours["hooks"]}]
    assert doc["hooks"]["PostToolUse"] == [{"matcher": "Write|Edit|MultiEdit|NotebookEdit", "hooks": ours["hooks"]}]
    before = settings.read_text()
    p = run_cli("hook", "install", "claude-code", cwd=repo.path)
    assert p.returncode == 0 and "already installed" in p.stderr
    assert settings.read_text() == before


def test_install_claude_code_updates_an_older_matcher(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    cmd = {"type": "command", "command": hook_installers.HOOK_COMMAND, "timeout": 10}
    settings.write_text(json.dumps({"hooks": {"PreToolUse": [{"matcher": "Write|Edit", "hooks": [cmd]}],
                                              "UserPromptSubmit": [{"hooks": [cmd]}]}}))
    res = hook_installers.install_claude_code(settings)
    assert res.changed and res.added == ["PreToolUse (matcher updated)", "PreToolUse (fails closed now)",
                                         "PostToolUse", "UserPromptSubmit (fails closed now)",
                                         "permissions.deny (10 rules)"]
    doc = json.loads(settings.read_text())
    guarded = {**cmd, "command": hook_installers.guarded_command(hook_installers.HOOK_COMMAND)}
    assert doc["hooks"]["PreToolUse"] == [{"matcher": hook_installers.PRE_TOOL_MATCHER, "hooks": [guarded]}]
    assert doc["hooks"]["PostToolUse"] == [{"matcher": hook_installers.POST_TOOL_MATCHER, "hooks": [guarded]}]
    assert doc["hooks"]["UserPromptSubmit"] == [{"hooks": [guarded]}]
    assert not hook_installers.install_claude_code(settings).changed


def _hook_commands(settings: Path) -> list[str]:
    doc = json.loads(settings.read_text())
    return [h["command"] for groups in doc["hooks"].values() for g in groups for h in g["hooks"]]


def _sh(command: str, payload: dict[str, object], path: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """How Claude Code runs a command hook: through the shell, the payload on stdin."""
    env = {**os.environ, "PATH": path}
    return subprocess.run(["/bin/sh", "-c", command], input=json.dumps(payload), capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=60, check=False)


def test_installed_hook_fails_closed_when_unleak_is_not_on_path(tmp_path: Path, canary: str) -> None:
    """The attack: the settings are committed, and a teammate (or the agent's sandbox) has no unleak on PATH. A
    bare `unleak hook claude-code` exits 127, a non-blocking error: the write of a secret went through."""
    settings = tmp_path / ".claude" / "settings.json"
    hook_installers.install_claude_code(settings)
    payload = {"hook_event_name": "PreToolUse", "tool_name": "Write", "cwd": str(tmp_path),
               "tool_input": {"file_path": str(tmp_path / "a.py"), "content": f"T = '{canary}'\n"}}
    no_unleak = "/usr/bin:/bin"  # git and sh, no unleak
    assert shutil.which("unleak", path=no_unleak) is None
    for command in _hook_commands(settings):
        p = _sh(command, payload, no_unleak, tmp_path)
        assert p.returncode == 2, (p.returncode, p.stderr)
        assert "not on PATH" in p.stderr and "blocked" in p.stderr and canary not in p.stderr


def test_installed_hook_runs_unleak_from_path_and_blocks_its_crash(tmp_path: Path, canary: str) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    hook_installers.install_claude_code(settings)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "unleak").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m unleak "$@"\n')
    (bin_dir / "unleak").chmod(0o755)
    path = f"{bin_dir}:/usr/bin:/bin"
    command = _hook_commands(settings)[0]
    write = {"hook_event_name": "PreToolUse", "tool_name": "Write", "cwd": str(tmp_path),
             "tool_input": {"file_path": str(tmp_path / "a.py"), "content": "T = 1\n"}}
    assert _sh(command, write, path, tmp_path).returncode == 0
    write["tool_input"]["content"] = f"T = '{canary}'\n"  # type: ignore[index]
    p = _sh(command, write, path, tmp_path)
    assert p.returncode == 2 and canary not in p.stderr
    # an unleak that cannot start (exit 1, a traceback) blocks too, instead of being a non-blocking error
    (bin_dir / "unleak").write_text("#!/bin/sh\necho 'ModuleNotFoundError' >&2\nexit 1\n")
    p = _sh(command, write, path, tmp_path)
    assert p.returncode == 2 and "failed, so the call is blocked (exit 1)" in p.stderr


def test_install_warns_when_unleak_is_not_on_path(tmp_path: Path) -> None:
    p = run_cli("hook", "install", "claude-code", "-C", str(tmp_path), env={"PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    assert "warning: unleak is not on PATH here" in p.stderr


def test_install_claude_code_user_scope_and_bad_json(tmp_path: Path, isolated_home: Path) -> None:
    p = run_cli("hook", "install", "claude-code", "--scope", "user", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "UserPromptSubmit" in json.loads((isolated_home / ".claude" / "settings.json").read_text())["hooks"]
    bad = tmp_path / ".claude" / "settings.json"
    bad.parent.mkdir()
    bad.write_text("{not json")
    p = run_cli("hook", "install", "claude-code", cwd=tmp_path)
    assert p.returncode == 2 and "settings.json" in p.stderr and "Traceback" not in p.stderr
    assert bad.read_text() == "{not json"


def test_install_git_hook_blocks_a_commit(repo: GitRepo, canary: str) -> None:
    repo.commit("init", {"README.md": "hi\n"})
    p = run_cli("install-hook", cwd=repo.path)
    assert p.returncode == 0, p.stderr
    hook_file = repo.path / ".git" / "hooks" / "pre-commit"
    assert os.access(hook_file, os.X_OK)
    repo.write("app.py", f"TOKEN = '{canary}'\n")
    repo.git("add", "app.py")
    proc = subprocess.run(["git", "commit", "-m", "add"], cwd=repo.path, capture_output=True, text=True,
                          env={**os.environ, "PATH": os.environ.get("PATH", "")})
    assert proc.returncode != 0
    assert "app.py" in proc.stdout + proc.stderr and canary not in proc.stdout + proc.stderr
    repo.write("app.py", "TOKEN = os.environ['TOKEN']\n")
    repo.git("add", "app.py")
    repo.git("commit", "-q", "-m", "clean")


def test_install_git_hook_refuses_foreign_hook_and_honours_hooks_path(repo: GitRepo) -> None:
    repo.commit("init")
    custom = repo.path / "githooks"
    custom.mkdir()
    repo.git("config", "core.hooksPath", "githooks")
    (custom / "pre-commit").write_text("#!/bin/sh\necho mine\n")
    p = run_cli("install-hook", cwd=repo.path)
    assert p.returncode == 2 and "--force" in p.stderr
    assert (custom / "pre-commit").read_text() == "#!/bin/sh\necho mine\n"
    p = run_cli("install-hook", "--force", cwd=repo.path)
    assert p.returncode == 0
    assert hook_installers.GIT_HOOK_MARKER in (custom / "pre-commit").read_text()
    assert not (repo.path / ".git" / "hooks" / "pre-commit").exists()
    p = run_cli("install-hook", cwd=repo.path)  # ours: rewriting is fine
    assert p.returncode == 0 and "already installed" in p.stderr


def test_install_git_hook_outside_repo(tmp_path: Path) -> None:
    p = run_cli("install-hook", cwd=tmp_path)
    assert p.returncode == 2 and "Traceback" not in p.stderr


# ---------------------------------------------------------------------------------------------- latency


# Modules that cost tens of milliseconds to import and that no hook event needs. The latency itself is measured by
# bench/hooks.py beside a bare interpreter (a timed assertion here would only measure how busy the machine is).
HEAVY = ("rich", "httpx", "libcst", "mcp", "git", "ray", "cryptography", "jsonschema", "detect_secrets",
         "pydantic", "yaml")


def test_hook_path_stays_light(tmp_path: Path, canary: str) -> None:
    """`unleak hook claude-code` runs on every edit: it answers without importing any heavy module."""
    cases = {
        "Write": tool(tmp_path, "Write", file_path=str(tmp_path / "a.py"), content="x = 1\n" * 50),
        "Bash": tool(tmp_path, "Bash", command="pytest -q tests/"),
        "UserPromptSubmit": payload(tmp_path, "UserPromptSubmit", prompt=f"use {canary}"),
    }
    for name, data in cases.items():
        r = subprocess.run([sys.executable, "-X", "importtime", "-m", "unleak", "hook", "claude-code"],
                           input=json.dumps(data), text=True, capture_output=True, check=False)
        assert r.returncode in (0, 2), (name, r.stderr[-400:])
        imported = {m.group(1).split(".")[0]
                    for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", r.stderr, re.M)}
        assert imported.isdisjoint(HEAVY), (name, sorted(imported & set(HEAVY)))
        assert canary not in r.stdout


def test_slow_rule_families_are_skipped_unless_thorough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hooks skip the detect-secrets-backed rules by default (latency); UNLEAK_HOOK_THOROUGH=1 runs them."""
    from scanner.rules import all_rules

    slow = {r.id for r in all_rules().values() if r.family in hook_scan.SLOW_FAMILIES}
    assert slow, "the slow family exists, so skipping it is not vacuous"
    seen: list[frozenset[str]] = []
    import scanner.api

    real = scanner.api.scan

    def spy(req: Any, progress: Any = None) -> Any:
        seen.append(req.disabled)
        return real(req)

    monkeypatch.setattr(scanner.api, "scan", spy)
    hook_scan.scan_text("x = 1\n", "a.py")
    monkeypatch.setenv("UNLEAK_HOOK_THOROUGH", "1")
    hook_scan.scan_text("x = 1\n", "a.py")
    assert slow <= seen[0] and not slow & seen[1]


def test_invalid_utf8_and_large_payloads_are_checked(tmp_path: Path, canary: str) -> None:
    content = "x = 1\n" * 200_000 + f"T = '{canary}'\n"
    raw = json.dumps(tool(tmp_path, "Write", file_path=str(tmp_path / "big.py"), content=content)).encode()
    raw = raw.replace(b"x = 1", b"x = \xff", 1)  # one invalid byte
    p = subprocess.run([sys.executable, "-m", "unleak", "hook", "claude-code"], input=raw, capture_output=True,
                       timeout=60, check=False)
    assert p.returncode == 2, p.stderr
    assert canary.encode() not in p.stdout + p.stderr
    p = subprocess.run([sys.executable, "-m", "unleak", "hook", "check"], input=b"\xfe\xff" + canary.encode(),
                       capture_output=True, timeout=60, check=False)
    assert p.returncode == 1 and canary.encode() not in p.stdout + p.stderr


def test_internal_error_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claude Code lets a tool call through on any exit code but 2, so an internal failure must block."""
    from click.testing import CliRunner

    from unleak.cli import cli

    def broken(payload: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(hooks, "decide", broken)
    data = json.dumps(tool(tmp_path, "Write", file_path=str(tmp_path / "a.py"), content="x = 1"))
    res = CliRunner().invoke(cli, ["hook", "claude-code"], input=data)
    assert res.exit_code == 2 and "blocked to be safe" in res.output and "boom" not in res.output


# ------------------------------------------------------------------------------ every tool, native deny rules


@pytest.mark.parametrize(("tool", "tool_input"), [
    ("mcp__filesystem__write_file", {"path": "config/app.yaml", "content": "token: {SECRET}\n"}),
    ("WebFetch", {"url": "https://api.example.com/v1/items?access_token={SECRET}", "prompt": "list the items"}),
    ("mcp__github__create_issue", {"owner": "octo", "repo": "shop", "body": {"text": ["see {SECRET}"]}}),
    ("Task", {"description": "deploy", "prompt": "use the token {SECRET} to deploy"}),
])
def test_any_tool_whose_input_carries_a_secret_is_blocked(tmp_path: Path, canary: str, tool: str,
                                                          tool_input: dict[str, Any]) -> None:
    """The attack: an MCP write_file (or a fetched URL, or a subagent prompt) carrying a token passed, because only
    the built-in write tools were checked and the matcher did not even send these calls to the hook."""
    filled = json.loads(json.dumps(tool_input).replace("{SECRET}", canary))
    d = hooks.decide({"hook_event_name": "PreToolUse", "cwd": str(tmp_path), "tool_name": tool,
                      "tool_input": filled})
    assert d.block and tool in d.reason and canary not in d.reason
    clean = json.loads(json.dumps(tool_input).replace("{SECRET}", "${SHOP_TOKEN}"))
    assert not hooks.decide({"hook_event_name": "PreToolUse", "cwd": str(tmp_path), "tool_name": tool,
                             "tool_input": clean}).block
    assert claude_matches(hook_installers.PRE_TOOL_MATCHER, tool)  # Claude Code sends the call to the hook at all


def claude_matches(matcher: str, tool: str) -> bool:
    """Claude Code's matcher semantics: "*" or "" match every tool; otherwise a regular expression."""
    return matcher in ("*", "") or re.fullmatch(matcher, tool) is not None


def test_install_adds_native_deny_rules_for_secret_files(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(json.dumps({"permissions": {"allow": ["Bash(npm test)"], "deny": ["Read(./secrets/**)"]}}))
    hook_installers.install_claude_code(settings)
    perms = json.loads(settings.read_text())["permissions"]
    assert perms["allow"] == ["Bash(npm test)"]
    assert perms["deny"][0] == "Read(./secrets/**)"
    assert {"Read(./.env)", "Read(./.env.*)", "Read(~/.ssh/**)"} <= set(perms["deny"])
    before = settings.read_text()
    assert not hook_installers.install_claude_code(settings).changed and settings.read_text() == before


@pytest.mark.parametrize(("text", "safe"), [
    ("T=unleak://app/T\n", True),
    ("T=unleak://\n", False),  # a scheme alone is no reference
    ("T=unleak://app/T  # inline comment\n", True),  # python-dotenv drops the comment, as the program does
    ("export T='op://dev/stripe/credential'\nE=\n# {secret}\n", True),
    ("T={secret}\n", False),
    ('T="{secret}\n', False),  # unterminated quote: python-dotenv skips the line, the guard must not
    ("T=unleak://app/T\nBROKEN {secret}\n", False),
    ('T="unleak://app/T\n{secret}"\n', False),  # a multi-line value read whole
])
def test_a_dotenv_is_safe_to_read_only_when_it_parses_to_references(tmp_path: Path, canary: str, text: str,
                                                                     safe: bool) -> None:
    """The guard reads the file the way the program and `unleak fix` read it (remediate.dotenv)."""
    (tmp_path / ".env").write_text(text.replace("{secret}", canary))
    d = hooks.decide(tool(tmp_path, "Read", file_path=str(tmp_path / ".env")))
    assert d.block is not safe
    assert canary not in d.reason


@pytest.mark.parametrize("name", [".env", ".env.local", "prod.env", ".env.example", ".env.sample", ".envrc",
                                  "env", "config.env.example", ".env.production.template", "a.env"])
def test_the_guard_and_the_fixer_agree_on_what_a_dotenv_file_is(name: str) -> None:
    from remediate.dotenv import is_dotenv_path

    documented_example = name.startswith(".env.") and name.endswith(secret_reads._DOTENV_SAFE)
    assert secret_reads._is_dotenv(name) == (is_dotenv_path(name) and not documented_example)
