"""A headless Chromium driven over the Chrome DevTools Protocol, for tests that load a page unleak serves or writes
and read what a person would see: one client, one tab helper, one module-scoped browser."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                  "--remote-debugging-pipe"]


def chromium() -> str | None:
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


def headless_chromium(tmp_path_factory: pytest.TempPathFactory, what: str) -> Iterator[CDP]:
    """The body of a module-scoped ``browser`` fixture: a started Chromium, closed afterwards; the test is skipped
    (naming ``what`` needs the browser) where Chromium is not installed."""
    binary = chromium()
    if binary is None:
        pytest.skip(f"chromium is not installed (Debian: apt-get install -y chromium); {what} needs a real "
                    "browser test")
    cdp = CDP(binary, tmp_path_factory.mktemp("chromium-profile"))
    try:
        cdp.send("Browser.getVersion", timeout=30)
        yield cdp
    finally:
        cdp.close()
