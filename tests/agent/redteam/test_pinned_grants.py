"""Red team, issue 19 item 2: the agent changes the code after the human approved a run.

Before: a grant covered the same argv whatever the repository held, so an agent that got `pytest` approved could
then edit a test (or add a conftest.py, or repoint .env) and run its new code with the secrets. A pinned grant is
bound to a fingerprint of the repository's files and reference file: any edit voids it, reverting the edit restores
it. Unpinned grants stay for dev-tier secrets; staging and prod approvals must be pinned. And a granted child that
double-forks inside `unleak agent` dies when the grant is revoked.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from scanner.errors import PolicyError
from tests.agent.redteam.runtools import PY, make_vault_repo
from tests.conftest import GitRepo
from unleak import confine
from unleak.agent.grantstore import GrantStore
from unleak.agent.policy import run_context
from unleak.run import read_reference_files


def _ctx(repo: GitRepo) -> object:
    env = repo.path / ".env"
    ctx, _ = run_context([PY, "stash.py"], read_reference_files([env]), repo=repo.path, cwd=repo.path,
                         branch="main", client="agent 1.0", env_file=env)
    return ctx


def _approved(repo: GitRepo, *, pinned: bool) -> str:
    store = GrantStore()
    req = store.create_request(_ctx(repo))  # type: ignore[arg-type]
    _, grant = store.decide(req.id, approve=True, by="user:test", pinned=pinned)
    assert grant is not None and (grant.tree is not None) == pinned
    return grant.id


def _covered(repo: GitRepo) -> bool:
    return GrantStore().find_grant(_ctx(repo)) is not None  # type: ignore[arg-type]


@pytest.mark.parametrize("change", ["edit tracked", "add untracked", "remove tracked", "edit .env", "chmod +x"])
def test_a_pinned_grant_is_void_once_the_repository_changes(repo: GitRepo, canary: str, change: str) -> None:
    make_vault_repo(repo, canary)
    repo.commit("tests", {"test_app.py": "def test_ok():\n    assert True\n"})
    repo.write(".gitignore", "build/\n")
    _approved(repo, pinned=True)
    assert _covered(repo)
    # What an agent does after the approval; an ignored file does not count (build output changes every run).
    repo.write("build/out.txt", "artefact")
    assert _covered(repo)
    target = repo.path / {"edit tracked": "stash.py", "add untracked": "conftest.py", "remove tracked":
                          "test_app.py", "edit .env": ".env", "chmod +x": "stash.py"}[change]
    before = target.read_bytes() if target.exists() else None
    if change == "add untracked":
        target.write_text("import os\nprint(os.environ)\n")
    elif change == "remove tracked":
        target.unlink()
    elif change == "chmod +x":
        target.chmod(0o755)
    else:
        target.write_bytes(before + b"\n# changed\n")  # type: ignore[operator]
    assert not _covered(repo), f"a pinned grant still covered the run after: {change}"
    # Back to what the human approved: covered again (content, not timestamps).
    if before is None:
        target.unlink()
    else:
        target.write_bytes(before)
        target.chmod(0o644)
    assert _covered(repo)


def test_an_unpinned_grant_follows_the_edit_test_loop(repo: GitRepo, canary: str) -> None:
    make_vault_repo(repo, canary)
    _approved(repo, pinned=False)
    repo.write("stash.py", "print('edited')\n")
    assert _covered(repo)


def test_staging_and_prod_approvals_must_be_pinned(repo: GitRepo, canary: str) -> None:
    from tests.conftest import write_policy
    from unleak.agent.tiers import TierLabels

    make_vault_repo(repo, canary)
    write_policy('mcp_tiers = ["dev", "staging"]\n')
    TierLabels().set(read_reference_files([repo.path / ".env"])["TOKEN"], "staging")
    store = GrantStore()
    req = store.create_request(_ctx(repo))  # type: ignore[arg-type]
    assert req.tier == "staging"
    with pytest.raises(PolicyError, match="--pinned"):
        store.decide(req.id, approve=True, by="user:test")
    _, grant = store.decide(req.id, approve=True, by="user:test", pinned=True)
    assert grant is not None and grant.tree is not None


def test_a_pinned_grant_cannot_be_re_pointed_by_editing_its_record(repo: GitRepo, canary: str) -> None:
    """The fingerprint is inside the grant's MAC: the agent cannot re-pin a grant to its edited tree."""
    import json

    make_vault_repo(repo, canary)
    gid = _approved(repo, pinned=True)
    repo.write("stash.py", "print('edited')\n")
    from unleak.agent.treepin import fingerprint

    path = GrantStore().path
    doc = json.loads(path.read_text())
    for g in doc["grants"]:
        if g["id"] == gid:
            g["tree"] = fingerprint(repo.path, repo.path / ".env")
    path.write_text(json.dumps(doc))
    assert not _covered(repo)


DAEMON = """\
import os, sys, time
pidfile = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in (0, 1, 2):
            os.close(fd)
        open(pidfile + ".tmp", "w").write(str(os.getpid()))
        os.rename(pidfile + ".tmp", pidfile)
        time.sleep(120)
        os._exit(0)
    os._exit(0)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in "ZX"


@pytest.mark.skipif(not confine.available(), reason="this kernel has no Landlock; `unleak agent` is unconfined here")
def test_inside_unleak_agent_a_granted_double_fork_dies_at_revoke(repo: GitRepo, canary: str, tmp_path: Path) -> None:
    make_vault_repo(repo, canary)
    repo.commit("daemon", {"daemon.py": DAEMON})
    grant = GrantStore().add_grant(secrets=["TOKEN"], command=[PY, "daemon.py", "*"], created_by="user:test",
                                   repo=str(repo.path), cwd=repo.path)
    pidfile = tmp_path / "daemon.pid"
    proc = subprocess.Popen([sys.executable, "-m", "unleak", "agent", "--", "sh", "-c",
                             f"{PY} -m unleak run -- {PY} daemon.py {pidfile}; echo run=$?"],
                            cwd=repo.path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = 0
    try:
        deadline = time.monotonic() + 60
        while not pidfile.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pid = int(pidfile.read_text())
        assert _alive(pid)
        GrantStore().revoke(by="user:test", grant=grant.id)
        out, err = proc.communicate(timeout=30)
        # The run stopped (the agent's shell goes on), and the daemon it started is gone with it.
        assert "run=137" in out and "revoked" in err, out + err
        deadline = time.monotonic() + 5
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the granted run's double-forked daemon outlived the revocation"
    finally:
        if proc.poll() is None:
            proc.kill()
        if pid and _alive(pid):
            import os

            os.kill(pid, 9)


@pytest.mark.parametrize("tier", ["dev", "staging"])
def test_the_approval_page_says_which_kind_of_grant_approving_makes(tier: str) -> None:
    import html
    import re
    import urllib.request

    from unleak.agent.approval import ApprovalServer
    from unleak.agent.policy import RunContext

    store = GrantStore()
    req = store.create_request(RunContext(argv=("pytest",), secrets=("TOKEN",), repo="/tmp/r", branch="main",
                                          tier=tier, client="agent 1.0"))
    server = ApprovalServer(store)
    server.start()
    try:
        page = html.unescape(urllib.request.urlopen(server.approval_url(req), timeout=10).read().decode())
    finally:
        server.stop()
    kind = re.search(r"id=kind>([^<]+)<", page)
    command = re.search(r"id=approve_command>([^<]+)<", page)
    assert kind and command
    if tier == "dev":
        assert kind.group(1).startswith("unpinned unless") and "--pinned" not in command.group(1)
    else:
        assert kind.group(1).startswith("pinned (staging tier") and command.group(1).endswith("--pinned")


def test_grant_and_approve_pinned_on_the_command_line_say_what_they_made(repo: GitRepo, canary: str) -> None:
    from tests.conftest import run_cli

    make_vault_repo(repo, canary)
    res = run_cli("grant", "--secrets", "TOKEN", "--command", f"{PY} stash.py", "--pinned", cwd=repo.path)
    assert res.returncode == 0 and "pinned to the repository" in res.stderr, res.stderr
    assert _covered(repo)
    repo.write("stash.py", "print('edited')\n")
    assert not _covered(repo)
    # An approval: the request says what approving makes; the answer says which kind it made.
    store = GrantStore()
    req = store.create_request(_ctx(repo))  # type: ignore[arg-type]
    from tests.unleak.test_mcp import page_code
    from unleak.agent import presence
    from unleak.agent.approval import ApprovalServer

    server = ApprovalServer(store)
    server.start()
    try:
        server.approval_url(req)
        url = presence.page_url(store.dir, req.id)
        assert url is not None
        code = page_code(url)
        approved = run_cli("approve", req.id, "--pinned", "--code", code, "--yes", cwd=repo.path)
    finally:
        server.stop()
    assert approved.returncode == 0, approved.stderr
    assert "kind        unpinned unless" in approved.stderr
    assert "pinned to the repository as it is now" in approved.stdout
    assert _covered(repo)
