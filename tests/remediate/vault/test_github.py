"""The GitHub Actions secrets backend against a FAKE of GitHub's REST API (a local server that checks the documented
request shapes and keeps the sealed values): the value arrives sealed to the repository's key, the test opens it
with the private half, and the plain value is in no request, URL, header, output or error."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests import fakes
from tests.conftest import run_cli

nacl_public = pytest.importorskip("nacl.public")

TOKEN = "ghs_" + "t" * 36  # the fake accepts this bearer token only


@dataclass
class FakeSecretsAPI:
    key: Any = field(default_factory=lambda: nacl_public.PrivateKey.generate())
    key_id: str = "568250167242549743"
    stored: dict[str, tuple[str, str]] = field(default_factory=dict)  # name → (sealed value, updated_at)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    deny_put: int = 0  # answer PUTs with this status instead
    url: str = ""

    def opened(self, name: str) -> str:
        sealed = base64.b64decode(self.stored[name][0])
        return str(nacl_public.SealedBox(self.key).decrypt(sealed).decode())


@pytest.fixture
def api() -> Iterator[FakeSecretsAPI]:
    state = FakeSecretsAPI()
    prefix = "/repos/acme/shop/actions/secrets"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, doc: Any = None) -> None:
            body = json.dumps(doc).encode() if doc is not None else b""
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append((self.command, self.path, dict(self.headers), body))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"message": "Bad credentials"})
            if self.headers.get("X-GitHub-Api-Version") != "2022-11-28":
                return self._send(400, {"message": "missing API version"})
            path, _, _query = self.path.partition("?")
            if self.command == "GET" and path == f"{prefix}/public-key":
                return self._send(200, {"key_id": state.key_id,
                                        "key": base64.b64encode(bytes(state.key.public_key)).decode()})
            if self.command == "GET" and path == prefix:
                names = sorted(state.stored)
                return self._send(200, {"total_count": len(names), "secrets": [
                    {"name": n, "created_at": state.stored[n][1], "updated_at": state.stored[n][1]} for n in names]})
            name = path.removeprefix(prefix + "/")
            if not path.startswith(prefix + "/") or "/" in name:
                return self._send(404, {"message": "Not Found"})
            if self.command == "PUT":
                if state.deny_put:
                    return self._send(state.deny_put, {"message": "Resource not accessible by integration"})
                doc = json.loads(body)
                if set(doc) != {"encrypted_value", "key_id"} or doc["key_id"] != state.key_id:
                    return self._send(422, {"message": "Validation Failed"})
                created = name not in state.stored
                state.stored[name] = (doc["encrypted_value"], datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
                return self._send(201 if created else 204)
            if self.command == "GET":
                if name not in state.stored:
                    return self._send(404, {"message": "Not Found"})
                return self._send(200, {"name": name, "created_at": state.stored[name][1],
                                        "updated_at": state.stored[name][1]})
            if self.command == "DELETE":
                return self._send(204) if state.stored.pop(name, None) else self._send(404, {"message": "Not Found"})
            return self._send(405)

        do_GET = do_PUT = do_DELETE = _handle

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{srv.server_address[1]}"
    yield state
    srv.shutdown()


def _vault(api: FakeSecretsAPI, token: str = TOKEN) -> Any:
    from remediate.vault import open_vault

    return open_vault("github", namespace="acme/shop", token=token, api_url=api.url)


def test_put_seals_the_value_to_the_repository_key(api: FakeSecretsAPI) -> None:
    value = fakes.stripe_live_key()
    ref = _vault(api).put("stripe_secret_key", value)
    assert ref == "${{ secrets.STRIPE_SECRET_KEY }}"
    assert api.opened("STRIPE_SECRET_KEY") == value
    for method, path, headers, body in api.requests:
        assert value not in path + json.dumps(headers) + body.decode(), method  # only ever sealed
    assert [(m, p.split("/")[-1]) for m, p, _h, _b in api.requests] == [
        ("GET", "public-key"), ("PUT", "STRIPE_SECRET_KEY"), ("GET", "STRIPE_SECRET_KEY")]


def test_names_get_and_delete(api: FakeSecretsAPI) -> None:
    v = _vault(api)
    v.put("B_TOKEN", fakes.github_pat())
    v.put("A_KEY", fakes.openai_key())
    assert [(e.name, e.reference) for e in v.names()] == [("A_KEY", "${{ secrets.A_KEY }}"),
                                                          ("B_TOKEN", "${{ secrets.B_TOKEN }}")]
    from scanner.errors import UsageError, VaultError

    with pytest.raises(VaultError, match="write-only"):
        v.get("${{ secrets.A_KEY }}")
    v.delete("a_key")
    assert [e.name for e in v.names()] == ["B_TOKEN"]
    with pytest.raises(VaultError, match="no GitHub secret"):
        v.delete("A_KEY")
    with pytest.raises(VaultError, match="already exists"):
        v.put("B_TOKEN", "x", overwrite=False)
    for bad in ("GITHUB_TOKEN", "1ABC", "a-b"):
        with pytest.raises(UsageError):
            v.reference_for(bad)


@pytest.mark.parametrize(("status", "hint"), [(403, "Secrets: write"), (404, "cannot see it")])
def test_a_refused_write_says_why_and_shows_nothing(api: FakeSecretsAPI, status: int, hint: str) -> None:
    from scanner.errors import VaultError

    api.deny_put = status
    value = fakes.github_pat()
    with pytest.raises(VaultError) as exc:
        _vault(api).put("DEPLOY_TOKEN", value)
    assert hint in str(exc.value) and value not in str(exc.value) and TOKEN not in str(exc.value)


def test_bad_token_and_unreachable_api(api: FakeSecretsAPI) -> None:
    from remediate.vault import open_vault
    from scanner.errors import VaultError

    with pytest.raises(VaultError, match="not valid"):
        _vault(api, token="ghs_" + "x" * 36).put("K", "v")
    with pytest.raises(VaultError, match="unreachable"):
        open_vault("github", namespace="acme/shop", token=TOKEN, api_url="http://127.0.0.1:9").put("K", "v")


def test_cli_secrets_set_with_the_github_backend(api: FakeSecretsAPI, tmp_path: Path) -> None:
    value = fakes.slack_bot_token()
    env = {"UNLEAK_GITHUB_SECRETS_TOKEN": TOKEN, "GITHUB_API_URL": api.url}
    r = run_cli("secrets", "set", "SLACK_BOT_TOKEN", "--backend", "github", "--namespace", "acme/shop",
                input=value + "\n", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "${{ secrets.SLACK_BOT_TOKEN }}"
    assert api.opened("SLACK_BOT_TOKEN") == value and value not in r.stdout + r.stderr
    r = run_cli("secrets", "list", "--backend", "github", "--namespace", "acme/shop", cwd=tmp_path, env=env)
    assert "SLACK_BOT_TOKEN  ${{ secrets.SLACK_BOT_TOKEN }}" in r.stdout
    r = run_cli("secrets", "set", "X", "--backend", "github", "--namespace", "acme/shop", input="v\n", cwd=tmp_path,
                env={**env, "UNLEAK_GITHUB_SECRETS_TOKEN": ""})
    assert r.returncode == 2 and "GITHUB_TOKEN cannot" in r.stderr
