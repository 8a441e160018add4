"""Self-approval: an agent asks for a run, finds the approval link, loads the page like any local process can,
copies the form's token and posts "approve" with a forged Origin. The page's CSRF and Origin checks stop other
web pages in a browser, not a process on the same machine.
"""

from __future__ import annotations

import json
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import GitRepo
from tests.unleak.test_mcp import Agent, audit_records, run_agent

pytest.importorskip("mcp")

_LINK = re.compile(r"http://127\.0\.0\.1:\d+/approve/[A-Za-z0-9_-]+")


def _post_like_a_browser(url: str, fields: dict[str, str]) -> tuple[int, str]:
    origin = url.split("/approve/")[0]
    req = urllib.request.Request(url, data="&".join(f"{k}={v}" for k, v in fields.items()).encode(), method="POST",
                                 headers={"Origin": origin, "Referer": url, "Sec-Fetch-Site": "same-origin",
                                          "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def self_approve(url: str) -> str:
    """Everything an agent can do with the link: read the page (and any code on it), post every field back."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        page = resp.read().decode()
    fields = dict(re.findall(r"name=(\w+) value='([^']*)'", page))
    code = re.search(r"id=code>([^<]+)<", page)
    if code:
        fields["code"] = code.group(1)
    fields["decision"] = "approve"
    return _post_like_a_browser(url, fields)[1]


@pytest.fixture
def app_repo(repo: GitRepo, canary: str) -> GitRepo:
    from remediate.vault import open_vault

    ref = open_vault(repo_path=repo.path).put("TOKEN", canary)
    repo.commit("app", {".env": f"TOKEN={ref}\n", "app.py": "import os\nprint(len(os.environ['TOKEN']))\n"})
    return repo


@pytest.mark.slow
def test_agent_cannot_approve_its_own_run(app_repo: GitRepo, tmp_path: Path) -> None:
    argv = [sys.executable, "app.py"]
    out: dict[str, Any] = {}
    errlog = open(tmp_path / "server-stderr.txt", "w+")  # noqa: SIM115 - closed below

    async def scenario(agent: Agent) -> None:
        first = await agent.call("run", {"argv": argv})
        out["first"] = first
        # The link, wherever the agent can see it: its answer; failing that, the server's log (an agent with a
        # shell may read what its client captured).
        found = _LINK.search(json.dumps(first))
        if found is None:
            errlog.flush()
            errlog.seek(0)
            found = _LINK.search(errlog.read())
        assert found is not None
        out["from_answer"] = _LINK.search(json.dumps(first)) is not None
        out["page_answer"] = await anyio.to_thread.run_sync(self_approve, found.group(0))
        out["second"] = await agent.call("run", {"argv": argv})

    try:
        run_agent(app_repo.path, scenario, errlog=errlog)
    finally:
        errlog.close()
    assert out["first"]["status"] == "approval_required"
    assert out["second"]["status"] == "approval_required", "the agent approved its own run"
    assert not out["from_answer"], "the approval link was in the agent's answer"
    assert not [r for r in audit_records() if r["action"] == "approve"]


def _approve_in_a_terminal(request_id: str, typed: list[str]) -> tuple[int, str]:
    """`unleak approve ID` on a real pseudo-terminal; each entry of ``typed`` is answered to the next prompt."""
    import os
    import select
    import subprocess

    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "unleak", "approve", request_id], stdin=slave, stdout=slave,
                            stderr=slave, close_fds=True, start_new_session=True)
    os.close(slave)
    seen = b""
    pending = list(typed)
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 20)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if pending and (seen.rstrip().endswith(b":") or seen.rstrip().endswith(b"[y/N]:")):
                os.write(master, pending.pop(0).encode() + b"\n")
    finally:
        os.close(master)
    return proc.wait(timeout=20), seen.decode(errors="replace")


def test_approve_asks_for_the_page_code_and_a_yes_in_a_terminal() -> None:
    from unleak.agent import presence
    from unleak.agent.policy import GrantStore, RunContext

    store = GrantStore()
    ctx = RunContext(argv=("pytest", "-q"), secrets=("TOKEN",), repo="/work/demo", branch="main", tier="dev",
                     task=None, client="test-agent 1")
    req = store.create_request(ctx)
    code = presence.issue(store.dir, req.id, "http://127.0.0.1:1/approve/x")

    # Without a terminal and without both flags: refused before anything is asked.
    from tests.conftest import run_cli

    res = run_cli("approve", req.id)
    assert res.returncode == 2 and "--code CODE --yes" in res.stderr
    res = run_cli("approve", req.id, "--code", code)
    assert res.returncode == 2
    # A wrong code: refused, and counted.
    status, screen = _approve_in_a_terminal(req.id, ["AAAAA-AAAAA"])
    assert status == 2 and "wrong code" in screen and "4 tries left" in screen
    # The right code, then "no": nothing approved; the code is used up.
    status, screen = _approve_in_a_terminal(req.id, [code.lower(), "n"])
    assert status == 1 and "pytest -q" in screen and "http://127.0.0.1:1/approve/x" in screen
    assert store.get_request(req.id).state() == "pending" and not presence.live(store.dir, req.id)
    # A new code (the page issues one when the agent asks again), the code and "y": approved.
    code = presence.issue(store.dir, req.id, "http://127.0.0.1:1/approve/x")
    status, screen = _approve_in_a_terminal(req.id, [code, "y"])
    assert status == 0 and f"approved {req.id}" in screen
    assert store.get_request(req.id).state() == "approved"


def test_five_wrong_codes_end_the_code() -> None:
    from unleak.agent import presence
    from unleak.agent.policy import GrantStore

    store = GrantStore()
    code = presence.issue(store.dir, "r-abcdefgh", "http://127.0.0.1:1/approve/x")
    for _ in range(presence.MAX_TRIES):
        with pytest.raises(Exception, match="wrong code"):
            presence.verify(store.dir, "r-abcdefgh", "BBBBBBBBBB")
    with pytest.raises(Exception, match="too many wrong codes"):
        presence.verify(store.dir, "r-abcdefgh", code)
    # What is stored cannot be typed back: a salted scrypt digest, not the code.
    stored = (store.dir / "presence" / "r-abcdefgh.json").read_text()
    assert presence.normalise(code) not in stored and code not in stored
