"""The loopback pages a human uses to approve a run or to type in a new secret.

A small HTTP server bound to ``127.0.0.1`` on a random port, started by ``unleak mcp`` the first time it needs it.
Each page lives at an unguessable one-time URL (256 random bits). It shows, in plain words, exactly what is asked:
the command, the secret names, the repository and branch, and for how long.

Why each defence:

* **127.0.0.1 and a Host check**: nothing off the machine reaches it, and a DNS-rebinding page cannot talk to it
  under another name.
* **One-time URL that expires**: a link copied from a log or a history is worthless once used or after the
  request's lifetime; a replayed or stale URL is refused.
* **CSRF**: the form carries a per-page random token (checked in constant time, consumed on use), and the POST
  must come from the page's own origin (``Origin``/``Sec-Fetch-Site``), so another web page open in the same
  browser cannot submit it.
* **No values on the wire to the model**: the secret form posts the value straight into the vault from the
  browser; nothing echoes it back, and it is never logged.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scanner.errors import UnleakError
from unleak.agent import pages
from unleak.agent.grantstore import GrantStore
from unleak.agent.policy import ApprovalRequest
from unleak.audit import process_info
from unleak.userenv import human_actor

MAX_BODY = 1 << 20  # a secret may be a key file's worth of text, not more
_CSRF_LIFETIME = 15 * 60

AuditHook = Callable[..., Any]
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@dataclass
class SecretRequest:
    """A request for the human to type in a new secret (``request_secret``), kept in memory only."""

    token: str
    name: str
    namespace: str
    repo: str
    expires: float
    reason: str = ""
    client: str | None = None
    task: str | None = None
    used: bool = False
    reference: str | None = None
    id: str = ""  # what the human types in `unleak approve ID` to confirm the value entered on the page
    #: the value entered on the page, held here until the human confirms it in their terminal
    held: str | None = field(default=None, repr=False)


class ApprovalServer:
    """Serves ``/approve/<token>`` and ``/secret/<token>`` on 127.0.0.1 in a daemon thread."""

    def __init__(self, store: GrantStore, *, audit: AuditHook | None = None,
                 store_secret: Callable[[SecretRequest, str], str] | None = None) -> None:
        self.store = store
        self.audit = audit
        self.store_secret = store_secret
        self._csrf: dict[str, tuple[str, float]] = {}  # page token -> (csrf token, issued at)
        self._codes: dict[str, str] = {}  # request id -> presence code, shown on its page only
        self._watcher: threading.Thread | None = None
        self._secret_requests: dict[str, SecretRequest] = {}
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> str:
        if self._httpd is None:
            self._httpd = _Server(("127.0.0.1", port), self)
            self._thread = threading.Thread(target=self._httpd.serve_forever, name="unleak-approval", daemon=True)
            self._thread.start()
        return self.origin

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- URLs

    def approval_url(self, req: ApprovalRequest) -> str:
        """The page of ``req``; the first time (or once its code is used up), a new presence code for it."""
        from unleak.agent import presence

        self.start()
        url = f"{self.origin}/approve/{req.token}"
        with self._lock:
            if req.id not in self._codes or not presence.live(self.store.dir, req.id):
                self._codes[req.id] = presence.issue(self.store.dir, req.id, url)
        return url

    def code_for(self, request_id: str) -> str | None:
        with self._lock:
            return self._codes.get(request_id)

    def add_secret_request(self, name: str, namespace: str, repo: str, ttl: float, *, reason: str = "",
                           client: str | None = None, task: str | None = None) -> tuple[SecretRequest, str]:
        self.start()
        sr = SecretRequest(token=secrets.token_urlsafe(32), name=name, namespace=namespace, repo=repo,
                           expires=time.time() + ttl, reason=reason, client=client, task=task,
                           id="s-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8)))
        with self._lock:
            self._secret_requests[sr.token] = sr
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="unleak-secret-confirm", daemon=True)
                self._watcher.start()
        return sr, f"{self.origin}/secret/{sr.token}"

    def hold_secret(self, sr: SecretRequest, value: str) -> str:
        """Keep ``value`` until the human confirms it in their terminal; returns the code the page shows. A new
        entry replaces the held one and its code."""
        from unleak.agent import presence

        with self._lock:
            sr.held = value
        return presence.issue(self.store.dir, sr.id, f"{self.origin}/secret/{sr.token}", about={
            "kind": "secret", "name": sr.name, "namespace": sr.namespace, "repo": sr.repo, "client": sr.client,
            "reason": sr.reason, "task": sr.task, "expires": sr.expires})

    def _watch(self) -> None:
        """Store each held value once its request is confirmed in the terminal; forget it when it expires."""
        from unleak.agent import presence

        while self._httpd is not None:
            with self._lock:
                waiting = [sr for sr in self._secret_requests.values() if sr.held is not None and not sr.used]
            for sr in waiting:
                if time.time() >= sr.expires:
                    sr.held = None
                    presence.discard(self.store.dir, sr.id)
                elif presence.confirmed(self.store.dir, sr.id):
                    self._store_confirmed(sr)
            time.sleep(0.1)

    def _store_confirmed(self, sr: SecretRequest) -> None:
        from unleak.agent import presence

        value, sr.held = sr.held, None
        presence.discard(self.store.dir, sr.id)
        if value is None or self.store_secret is None:
            return
        actor = human_actor() + " (confirmed in terminal)"
        try:
            sr.reference = self.store_secret(sr, value)
        except UnleakError as exc:
            self.record("secret.refused", actor=actor, secrets=[sr.name], task=sr.task,
                        detail={"reason": str(exc)})
            return
        finally:
            del value
        sr.used = True
        self.record("secret.stored", actor=actor, secrets=[sr.name], task=sr.task,
                    detail={"reference": sr.reference, "request": sr.id})

    def secret_request(self, token: str) -> SecretRequest | None:
        with self._lock:
            for key, sr in self._secret_requests.items():
                if hmac.compare_digest(key.encode(), token.encode()):
                    return sr
        return None

    # -- CSRF

    def issue_csrf(self, page_token: str) -> str:
        csrf = secrets.token_urlsafe(32)
        with self._lock:
            self._csrf[page_token] = (csrf, time.time())
        return csrf

    def consume_csrf(self, page_token: str, presented: str) -> bool:
        with self._lock:
            entry = self._csrf.get(page_token)
            if entry is None:
                return False
            csrf, issued = entry
            if time.time() - issued > _CSRF_LIFETIME:
                del self._csrf[page_token]
                return False
            if not hmac.compare_digest(csrf.encode(), presented.encode()):
                return False
            del self._csrf[page_token]
            return True

    def record(self, action: str, **kw: Any) -> None:
        if self.audit is not None:
            with contextlib.suppress(Exception):
                self.audit(action, **kw)


class _Server(ThreadingHTTPServer):
    """The loopback HTTP server, holding the :class:`ApprovalServer` its handlers answer for."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: ApprovalServer) -> None:
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing and the checks every request passes (host, route, origin, form, CSRF); the pages themselves
    are built by :mod:`unleak.agent.pages` and the decisions made by the :class:`ApprovalServer`."""
    server_version = "unleak"
    sys_version = ""
    timeout = 15
    server: _Server

    @property
    def app(self) -> ApprovalServer:
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs every request line (with the one-time token) to stderr; the MCP client shows
        # that stream to people and sometimes to the model.
        return

    # -- plumbing

    def _send(self, status: int, body: bytes, *, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'",
        )
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _refuse(self, status: int, title: str, text: str) -> None:
        self._send(status, pages.refusal(title, text))

    def _host_ok(self) -> bool:
        return self.headers.get("Host", "") == f"127.0.0.1:{self.app.port}"

    def _same_origin(self) -> bool:
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        if origin is not None:
            return origin == self.app.origin
        referer = self.headers.get("Referer")
        # A POST without Origin and without Referer is not what a browser sends from our own page.
        return referer is not None and referer.startswith(self.app.origin + "/")

    def _route(self) -> tuple[str, str] | None:
        path = urllib.parse.urlsplit(self.path).path
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] in ("approve", "secret") and parts[1]:
            return parts[0], parts[1]
        return None

    def _form(self) -> dict[str, str] | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY:
            return None
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            return None
        raw = self.rfile.read(length).decode("utf-8", errors="replace")
        return {k: v for k, v in urllib.parse.parse_qsl(raw, keep_blank_values=True)}

    def _checked_route(self) -> tuple[str, str] | None:
        """The (kind, token) of a request to our own host, or None after refusing it."""
        if not self._host_ok():
            self._refuse(HTTPStatus.MISDIRECTED_REQUEST, "Wrong address",
                         "Open this page at 127.0.0.1 exactly as it was given to you.")
            return None
        route = self._route()
        if route is None:
            self._refuse(HTTPStatus.NOT_FOUND, "Not found", "There is nothing here.")
        return route

    def _csrf_ok(self, token: str, form: dict[str, str]) -> bool:
        if self.app.consume_csrf(token, form.get("csrf", "")):
            return True
        self._refuse(HTTPStatus.FORBIDDEN, "Refused",
                     "This form is stale or was not issued by this page; reload the link.")
        return False

    # -- verbs

    def do_GET(self) -> None:
        route = self._checked_route()
        if route is None:
            return
        kind, token = route
        if kind == "approve":
            return self._get_approve(token)
        return self._get_secret(token)

    def do_POST(self) -> None:
        route = self._checked_route()
        if route is None:
            return
        if not self._same_origin():
            return self._refuse(HTTPStatus.FORBIDDEN, "Refused",
                                "This form can only be sent from its own page (cross-site request refused).")
        form = self._form()
        if form is None:
            return self._refuse(HTTPStatus.BAD_REQUEST, "Bad request", "The form could not be read.")
        kind, token = route
        if kind == "approve":
            return self._post_approve(token, form)
        return self._post_secret(token, form)

    # -- approval

    def _pending(self, token: str) -> ApprovalRequest | None:
        try:
            req = self.app.store.request_by_token(token)
        except UnleakError:
            req = None
        if req is None:
            self._refuse(HTTPStatus.NOT_FOUND, "Unknown link", "This approval link is not valid.")
            return None
        state = req.state()
        if state != "pending":
            self._refuse(HTTPStatus.GONE, "Link no longer valid",
                         f"This request was already {state}; each approval link works once and expires. "
                         "If the agent still needs this, it must ask again.")
            return None
        return req

    def _get_approve(self, token: str) -> None:
        req = self._pending(token)
        if req is None:
            return
        code = self.app.code_for(req.id)
        if code is None:  # a page this server did not issue (its code lives in another server)
            return self._refuse(HTTPStatus.GONE, "Link no longer valid",
                                "This request's page belongs to a server that has stopped; the agent must "
                                "ask again.")
        csrf = self.app.issue_csrf(token)

        self._send(HTTPStatus.OK, pages.approve_page(req, token, code, csrf))

    def _post_approve(self, token: str, form: dict[str, str]) -> None:
        req = self._pending(token)
        if req is None:
            return
        if not self._csrf_ok(token, form):
            return
        if form.get("decision") != "deny":
            # Approving is never a POST: any local process can send one.
            return self._refuse(HTTPStatus.FORBIDDEN, "Approve in your terminal",
                                f"Approving happens in your own terminal: unleak approve {req.id}")
        actor = human_actor() + " (approval page)"
        try:
            req, _ = self.app.store.decide(req.id, approve=False, by=actor)
        except UnleakError as exc:
            return self._refuse(HTTPStatus.CONFLICT, "Not done", str(exc))
        proc = process_info(req.argv, cwd=req.cwd, repo=req.repo, branch=req.branch)
        self.app.record("deny", actor=actor, secrets=req.secrets, process=proc, task=req.task, request=req.id,
                   detail={"via": "page"})
        return self._send(HTTPStatus.OK, pages.page("Denied", "<p id=result>Denied. The command will not run."
                                                          "</p>"))

    # -- secret entry

    def _live_secret(self, token: str) -> SecretRequest | None:
        sr = self.app.secret_request(token)
        if sr is None:
            self._refuse(HTTPStatus.NOT_FOUND, "Unknown link", "This link is not valid.")
            return None
        if sr.used or time.time() >= sr.expires:
            self._refuse(HTTPStatus.GONE, "Link no longer valid",
                         "This link was already used or has expired; each link works once.")
            return None
        return sr

    def _get_secret(self, token: str) -> None:
        sr = self._live_secret(token)
        if sr is None:
            return
        csrf = self.app.issue_csrf(token)

        self._send(HTTPStatus.OK, pages.secret_page(sr, token, csrf))

    def _post_secret(self, token: str, form: dict[str, str]) -> None:
        sr = self._live_secret(token)
        if sr is None:
            return
        if not self._csrf_ok(token, form):
            return
        actor = human_actor() + " (secret page)"
        if form.get("decision") != "store":
            sr.used = True
            sr.held = None
            self.app.record("secret.refused", actor=actor, secrets=[sr.name], task=sr.task,
                       detail={"reason": "cancelled on the page"})
            return self._send(HTTPStatus.OK, pages.page("Cancelled", "<p id=result>Nothing was stored.</p>"))
        value = form.get("value", "")
        # Browsers send textarea line breaks as CRLF; a pasted token must not keep them.
        value = value.replace("\r\n", "\n").strip("\n")
        if not value:
            return self._refuse(HTTPStatus.BAD_REQUEST, "Empty", "The value was empty; nothing was stored.")
        if self.app.store_secret is None:
            return self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, "Not available", "No vault is configured.")
        # Anything on this machine can post this form, the agent included: the value waits until the human
        # types this code in their own terminal.
        code = self.app.hold_secret(sr, value)
        del value
        return self._send(HTTPStatus.OK, pages.confirm_page(sr, code))


def store_in_local_vault(sr: SecretRequest, value: str) -> str:
    """Default ``store_secret``: the embedded vault of the request's namespace; refuses to replace a value."""
    from remediate.vault import open_vault

    # Registers the repository under the namespace the agent was told, unless it has another by now (then nothing
    # is stored); never takes over a moved repository's namespace: the agent chose where it asked from.
    vault = open_vault(namespace=sr.namespace, repo_path=Path(sr.repo), register=True, takeover=False)
    return vault.put(sr.name, value, overwrite=False)
