"""Red team: the MCP server works on the repository it was started in, and nowhere else. The agent can edit
``.git/config``; ``core.worktree`` there makes git name any directory as the repository's top level (the user's
home, another project), and a server that took git's word for its root would scan that directory for the agent and
rewrite its files with ``fix``: damage outside the repository, with no approval asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_repo, run_cli
from tests.fakes import github_pat, stripe_live_key

pytest.importorskip("mcp")

from tests.agent.redteam.runtools import mcp_calls


@pytest.mark.parametrize("where", ["outside", "parent"])
def test_core_worktree_does_not_move_the_server_out_of_its_repository(tmp_path: Path, where: str) -> None:
    """``outside``: a directory next to the repository (another project of the user); ``parent``: the directory
    that holds the repository (its parent is not the repository either)."""
    work = make_repo(tmp_path / "work")
    work.commit("init", {"README.md": "work\n"})
    victim = tmp_path / "victim" if where == "outside" else tmp_path
    victim.mkdir(exist_ok=True)
    settings = victim / "settings.py"
    settings.write_text(f'STRIPE_KEY = "{stripe_live_key()}"\nGITHUB_TOKEN = "{github_pat()}"\n')
    before = settings.read_text()
    work.git("config", "core.worktree", str(victim))  # what the agent can do: .git/config is in its repository
    try:
        answers = mcp_calls(work.path, [("scan", {}), ("fix", {"apply": True})])
    except Exception:  # the server refused to start on this repository (checked below): nothing was touched
        answers = []
    assert settings.read_text() == before
    assert not any("settings.py" in str(a) for a in answers), answers
    refused = run_cli("mcp", cwd=work.path, input="")
    assert refused.returncode == 2 and "core.worktree" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_server_started_in_a_subdirectory_still_serves_its_repository(tmp_path: Path) -> None:
    """The guard is about git naming a top level that does not contain the start directory; a start in a
    subdirectory (git's top level is its ancestor) is served as before."""
    work = make_repo(tmp_path / "work")
    work.commit("init", {"src/app.py": f'GITHUB_TOKEN = "{github_pat()}"\n'})
    answers = mcp_calls(work.path / "src", [("scan", {})])
    assert "src/app.py" in str(answers[0]), answers
