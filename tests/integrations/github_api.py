"""A local stand-in for api.github.com's pull-request review endpoints on 127.0.0.1, checking every request
against the documented REST API (GET and POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews: headers,
pagination parameters, the review body's fields), and a closed port for the unreachable-API case."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.unleak.test_action import _check_review

TOKEN = "test-token-not-a-secret"


@dataclass
class FakeGitHub:
    repository: str
    pr_number: int
    head: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    url: str = ""

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]


def closed_port_url() -> str:
    """A URL nothing listens on: connections are refused at once (no network, no timeout)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@contextmanager
def serve(state: FakeGitHub) -> Iterator[FakeGitHub]:
    path = f"/repos/{state.repository}/pulls/{state.pr_number}/reviews"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, doc: Any) -> None:
            raw = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _common(self) -> bool:
            if self.headers.get("Authorization") not in (f"Bearer {TOKEN}", f"token {TOKEN}"):
                state.errors.append("missing or wrong Authorization header")
                self._send(401, {"message": "Bad credentials"})
                return False
            if self.headers.get("Accept") != "application/vnd.github+json":
                state.errors.append("Accept must be application/vnd.github+json")
            if self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                state.errors.append("X-GitHub-Api-Version should name the REST API version")
            if not self.headers.get("User-Agent"):
                state.errors.append("User-Agent is required by the GitHub API")
            return True

        def do_GET(self) -> None:
            state.requests.append({"method": "GET", "path": self.path})
            if not self._common():
                return
            url = urlsplit(self.path)
            if url.path != path:
                self._send(404, {"message": "Not Found"})
                return
            q = parse_qs(url.query)
            per_page = int(q.get("per_page", ["30"])[0])
            page = int(q.get("page", ["1"])[0])
            if not 1 <= per_page <= 100 or page < 1:
                state.errors.append("per_page must be 1..100 and page >= 1")
            self._send(200, state.reviews[(page - 1) * per_page:page * per_page])

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                body = None
            state.requests.append({"method": "POST", "path": self.path, "body": body, "raw": raw.decode()})
            if not self._common():
                return
            if self.path != path:
                self._send(404, {"message": "Not Found"})
                return
            if self.headers.get("Content-Type") != "application/json":
                state.errors.append("POST without Content-Type: application/json")
            errs = _check_review(body, state.head)
            if errs:
                state.errors.extend(errs)
                self._send(422, {"message": "Validation Failed", "errors": errs})
                return
            review = {"id": len(state.reviews) + 1, "body": body.get("body"), "commit_id": body["commit_id"],
                      "state": "COMMENTED"}
            state.reviews.append(review)
            self._send(200, review)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
