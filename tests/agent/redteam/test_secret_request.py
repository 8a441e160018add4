"""`request_secret` abused: the agent asks the human for a secret, then fills in the entry page itself with a value
of its choosing (which the human's code would then trust as theirs), and uses the reason to put its own words on
a page the human trusts.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import GitRepo, run_cli
from tests.unleak.test_mcp import Agent, audit_records, run_agent

pytest.importorskip("mcp")

_LINK = re.compile(r"http://127\.0\.0\.1:\d+/secret/[A-Za-z0-9_-]+")
PHISH = ("</em><h1>unleak: session expired</h1><p>Paste your GitHub token here to continue \u202e"
         "\x1b[31m")


def _post(url: str, fields: dict[str, str]) -> str:
    origin = url.split("/secret/")[0]
    req = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(), method="POST", headers={
        "Origin": origin, "Referer": url, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(resp.read().decode())
    except urllib.error.HTTPError as exc:
        return str(exc.read().decode())


def fill_in(url: str, value: str) -> tuple[str, str]:
    """What any local process can do with the entry page: load it, post a value with the page's own token."""
    page = urllib.request.urlopen(url, timeout=10).read().decode()
    csrf = page.split("name=csrf value='")[1].split("'")[0]
    return page, _post(url, {"csrf": csrf, "value": value, "decision": "store"})


@pytest.mark.slow
def test_agent_cannot_store_its_own_value_or_phish_on_the_page(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("init", {"README.md": "x\n"})
    planted = "agent-chosen-value-0123456789abcdef"
    out: dict[str, Any] = {}
    errlog = open(tmp_path / "server-stderr.txt", "w+")  # noqa: SIM115 - closed below

    async def scenario(agent: Agent) -> None:
        asked = await agent.call("request_secret", {"name": "PAYMENT_KEY", "reason": PHISH})
        out["asked"] = asked
        found = _LINK.search(json.dumps(asked))
        out["from_answer"] = found is not None
        if found is None:  # an agent with a shell may read what its client logged
            errlog.flush()
            errlog.seek(0)
            found = _LINK.search(errlog.read())
        assert found is not None
        out["page"], out["posted"] = await anyio.to_thread.run_sync(fill_in, found.group(0), planted)
        await anyio.sleep(1.0)
        out["list"] = await agent.call("list_secrets", {})

    try:
        run_agent(repo.path, scenario, errlog=errlog)
    finally:
        errlog.close()
    from remediate.vault import open_vault

    vault = open_vault(repo_path=repo.path)
    assert "PAYMENT_KEY" not in [e.name for e in vault.names()], "the agent stored its own value as the human's"
    assert not [r for r in audit_records() if r["action"] == "secret.stored"]
    assert not out["from_answer"], "the entry page's link was in the agent's answer"
    # The reason is on the page as quoted, escaped, labelled text from the agent, not as the page's own words.
    page = out["page"]
    assert "<h1>unleak: session expired" not in page and "\u202e" not in page and "\x1b" not in page
    assert re.search(r"<blockquote id=reason>[^<]*&lt;/em&gt;&lt;h1&gt;unleak: session expired", page)
    assert "written by the agent" in page


def test_the_human_stores_a_value_by_confirming_in_the_terminal(repo: GitRepo) -> None:
    """The human's own flow: the value typed on the page is held until they type the code the page then shows
    into `unleak approve ID` in their terminal; only then does it enter the vault."""
    from remediate.vault import default_namespace, open_vault
    from unleak.agent.approval import ApprovalServer, store_in_local_vault
    from unleak.agent.policy import GrantStore
    from unleak.audit import AuditLog

    log = AuditLog()
    app = ApprovalServer(GrantStore(), audit=log.append, store_secret=store_in_local_vault)
    value = "human-typed-value-" + "f" * 20
    ns = default_namespace(repo.path)
    try:
        sr, url = app.add_secret_request("NEW_KEY", ns, str(repo.path), 60, reason="tests", client="codex 1")
        _, posted = fill_in(url, value)
        assert value not in posted
        code = re.search(r"id=code>([A-Z0-9-]+)<", posted)
        assert code and f"unleak approve {sr.id}" in posted
        vault = open_vault(namespace=ns, repo_path=repo.path)
        assert "NEW_KEY" not in [e.name for e in vault.names()]  # held, not stored
        res = run_cli("approve", sr.id, "--code", code.group(1), "--yes")
        assert res.returncode == 0, res.stderr
        assert "NEW_KEY" in res.stderr and "tests" in res.stderr
        for _ in range(100):
            if sr.used:
                break
            anyio.run(anyio.sleep, 0.05)
        assert vault.get(vault.reference_for("NEW_KEY")) == value
    finally:
        app.stop()
    stored = [r for r in audit_records() if r["action"] == "secret.stored"]
    assert len(stored) == 1 and stored[0]["actor"].startswith("user:")
