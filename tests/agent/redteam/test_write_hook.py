"""Red team, issue 13 item 11: the write hook trusted what the agent itself writes, and looked at each edit alone.

Before: a secret with an allow comment (`# gitleaks:allow`, `pragma: allowlist secret`, `unleak:allow`) passed; an
`.unleak.toml` the agent wrote (`disable = [...]`, `min-confidence`) switched rules off for its next write; and a
key split over two Edits (or two edits of one MultiEdit) passed, because each new_string alone holds no key. There
was no PostToolUse check. Now hooks ignore allow comments and weakening config, scan the whole file as it would be
after the call, and check the file again after the write (PostToolUse, installed by `unleak hook install`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat
from unleak.agent import hook_installers, hook_writes, hooks


def _payload(cwd: Path, event: str, tool: str, tool_input: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"session_id": "3f1c2a9e-0000-4000-8000-000000000002", "transcript_path": "/dev/null", "cwd": str(cwd),
            "hook_event_name": event, "tool_name": tool, "tool_input": tool_input, "tool_use_id": "toolu_01X",
            **extra}


def _hook(data: dict[str, Any], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real hook command, as Claude Code runs it."""
    return run_cli("hook", "claude-code", input=json.dumps(data), cwd=cwd)


def _blocked(proc: subprocess.CompletedProcess[str], canary: str) -> bool:
    assert canary not in proc.stdout + proc.stderr
    assert proc.returncode in (0, 2), proc.stderr
    return proc.returncode == 2


@pytest.mark.parametrize("comment", [
    "  # gitleaks:allow", "  # pragma: allowlist secret", "  # unleak:allow", "  # UNLEAK:ALLOW",
    "NEXTLINE",
])
def test_allow_comment_written_by_the_agent_does_not_pass_a_secret(repo: GitRepo, canary: str, comment: str) -> None:
    body = (f'# pragma: allowlist nextline secret\nTOKEN = "{canary}"\n' if comment == "NEXTLINE"
            else f'TOKEN = "{canary}"{comment}\n')
    data = _payload(repo.path, "PreToolUse", "Write", {"file_path": str(repo.path / "settings.py"), "content": body})
    # The old hook let this through (exit 0): the attack worked.
    assert _blocked(_hook(data, repo.path), canary)


def _rules_that_find(text: str, root: Path) -> list[str]:
    """Every rule that would report ``text`` (a provider rule hides the generic one behind it until disabled)."""
    from scanner.api import ScanRequest, scan

    disabled: set[str] = set()
    while found := {f.rule_id for f in scan(ScanRequest(root=root, modes=(), text=text, text_path="app.py",
                                                        disabled=frozenset(disabled))).findings}:
        disabled |= found
    return sorted(disabled)


@pytest.mark.parametrize("config", [
    'disable = ["{rule}"]\n',
    '[tool.unleak]\ndisable = ["{rule}"]\n',
    'min-confidence = "high"\ndisable = ["{rule}"]\n',
])
def test_config_written_by_the_agent_does_not_switch_the_hook_off(repo: GitRepo, canary: str, config: str) -> None:
    write = _payload(repo.path, "PreToolUse", "Write", {"file_path": str(repo.path / "app.py"),
                                                        "content": f'TOKEN = "{canary}"\n'})
    assert hooks.decide(write).block
    rules = _rules_that_find(f'TOKEN = "{canary}"\n', repo.path)
    # The agent writes the config first (nothing secret in it, so that write is allowed)...
    cfg_text = config.replace('"{rule}"', ", ".join(json.dumps(r) for r in rules))
    cfg = _payload(repo.path, "PreToolUse", "Write", {"file_path": str(repo.path / ".unleak.toml"),
                                                      "content": cfg_text})
    assert _hook(cfg, repo.path).returncode == 0
    repo.write(".unleak.toml", cfg_text)
    # ...then the secret: the old hook honoured that config and allowed it.
    assert _blocked(_hook(write, repo.path), canary)


def _split(token: str) -> tuple[str, str]:
    half = len(token) // 2
    return token[:half], token[half:]


def test_key_split_over_two_edits_is_caught(repo: GitRepo, canary: str) -> None:
    a, b = _split(canary)
    # (a name that is not secret-like, so that half a token is not a generic "secret assigned to TOKEN" finding)
    target = repo.write("settings.py", 'DEBUG = True\nx = ""\n')
    first = _payload(repo.path, "PreToolUse", "Edit", {"file_path": str(target), "old_string": 'x = ""',
                                                       "new_string": f'x = "{a}"'})
    assert _hook(first, repo.path).returncode == 0  # half a key is not a key
    target.write_text(f'DEBUG = True\nx = "{a}"\n')  # Claude Code applies the first edit
    second = _payload(repo.path, "PreToolUse", "Edit", {"file_path": str(target), "old_string": '"\n',
                                                        "new_string": f'{b}"\n'})
    # Each new_string alone holds no key, so the old hook allowed the second edit: the attack worked.
    assert _blocked(_hook(second, repo.path), canary)


def test_key_split_over_the_edits_of_one_multiedit_is_caught(repo: GitRepo, canary: str) -> None:
    a, b = _split(canary)
    # Markers no token can contain: a base62 half ending in "B" must not merge with a "BBB" marker.
    target = repo.write("settings.py", 'x = "<first>"\n')
    data = _payload(repo.path, "PreToolUse", "MultiEdit", {"file_path": str(target), "edits": [
        {"old_string": "<first>", "new_string": f"{a}<second>"},
        {"old_string": "<second>", "new_string": b},
    ]})
    assert _blocked(_hook(data, repo.path), canary)


def test_a_secret_already_in_the_file_does_not_block_other_edits_but_a_copy_does(repo: GitRepo,
                                                                                 canary: str) -> None:
    target = repo.write("legacy.py", f'OLD = "{canary}"\nx = 1\n')
    unrelated = _payload(repo.path, "PreToolUse", "Edit", {"file_path": str(target), "old_string": "x = 1",
                                                           "new_string": "x = 2"})
    assert not hooks.decide(unrelated).block
    copy = _payload(repo.path, "PreToolUse", "Edit", {"file_path": str(target), "old_string": "x = 1",
                                                      "new_string": "COPY = OLD[:20] + " + json.dumps(canary[20:])
                                                      + "\nALSO = " + json.dumps(canary)})
    assert hooks.decide(copy).block


def test_notebook_edit_with_an_allow_comment_is_caught(repo: GitRepo, canary: str) -> None:
    nb = {"cells": [{"cell_type": "code", "id": "c1", "source": ["x = 1\n"], "metadata": {}, "outputs": []}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = repo.write("nb.ipynb", json.dumps(nb))
    data = _payload(repo.path, "PreToolUse", "NotebookEdit", {"notebook_path": str(path), "cell_id": "c1",
                                                              "new_source": f"t = '{canary}'  # gitleaks:allow",
                                                              "edit_mode": "replace"})
    assert _blocked(_hook(data, repo.path), canary)


def test_post_tool_use_checks_the_file_as_written(repo: GitRepo, canary: str) -> None:
    a, b = _split(canary)
    target = repo.write("settings.py", f'TOKEN = "{a}{b}"\n')  # what the edits left on disk
    data = _payload(repo.path, "PostToolUse", "Edit", {"file_path": str(target), "old_string": '"\n',
                                                       "new_string": f'{b}"\n'},
                    tool_response={"filePath": str(target), "originalFile": f'TOKEN = "{a}"\n'})
    # The old hook did not look at PostToolUse at all (exit 0).
    proc = _hook(data, repo.path)
    assert _blocked(proc, canary) and "settings.py" in proc.stderr
    as_json = run_cli("hook", "claude-code", "--json", input=json.dumps(data), cwd=repo.path)
    assert json.loads(as_json.stdout)["decision"] == "block"
    # A secret that was there before the call is not the agent's doing: not reported again.
    before = {**data, "tool_response": {"filePath": str(target), "originalFile": target.read_text()}}
    assert not hooks.decide(before).block


def test_install_adds_the_post_tool_use_hook(tmp_path: Path) -> None:
    settings = tmp_path / ".claude" / "settings.json"
    res = hook_installers.install_claude_code(settings)
    assert "PostToolUse" in res.added
    doc = json.loads(settings.read_text())
    (group,) = doc["hooks"]["PostToolUse"]
    assert set(group["matcher"].split("|")) == {"Write", "Edit", "MultiEdit", "NotebookEdit"}
    assert group["hooks"][0]["command"] == hook_installers.guarded_command(hook_installers.HOOK_COMMAND)


def test_human_scan_still_honours_allow_comments(repo: GitRepo) -> None:
    """The stance is for agent content only: `unleak scan` of the human's tree keeps allow comments."""
    token = github_pat()
    repo.commit("init", {"a.py": f'T = "{token}"  # gitleaks:allow\n'})
    proc = subprocess.run([sys.executable, "-m", "unleak", "scan"], cwd=repo.path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hook_check_ignores_allow_comments_too(tmp_path: Path, canary: str) -> None:
    proc = run_cli("hook", "check", "--path", "a.py", input=f'T = "{canary}"  # gitleaks:allow\n', cwd=tmp_path)
    assert proc.returncode == 1 and canary not in proc.stdout + proc.stderr


def test_a_file_above_the_whole_file_limit_is_checked_on_the_new_text(repo: GitRepo, canary: str) -> None:
    target = repo.write("big.py", "x = 1\n" * (hook_writes.WHOLE_FILE_LIMIT // 6 + 10))
    data = _payload(repo.path, "PreToolUse", "Edit", {"file_path": str(target), "old_string": "x = 1\n",
                                                      "new_string": f'T = "{canary}"\n'})
    assert hook_writes.content_before_after("Edit", data["tool_input"], target) is None
    assert _blocked(_hook(data, repo.path), canary)


def test_custom_rule_written_by_the_agent_cannot_stall_the_hook(repo: GitRepo, canary: str) -> None:
    """A hook that times out lets the call through (Claude Code treats it as a non-blocking error); a custom rule
    with a catastrophic regex in an agent-written `.unleak.toml` made the old hook hang on the agent's content."""
    repo.write(".unleak.toml", '[[rules]]\nid = "slow"\nregex = "(a|aa)+$"\nkeywords = ["aaaa"]\n')
    body = f'TOKEN = "{canary}"\nfiller = "{"a" * 64}b"\n'
    data = _payload(repo.path, "PreToolUse", "Write", {"file_path": str(repo.path / "app.py"), "content": body})
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "unleak", "hook", "claude-code"], input=json.dumps(data),
                              cwd=repo.path, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        pytest.fail("the hook stalled on an agent-written rule: Claude Code would have let the write through")
    assert _blocked(proc, canary) and time.monotonic() - started < 20


@pytest.mark.parametrize("agent", ["claude-code", "codex"])
@pytest.mark.parametrize("shape", ["nested", "huge"])
def test_a_payload_the_check_cannot_handle_is_blocked_not_let_through(repo: GitRepo, agent: str, shape: str) -> None:
    """A tool input nested deeper than the parser goes, or a payload larger than any tool call: the check failed
    with exit 3 (an internal error), which the agent's client takes as "let the call through"."""
    token = github_pat()
    if shape == "nested":
        inner = "[" * 5000 + json.dumps(token) + "]" * 5000
        payload = ('{"hook_event_name":"PreToolUse","session_id":"s","cwd":' + json.dumps(str(repo.path))
                   + ',"tool_name":"mcp__x__write","tool_input":{"data":' + inner + "}}")
    else:
        payload = '{"hook_event_name":"PreToolUse","tool_input":{"data":"' + "x" * (65 * 1024 * 1024) + '"}}'
    r = run_cli("hook", agent, cwd=repo.path, input=payload)
    assert r.returncode == 2, (r.returncode, r.stderr[-500:])
    assert "blocked" in r.stderr and token not in r.stderr + r.stdout
