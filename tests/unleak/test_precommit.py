"""The pre-commit framework integration, with the real `pre-commit` installing unleak from a repository that holds
this checkout's `.pre-commit-hooks.yaml` (as users get it from a tag).

`pre-commit try-repo` clones a committed repository, so a session fixture builds a temporary git repository from the
project's files (pyproject.toml, the packages, the hooks file) and commits it. pre-commit then creates a virtualenv
and pip-installs unleak from it; PRE_COMMIT_HOME is shared across the session so that happens once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import GIT_ENV, GitRepo, run_cli

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("scanner", "remediate", "unleak")

pytestmark = pytest.mark.slow


def test_hooks_file_shape() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"unleak", "unleak-push", "unleak-history", "unleak-system", "unleak-push-system"}
    for name in ("unleak", "unleak-system"):
        assert hooks[name]["entry"] == "unleak scan --staged" and hooks[name]["pass_filenames"] is True
    for name in ("unleak-push", "unleak-push-system"):
        assert hooks[name]["entry"] == "unleak scan --pre-push" and hooks[name]["stages"] == ["pre-push"]
        assert hooks[name]["pass_filenames"] is False and hooks[name]["always_run"] is True
    assert {h["language"] for n, h in hooks.items() if n.endswith("-system")} == {"system"}
    assert {h["language"] for n, h in hooks.items() if not n.endswith("-system")} == {"python"}
    assert hooks["unleak-history"]["entry"] == "unleak scan --history"
    assert hooks["unleak-history"]["stages"] == ["manual"]


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of the project, as pre-commit would fetch it."""
    dest = tmp_path_factory.mktemp("unleak-hooks-repo")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=ignore)
    for name in ("pyproject.toml", ".pre-commit-hooks.yaml", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, dest / name)
    readme = ROOT / "README.md"
    (dest / "README.md").write_text(readme.read_text() if readme.exists() else "unleak\n")
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "hooks repo"]):
        subprocess.run(["git", *args], cwd=dest, env=env, check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def project(repo: GitRepo) -> Iterator[GitRepo]:
    repo.commit("init", {"README.md": "project\n"})
    yield repo


def pre_commit(repo: GitRepo, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return subprocess.run(["pre-commit", *args], cwd=repo.path, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def test_staged_secret_blocks(project: GitRepo, hook_repo: Path, pre_commit_home: Path, canary: str) -> None:
    project.write("app/settings.py", f"DEBUG = True\nGITHUB_TOKEN = '{canary}'\n")
    project.git("add", "app/settings.py")
    p = pre_commit(project, pre_commit_home, "try-repo", str(hook_repo), "unleak")
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    assert "Failed" in out and "app/settings.py" in out and re.search(r"\b2:\d+ +UL\d+", out)
    assert canary not in out


def configure(project: GitRepo, hook_repo: Path, ids: tuple[str, ...] = ("unleak", "unleak-history")) -> None:
    """A .pre-commit-config.yaml pinning the hooks repository at its commit, as users write it. Unlike try-repo
    (which uses a fresh store every time), this reuses the environment cached in PRE_COMMIT_HOME."""
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hook_repo, capture_output=True, text=True,
                         check=True).stdout.strip()
    project.write(".pre-commit-config.yaml", yaml.safe_dump({"repos": [{
        "repo": str(hook_repo), "rev": rev, "hooks": [{"id": i} for i in ids]}]}))
    project.commit("pre-commit config")


def test_clean_change_passes(project: GitRepo, hook_repo: Path, pre_commit_home: Path) -> None:
    configure(project, hook_repo)
    project.write("app/settings.py", "import os\nGITHUB_TOKEN = os.environ['GITHUB_TOKEN']\n")
    project.git("add", "app/settings.py")
    p = pre_commit(project, pre_commit_home, "run", "unleak")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Passed" in p.stdout


def test_baselined_secret_passes(project: GitRepo, hook_repo: Path, pre_commit_home: Path, canary: str) -> None:
    configure(project, hook_repo)
    project.write("fixtures/token.txt", f"token: {canary}\n")
    project.git("add", "fixtures/token.txt")
    p = pre_commit(project, pre_commit_home, "run", "unleak")
    assert p.returncode == 1, p.stdout + p.stderr  # without the baseline it is blocked ...
    b = run_cli("baseline", "create", cwd=project.path)
    assert b.returncode == 0, b.stderr
    project.git("add", ".unleak-baseline.json")
    p = pre_commit(project, pre_commit_home, "run", "unleak")
    assert p.returncode == 0, p.stdout + p.stderr  # ... with it, it passes
    assert canary not in p.stdout + p.stderr + (project.path / ".unleak-baseline.json").read_text()


def test_installed_hook_blocks_git_commit_and_manual_history(project: GitRepo, hook_repo: Path,
                                                              pre_commit_home: Path, canary: str) -> None:
    """The way users run it: `pre-commit install`, then `git commit`."""
    configure(project, hook_repo)
    p = pre_commit(project, pre_commit_home, "install")
    assert p.returncode == 0, p.stderr
    project.write("deploy.sh", f"export GITHUB_TOKEN={canary}\n")
    project.git("add", "deploy.sh")
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(pre_commit_home)}
    c = subprocess.run(["git", "commit", "-m", "deploy"], cwd=project.path, env=env, capture_output=True,
                       text=True, check=False)
    assert c.returncode != 0, c.stdout + c.stderr
    assert "deploy.sh" in c.stdout + c.stderr and "UL" in c.stdout + c.stderr and canary not in c.stdout + c.stderr
    # The secret gets committed anyway (bypassing the hook); the manual history hook finds it.
    project.git("commit", "-q", "--no-verify", "-m", "bypass")
    h = pre_commit(project, pre_commit_home, "run", "--hook-stage", "manual", "unleak-history")
    assert h.returncode == 1 and "deploy.sh" in h.stdout and canary not in h.stdout + h.stderr


def test_all_files_and_files_scan_committed_secrets(project: GitRepo, hook_repo: Path, pre_commit_home: Path,
                                                    canary: str) -> None:
    """pre-commit.ci and CI jobs run `pre-commit run --all-files` with nothing staged: the named files are
    scanned, so a committed secret fails the run (it passed when the hook scanned only the empty index)."""
    configure(project, hook_repo)
    project.commit("settings", {"app/settings.py": f"DEBUG = True\nGITHUB_TOKEN = '{canary}'\n"})
    p = pre_commit(project, pre_commit_home, "run", "unleak", "--all-files")
    out = p.stdout + p.stderr
    assert p.returncode == 1 and "app/settings.py" in out and canary not in out, out
    p = pre_commit(project, pre_commit_home, "run", "unleak", "--files", "app/settings.py")
    assert p.returncode == 1 and "app/settings.py" in p.stdout and canary not in p.stdout + p.stderr
    p = pre_commit(project, pre_commit_home, "run", "unleak", "--files", "README.md")
    assert p.returncode == 0, p.stdout + p.stderr


def test_commit_scans_only_the_staged_lines(project: GitRepo, hook_repo: Path, pre_commit_home: Path,
                                            canary: str) -> None:
    """On a commit, the staged lines are what is checked: a secret already committed in another file, or in
    the staged file's unchanged lines, is the history hook's business, not every commit's."""
    configure(project, hook_repo)
    project.commit("settings", {"app/settings.py": f"GITHUB_TOKEN = '{canary}'\n"})
    project.write("app/settings.py", f"GITHUB_TOKEN = '{canary}'\nDEBUG = True\n")
    project.write("app/other.py", "X = 1\n")
    project.git("add", "-A")
    p = pre_commit(project, pre_commit_home, "run", "unleak")
    assert p.returncode == 0, p.stdout + p.stderr


def _wrapper_on_path(tmp_path: Path) -> dict[str, str]:
    """An `unleak` on PATH for language: system hooks: this checkout, run by this interpreter."""
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "unleak"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m unleak "$@"\n')
    exe.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def test_system_variant_uses_unleak_from_path(project: GitRepo, hook_repo: Path, pre_commit_home: Path,
                                              canary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in _wrapper_on_path(tmp_path).items():
        monkeypatch.setenv(k, v)
    configure(project, hook_repo, ("unleak-system",))
    project.write("deploy.sh", f"export GITHUB_TOKEN={canary}\n")
    project.git("add", "deploy.sh")
    p = pre_commit(project, pre_commit_home, "run", "unleak-system")
    assert p.returncode == 1 and "deploy.sh" in p.stdout and canary not in p.stdout + p.stderr
    project.git("commit", "-q", "--no-verify", "-m", "deploy")
    p = pre_commit(project, pre_commit_home, "run", "unleak-system", "--all-files")
    assert p.returncode == 1 and "deploy.sh" in p.stdout


@pytest.mark.parametrize("hook", ["unleak-push", "unleak-push-system"])
def test_pre_push_blocks_a_secret_added_and_removed_before_the_push(
        project: GitRepo, hook_repo: Path, pre_commit_home: Path, canary: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, hook: str) -> None:
    """`pre-commit install -t pre-push`, then a real `git push` to a local remote: every pushed commit is
    scanned (pre-commit's from/to refs), so a secret committed and then deleted still blocks the push."""
    if hook.endswith("-system"):
        for k, v in _wrapper_on_path(tmp_path).items():
            monkeypatch.setenv(k, v)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True, capture_output=True)
    configure(project, hook_repo, (hook,))
    project.git("remote", "add", "origin", str(remote))
    project.git("push", "-q", "origin", "main")
    p = pre_commit(project, pre_commit_home, "install", "-t", "pre-push")
    assert p.returncode == 0, p.stderr
    project.commit("add token", {"deploy.sh": f"export GITHUB_TOKEN={canary}\n"})
    project.commit("remove token", {"deploy.sh": "export GITHUB_TOKEN=\"$(unleak run -- printenv X)\"\n"})
    env = {**os.environ, **GIT_ENV, "PRE_COMMIT_HOME": str(pre_commit_home)}
    push = subprocess.run(["git", "push", "origin", "main"], cwd=project.path, env=env, capture_output=True,
                          text=True, check=False)
    out = push.stdout + push.stderr
    assert push.returncode != 0 and "deploy.sh" in out and canary not in out, out
    # the history is rewritten without the secret: the push goes through
    project.git("reset", "-q", "--hard", "origin/main")
    project.commit("deploy", {"deploy.sh": "export GITHUB_TOKEN\n"})
    push = subprocess.run(["git", "push", "origin", "main"], cwd=project.path, env=env, capture_output=True,
                          text=True, check=False)
    assert push.returncode == 0, push.stdout + push.stderr
