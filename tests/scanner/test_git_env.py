"""Repository-local git variables (`git rev-parse --local-env-vars`: GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE,
GIT_OBJECT_DIRECTORY, ...) never redirect unleak to another repository; the index a pre-commit hook is given
(GIT_INDEX_FILE during `git commit -a`, a partial commit, or in a linked worktree) is the one scanned."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scanner import git
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, stripe_live_key


def test_stripped_variables_cover_what_git_lists() -> None:
    listed = subprocess.run(["git", "rev-parse", "--local-env-vars"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert "GIT_DIR" in listed and set(listed) <= set(git.LOCAL_ENV_VARS)


def _hooked(repo: GitRepo) -> None:
    repo.commit("init", {"README.md": "hi\n", "app.py": "x = 1\n"})
    p = run_cli("install-hook", cwd=repo.path)
    assert p.returncode == 0, p.stderr


def _commit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "commit", *args], cwd=cwd, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("how", ["all", "partial", "worktree"])
def test_hook_scans_the_index_git_is_committing(repo: GitRepo, tmp_path: Path, how: str) -> None:
    """`git commit -a` and `git commit PATH` commit a temporary index (GIT_INDEX_FILE); a linked worktree's hook
    also gets GIT_DIR. The secret exists only in that index: the hook must still block it."""
    _hooked(repo)
    cwd = repo.path
    if how == "worktree":
        cwd = tmp_path / "wt"
        repo.git("worktree", "add", "-q", str(cwd))
    canary = github_pat()
    (cwd / "app.py").write_text(f"TOKEN = '{canary}'\n")
    proc = _commit(cwd, "-m", "x", "app.py") if how == "partial" else _commit(cwd, "-a", "-m", "x")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "app.py" in out and canary not in out


def _two_repos(tmp_path: Path) -> tuple[GitRepo, GitRepo, str, str]:
    """``mine`` holds one secret in history, in HEAD and staged; ``decoy`` another. The caller's variables point
    at the decoy."""
    repos = []
    for name in ("mine", "decoy"):
        r = GitRepo(tmp_path / name)
        r.path.mkdir()
        r.git("init", "-q", "-b", "main")
        repos.append(r)
    mine, decoy = repos
    a, b = github_pat(), stripe_live_key()
    for r, v in ((mine, a), (decoy, b)):
        r.commit("one", {"old.py": f"K = '{v}'\n"})
        r.commit("two", {"old.py": "K = None\n", "cfg.py": f"K = '{v}'\n"})
        r.write("staged.py", f"S = '{v}'\n")
        r.git("add", "staged.py")
    return mine, decoy, a, b


def _hostile(decoy: GitRepo) -> dict[str, str]:
    g = decoy.path / ".git"
    return {"GIT_DIR": str(g), "GIT_WORK_TREE": str(decoy.path), "GIT_INDEX_FILE": str(g / "index"),
            "GIT_OBJECT_DIRECTORY": str(g / "objects")}


@pytest.mark.parametrize("args", [
    ("scan", "--format", "json"), ("scan", "--staged", "--format", "json"),
    ("scan", "--changes", "--format", "json"), ("scan", "--history", "--format", "json"),
    ("scan", "--range", "HEAD~1..HEAD", "--format", "json"), ("exposure", "--json"),
])
def test_commands_read_the_repository_they_were_given(tmp_path: Path, args: tuple[str, ...]) -> None:
    mine, decoy, a, b = _two_repos(tmp_path)
    plain = run_cli(*args, cwd=mine.path)
    hostile = run_cli(*args, cwd=mine.path, env=_hostile(decoy))
    assert plain.returncode in (0, 1) and plain.stdout, plain.stderr
    assert hostile.returncode == plain.returncode, hostile.stderr
    # The same findings (the second history scan reads them from the scan cache, so its stats differ).
    key = "exposures" if args[0] == "exposure" else "findings"
    assert json.loads(hostile.stdout)[key] == json.loads(plain.stdout)[key]
    assert json.loads(plain.stdout)[key]
    assert a not in hostile.stdout + hostile.stderr and b not in hostile.stdout + hostile.stderr


def test_fix_rewrites_only_the_repository_it_was_given(tmp_path: Path) -> None:
    mine, decoy, a, b = _two_repos(tmp_path)
    decoy_state = (decoy.git("status", "--porcelain"), (decoy.path / "cfg.py").read_text(),
                   (decoy.path / ".git" / "index").read_bytes())
    proc = run_cli("fix", "--apply", cwd=mine.path, env=_hostile(decoy))
    assert proc.returncode in (0, 1), proc.stderr
    assert a not in (mine.path / "cfg.py").read_text()
    assert (decoy.git("status", "--porcelain"), (decoy.path / "cfg.py").read_text(),
            (decoy.path / ".git" / "index").read_bytes()) == decoy_state
    assert b in (decoy.path / "cfg.py").read_text()
