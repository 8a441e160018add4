"""A FAKE of the providers' identity endpoints, for verification tests: one local HTTPS server (a test CA made by
trustme) that answers as each provider documents, dispatching on the Host header unleak sends.

It never stands in for unleak's own code: the requests it receives are the real ones, and it checks their shape
(method, path, how the credential is presented; for AWS the full SigV4 signature) before it answers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class FakeProviders:
    valid: set[str] = field(default_factory=set)  # credentials the "provider" accepts
    aws: dict[str, str] = field(default_factory=dict)  # key id → secret key
    twilio: dict[str, str] = field(default_factory=dict)  # API key SID → secret
    mode: dict[str, str] = field(default_factory=dict)  # credential → "ratelimit" | "malformed" | "redirect"
    delay: float = 0.0
    redirect_to: str = ""
    hits: list[tuple[str, str, str]] = field(default_factory=list)  # (host, method, path)
    stamps: list[tuple[str, float]] = field(default_factory=list)  # (host, arrival time)
    bodies: list[bytes] = field(default_factory=list)
    max_inflight: dict[str, int] = field(default_factory=dict)
    _inflight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, host: str) -> None:
        with self._lock:
            self._inflight[host] = self._inflight.get(host, 0) + 1
            self.max_inflight[host] = max(self.max_inflight.get(host, 0), self._inflight[host])

    def leave(self, host: str) -> None:
        with self._lock:
            self._inflight[host] -= 1


def _bearer(h: Any) -> str:
    auth = h.get("Authorization", "")
    return auth[7:] if auth.startswith("Bearer ") else ""


def _basic(h: Any) -> tuple[str, str]:
    auth = h.get("Authorization", "")
    if not auth.startswith("Basic "):
        return "", ""
    user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
    return user, pw


def _sigv4_ok(headers: Any, body: bytes, secrets: dict[str, str]) -> str:
    """'' when the request is signed by a known key pair; else the STS error code."""
    auth = headers.get("Authorization", "")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/(\d{8})/([a-z0-9-]+)/sts/aws4_request, "
                     r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})", auth)
    if m is None or m.group(1) not in secrets:
        return "InvalidClientTokenId"
    key_id, day, region, signed, sig = m.groups()
    canonical_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed.split(";"))
    canonical = "\n".join(["POST", "/", "", canonical_headers, signed, hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers.get("X-Amz-Date", ""), f"{day}/{region}/sts/aws4_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secrets[key_id]}".encode()
    for part in (day, region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    ok = hmac.compare_digest(hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), sig)
    return "" if ok else "SignatureDoesNotMatch"


def _answer(state: FakeProviders, host: str, method: str, path: str, h: Any, body: bytes
            ) -> tuple[int, dict[str, str], bytes]:
    js = {"Content-Type": "application/json"}

    def ok(doc: Any, extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return 200, {**js, **(extra or {})}, json.dumps(doc).encode()

    deny = (401, js, b'{"message": "Bad credentials"}')
    if host == "api.github.com" and method == "GET" and path in ("/user", "/installation/repositories?per_page=1"):
        tok = _bearer(h)
        if state.mode.get(tok) == "ratelimit":
            return 403, {**js, "x-ratelimit-remaining": "0"}, b'{"message": "API rate limit exceeded"}'
        if state.mode.get(tok) == "malformed":
            return 500, js, b"<html>oops"
        if state.mode.get(tok) == "redirect":
            return 302, {"Location": state.redirect_to}, b""
        if state.mode.get(tok) == "huge":
            return 200, js, b'{"login": "' + b"x" * 2_000_000 + b'"}'
        if tok in state.valid:
            # Only classic tokens carry OAuth scopes; fine-grained and app tokens answer without the header.
            scopes = {} if tok.startswith(("github_pat_", "ghs_")) else {"X-OAuth-Scopes": "repo, gist"}
            return ok({"login": "octo-user"} if path == "/user" else {"total_count": 1},
                      {**scopes, "GitHub-Authentication-Token-Expiration": "2027-01-01 UTC"})
        return deny
    if host == "gitlab.com" and path == "/api/v4/personal_access_tokens/self":
        if h.get("PRIVATE-TOKEN") in state.valid:
            return ok({"user_id": 42, "scopes": ["api", "read_user"], "expires_at": "2027-02-01"})
        return deny
    if host == "slack.com" and method == "POST" and path == "/api/auth.test":
        tok = _bearer(h)
        if state.mode.get(tok) == "malformed":
            return 200, js, b"not json"
        if tok in state.valid:
            return ok({"ok": True, "user": "deploybot", "team": "Acme"}, {"x-oauth-scopes": "chat:write"})
        return ok({"ok": False, "error": "invalid_auth"})
    if host == "hooks.slack.com" and method == "POST":
        if body != b"{}":
            return 500, {}, b"the verifier must never post a message"
        if "https://hooks.slack.com" + path in state.valid:
            return 400, {}, b"no_text"
        return 404, {}, b"no_service"
    if host == "api.stripe.com" and path == "/v1/account":
        return ok({"id": "acct_1Fake"}) if _bearer(h) in state.valid else deny
    if host == "api.openai.com" and path == "/v1/models":
        return ok({"data": []}) if _bearer(h) in state.valid else deny
    if host == "api.anthropic.com" and path == "/v1/models":
        if h.get("anthropic-version") != "2023-06-01":
            return 400, js, b"{}"
        return ok({"data": []}) if h.get("x-api-key") in state.valid else deny
    if host == "huggingface.co" and path == "/api/whoami-v2":
        return ok({"name": "hf-user", "auth": {"accessToken": {"role": "read"}}}) if _bearer(h) in state.valid else deny
    if host == "generativelanguage.googleapis.com" and path.startswith("/v1beta/models"):
        if h.get("x-goog-api-key") in state.valid:
            return ok({"models": []})
        return 400, js, json.dumps({"error": {"code": 400, "details": [{"reason": "API_KEY_INVALID"}]}}).encode()
    if host == "api.sendgrid.com" and path == "/v3/scopes":
        return ok({"scopes": ["mail.send", "templates.read"]}) if _bearer(h) in state.valid else deny
    if re.fullmatch(r"us[0-9]{1,2}\.api\.mailchimp\.com", host) and path == "/3.0/":
        return ok({"account_name": "Acme Mail"}) if _basic(h)[1] in state.valid else deny
    if host == "registry.npmjs.org" and path == "/-/whoami":
        return ok({"username": "npm-user"}) if _bearer(h) in state.valid else deny
    if host == "api.twilio.com" and path.startswith("/2010-04-01/Accounts.json"):
        user, pw = _basic(h)
        return ok({"accounts": [{"sid": "AC" + "0" * 32}]}) if state.twilio.get(user) == pw else deny
    if host == "sts.amazonaws.com" and method == "POST" and path == "/":
        if body != b"Action=GetCallerIdentity&Version=2011-06-15":
            return 400, {}, b"<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>"
        err = _sigv4_ok(h, body, state.aws)
        if err:
            return 403, {}, f"<ErrorResponse><Error><Code>{err}</Code></Error></ErrorResponse>".encode()
        return 200, {}, (b"<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::000000000000:user/"
                         b"ci</Arn><Account>000000000000</Account></GetCallerIdentityResult></GetCallerIdentityResponse>")
    return 404, {}, b"unknown endpoint"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        state = self.server.state
        host = self.headers.get("Host", "")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        state.hits.append((host, self.command, self.path))
        state.stamps.append((host, time.monotonic()))
        state.bodies.append(body)
        state.enter(host)
        try:
            if state.delay:
                time.sleep(state.delay)
            code, headers, out = _answer(state, host, self.command, self.path, self.headers, body)
        finally:
            state.leave(host)
        self.send_response(code)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many verifications connect at once; the default backlog of 5 drops them
    state: FakeProviders

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The TLS handshake runs in the request's own thread, not in the accept loop.
        request.do_handshake()
        super().finish_request(request, client_address)


def serve(tmp: Path, state: FakeProviders) -> tuple[_Server, str, Path]:
    """Start the fake on 127.0.0.1; returns (server, base URL, CA file to trust)."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.state = state
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ca_file = tmp / "fake-provider-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return srv, f"https://127.0.0.1:{srv.server_address[1]}", ca_file
