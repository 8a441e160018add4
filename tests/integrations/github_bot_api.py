"""A FAKE of the GitHub REST endpoints the remediation bot uses, on 127.0.0.1: Actions secrets (public key, put,
get, list — sealed values kept and opened only by the test with the private half), pull requests (list by head,
create) and pull-request reviews. Every request is recorded (method, path, headers, body) so tests can check that
no value travels anywhere but inside a sealed box. Two tokens: the workflow's GITHUB_TOKEN (pulls, reviews) and the
secrets token (Actions secrets only), as on GitHub, where GITHUB_TOKEN cannot write secrets."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GITHUB_TOKEN = "ghs_" + "w" * 36  # the workflow token: pulls and reviews
SECRETS_TOKEN = "github_pat_" + "s" * 82  # the secrets-token input: Actions secrets


@dataclass
class FakeBotAPI:
    repository: str
    key: Any = None
    key_id: str = "568250167242549743"
    stored: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (sealed value, updated_at)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    url: str = ""

    def opened(self, name: str) -> str:
        from nacl import public

        sealed = base64.b64decode(self.stored[name][0])
        return str(public.SealedBox(self.key).decrypt(sealed).decode())

    def unsealed_traffic(self) -> str:
        """Everything the bot sent except the sealed values: paths, headers, bodies."""
        out = []
        for r in self.requests:
            body = r["body"]
            if r["method"] == "PUT" and isinstance(r.get("json"), dict):
                body = json.dumps({k: v for k, v in r["json"].items() if k != "encrypted_value"})
            out.append(f"{r['method']} {r['path']} {json.dumps(r['headers'])} {body}")
        return "\n".join(out)

    def writes(self) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.requests if r["method"] in ("PUT", "POST", "DELETE")]


@contextmanager
def serve(state: FakeBotAPI) -> Iterator[FakeBotAPI]:
    from nacl import public

    state.key = state.key or public.PrivateKey.generate()
    secrets = f"/repos/{state.repository}/actions/secrets"
    pulls = f"/repos/{state.repository}/pulls"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, doc: Any = None) -> None:
            raw = json.dumps(doc).encode() if doc is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                doc = json.loads(raw) if raw else None
            except json.JSONDecodeError:
                doc = None
            state.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                   "body": raw.decode(errors="replace"), "json": doc})
            url = urlsplit(self.path)
            auth = self.headers.get("Authorization", "")
            if self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                state.errors.append(f"{self.command} {url.path}: no X-GitHub-Api-Version")
            if url.path.startswith(secrets):
                if auth != f"Bearer {SECRETS_TOKEN}":
                    # GITHUB_TOKEN has no Secrets permission: GitHub answers 403.
                    return self._send(403, {"message": "Resource not accessible by integration"})
                return self._secrets(url.path, doc)
            if auth not in (f"Bearer {GITHUB_TOKEN}", f"token {GITHUB_TOKEN}"):
                return self._send(401, {"message": "Bad credentials"})
            if url.path == pulls:
                return self._pulls(parse_qs(url.query), doc)
            if url.path.startswith(pulls + "/") and url.path.endswith("/reviews"):
                if self.command == "GET":
                    return self._send(200, state.reviews)
                review = {"id": len(state.reviews) + 1, "body": (doc or {}).get("body"),
                          "commit_id": (doc or {}).get("commit_id"), "state": "COMMENTED"}
                state.reviews.append(review)
                return self._send(200, review)
            return self._send(404, {"message": "Not Found"})

        def _secrets(self, path: str, doc: Any) -> None:
            if self.command == "GET" and path == f"{secrets}/public-key":
                return self._send(200, {"key_id": state.key_id,
                                        "key": base64.b64encode(bytes(state.key.public_key)).decode()})
            if self.command == "GET" and path == secrets:
                names = sorted(state.stored)
                return self._send(200, {"total_count": len(names), "secrets": [
                    {"name": n, "created_at": state.stored[n][1], "updated_at": state.stored[n][1]} for n in names]})
            name = path.removeprefix(secrets + "/")
            if self.command == "PUT":
                if not isinstance(doc, dict) or set(doc) != {"encrypted_value", "key_id"} or \
                        doc["key_id"] != state.key_id:
                    return self._send(422, {"message": "Validation Failed"})
                created = name not in state.stored
                state.stored[name] = (doc["encrypted_value"], datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
                return self._send(201 if created else 204)
            if self.command == "GET":
                if name not in state.stored:
                    return self._send(404, {"message": "Not Found"})
                return self._send(200, {"name": name, "created_at": state.stored[name][1],
                                        "updated_at": state.stored[name][1]})
            return self._send(405)

        def _pulls(self, query: dict[str, list[str]], doc: Any) -> None:
            if self.command == "GET":
                head = query.get("head", [""])[0]
                state_q = query.get("state", ["open"])[0]
                hits = [p for p in state.pulls if (not head or f"{p['owner']}:{p['head']}" == head)
                        and (state_q == "all" or p["state"] == state_q)]
                return self._send(200, hits)
            if not isinstance(doc, dict) or not {"title", "head", "base", "body"} <= set(doc):
                state.errors.append("create pull request: title, head, base and body are required")
                return self._send(422, {"message": "Validation Failed"})
            if any(p["head"] == doc["head"] and p["state"] == "open" for p in state.pulls):
                return self._send(422, {"message": "A pull request already exists"})
            number = 100 + len(state.pulls)
            pr = {"number": number, "state": "open", "head": doc["head"], "base": doc["base"], "title": doc["title"],
                  "body": doc["body"], "owner": state.repository.split("/")[0],
                  "html_url": f"https://github.com/{state.repository}/pull/{number}"}
            state.pulls.append(pr)
            return self._send(201, pr)

        do_GET = do_PUT = do_POST = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
