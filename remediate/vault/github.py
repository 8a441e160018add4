"""GitHub Actions secrets as a vault: values go in sealed, and come out only inside a workflow run.

``put`` fetches the repository's (or an environment's) public key, encrypts the value with a libsodium sealed box
(PyNaCl) and ``PUT``s it, as GitHub's REST API documents. GitHub secrets are **write-only**: nobody — unleak, a
person, an agent — can read a value back. So the read-back that :class:`~remediate.vault.Vault` promises is replaced
by what can be checked: the API's answer (201 created / 204 updated), the secret then being listed with an
``updated_at`` no older than the write, and the workflow expression that will read it (``${{ secrets.NAME }}``)
being well-formed. ``get`` refuses: a value stored here reaches a job only through that expression.

The token needs the "Secrets" repository permission (read and write) — ``GITHUB_TOKEN`` cannot write Actions
secrets. It travels in the Authorization header only; no value or token is ever in a URL, an error or a log line.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import datetime
from typing import Any

from remediate.vault.entry import SecretEntry
from scanner.errors import UsageError, VaultError

SCHEME = "github"
# GitHub's rules: letters, digits and underscores; not starting with a digit or GITHUB_; case-insensitive (stored
# upper-case).
NAME_RE = re.compile(r"(?!GITHUB_)[A-Z_][A-Z0-9_]{0,254}")
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_ENV_RE = re.compile(r"[A-Za-z0-9_. -]{1,255}")
_SKEW = 300.0  # seconds of clock difference tolerated between this machine and GitHub


def secret_name(name: str) -> str:
    """``name`` as GitHub stores it, or :class:`UsageError` saying which rule it breaks."""
    up = name.upper()
    if up.startswith("GITHUB_"):
        raise UsageError(f"GitHub reserves secret names starting with GITHUB_; rename {name!r} (--name OLD=NEW)")
    if not NAME_RE.fullmatch(up):
        raise UsageError(f"{name!r} is not a valid GitHub secret name (letters, digits and _, not starting "
                         "with a digit)")
    return up


def expression(name: str) -> str:
    """How a workflow reads the secret."""
    return "${{ secrets." + secret_name(name) + " }}"


def seal(public_key_b64: str, value: str) -> str:
    """The value encrypted to the repository's public key (libsodium sealed box), base64: what the API takes."""
    from nacl import encoding, public

    box = public.SealedBox(public.PublicKey(public_key_b64.encode("ascii"), encoding.Base64Encoder))
    return base64.b64encode(box.encrypt(value.encode("utf-8"))).decode("ascii")


class GitHubSecretsVault:
    """A repository's (or one environment's) Actions secrets. ``namespace`` is ``owner/repo``."""

    scheme = SCHEME
    write_only = True  # `fix` skips its read-back: put() confirms the write from the API's answer and listing

    def __init__(self, namespace: str, *, token: str, api_url: str = "https://api.github.com",
                 environment: str | None = None, timeout: float = 30.0) -> None:
        if not _REPO_RE.fullmatch(namespace):
            raise UsageError(f"the GitHub backend needs OWNER/REPO, got {namespace!r}")
        if environment is not None and not _ENV_RE.fullmatch(environment):
            raise UsageError(f"{environment!r} is not a GitHub environment name")
        if not token:
            raise UsageError("the GitHub backend needs a token that can write Actions secrets "
                             "(GITHUB_TOKEN cannot); pass it as the Action's secrets-token input")
        self.namespace = namespace
        self.environment = environment
        self._token = token
        self._api = api_url.rstrip("/")
        self._timeout = timeout
        from urllib.parse import quote

        env = f"/environments/{quote(environment, safe='')}" if environment else ""
        self._base = f"{self._api}/repos/{namespace}{env}/secrets" if env else \
            f"{self._api}/repos/{namespace}/actions/secrets"

    def __repr__(self) -> str:
        return f"GitHubSecretsVault({self.namespace!r}, environment={self.environment!r})"

    # --- HTTP
    def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        import httpx

        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/vnd.github+json",
                   "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "unleak"}
        try:
            r = httpx.request(method, url, json=body, headers=headers, timeout=self._timeout,
                              follow_redirects=False)
        except httpx.HTTPError as exc:
            raise VaultError(f"GitHub API unreachable ({type(exc).__name__}) at {self._api}") from None
        try:
            data = r.json() if r.content else None
        except ValueError:
            data = None
        return r.status_code, data

    def _fail(self, what: str, status: int) -> VaultError:
        hint = {401: "the token is not valid", 403: "the token lacks the Secrets: write permission (GITHUB_TOKEN "
                "never has it)", 404: "no such repository or environment, or the token cannot see it"}.get(status, "")
        return VaultError(f"GitHub: {what} failed (HTTP {status})" + (f": {hint}" if hint else ""))

    # --- Vault protocol
    def reference_for(self, name: str) -> str:
        return expression(name)

    def put(self, name: str, value: str, *, overwrite: bool = True) -> str:
        gh_name = secret_name(name)
        if not overwrite and self._exists(gh_name):
            raise VaultError(f"GitHub secret {gh_name} already exists in {self.namespace}; GitHub cannot say whether "
                             "it holds the same value, so it is not replaced (choose another name)")
        status, key = self._call("GET", f"{self._base}/public-key")
        if status != 200 or not isinstance(key, dict) or not key.get("key") or not key.get("key_id"):
            raise self._fail("reading the repository's public key", status)
        started = time.time()
        status, _ = self._call("PUT", f"{self._base}/{gh_name}",
                               {"encrypted_value": seal(str(key["key"]), value), "key_id": str(key["key_id"])})
        if status not in (201, 204):
            raise self._fail(f"storing {gh_name}", status)
        # Write-only: instead of reading the value back, check that GitHub now lists the secret as just written.
        status, meta = self._call("GET", f"{self._base}/{gh_name}")
        if status != 200 or not isinstance(meta, dict) or meta.get("name", "").upper() != gh_name:
            raise self._fail(f"confirming {gh_name}", status)
        updated = _epoch(str(meta.get("updated_at", "")))
        if updated is None or updated < started - _SKEW:
            raise VaultError(f"GitHub lists {gh_name} but not as updated by this write (updated_at "
                             f"{meta.get('updated_at')!s}); check the repository's secrets")
        return expression(gh_name)

    def _exists(self, gh_name: str) -> bool:
        status, _ = self._call("GET", f"{self._base}/{gh_name}")
        if status not in (200, 404):
            raise self._fail(f"looking up {gh_name}", status)
        return status == 200

    def get(self, reference: str) -> str:
        raise VaultError("GitHub Actions secrets are write-only: a value stored there reaches a workflow job as "
                         f"{reference if reference.startswith('${{') else '${{ secrets.NAME }}'}, and nothing "
                         "(unleak included) can read it back")

    def names(self) -> list[SecretEntry]:
        out: list[SecretEntry] = []
        page = 1
        while True:
            status, data = self._call("GET", f"{self._base}?per_page=100&page={page}")
            if status != 200 or not isinstance(data, dict):
                raise self._fail("listing secrets", status)
            batch = [s for s in data.get("secrets", []) if isinstance(s, dict) and isinstance(s.get("name"), str)]
            out += [SecretEntry(s["name"], expression(s["name"])) for s in batch if NAME_RE.fullmatch(s["name"])]
            if len(batch) < 100:
                return sorted(out, key=lambda e: e.name)
            page += 1

    def delete(self, name: str) -> None:
        gh_name = secret_name(name)
        status, _ = self._call("DELETE", f"{self._base}/{gh_name}")
        if status == 404:
            raise VaultError(f"no GitHub secret {gh_name} in {self.namespace}")
        if status != 204:
            raise self._fail(f"deleting {gh_name}", status)


def _epoch(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
