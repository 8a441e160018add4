"""Red team: the vault namespace is an agent's boundary (a run may only use ``unleak://`` references of its own
repository's namespace), so nothing in a repository the agent can edit may move it into another repository's
namespace: not a directory that happens to share its name, not references written into its reference files, not
the origin URL in ``.git/config``, not a ``.git`` file naming another repository's git directory."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.agent.redteam.runtools import PY, STASH, agent_env
from tests.conftest import GitRepo, make_repo, run_cli

pytest.importorskip("mcp")

from tests.unleak.test_mcp import Agent, run_agent

UNLEAK_RUN = [PY, "-m", "unleak", "run", "--env-file", ".env", "--"]


@pytest.fixture
def two_apps(tmp_path: Path, canary: str) -> tuple[GitRepo, GitRepo, str]:
    """/x/app with the canary in its vault as TOKEN, and an unrelated /y/app (same directory name) where the agent
    works, and where the human granted every ordinary command with every secret."""
    from remediate.vault import open_vault

    x = make_repo(tmp_path / "x" / "app")
    ref = open_vault(repo_path=x.path).put("TOKEN", canary)
    x.commit("x", {".env": f"TOKEN={ref}\n", ".env.unleak": f"TOKEN={ref}\n"})
    y = make_repo(tmp_path / "y" / "app")
    y.commit("y", {"stash.py": STASH, "README": "y\n"})
    assert run_cli("grant", "--secrets", "*", "--command", "*", "--ttl", "10m", cwd=y.path).returncode == 0
    return x, y, ref


def _point_at(repo: GitRepo, ref: str) -> None:
    # Both file names: `unleak run` reads .env.unleak or .env by default depending on the version.
    repo.commit("agent copies the other repository's reference", {".env": f"TOKEN={ref}\n",
                                                                   ".env.unleak": f"TOKEN={ref}\n"})


def _mcp_run(root: Path) -> dict[str, Any]:
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        out.append(await agent.call("run", {"argv": [PY, "stash.py"], "env_file": ".env"}))

    run_agent(root, scenario)
    return out[0]


def test_same_directory_name_does_not_share_secrets_through_mcp_run(two_apps: tuple[GitRepo, GitRepo, str]) -> None:
    # On the old code (namespace = the directory's name) this ran: both repositories were namespace "app".
    _x, y, ref = two_apps
    _point_at(y, ref)
    answer = _mcp_run(y.path)
    assert answer["status"] == "refused", answer
    assert "outside this repository's vault namespace" in answer["reason"]
    assert not (y.path / "stash.txt").exists()


def test_same_directory_name_does_not_share_secrets_through_shell_run(two_apps: tuple[GitRepo, GitRepo, str],
                                                                      canary: str) -> None:
    _x, y, ref = two_apps
    _point_at(y, ref)
    proc = subprocess.run([*UNLEAK_RUN, PY, "stash.py"], cwd=y.path, env=agent_env(), stdin=subprocess.PIPE,
                          capture_output=True, text=True, timeout=60)
    assert not (y.path / "stash.txt").exists(), "the agent's run in /y/app got /x/app's secret"
    assert proc.returncode == 2, proc.stderr
    assert "outside this repository's vault namespace" in proc.stderr
    assert canary not in proc.stdout + proc.stderr


def test_references_written_into_a_fresh_repository_do_not_adopt_another_namespace(
        two_apps: tuple[GitRepo, GitRepo, str], tmp_path: Path) -> None:
    """The agent writes the other repository's references into the reference files of a repository it made (any
    name, including the other's namespace itself), then runs there and asks for a fix there."""
    from remediate.vault import default_namespace, parse_reference

    _x, _y, ref = two_apps
    other_ns = parse_reference(ref).namespace
    for where in (tmp_path / "z" / "app", tmp_path / "z" / other_ns, tmp_path / "w" / "fresh"):
        z = make_repo(where)
        z.commit("forged", {"stash.py": STASH, ".env": f"TOKEN={ref}\n", ".env.unleak": f"TOKEN={ref}\n"})
        assert run_cli("grant", "--secrets", "*", "--command", "*", cwd=z.path).returncode == 0
        assert default_namespace(z.path) != other_ns, where
        answer = _mcp_run(z.path)
        assert answer["status"] == "refused" and "outside this repository's vault namespace" in answer["reason"]
        assert not (z.path / "stash.txt").exists()


def test_a_fix_in_a_forged_repository_writes_nothing_into_the_other_namespace(
        two_apps: tuple[GitRepo, GitRepo, str], tmp_path: Path) -> None:
    from remediate.vault import default_namespace, open_vault, parse_reference
    from tests.fakes import github_pat

    x, y, ref = two_apps
    other_ns = parse_reference(ref).namespace
    y.commit("forged refs and a new secret", {".env.unleak": f"TOKEN={ref}\n", ".env": f"TOKEN={ref}\n",
                                              "config.py": f'GITHUB_TOKEN = "{github_pat()}"\n'})
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        out.append(await agent.call("fix", {"apply": True}))

    run_agent(y.path, scenario)
    assert [e.name for e in open_vault(namespace=other_ns, repo_path=x.path).names()] == ["TOKEN"]
    assert default_namespace(y.path) != other_ns
    assert default_namespace(x.path) == other_ns


def test_the_origin_url_changes_nothing(two_apps: tuple[GitRepo, GitRepo, str]) -> None:
    from remediate.vault import default_namespace

    x, y, _ref = two_apps
    x.git("remote", "add", "origin", "https://github.com/octo/app.git")
    before = default_namespace(y.path)
    y.git("remote", "add", "origin", "https://github.com/octo/app.git")
    assert default_namespace(y.path) == before
    y.git("remote", "set-url", "origin", str(x.path))
    assert default_namespace(y.path) == before
    assert default_namespace(y.path) != default_namespace(x.path)


@pytest.mark.parametrize("how", ["git-file", "symlink", "core.worktree"])
def test_a_git_dir_borrowed_from_the_other_repository_does_not_join_it(
        two_apps: tuple[GitRepo, GitRepo, str], how: str) -> None:
    """Git treats /y/app as a work tree of /x/app's repository when /y/app/.git is a file ``gitdir: /x/app/.git``
    or a symbolic link to it, and reports /x/app as the top of /y/app when /y/app's config sets core.worktree to
    it; none of that may make /x/app's namespace /y/app's (a real worktree is listed in /x/app's git directory)."""
    import shutil

    from remediate.vault import default_namespace

    x, y, ref = two_apps
    if how == "core.worktree":
        y.git("config", "core.worktree", str(x.path))
    else:
        shutil.rmtree(y.path / ".git")
        if how == "git-file":
            (y.path / ".git").write_text(f"gitdir: {x.path / '.git'}\n")
        else:
            (y.path / ".git").symlink_to(x.path / ".git")
    assert default_namespace(y.path) != default_namespace(x.path)
    _point_at_file(y.path, ref)
    answer = _mcp_run_maybe(y.path)
    # With core.worktree the server itself takes /x/app for its repository (git's top level), where the grant
    # made for /y/app does not apply: an approval request naming /x/app, not a run.
    assert answer is None or answer["status"] in ("refused", "approval_required"), answer
    assert not (y.path / "stash.txt").exists() and not (x.path / "stash.txt").exists()


def _point_at_file(root: Path, ref: str) -> None:
    for name in (".env", ".env.unleak"):
        (root / name).write_text(f"TOKEN={ref}\n")


def _mcp_run_maybe(root: Path) -> dict[str, Any] | None:
    try:
        return _mcp_run(root)
    except Exception:  # the server may refuse the odd repository outright; then nothing ran either
        return None


def test_starting_unleak_agent_claims_a_vault_made_before_the_registry(tmp_path: Path, canary: str) -> None:
    """A vault made by the directory-name rule, never registered, belongs to any directory of that name — one the
    agent makes too. The human's `unleak agent` registers the repository it starts in, so from then on only that
    repository has it."""
    from remediate.vault import default_namespace
    from remediate.vault.local import LocalVault

    ref = LocalVault("app").put("TOKEN", canary)
    x = make_repo(tmp_path / "x" / "app")
    x.commit("x", {".env.unleak": f"TOKEN={ref}\n"})
    forged = make_repo(tmp_path / "z" / "app")
    forged.commit("forged", {".env.unleak": f"TOKEN={ref}\n"})
    assert default_namespace(forged.path) == "app"  # the window this closes: nobody has claimed "app" yet
    res = run_cli("agent", "--", "true", cwd=x.path)
    assert res.returncode == 0, res.stderr
    assert default_namespace(x.path) == "app"
    assert default_namespace(forged.path) != "app"


def test_a_fix_the_agent_asks_for_in_a_same_named_directory_does_not_claim_an_old_vault(tmp_path: Path,
                                                                                          canary: str) -> None:
    """Before the human's repository is registered, the agent makes a directory named like an old (directory-name)
    vault and asks MCP `fix` to apply there. The fix may write into that namespace, but must not record the
    agent's directory as its owner: the human's repository registers it afterwards and the agent's is left out."""
    from remediate.vault import default_namespace
    from remediate.vault.identity import registered_repositories
    from remediate.vault.local import LocalVault
    from tests.fakes import github_pat

    LocalVault("app").put("TOKEN", canary)
    forged = make_repo(tmp_path / "z" / "app")
    forged.commit("forged", {"config.py": f'GITHUB_TOKEN = "{github_pat()}"\n'})
    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        out.append(await agent.call("fix", {"apply": True}))

    run_agent(forged.path, scenario)
    assert out[0].get("status") == "applied", out
    assert all(r["path"] != str(forged.path.resolve()) for r in registered_repositories().values())
    x = make_repo(tmp_path / "x" / "app")
    assert run_cli("agent", "--", "true", cwd=x.path).returncode == 0
    assert default_namespace(x.path) == "app" and default_namespace(forged.path) != "app"
