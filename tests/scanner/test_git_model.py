"""The repository model on GitPython (refs, remotes, HEAD, shallow state, deepening): the same answers as git's
porcelain, never redirected by the caller's repository-local variables, and never imported on the pre-commit or
hook paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner import git
from tests.conftest import GitRepo
from tests.fakes import github_pat


def _repo(path: Path) -> GitRepo:
    path.mkdir(parents=True)
    r = GitRepo(path)
    r.git("init", "-q", "-b", "main")
    return r


@pytest.fixture
def mine(tmp_path: Path) -> GitRepo:
    """Branches, a lightweight and an annotated tag, a tag of a blob, a remote with a tracking ref and origin/HEAD."""
    r = _repo(tmp_path / "mine")
    r.commit("one", {"a.txt": "a\n"})
    r.git("tag", "light")
    r.commit("two", {"b.txt": "b\n"})
    r.git("tag", "-a", "annotated", "-m", "release")
    r.git("branch", "side", "HEAD~1")
    blob = r.git("hash-object", "-w", "a.txt")
    r.git("tag", "-a", "blobtag", "-m", "a blob", blob)
    r.git("remote", "add", "origin", str(tmp_path / "nowhere"))
    r.git("remote", "add", "backup", str(tmp_path / "elsewhere"))
    r.git("update-ref", "refs/remotes/origin/main", "HEAD~1")
    r.git("symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    r.git("pack-refs", "--all")  # packed refs too, not only loose files
    r.git("tag", "loose-after-pack", "HEAD~1")
    return r


def _porcelain_targets(r: GitRepo, *patterns: str) -> list[tuple[str, str]]:
    out = r.git("for-each-ref", "--format=%(refname) %(objecttype) %(objectname) %(*objecttype) %(*objectname)",
                *patterns)
    refs = []
    for line in out.splitlines():
        name, otype, oid, ptype, poid = [*line.split(" "), "", ""][:5]
        if name.startswith("refs/remotes/") and name.endswith("/HEAD"):
            continue
        if otype == "commit":
            refs.append((name, oid))
        elif otype == "tag" and ptype == "commit":
            refs.append((name, poid))
    return refs


@pytest.mark.parametrize("patterns", [(), ("refs/",), ("refs/heads", "refs/tags"), ("refs/remotes",)])
def test_ref_targets_answer_as_for_each_ref(mine: GitRepo, patterns: tuple[str, ...]) -> None:
    got = git.ref_targets(mine.path, patterns) if patterns else git.ref_targets(mine.path)
    want = _porcelain_targets(mine, *(patterns or ("refs/heads", "refs/remotes", "refs/tags")))
    assert got == want
    assert ("refs/tags/blobtag", mine.git("rev-parse", "blobtag^{}")) not in got  # a tag of a blob has no history


def test_ref_tips_head_and_remotes_answer_as_git(mine: GitRepo) -> None:
    assert sorted(git.ref_tips(mine.path)) == sorted({mine.git("rev-parse", "HEAD"), mine.git("rev-parse", "HEAD~1")})
    assert git.head_sha(mine.path) == mine.git("rev-parse", "HEAD")
    assert git.remote_names(mine.path) == mine.git("remote").split() == ["backup", "origin"]


def test_an_unborn_head_has_no_sha(tmp_path: Path) -> None:
    assert git.head_sha(_repo(tmp_path / "empty").path) is None


def test_a_bare_mirror_is_read_as_well(mine: GitRepo, tmp_path: Path) -> None:
    subprocess.run(["git", "clone", "-q", "--mirror", str(mine.path), str(tmp_path / "m.git")], check=True)
    got = git.ref_targets(tmp_path / "m.git", ("refs/",))
    assert got == _porcelain_targets(GitRepo(tmp_path / "m.git"), "refs/") == _porcelain_targets(mine, "refs/")


def test_shallow_boundary_and_deepening(mine: GitRepo, tmp_path: Path) -> None:
    for i in range(3):
        mine.commit(f"more {i}", {f"m{i}.txt": f"{i}\n"})
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth=1", f"file://{mine.path}", str(clone)], check=True)
    head = mine.git("rev-parse", "HEAD")
    assert git.shallow_boundary(clone) == {head}
    assert git.fetch(clone, "origin", [], depth=2)
    assert git.shallow_boundary(clone) == {mine.git("rev-parse", "HEAD~1")}
    assert git.fetch(clone, "origin", [], unshallow=True)
    assert git.shallow_boundary(clone) == set() and not git.is_shallow(clone)
    assert not git.fetch(clone, "origin", ["0" * 40])  # a commit the remote does not have: refused, not raised
    assert git.shallow_boundary(mine.path) == set()


def test_the_callers_repository_variables_redirect_nothing(mine: GitRepo, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """GitPython reads GIT_DIR and its kin from os.environ and hands os.environ to every git it starts: a hook or
    IDE that set them must not make unleak read another repository's refs, remotes or objects."""
    decoy = _repo(tmp_path / "decoy")
    decoy.commit("decoy", {"d.txt": "d\n"})
    decoy.git("remote", "add", "decoy-remote", str(tmp_path / "x"))
    want = (git.ref_targets(mine.path), git.ref_tips(mine.path), git.head_sha(mine.path),
            git.remote_names(mine.path))
    for var, value in (("GIT_DIR", decoy.path / ".git"), ("GIT_WORK_TREE", decoy.path),
                       ("GIT_COMMON_DIR", decoy.path / ".git"), ("GIT_OBJECT_DIRECTORY", decoy.path / ".git/objects")):
        monkeypatch.setenv(var, str(value))
    before = dict(os.environ)
    got = (git.ref_targets(mine.path), git.ref_tips(mine.path), git.head_sha(mine.path),
           git.remote_names(mine.path))
    assert got == want
    assert dict(os.environ) == before  # the caller's environment is back as it was


def test_a_path_outside_any_repository_is_a_git_error(tmp_path: Path) -> None:
    with pytest.raises(git.GitError):
        git.ref_targets(tmp_path)


def _imported_modules(args: list[str], cwd: Path) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "unleak", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    mods = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            mods.add(line.rsplit("|", 1)[1].strip())
    assert mods, proc.stderr[-2000:]
    return mods


@pytest.mark.parametrize("args", [["scan", "--staged"], ["scan", "--pre-push"]])
def test_gitpython_stays_off_the_hook_paths(repo: GitRepo, args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("init", {"README.md": "hi\n"})
    repo.write("app.py", f"TOKEN = '{github_pat()}'\n")
    repo.git("add", "app.py")
    if args[1] == "--pre-push":
        repo.commit("secret")
        monkeypatch.setenv("PRE_COMMIT_FROM_REF", repo.git("rev-parse", "HEAD~1"))
        monkeypatch.setenv("PRE_COMMIT_TO_REF", repo.git("rev-parse", "HEAD"))
    mods = _imported_modules(args, repo.path)
    assert "scanner.git" in mods  # the path did use git
    assert not {m for m in mods if m == "git" or m.startswith("git.")}


def test_gitpython_is_what_the_cold_paths_use(mine: GitRepo) -> None:
    """The purge plan's push commands read the remotes through GitPython (the test above would pass if nothing ever
    used it); exposure, measured for speed, does not load it."""
    code = "import sys; from pathlib import Path; from remediate.purge_run import push_commands; " \
           "print(push_commands(Path('.'), Path(sys.argv[1])))"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code, str(mine.path / "mirror")], cwd=mine.path,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "git" in {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if "|" in line}
    mods = _imported_modules(["exposure", "--format", "json"], mine.path)
    assert "scanner.exposure.analysis" in mods
    assert not {m for m in mods if m == "git" or m.startswith("git.")}
