"""The loopback approval and secret-entry pages, in a real headless Chromium driven over the DevTools protocol.

A real browser loads each page, reads what it says, clicks its buttons and submits its forms. Also tested: a used
(replayed) link, a stale form from a second tab, an expired link and a form posted from another origin are all
refused, and the request stays as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from unleak.agent.approval import ApprovalServer, store_in_local_vault
from unleak.agent.policy import GrantStore, Policy, RunContext
from unleak.audit import AuditLog

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                  "--remote-debugging-pipe"]


def _chromium() -> str | None:
    for name in ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name) if not name.startswith("/") else (name if os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


class CDP:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fd 3 in, fd 4 out; messages are
    JSON terminated by NUL). Enough to open a tab, navigate, evaluate and wait for page loads."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Keep the child's ends above fd 4 so the dup2 onto 3 and 4 cannot clobber each other.
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)

        def setup() -> None:  # runs in the child before exec
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=setup, pass_fds=(3, 4), close_fds=True,
        )
        os.close(child_in)
        os.close(child_out)
        self.w = to_chrome_w
        self.r = from_chrome_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self.w, self.r):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _read(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from chromium")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 16)
                if not chunk:
                    raise EOFError("chromium closed the pipe")
                self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 20) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read(max(0.01, deadline - time.monotonic())))


class Tab:
    def __init__(self, cdp: CDP) -> None:
        self.cdp = cdp
        target = cdp.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = cdp.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        cdp.send("Page.enable", session=self.session)
        cdp.send("Runtime.enable", session=self.session)

    def _drain_loads(self) -> None:
        self.cdp.events = [e for e in self.cdp.events
                           if not (e.get("method") == "Page.loadEventFired" and e.get("sessionId") == self.session)]

    def goto(self, url: str) -> str:
        self._drain_loads()
        self.cdp.send("Page.navigate", {"url": url}, session=self.session)
        self.cdp.wait_event("Page.loadEventFired", self.session)
        return self.text()

    def eval(self, expression: str) -> Any:
        res = self.cdp.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                            session=self.session)
        return res.get("result", {}).get("value")

    def click_and_wait(self, element_id: str) -> str:
        """Click a submit button the way a person does (a real form submission), wait for the next page."""
        self._drain_loads()
        self.eval(f"document.getElementById({json.dumps(element_id)}).click()")
        self.cdp.wait_event("Page.loadEventFired", self.session)
        return self.text()

    def text(self) -> str:
        return str(self.eval("document.body ? document.body.innerText : ''"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CDP]:
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium); the approval page needs a "
                    "real browser test")
    cdp = CDP(binary, tmp_path_factory.mktemp("chromium-profile"))
    try:
        cdp.send("Browser.getVersion", timeout=30)
        yield cdp
    finally:
        cdp.close()


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
