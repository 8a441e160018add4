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
import html
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from scanner.errors import UnleakError
from unleak.agent.display import shown
from unleak.agent.policy import ApprovalRequest, GrantStore, format_duration
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


_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.4rem} dt{font-weight:600;margin-top:.6rem} dd{margin:0 0 0 1rem}
code{background:#f2f2f2;padding:.1rem .3rem;border-radius:3px;word-break:break-all}
.warn{background:#fff0f0;border:1px solid #d33;padding:.6rem;border-radius:4px}
button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.6rem} textarea{width:100%;font-family:monospace}
"""


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S")


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
        self._httpd: ThreadingHTTPServer | None = None
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
            handler = _make_handler(self)
            self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
            self._httpd.daemon_threads = True
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


def _make_handler(app: ApprovalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "unleak"
        sys_version = ""
        timeout = 15

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
            self._send(status, _page(title, f"<p>{html.escape(text)}</p>"))

        def _host_ok(self) -> bool:
            return self.headers.get("Host", "") == f"127.0.0.1:{app.port}"

        def _same_origin(self) -> bool:
            origin = self.headers.get("Origin")
            site = self.headers.get("Sec-Fetch-Site")
            if site is not None and site not in ("same-origin", "none"):
                return False
            if origin is not None:
                return origin == app.origin
            referer = self.headers.get("Referer")
            # A POST without Origin and without Referer is not what a browser sends from our own page.
            return referer is not None and referer.startswith(app.origin + "/")

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
            if app.consume_csrf(token, form.get("csrf", "")):
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
                req = app.store.request_by_token(token)
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
            code = app.code_for(req.id)
            if code is None:  # a page this server did not issue (its code lives in another server)
                return self._refuse(HTTPStatus.GONE, "Link no longer valid",
                                    "This request's page belongs to a server that has stopped; the agent must "
                                    "ask again.")
            csrf = app.issue_csrf(token)

            def esc(text: str | None) -> str:
                return html.escape(shown(text or ""))

            names = "".join(f"<li><code>{esc(n)}</code></li>" for n in req.secrets) or "<li>(none)</li>"
            danger = ""
            flag = ""
            if req.dangerous:
                danger = (f"<p class=warn id=danger><strong>Warning:</strong> {esc(req.dangerous)}. A command "
                          "like this can print or send away the secrets it receives. Approve only if you "
                          "wrote or checked it yourself.</p>")
                flag = " --allow-dangerous"
            who = esc(req.client or "an unknown program")
            body = (
                f"<p id=summary>{who} asks to run a command with {len(req.secrets)} secret(s) in its "
                f"environment. It will not see the values; the command will. Everything below was written by "
                f"the agent: read it as its claim, not as a fact.</p>{danger}"
                "<dl>"
                f"<dt>Command</dt><dd><code id=command>{esc(_shell_join(req.argv))}</code></dd>"
                f"<dt>Secrets</dt><dd><ul id=secrets>{names}</ul></dd>"
                f"<dt>Repository</dt><dd><code id=repo>{esc(req.repo)}</code></dd>"
                f"<dt>Branch</dt><dd><code id=branch>{esc(req.branch)}</code></dd>"
                f"<dt>Environment</dt><dd id=tier>{esc(req.tier)}"
                + (f", from <code id=env_file>{esc(req.env_file)}</code>" if req.env_file else "") + "</dd>"
                f"<dt>For how long</dt><dd id=duration>{esc(format_duration(req.ttl))} after you approve "
                "(this exact command only)</dd>"
                + (f"<dt>Task</dt><dd><code id=task>{esc(req.task)}</code></dd>" if req.task else "")
                + f"<dt>Request</dt><dd><code id=request>{esc(req.id)}</code>, asked at {_when(req.created)}, "
                f"this page expires at {_when(req.expires)}</dd></dl>"
                # Approving needs this code typed in the human's own terminal: a program that loads this page
                # (the agent included) can read the code, but it cannot type into that terminal.
                "<p class=warn id=howto>To approve, run this in <strong>your own terminal</strong> and type the "
                f"code when asked:<br><code id=approve_command>unleak approve {esc(req.id)}{flag}</code></p>"
                f"<p>Code: <code id=code>{esc(code)}</code></p>"
                "<p>Never type this code into anything the agent can see (its chat, a file it reads).</p>"
                f"<form method=post action='/approve/{esc(token)}' id=decide>"
                f"<input type=hidden name=csrf value='{esc(csrf)}'>"
                "<button type=submit name=decision value=deny id=deny>Deny</button></form>"
            )
            self._send(HTTPStatus.OK, _page("Approve a command for a coding agent?", body))

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
                req, _ = app.store.decide(req.id, approve=False, by=actor)
            except UnleakError as exc:
                return self._refuse(HTTPStatus.CONFLICT, "Not done", str(exc))
            proc = {"argv": list(req.argv), "pid": None, "cwd": req.cwd, "repo": req.repo, "branch": req.branch}
            app.record("deny", actor=actor, secrets=req.secrets, process=proc, task=req.task, request=req.id,
                       detail={"via": "page"})
            return self._send(HTTPStatus.OK, _page("Denied", "<p id=result>Denied. The command will not run."
                                                              "</p>"))

        # -- secret entry

        def _live_secret(self, token: str) -> SecretRequest | None:
            sr = app.secret_request(token)
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
            csrf = app.issue_csrf(token)

            def esc(text: str | None) -> str:
                return html.escape(shown(text or ""))

            body = (
                f"<p id=summary>{esc(sr.client or 'A coding agent')} asks for a secret named "
                f"<code id=name>{esc(sr.name)}</code> for the repository <code id=repo>{esc(sr.repo)}</code>. "
                "If you want to give it, type or paste the value here. After you send it, this page shows a "
                "code: type it into <code>unleak approve</code> in your own terminal, and only then does the "
                "value go into your local vault. The agent gets only the reference, never the value.</p>"
                + ("<p>Reason, as written by the agent (unverified, not from unleak):</p>"
                   f"<blockquote id=reason>{esc(sr.reason)}</blockquote>" if sr.reason else "")
                + ("<p class=warn id=held>A value was already entered on this page and waits for confirmation. "
                   "If you did not enter it, enter yours: it replaces that one and gets a new code.</p>"
                   if sr.held is not None else "")
                + f"<form method=post action='/secret/{esc(token)}' id=store autocomplete=off>"
                f"<input type=hidden name=csrf value='{esc(csrf)}'>"
                "<p><textarea name=value id=value rows=4 required spellcheck=false autocomplete=off></textarea></p>"
                "<button type=submit name=decision value=store id=save>Continue</button>"
                "<button type=submit name=decision value=cancel id=cancel formnovalidate>Cancel</button></form>"
                f"<p>This page expires at {_when(sr.expires)}.</p>"
            )
            self._send(HTTPStatus.OK, _page("Enter a secret", body))

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
                app.record("secret.refused", actor=actor, secrets=[sr.name], task=sr.task,
                           detail={"reason": "cancelled on the page"})
                return self._send(HTTPStatus.OK, _page("Cancelled", "<p id=result>Nothing was stored.</p>"))
            value = form.get("value", "")
            # Browsers send textarea line breaks as CRLF; a pasted token must not keep them.
            value = value.replace("\r\n", "\n").strip("\n")
            if not value:
                return self._refuse(HTTPStatus.BAD_REQUEST, "Empty", "The value was empty; nothing was stored.")
            if app.store_secret is None:
                return self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, "Not available", "No vault is configured.")
            # Anything on this machine can post this form, the agent included: the value waits until the human
            # types this code in their own terminal.
            code = app.hold_secret(sr, value)
            del value
            esc = html.escape
            body = (f"<p id=result>One more step. In <strong>your own terminal</strong>, run "
                    f"<code id=approve_command>unleak approve {esc(sr.id)}</code> and type this code:</p>"
                    f"<p>Code: <code id=code>{esc(code)}</code></p>"
                    f"<p>Then <code>{esc(shown(sr.name))}</code> goes into the vault. Never type this code into "
                    "anything the agent can see.</p>")
            return self._send(HTTPStatus.OK, _page("Confirm in your terminal", body))

    return Handler


def _shell_join(argv: tuple[str, ...] | list[str]) -> str:
    import shlex

    return shlex.join(list(argv))


def store_in_local_vault(sr: SecretRequest, value: str) -> str:
    """Default ``store_secret``: the embedded vault of the request's namespace; refuses to replace a value."""
    from remediate.vault import open_vault

    vault = open_vault(namespace=sr.namespace, repo_path=Path(sr.repo))
    return vault.put(sr.name, value, overwrite=False)
