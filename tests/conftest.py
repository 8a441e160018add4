"""Shared fixtures: real temporary git repositories with a pinned identity, generated canary secrets, isolated
user directories (so no test touches the real home, vault, keyring or audit log)."""

from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fakes_op import FakeOp

REPO_ROOT = Path(__file__).resolve().parent.parent

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def pytest_configure(config: pytest.Config) -> None:
    """Compile the packages' bytecode once, before any test: the suite starts ``python -m unleak`` and the hooks
    hundreds of times, and with PYTHONDONTWRITEBYTECODE set (as on CI runners) an editable install would compile
    every module from source in each of those processes (~40 ms apiece). Reading a .pyc needs no write, so the
    processes use them either way; a user's ``pip install`` compiles them at install time."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller did it
        return
    import compileall

    for pkg in ("unleak", "scanner", "remediate"):
        compileall.compile_dir(REPO_ROOT / pkg, quiet=1)


class GitRepo:
    """A real git repository in a temporary directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def git(self, *args: str, check: bool = True) -> str:
        env = {**os.environ, **GIT_ENV}
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout.strip()

    def write(self, rel: str, text: str) -> Path:
        p = self.path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return p

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for rel, text in (files or {}).items():
            self.write(rel, text)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own HOME and XDG dirs: the vault, keys, grants, policy and audit log land there."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    # No OS keyring in tests: the vault must use its 0600 key file (the keyring path is tested explicitly).
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for var in list(GIT_ENV):
        monkeypatch.setenv(var, GIT_ENV[var])
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    # Subprocesses (`python -m unleak`, hooks, the MCP server) import this checkout, not whichever copy of unleak is
    # installed: several checkouts of the project (git worktrees) can then be tested side by side.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, (str(REPO_ROOT), os.environ.get("PYTHONPATH")))))
    return home


@pytest.fixture
def human_runs(isolated_home: Path) -> None:
    """`unleak run` as on a machine no agent uses (``run_requires_grant = "never"``): for tests of the child
    process plumbing, which start it from pipes rather than a terminal. The gate itself is tested in
    tests/agent/redteam/test_run_from_shell.py."""
    write_policy('run_requires_grant = "never"\n')


def write_policy(text: str) -> None:
    """Write the user's policy.toml and sign it, as the human does with `unleak policy sign` after reviewing it
    (an unsigned policy is refused)."""
    from unleak.agent.policy import policy_path, sign_policy

    policy_path().parent.mkdir(parents=True, exist_ok=True)
    policy_path().write_text(text, encoding="utf-8")
    sign_policy()


def make_repo(path: Path) -> GitRepo:
    """A new git repository at ``path`` (created), branch main, the test identity, unsigned commits."""
    path.mkdir(parents=True)
    r = GitRepo(path)
    r.git("init", "-q", "-b", "main")
    r.git("config", "user.name", GIT_ENV["GIT_AUTHOR_NAME"])
    r.git("config", "user.email", GIT_ENV["GIT_AUTHOR_EMAIL"])
    r.git("config", "commit.gpgsign", "false")
    return r


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[GitRepo]:
    yield make_repo(tmp_path / "repo")


def _rand(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits


@pytest.fixture
def canary() -> str:
    """A freshly generated, clearly fake secret in a format every rule set recognises (a GitHub PAT shape with a
    valid CRC32 checksum). Tests grep every output channel for it."""
    from tests.fakes import github_pat

    return github_pat()


def run_cli(*args: str, cwd: Path | None = None, input: str | None = None,
            env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``unleak`` command in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "unleak", *args],
        cwd=cwd, input=input, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def fake_op(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeOp:
    """A FAKE 1Password ``op`` CLI first on PATH (vaults "Private" and "dev"), recording every argv it gets."""
    from tests.fakes_op import FakeOp

    fake = FakeOp(tmp_path / "fake-op", vaults=("Private", "dev"))
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    return fake


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Files made immutable (chattr +i: even root cannot replace them) and made mutable again afterwards."""
    made: list[Path] = []
    yield made
    for p in made:
        subprocess.run(["chattr", "-i", str(p)], check=False)
