"""Invariant 1, end to end: a canary secret planted in a repository appears in no channel a person, a log or an
agent reads — stdout and stderr of every command, report files, baselines, the patch, the audit log, grants,
error messages — in raw or encoded form. (MCP responses have their own red-team test in tests/unleak.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, password
from tests.unleak.test_masking import leak_forms

pytestmark = pytest.mark.usefixtures("human_runs")


def assert_absent(canaries: list[str], text: str, where: str) -> None:
    for c in canaries:
        for form in leak_forms(c).values():
            assert form not in text, f"a canary ({'raw' if form == c else 'encoded'}) leaked through {where}"


def _files_text(root: Path, skip: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if not p.is_file() or p.is_symlink() or any(rel.startswith(s) for s in skip):
            continue
        out.append((rel, p.read_bytes().decode("utf-8", "replace")))
    return out


def test_canary_never_leaves_through_any_channel(repo: GitRepo, isolated_home: Path, tmp_path: Path) -> None:
    token, pw = github_pat(), password(20)
    canaries = [token, pw]
    repo.commit("init", {
        "app/settings.py": f'import os\n\nGITHUB_TOKEN = "{token}"\nDEBUG = True\n',
        ".env": f"DB_PASSWORD={pw}\nPLAIN=hello\n",
        "README.md": "demo\n",
    })
    channels: list[tuple[str, str]] = []

    def cli(*args: str, input: str | None = None) -> None:
        proc = run_cli(*args, cwd=repo.path, input=input)
        assert proc.returncode != 3, f"internal error in {args}: {proc.stderr}"
        channels.append((f"`unleak {' '.join(args)}` stdout", proc.stdout))
        channels.append((f"`unleak {' '.join(args)}` stderr", proc.stderr))

    report = tmp_path / "reports"
    report.mkdir()
    for fmt in ("text", "json", "sarif", "github"):
        cli("scan", "--format", fmt)
        cli("scan", "--history", "--format", fmt, "--output", str(report / f"history.{fmt}"))
    cli("scan", "--explain")
    cli("scan", "--agent-logs", str(repo.path))
    repo.write("new.py", f'TOKEN2 = "{token}"\n')
    repo.git("add", "new.py")
    cli("scan", "--staged")
    cli("scan", "--changes", "--format", "json")
    cli("hook", "check", input=f"token = '{token}'\n")
    payload = {"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Write", "cwd": str(repo.path),
               "tool_input": {"file_path": str(repo.path / "x.py"), "content": f"T = '{token}'\n"}}
    cli("hook", "claude-code", input=json.dumps(payload))
    cli("hook", "claude-code", "--json", input=json.dumps(payload))
    repo.git("rm", "-q", "--cached", "new.py")
    os.unlink(repo.path / "new.py")
    cli("baseline", "create")
    cli("baseline", "audit")
    cli("scan", "--format", "json")  # everything baselined
    os.unlink(repo.path / ".unleak-baseline.json")  # fix skips baselined findings; this run moves them all
    cli("exposure", "--json")
    cli("exposure", "--format", "markdown")
    cli("purge-plan")
    # Before the fix the .env still holds a plaintext, secret-named value: `run` masks it too.
    cli("run", "--", "python", "-c", "import os; print(os.environ['DB_PASSWORD'])")
    cli("fix")
    cli("fix", "--json")
    cli("fix", "--apply")
    cli("fix", "--apply")  # second run: nothing to do
    cli("secrets", "list")
    cli("secrets", "list", "--json")
    cli("run", "--", "python", "-c", "import os; print(os.environ['DB_PASSWORD']); print(os.environ['GITHUB_TOKEN'])")
    cli("grants", "--all")
    cli("audit")
    cli("audit", "--json")
    # Error paths: a malformed baseline and config that *contain* the canary must not echo it.
    (repo.path / "bad-baseline.json").write_text(f'{{"version": 1, "entries": "{token}"')
    cli("scan", "--baseline", "bad-baseline.json")
    (repo.path / "bad.toml").write_text(f'exclude = "{token}"\n')
    cli("scan", "--config", "bad.toml")
    (repo.path / "bad2.toml").write_text(f'[[rules]]\nid = "x1"\nregex = "({token}"\n')
    cli("scan", "--config", "bad2.toml")
    for name in ("bad-baseline.json", "bad.toml", "bad2.toml"):
        os.unlink(repo.path / name)

    for where, text in channels:
        assert_absent(canaries, text, where)
    # Files: report files, the rewritten work tree and the baseline, and every file unleak keeps in the user's
    # directories (audit log, grants, policy). The vault is encrypted: its raw bytes must not hold the value either.
    for rel, text in _files_text(report):
        assert_absent(canaries, text, f"report file {rel}")
    for rel, text in _files_text(repo.path, skip=(".git/",)):
        assert_absent(canaries, text, f"work-tree file {rel}")
    for rel, text in _files_text(isolated_home):
        assert_absent(canaries, text, f"user file ~/{rel}")
    # After the fix the work tree is clean and the app still gets its values through `unleak run`.
    proc = run_cli("scan", cwd=repo.path)
    assert proc.returncode == 0, proc.stdout
    proc = run_cli("run", "--no-masking", "--", "python", "-c",
                   f"import os, sys; sys.exit(0 if os.environ['DB_PASSWORD'] == {pw!r} else 9)", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
