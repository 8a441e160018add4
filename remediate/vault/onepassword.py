"""1Password through its ``op`` CLI: ``op://<vault>/<NAME>/credential``.

Each secret is its own item: an *API Credential* titled with the secret's name, its value in the built-in
concealed ``credential`` field, tagged ``unleak`` and ``unleak/<namespace>`` so that ``names()`` lists only this
project's items and ``put`` never overwrites an item some person made by hand. The 1Password vault defaults to the
namespace (one vault per project); pass ``op_vault`` to use another.

Values never travel on ``op``'s command line (argv is visible to every user in ``ps``): ``op item create`` reads
the item's JSON template from stdin (``-``), and ``op item edit`` — which cannot take a template on stdin — reads it
from a 0600 file in a private 0700 directory (in ``/dev/shm`` when available) that is removed right after. This
is what 1Password's own documentation recommends for sensitive values instead of assignment statements.

References are written in 1Password's secret reference syntax, so ``op run --env-file`` and ``op read`` resolve
the same reference file that ``unleak run`` does. Anything ``op`` prints on failure is scrubbed of the value
before it reaches an error message.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from remediate.vault.entry import SecretEntry
from remediate.vault.refs import NAME_RE, OP_SCHEME, format_reference, parse_reference
from scanner.errors import BadReferenceError, UsageError, VaultError
from scanner.fileio import atomic_write_bytes

CATEGORY = "API_CREDENTIAL"
FIELD = "credential"
TAG = "unleak"
DEFAULT_TIMEOUT = 60.0
_NOT_FOUND_RE = re.compile(r"isn.t an item", re.IGNORECASE)
_ERROR_PREFIX_RE = re.compile(r"^\[ERROR\]\s+\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\s+", re.MULTILINE)


class _OpFailed(VaultError):
    """``op`` exited non-zero; the message is already scrubbed."""


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret (and every line of a multi-line secret) replaced, trimmed for an error line."""
    for secret in secrets:
        pieces = {secret, *(line for line in secret.splitlines() if len(line.strip()) >= 4)}
        for piece in sorted((p for p in pieces if p), key=len, reverse=True):
            text = text.replace(piece, "[redacted]")
    text = _ERROR_PREFIX_RE.sub("", text).strip()
    return text[:500] + ("…" if len(text) > 500 else "")


_TEMPLATE_PREFIX = "unleak-op-"


def _template_base() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _remove_stale_templates(base: Path) -> None:
    """Template directories of processes that are gone (killed between writing and removing one): each still
    holds a value in plaintext. Only this user's, only those whose creating process no longer runs."""
    for d in base.glob(f"{_TEMPLATE_PREFIX}*"):
        pid = d.name[len(_TEMPLATE_PREFIX):].split("-", 1)[0]
        try:
            st = d.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or not pid.isdigit():
                continue
            os.kill(int(pid), 0)
            continue  # still running: its template is in use
        except ProcessLookupError:
            pass
        except OSError:
            continue
        for f in d.iterdir():
            with contextlib.suppress(OSError):
                f.unlink()
        with contextlib.suppress(OSError):
            d.rmdir()


@contextlib.contextmanager
def _private_template(document: dict[str, Any]) -> Iterator[Path]:
    """A 0600 file holding ``document`` inside a fresh 0700 directory, removed (overwritten first) on exit.

    Its directory is named after this process, so a later run can tell a leftover of a killed one and remove it."""
    base = _template_base()
    _remove_stale_templates(base)
    directory = Path(tempfile.mkdtemp(prefix=f"{_TEMPLATE_PREFIX}{os.getpid()}-", dir=base))  # 0700
    path = directory / "item.json"
    data = json.dumps(document).encode("utf-8")
    try:
        atomic_write_bytes(path, data, mode=0o600)  # a 0600 temp file from the first byte, renamed into place
        yield path
    finally:
        with contextlib.suppress(OSError), open(path, "r+b") as f:
            f.write(b"\0" * len(data))
        with contextlib.suppress(OSError):
            path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()


class OnePasswordVault:
    """A namespace of unleak-managed items in one 1Password vault, driven through the ``op`` CLI."""

    scheme = OP_SCHEME

    def __init__(
        self,
        namespace: str,
        *,
        op_vault: str | None = None,
        op_path: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.namespace = namespace
        self.op_vault = op_vault or namespace
        # Validate the vault name as a reference component up front: a vault we could never reference is useless.
        try:
            format_reference(OP_SCHEME, self.op_vault, "x", FIELD)
        except BadReferenceError:
            raise UsageError(
                f"the 1Password vault name {self.op_vault!r} cannot appear in a secret reference (allowed: A-Z a-z "
                "0-9 - _ . and inner spaces); pass the vault's ID instead"
            ) from None
        self._op_path = op_path
        self.timeout = timeout
        self.ns_tag = f"{TAG}/{namespace}"

    def __repr__(self) -> str:
        return f"OnePasswordVault(namespace={self.namespace!r}, op_vault={self.op_vault!r})"

    # -------------------------------------------------------------------------------------------- plumbing

    def _op(self) -> str:
        found = self._op_path or shutil.which("op")
        if not found:
            raise VaultError("the 1Password CLI `op` was not found on PATH; install it "
                             "(https://developer.1password.com/docs/cli/get-started/) and sign in with `op signin`")
        return found

    def _run(self, args: Sequence[str], *, stdin: str | None = None, secrets: Sequence[str] = ()) -> str:
        cmd = [self._op(), *args]
        try:
            proc = subprocess.run(
                cmd,
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise VaultError(f"cannot run the 1Password CLI at {cmd[0]}; is `op` installed?") from None
        except subprocess.TimeoutExpired:
            raise VaultError(f"`op {args[0]} {args[1] if len(args) > 1 else ''}` did not finish within "
                             f"{self.timeout:g}s; is 1Password waiting for you to unlock or sign in?") from None
        if proc.returncode != 0:
            detail = scrub(proc.stderr or proc.stdout or "", secrets) or f"exit code {proc.returncode}"
            if "isn't a vault" in detail:
                detail += (f" (unleak uses the 1Password vault {self.op_vault!r} for this project: create it with "
                           f"`op vault create {self.op_vault}` or choose one with --op-vault)")
            raise _OpFailed(f"1Password CLI: {detail}")
        return proc.stdout

    def _template(self, name: str, value: str) -> dict[str, Any]:
        return {
            "title": name,
            "category": CATEGORY,
            "tags": [TAG, self.ns_tag],
            "fields": [
                {"id": FIELD, "type": "CONCEALED", "label": FIELD, "value": value},
                {"id": "notesPlain", "type": "STRING", "purpose": "NOTES", "label": "notesPlain",
                 "value": f"Managed by unleak for the project {self.namespace!r}; referenced as "
                          f"{self.reference_for(name)}"},
            ],
        }

    def _find_item(self, name: str) -> dict[str, Any] | None:
        try:
            out = self._run(["item", "get", name, "--vault", self.op_vault, "--format", "json"])
        except _OpFailed as exc:
            if _NOT_FOUND_RE.search(str(exc)):
                return None
            raise
        try:
            item = json.loads(out)
        except json.JSONDecodeError:
            raise VaultError("the 1Password CLI returned output unleak could not parse for `op item get`") from None
        if not isinstance(item, dict):
            raise VaultError("the 1Password CLI returned an unexpected answer for `op item get`")
        return item

    def _owned(self, item: dict[str, Any], name: str) -> None:
        tags = item.get("tags") or []
        if self.ns_tag not in tags:
            raise VaultError(
                f"1Password vault {self.op_vault!r} already has an item titled {name!r} that unleak did not create "
                f"for the project {self.namespace!r}; choose another name, or another vault with --op-vault"
            )

    def _read(self, reference: str, secrets: Sequence[str] = ()) -> str:
        return self._run(["read", "--no-newline", reference], secrets=secrets)

    # -------------------------------------------------------------------------------------------- protocol

    def reference_for(self, name: str) -> str:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise UsageError(
                f"invalid secret name {name!r}: use 1-128 characters of A-Z, a-z, 0-9, '_', '.', '-' starting "
                "with a letter or '_' (for example STRIPE_API_KEY)"
            )
        return format_reference(OP_SCHEME, self.op_vault, name, FIELD)

    def put(self, name: str, value: str, *, overwrite: bool = True) -> str:
        reference = self.reference_for(name)
        if not isinstance(value, str) or not value:
            raise UsageError(f"refusing to store an empty value for {name}")
        secrets = (value,)
        item = self._find_item(name)
        if item is None:
            # `-` makes op read the item template from stdin: the value never touches argv or disk.
            self._run(["item", "create", "--vault", self.op_vault, "--format", "json", "-"],
                      stdin=json.dumps(self._template(name, value)), secrets=secrets)
        else:
            self._owned(item, name)
            if self._read(reference, secrets) == value:
                return reference  # idempotent: nothing to change
            if not overwrite:
                raise VaultError(f"{reference} already holds a different value; choose another name or remove it "
                                 f"first with: unleak secrets rm {name} --backend op")
            item_id = str(item.get("id") or name)
            # op item edit takes a template only from a file, and not together with stdin.
            with _private_template(self._template(name, value)) as path:
                self._run(["item", "edit", item_id, "--vault", self.op_vault, "--template", str(path),
                           "--format", "json"], secrets=secrets)
        # Invariant 2: read back through the same path `op run` will use before anyone rewrites a file.
        if self._read(reference, secrets) != value:
            raise VaultError(f"{reference} was written to 1Password but did not read back equal")
        return reference

    def get(self, reference: str) -> str:
        ref = parse_reference(reference)
        if ref.scheme != OP_SCHEME:
            raise BadReferenceError(f"{reference!r} is not a 1Password (op://) reference")
        return self._read(reference)

    def names(self) -> list[SecretEntry]:
        out = self._run(["item", "list", "--vault", self.op_vault, "--tags", self.ns_tag, "--format", "json"])
        try:
            items = json.loads(out or "[]")
        except json.JSONDecodeError:
            raise VaultError("the 1Password CLI returned output unleak could not parse for `op item list`") from None
        entries = []
        for item in items if isinstance(items, list) else []:
            title = item.get("title") if isinstance(item, dict) else None
            if isinstance(title, str) and NAME_RE.fullmatch(title):
                entries.append(SecretEntry(title, self.reference_for(title)))
        return sorted(set(entries), key=lambda e: e.name)

    def foreign_names(self) -> set[str]:
        """Item titles in the vault that unleak did not create for this project: ``put`` refuses them, so ``fix``
        plans around them instead of failing at apply."""
        out = self._run(["item", "list", "--vault", self.op_vault, "--format", "json"])
        try:
            items = json.loads(out or "[]")
        except json.JSONDecodeError:
            raise VaultError("the 1Password CLI returned output unleak could not parse for `op item list`") from None
        titles = {item.get("title") for item in items if isinstance(item, dict)} if isinstance(items, list) else set()
        return {t for t in titles if isinstance(t, str)} - {e.name for e in self.names()}

    def delete(self, name: str) -> None:
        self.reference_for(name)
        item = self._find_item(name)
        if item is None:
            raise VaultError(f"no secret named {name!r} in 1Password vault {self.op_vault!r}; list what is stored "
                             "with: unleak secrets list --backend op")
        self._owned(item, name)
        self._run(["item", "delete", str(item.get("id") or name), "--vault", self.op_vault])
