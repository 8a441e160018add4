"""Every source on real temporary git repositories: which lines are scanned, with which line numbers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from scanner.api import ScanRequest, scan
from scanner.errors import GitError, UsageError
from tests.conftest import GitRepo, run_cli
from tests.fakes import aws_access_key_id, github_pat


def _found(result: object) -> set[tuple[str, int, str]]:
    return {(f.path, f.line, f.rule_id) for f in result.findings}  # type: ignore[attr-defined]


def test_working_tree_tracked_and_untracked_not_ignored(repo: GitRepo) -> None:
    repo.commit("init", {"tracked.py": f'TOKEN = "{github_pat()}"\n', ".gitignore": "ignored.txt\n"})
    repo.write("untracked.txt", f"\n\nkey {aws_access_key_id()}\n")
    repo.write("ignored.txt", f"{github_pat()}\n")
    res = scan(ScanRequest(root=repo.path))
    assert _found(res) == {("tracked.py", 1, "UL001"), ("untracked.txt", 3, "UL010")}


def test_outside_git_scans_every_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.cfg").write_text(f"x\n{github_pat()}\n")
    res = scan(ScanRequest(root=tmp_path))
    assert _found(res) == {("sub/a.cfg", 2, "UL001")}


def test_staged_scans_only_added_lines(repo: GitRepo) -> None:
    old = github_pat()
    repo.commit("init", {"app.py": f"a = 1\nOLD = '{old}'\nb = 2\n"})
    new = github_pat()
    repo.write("app.py", f"a = 1\nOLD = '{old}'\nb = 2\nNEW = '{new}'\n")
    repo.git("add", "app.py")
    repo.write("app.py", f"a = 1\nOLD = '{old}'\nb = 2\nNEW = '{new}'\nUNSTAGED = '{github_pat()}'\n")
    res = scan(ScanRequest(root=repo.path, modes=("staged",)))
    assert _found(res) == {("app.py", 4, "UL001")}
    assert all(f.source == "staged" for f in res.findings)


def test_staged_in_repo_without_commits(repo: GitRepo) -> None:
    repo.write("first.py", f"T = '{github_pat()}'\n")
    repo.git("add", "first.py")
    assert _found(scan(ScanRequest(root=repo.path, modes=("staged",)))) == {("first.py", 1, "UL001")}


def test_staged_from_a_subdirectory_reports_root_paths(repo: GitRepo) -> None:
    # --staged runs git diff where it is started (no rev-parse first): paths stay root-relative even when the
    # user's config asks git diff for relative ones.
    repo.commit("init", {"pkg/sub/keep.txt": "x\n"})
    repo.git("config", "diff.relative", "true")
    repo.write("pkg/sub/app.py", f"T = '{github_pat()}'\n")
    repo.write("other.py", f"U = '{github_pat()}'\n")
    repo.git("add", "-A")
    res = scan(ScanRequest(root=repo.path / "pkg" / "sub", modes=("staged",)))
    assert _found(res) == {("pkg/sub/app.py", 1, "UL001"), ("other.py", 1, "UL001")}


def test_staged_outside_git_exits_2(tmp_path: Path) -> None:
    proc = run_cli("scan", "--staged", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "--staged needs a git repository" in proc.stderr and "Traceback" not in proc.stderr


def test_changes_covers_staged_unstaged_and_new_files(repo: GitRepo) -> None:
    repo.commit("init", {"a.py": "x = 1\n"})
    repo.write("a.py", f"x = 1\nT = '{github_pat()}'\n")  # unstaged
    repo.write("b.py", f"T = '{github_pat()}'\n")
    repo.git("add", "b.py")  # staged new file
    repo.write("c.py", f"\nT = '{github_pat()}'\n")  # untracked
    res = scan(ScanRequest(root=repo.path, modes=("changes",)))
    assert _found(res) == {("a.py", 2, "UL001"), ("b.py", 1, "UL001"), ("c.py", 2, "UL001")}


def test_range_sees_secret_added_then_removed_inside_the_pr(repo: GitRepo) -> None:
    base = repo.commit("base", {"README": "hello\n"})
    repo.git("checkout", "-q", "-b", "feature")
    leaked = repo.commit("oops", {"cfg.py": f"\n\nT = '{github_pat()}'\n"})
    repo.commit("remove", {"cfg.py": "\n\nT = os.environ['T']\n"})
    res = scan(ScanRequest(root=repo.path, modes=("range",), range=f"{base}..feature"))
    assert _found(res) == {("cfg.py", 3, "UL001")}
    (f,) = res.findings
    assert f.commit is not None and f.commit.sha == leaked
    assert f.commit.author == "Test Author" and f.commit.date.startswith("2024-01-01")
    assert res.stats.commits == 2


def test_history_covers_all_refs_and_evil_merges(repo: GitRepo) -> None:
    repo.commit("base", {"a.txt": "a\n"})
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("side secret", {"side.txt": f"{aws_access_key_id()}\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main change", {"b.txt": "b\n"})
    # An "evil" merge: the merge commit itself introduces a line no parent had.
    repo.git("merge", "-q", "--no-commit", "--no-ff", "side")
    repo.write("a.txt", f"a\nmerged {github_pat()}\n")
    repo.git("add", "a.txt")
    repo.git("commit", "-q", "-m", "merge side")
    repo.git("checkout", "-q", "-b", "orphan-tag-source")
    repo.commit("tagged only", {"t.txt": f"{github_pat()}\n"})
    repo.git("tag", "v1")
    repo.git("checkout", "-q", "main")
    repo.git("branch", "-q", "-D", "orphan-tag-source")
    res = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert _found(res) == {("side.txt", 1, "UL010"), ("a.txt", 2, "UL001"), ("t.txt", 1, "UL001")}


def test_diff_file_and_stdin(repo: GitRepo, tmp_path: Path) -> None:
    secret = github_pat()
    patch = (
        "--- a/settings.py\n+++ b/settings.py\n@@ -10,2 +10,3 @@\n context\n-removed = 1\n"
        f"+TOKEN = '{secret}'\n+++plus = 1\n"
    )
    f = tmp_path / "agent.diff"
    f.write_text(patch)
    res = scan(ScanRequest(root=repo.path, modes=("diff",), diff=str(f)))
    assert _found(res) == {("settings.py", 11, "UL001")}
    proc = run_cli("scan", "--diff", "-", "--format", "json", cwd=repo.path, input=patch)
    assert proc.returncode == 1
    assert [(x["path"], x["line"]) for x in json.loads(proc.stdout)["findings"]] == [("settings.py", 11)]
    assert secret not in proc.stdout + proc.stderr


def test_diff_that_is_not_a_diff(tmp_path: Path) -> None:
    f = tmp_path / "x.diff"
    f.write_text("just some words\n")
    with pytest.raises(UsageError, match="not a unified diff"):
        scan(ScanRequest(root=tmp_path, modes=("diff",), diff=str(f)))


def test_agent_logs_claude_codex_and_shell_history(isolated_home: Path) -> None:
    proj = isolated_home / ".claude" / "projects" / "-work-app"
    proj.mkdir(parents=True)
    secret = github_pat()
    lines = [
        {"type": "user", "message": {"role": "user", "content": "hello"}},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": f"use\n{secret}"}]}},
    ]
    (proj / "s.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    codex = isolated_home / ".codex" / "sessions" / "2026" / "01"
    codex.mkdir(parents=True)
    (codex / "r.jsonl").write_text(json.dumps({"payload": {"output": f"AWS {aws_access_key_id()}"}}) + "\n")
    (isolated_home / ".bash_history").write_text(f"ls\nexport GH={github_pat()}\n")
    res = scan(ScanRequest(root=isolated_home, modes=("agent-logs",)))
    got = {(Path(p).name, line, r) for p, line, r in _found(res)}
    assert got == {("s.jsonl", 2, "UL001"), ("r.jsonl", 1, "UL010"), (".bash_history", 2, "UL001")}
    assert all(f.source == "agent-log" for f in res.findings)


def test_history_outside_git_exits_2(tmp_path: Path) -> None:
    proc = run_cli("scan", "--history", cwd=tmp_path)
    assert proc.returncode == 2
    assert "not inside" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(GitError):
        scan(ScanRequest(root=tmp_path, modes=("history",)))


def test_unknown_range_exits_2(repo: GitRepo) -> None:
    repo.commit("init", {"a": "a\n"})
    proc = run_cli("scan", "--range", "nope..HEAD", cwd=repo.path)
    assert proc.returncode == 2 and "unknown revision 'nope'" in proc.stderr


def test_empty_repository(repo: GitRepo) -> None:
    for args in ((), ("--history",), ("--staged",), ("--changes",)):
        proc = run_cli("scan", *args, cwd=repo.path)
        assert proc.returncode == 0, (args, proc.stderr)


def test_shallow_clone_is_scanned_and_reported(repo: GitRepo, tmp_path: Path) -> None:
    for i in range(3):
        repo.commit(f"c{i}", {f"f{i}.txt": f"{github_pat()}\n"})
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(clone)], check=True)
    proc = run_cli("scan", "--history", "--format", "json", cwd=clone)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert {x["path"] for x in doc["findings"]} == {"f0.txt", "f1.txt", "f2.txt"}  # one commit holds all files
    assert any("shallow" in n for n in doc["notes"])
    assert "shallow" in run_cli("scan", "--history", cwd=clone).stdout


def test_submodules_and_symlinks_are_not_followed(repo: GitRepo, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text(f"{github_pat()}\n")
    sub = GitRepo(tmp_path / "subrepo")
    sub.path.mkdir()
    sub.git("init", "-q", "-b", "main")
    sub.commit("s", {"inner.txt": f"{github_pat()}\n"})
    repo.commit("init", {"a.txt": "a\n"})
    os.symlink(outside, repo.path / "link.txt")
    repo.git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub.path), "vendor/sub")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "sub")
    res = scan(ScanRequest(root=repo.path))
    assert res.findings == []
    assert res.stats.symlinks_skipped == 1 and res.stats.submodules_skipped == 1


def test_unreadable_files_are_counted_and_scan_continues(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ok.txt").write_text(f"{github_pat()}\n")
    locked = tmp_path / "locked.txt"
    locked.write_text(f"{github_pat()}\n")
    locked.chmod(0)
    if os.geteuid() == 0:
        # root reads mode-000 files, so make the read fail the way it does for other users.
        import builtins

        real_open = builtins.open

        def deny(file: object, *a: object, **k: object) -> object:
            if str(file).endswith("locked.txt"):
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *a, **k)  # type: ignore[call-overload]

        monkeypatch.setattr(builtins, "open", deny)
    res = scan(ScanRequest(root=tmp_path))
    assert {f.path for f in res.findings} == {"ok.txt"}
    assert res.stats.unreadable == 1


def test_a_fifo_named_outside_a_repository_is_that_path_only(tmp_path: Path) -> None:
    """``unleak scan PIPE`` walked the pipe's whole directory (and reported its neighbours under the pipe's name)."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "other.py").write_text(f'TOKEN = "{github_pat()}"\n')
    os.mkfifo(tmp_path / "pipe")
    res = scan(ScanRequest(root=tmp_path, modes=("files",), paths=(str(tmp_path / "pipe"),)))
    assert res.findings == [] and res.stats.files == 0
