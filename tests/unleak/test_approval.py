"""The loopback approval and secret-entry pages, in a real headless Chromium driven over the DevTools protocol.

A real browser loads each page, reads what it says, clicks its buttons and submits its forms. Also tested: a used
(replayed) link, a stale form from a second tab, an expired link and a form posted from another origin are all
refused, and the request stays as it was.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CDP, Tab, headless_chromium
from tests.conftest import run_cli
from unleak.agent.approval import ApprovalServer, store_in_local_vault
from unleak.agent.grantstore import GrantStore
from unleak.agent.policy import Policy, RunContext
from unleak.audit import AuditLog


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CDP]:
    yield from headless_chromium(tmp_path_factory, "the approval page")


def _ctx(repo: str = "/work/demo-repo") -> RunContext:
    return RunContext(argv=("pytest", "-q", "tests/test_billing.py"), secrets=("STRIPE_API_KEY", "STRIPE_WEBHOOK"),
                      repo=repo, branch="feature/billing", tier="dev", task="JIRA-12", client="claude-code 2.1.0")


@pytest.fixture
def server() -> Iterator[tuple[ApprovalServer, GrantStore]]:
    store = GrantStore(policy=Policy(request_ttl=120))
    log = AuditLog()
    app = ApprovalServer(store, audit=log.append, store_secret=store_in_local_vault)
    app.start()
    yield app, store
    app.stop()


def test_page_shows_the_request_and_approve_creates_a_grant(browser: CDP, server: Any) -> None:
    app, store = server
    req = store.create_request(_ctx())
    url = app.approval_url(req)
    assert url.startswith("http://127.0.0.1:") and len(url.rsplit("/", 1)[1]) >= 40
    tab = Tab(browser)
    page = tab.goto(url)
    # Plain words: the command, the secret names, the repository, the branch, the duration.
    assert "claude-code 2.1.0 asks to run a command with 2 secret(s)" in page
    assert tab.eval("document.getElementById('command').textContent") == "pytest -q tests/test_billing.py"
    assert tab.eval("[...document.querySelectorAll('#secrets li')].map(e => e.textContent)") == [
        "STRIPE_API_KEY", "STRIPE_WEBHOOK"]
    assert tab.eval("document.getElementById('repo').textContent") == "/work/demo-repo"
    assert tab.eval("document.getElementById('branch').textContent") == "feature/billing"
    assert tab.eval("document.getElementById('duration').textContent").startswith("15 min after you approve")
    assert "JIRA-12" in page
    # No approve button: the page shows a code and the command to type it into, in the human's own terminal.
    assert tab.eval("document.getElementById('approve')") is None
    assert tab.eval("document.getElementById('approve_command').textContent") == f"unleak approve {req.id}"
    code = tab.eval("document.getElementById('code').textContent")
    assert code == app.code_for(req.id) and len(code) == 11
    res = run_cli("approve", req.id, "--code", code, "--yes")
    assert res.returncode == 0, res.stderr
    decided = store.get_request(req.id)
    assert decided.state() == "approved" and decided.decided_by.startswith("user:")
    grant = store.find_grant(_ctx())
    assert grant is not None and grant.id == decided.grant and grant.exact
    # Replaying the used link: refused, and nothing changes.
    again = tab.goto(url)
    assert "Link no longer valid" in again and "already approved" in again
    assert len(store.grants()) == 1
    recs = [r for r in AuditLog().records() if r["action"] == "approve"]
    assert len(recs) == 1 and recs[0]["request"] == req.id and recs[0]["detail"]["via"] == "terminal"


def test_deny_and_stale_second_tab_are_refused(browser: CDP, server: Any) -> None:
    app, store = server
    req = store.create_request(_ctx())
    url = app.approval_url(req)
    first, second = Tab(browser), Tab(browser)
    first.goto(url)
    second.goto(url)  # a second load issues a new form token; the first tab's form is now stale
    stale = first.click_and_wait("deny")
    assert "Refused" in stale and "stale" in stale
    assert store.get_request(req.id).state() == "pending"
    assert "Denied" in second.click_and_wait("deny")
    assert store.get_request(req.id).state() == "denied"
    assert store.grants() == []
    # The denied link cannot be turned into an approval later.
    assert "already denied" in first.goto(url)


def test_expired_link_is_refused(browser: CDP) -> None:
    store = GrantStore(policy=Policy(request_ttl=1))
    app = ApprovalServer(store)
    app.start()
    try:
        req = store.create_request(_ctx())
        url = app.approval_url(req)
        time.sleep(1.1)
        page = Tab(browser).goto(url)
        assert "Link no longer valid" in page and "expired" in page
        assert "Unknown link" in Tab(browser).goto(url.rsplit("/", 1)[0] + "/" + "A" * 43)
    finally:
        app.stop()
    assert store.grants() == []


def test_cross_origin_form_post_is_refused(browser: CDP, server: Any, tmp_path: Path) -> None:
    """A web page on another origin submits a (correct-looking) form to the approval URL: refused by the
    same-origin check even when it carries a valid form token."""
    app, store = server
    req = store.create_request(_ctx())
    url = app.approval_url(req)
    page = urllib.request.urlopen(url, timeout=10).read().decode()
    csrf = page.split("name=csrf value='")[1].split("'")[0]
    # The attacker's page on a different origin (a file:// page; the same holds for any other site).
    evil = tmp_path / "evil.html"
    evil.write_text(f"<form id=f method=post action='{url}'><input name=csrf value='{csrf}'>"
                    "<input name=decision value=approve></form><script>document.getElementById('f').submit()"
                    "</script>")
    tab = Tab(browser)
    tab._drain_loads()
    tab.cdp.send("Page.navigate", {"url": evil.as_uri()}, session=tab.session)
    tab.cdp.wait_event("Page.loadEventFired", tab.session)  # the evil page
    deadline = time.time() + 10
    while "cross-site" not in tab.text() and time.time() < deadline:
        time.sleep(0.1)
    assert "cross-site request refused" in tab.text()
    assert store.get_request(req.id).state() == "pending"
    assert store.grants() == []


@pytest.mark.parametrize("headers,status", [
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "null"}, 403),
    ({}, 403),  # neither Origin nor Referer
    ({"Origin": "ORIGIN", "Sec-Fetch-Site": "cross-site"}, 403),
    ({"Origin": "ORIGIN", "Host": "localhost"}, 421),  # DNS rebinding: another Host name
])
def test_post_without_same_origin_is_refused(server: Any, headers: dict[str, str], status: int) -> None:
    app, store = server
    req = store.create_request(_ctx())
    url = app.approval_url(req)
    page = urllib.request.urlopen(url, timeout=10).read().decode()
    csrf = page.split("name=csrf value='")[1].split("'")[0]
    body = urllib.parse.urlencode({"csrf": csrf, "decision": "approve"}).encode()
    hdrs = {k: (app.origin if v == "ORIGIN" else v) for k, v in headers.items()}
    post = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                           **hdrs})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(post, timeout=10)
    assert err.value.code == status
    assert store.get_request(req.id).state() == "pending"


def test_secret_page_stores_the_value_in_the_vault(browser: CDP, server: Any, repo: Any) -> None:
    from remediate.vault import default_namespace, open_vault
    from tests.fakes import github_pat

    app, _ = server
    value = github_pat()
    ns = default_namespace(repo.path)
    sr, url = app.add_secret_request("NEW_API_KEY", ns, str(repo.path), 60, reason="integration tests",
                                     client="codex 0.9")
    tab = Tab(browser)
    page = tab.goto(url)
    assert "asks for a secret named NEW_API_KEY" in page and "integration tests" in page
    assert tab.eval("document.getElementById('reason').tagName") == "BLOCKQUOTE"
    tab.eval(f"document.getElementById('value').value = {json.dumps(value)}")
    done = tab.click_and_wait("save")
    assert "Confirm in your terminal" in done and value not in done
    code = tab.eval("document.getElementById('code').textContent")
    vault = open_vault(namespace=ns, repo_path=repo.path)
    assert "NEW_API_KEY" not in [e.name for e in vault.names()]  # held until confirmed
    res = run_cli("approve", sr.id, "--code", code, "--yes")
    assert res.returncode == 0, res.stderr
    deadline = time.time() + 10
    while not sr.used and time.time() < deadline:
        time.sleep(0.05)
    assert vault.get(vault.reference_for("NEW_API_KEY")) == value
    assert "no longer valid" in tab.goto(url)  # one time only
    assert sr.used and sr.reference == vault.reference_for("NEW_API_KEY")
    log_text = AuditLog().path.read_text()
    assert "secret.stored" in log_text and value not in log_text
