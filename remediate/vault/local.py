"""The embedded default vault: ``unleak://<namespace>/<NAME>``.

Layout, under the user data directory (``$XDG_DATA_HOME/unleak`` on Linux; never inside a repository)::

    unleak/               0700
      vault.key           0600  the master key, only when no OS keyring is usable
      vault.key.lock            serialises key creation between processes
      vaults/             0700
        <namespace>.vault 0600  one JSON file per namespace
        <namespace>.lock        flock()ed around every read-modify-write

Encryption: a 256-bit master key (in the OS keyring via ``keyring`` when a real backend is available, otherwise
in the 0600 key file) is expanded with HKDF into an entry key and an index key. Each value is sealed with
AES-256-GCM under a fresh 96-bit nonce, with its own reference as associated data, so a ciphertext moved to
another name fails to open. The whole file carries an HMAC-SHA256 under the index key, so added, removed or
swapped entries are detected too. The file records a key id (derived from the key, revealing nothing about it),
which tells "this machine has a different key" apart from "the file was modified".

Durability: a write goes to a temporary file in the same directory, is fsync()ed, renamed over the vault with
os.replace() (atomic on POSIX) and the directory is fsync()ed; a crash at any point leaves either the old or the
new file, never a torn one. Two writers are serialised by flock() on the lock file, so neither loses the other's
entries. Readers need no lock: they always see a complete file.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from remediate.vault.entry import SecretEntry, find_repo_root
from remediate.vault.envelope import FORMAT, NONCE_BYTES, VERSION, VaultFile, b64d, b64e, canonical, derive, key_id
from remediate.vault.keystore import KEYRING_SERVICE, KEYRING_USERNAME, KeyStore
from remediate.vault.privatefs import (
    atomic_write,
    check_private_dir,
    ensure_private_dir,
    flocked,
    read_private,
)
from remediate.vault.privatefs import user_data_dir as user_data_dir  # where callers have always found it
from remediate.vault.refs import NAME_RE, NAMESPACE_RE, UNLEAK_SCHEME, format_reference, parse_reference
from scanner.errors import BadReferenceError, UsageError, VaultError
from scanner.fileio import atomic_write_bytes

MAX_VALUE_BYTES = 1 << 20




class LocalVault:
    """The embedded vault for one namespace. See the module docstring for the storage design."""

    scheme = UNLEAK_SCHEME

    def __init__(
        self,
        namespace: str,
        *,
        repo_path: str | os.PathLike[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        use_keyring: bool | None = None,
        claim: Path | None = None,
        takeover: bool = True,
    ) -> None:
        if not NAMESPACE_RE.fullmatch(namespace):
            raise UsageError(
                f"invalid namespace {namespace!r}: use 1-64 characters of a-z, 0-9, '.', '_', '-' starting with "
                "a letter or digit"
            )
        self.namespace = namespace
        self.data_dir = Path(data_dir) if data_dir is not None else user_data_dir()
        self._refuse_inside_repository(Path(repo_path) if repo_path is not None else Path.cwd())
        self.vault_dir = self.data_dir / "vaults"
        self.path = self.vault_dir / f"{namespace}.vault"
        self.lock_path = self.vault_dir / f"{namespace}.lock"
        self.keys = KeyStore(self.data_dir, use_keyring)
        # The repository this vault is "this repository's" for: its first write registers it (identity.py).
        self._claim, self._takeover = claim, takeover

    def __repr__(self) -> str:
        return f"LocalVault(namespace={self.namespace!r}, path={str(self.path)!r})"

    def _refuse_inside_repository(self, start: Path) -> None:
        with contextlib.suppress(OSError):
            root = find_repo_root(start)
            data = self.data_dir.resolve()
            home = Path.home().resolve()
            # A home directory kept under git (dotfiles) contains every user data dir; that is not a project.
            if root is None or root == home or root in home.parents:
                return
            if data == root or root in data.parents:
                raise VaultError(
                    f"the vault directory {data} is inside the repository {root}; a vault must live outside "
                    "any repository — point XDG_DATA_HOME somewhere else"
                )

    # -------------------------------------------------------------------------------------------- protocol

    def reference_for(self, name: str) -> str:
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            raise UsageError(
                f"invalid secret name {name!r}: use 1-128 characters of A-Z, a-z, 0-9, '_', '.', '-' starting "
                "with a letter or '_' (for example STRIPE_API_KEY)"
            )
        return format_reference(UNLEAK_SCHEME, self.namespace, name)

    def put(self, name: str, value: str, *, overwrite: bool = True) -> str:
        reference = self.reference_for(name)
        plaintext = self._encode_value(value, name)
        ensure_private_dir(self.data_dir)
        ensure_private_dir(self.vault_dir)
        self._register()
        self.keys.remove_stale_temp_files()
        with flocked(self.lock_path):
            self._remove_stale_temp_files()
            loaded = self._load()
            if loaded is None:
                master = self.keys.primary()
                vf = VaultFile(self.namespace, key_id(master))
            else:
                vf, master = loaded
                if name in vf.entries:
                    current = self._open_entry(vf, master, name)
                    if hmac.compare_digest(current, plaintext):
                        return reference  # idempotent: same name, same value, nothing to write
                    if not overwrite:
                        raise VaultError(
                            f"{reference} already holds a different value; choose another name or remove it "
                            f"first with: unleak secrets rm {name} --namespace {self.namespace}"
                        )
            vf.entries[name] = self._seal(master, reference, plaintext)
            self._store(vf, master)
            # Invariant 2: nothing is rewritten on the strength of a write we have not read back.
            reread = self._load()
            if reread is None or name not in reread[0].entries or not hmac.compare_digest(
                self._open_entry(reread[0], reread[1], name), plaintext
            ):
                raise VaultError(f"{reference} was written but did not read back equal; the vault at {self.path} "
                                 "may be on a failing disk")
        return reference

    def get(self, reference: str) -> str:
        ref = parse_reference(reference)
        if ref.scheme != UNLEAK_SCHEME or ref.namespace != self.namespace:
            raise BadReferenceError(f"{reference!r} does not belong to the unleak vault namespace {self.namespace!r}")
        loaded = self._load()
        if loaded is None or ref.name not in loaded[0].entries:
            raise VaultError(self._missing(ref.name))
        vf, master = loaded
        return self._open_entry(vf, master, ref.name).decode("utf-8")

    def names(self) -> list[SecretEntry]:
        loaded = self._load()
        if loaded is None:
            return []
        return [SecretEntry(n, format_reference(UNLEAK_SCHEME, self.namespace, n)) for n in sorted(loaded[0].entries)]

    def delete(self, name: str) -> None:
        self.reference_for(name)
        if not self.path.exists():
            raise VaultError(self._missing(name))
        with flocked(self.lock_path):
            self._remove_stale_temp_files()
            loaded = self._load()
            if loaded is None or name not in loaded[0].entries:
                raise VaultError(self._missing(name))
            vf, master = loaded
            del vf.entries[name]
            self._store(vf, master)

    def verify(self) -> int:
        """Open every entry (integrity check of the whole vault); returns how many there are."""
        loaded = self._load()
        if loaded is None:
            return 0
        vf, master = loaded
        for n in vf.entries:
            self._open_entry(vf, master, n)
        return len(vf.entries)

    # -------------------------------------------------------------------------------------------- internals

    def _register(self) -> None:
        """Record the claimed repository under this namespace before anything is stored for it; refuse when the
        registry gives the repository another namespace (chosen meanwhile by another process)."""
        if self._claim is None:
            return
        from remediate.vault.identity import repository_namespace

        choice = repository_namespace(self._claim, register=True, takeover=self._takeover, data_dir=self.data_dir)
        if choice.namespace != self.namespace:
            raise VaultError(f"the repository {choice.path} has the vault namespace {choice.namespace!r} "
                             f"({choice.describe()}), not {self.namespace!r}; nothing was stored — run the "
                             "command again")
        self._claim = None

    def _missing(self, name: str) -> str:
        return (f"no secret named {name!r} in the unleak vault namespace {self.namespace!r}; "
                f"list what is stored with: unleak secrets list --namespace {self.namespace}")

    @staticmethod
    def _encode_value(value: str, name: str) -> bytes:
        if not isinstance(value, str):
            raise UsageError(f"the value for {name} must be text")
        if not value:
            raise UsageError(f"refusing to store an empty value for {name}")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"the value for {name} is not valid Unicode text") from None
        if len(data) > MAX_VALUE_BYTES:
            raise UsageError(f"the value for {name} is larger than {MAX_VALUE_BYTES} bytes")
        return data

    def _seal(self, master: bytes, reference: str, plaintext: bytes) -> dict[str, str]:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = secrets.token_bytes(NONCE_BYTES)
        ct = AESGCM(derive(master, b"entry")).encrypt(nonce, plaintext, reference.encode("utf-8"))
        return {"nonce": b64e(nonce), "ciphertext": b64e(ct)}

    def _open_entry(self, vf: VaultFile, master: bytes, name: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        reference = format_reference(UNLEAK_SCHEME, self.namespace, name)
        entry = vf.entries[name]
        try:
            nonce = b64d(entry.get("nonce"))
            ct = b64d(entry.get("ciphertext"))
            if len(nonce) != NONCE_BYTES:
                raise ValueError
            return AESGCM(derive(master, b"entry")).decrypt(nonce, ct, reference.encode("utf-8"))
        except (InvalidTag, ValueError, binascii.Error):
            raise VaultError(f"{reference} failed authentication: the vault file {self.path} was modified "
                             f"outside unleak or is damaged; {self._repair_hint}") from None

    def _mac(self, master: bytes, vf: VaultFile) -> str:
        return hmac.new(derive(master, b"index"), canonical(vf.body()), hashlib.sha256).hexdigest()

    def _store(self, vf: VaultFile, master: bytes) -> None:
        vf.generation = max(vf.generation or 0, self._seen_generation()) + 1
        doc = vf.body()
        doc["mac"] = self._mac(master, vf)
        atomic_write(self.path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("ascii"))
        self._record_generation(vf.generation)

    @property
    def _generation_file(self) -> Path:
        # Next to the key, outside vaults/: a vault directory restored from a backup does not bring it back.
        return self.data_dir / "generations" / self.namespace

    def _seen_generation(self) -> int:
        raw = read_private(self._generation_file)
        text = raw.decode("ascii", "replace").strip() if raw is not None else ""
        return int(text) if text.isdigit() else 0

    def _record_generation(self, generation: int) -> None:
        if generation > self._seen_generation():
            ensure_private_dir(self._generation_file.parent)
            atomic_write_bytes(self._generation_file, f"{generation}\n".encode("ascii"), mode=0o600)

    def _remove_stale_temp_files(self) -> None:
        # Called under the lock: any temp file left now belongs to a writer that died mid-write.
        prefix = f".{self.path.name}."
        for tmp in self.vault_dir.glob(f"{prefix}*.tmp"):  # scanner.fileio's temp names: .<file>.<random>.tmp
            if "." in tmp.name[len(prefix):-len(".tmp")]:
                continue  # another namespace's (``<ns>.vault.x``): not ours to remove
            with contextlib.suppress(OSError):
                tmp.unlink()
        # The generation record's temp files too (a reader that records a generation without the lock only loses
        # that record, which it does not need).
        for tmp in self._generation_file.parent.glob(f".{self.namespace}.*.tmp"):
            if "." not in tmp.name[len(self.namespace) + 2:-len(".tmp")]:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def _damaged(self, why: str) -> VaultError:
        return VaultError(f"the vault file {self.path} is damaged ({why}); restore it from a backup or move it "
                          "aside to start an empty vault")

    @property
    def _repair_hint(self) -> str:
        return ("recover every entry that still authenticates with: unleak secrets doctor --namespace "
                f"{self.namespace} --repair")

    def _load(self) -> tuple[VaultFile, bytes] | None:
        check_private_dir(self.data_dir)
        check_private_dir(self.vault_dir)
        try:
            raw = read_private(self.path)
        except OSError as exc:
            raise VaultError(f"cannot read the vault file {self.path}: {exc.strerror}") from None
        if raw is None:
            return None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._damaged("not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise self._damaged("not an unleak vault")
        if doc.get("version") != VERSION:
            raise VaultError(f"the vault file {self.path} has format version {doc.get('version')!r}; this unleak "
                             f"reads version {VERSION} — upgrade unleak")
        entries = doc.get("entries")
        kid, mac, ns, gen = doc.get("key_id"), doc.get("mac"), doc.get("namespace"), doc.get("generation")
        if (not isinstance(entries, dict) or not isinstance(kid, str) or not isinstance(mac, str)
                or not isinstance(ns, str) or (gen is not None and (type(gen) is not int or gen < 1))):
            raise self._damaged("unexpected structure")
        if not all(isinstance(v, dict) and all(isinstance(x, str) for x in v.values()) for v in entries.values()):
            # The file is whole; an entry is not, and the others may still open on their own.
            raise VaultError(f"the vault file {self.path} has a damaged entry; no entry was read — "
                             f"{self._repair_hint}")
        master = self.keys.find(kid)
        if master is None:
            self.keys.forget()  # another process may have created the key after we last looked
            master = self.keys.find(kid)
        if master is None:
            raise VaultError(
                f"the vault file {self.path} was sealed with a key this machine does not have (looked in "
                f"{self.keys.key_file} and the OS keyring entry {KEYRING_SERVICE}/{KEYRING_USERNAME}); restore "
                "that key, or move the vault file aside to start an empty vault"
            )
        vf = VaultFile(ns, kid, entries, gen)
        if not hmac.compare_digest(self._mac(master, vf), mac):
            raise VaultError(f"the vault file {self.path} failed its integrity check: it was modified outside "
                             f"unleak or is damaged; no entry was read — {self._repair_hint}")
        if ns != self.namespace:
            raise self._damaged(f"it belongs to namespace {ns!r}")
        seen = self._seen_generation()
        if (gen or 0) < seen:
            raise VaultError(
                f"the vault file {self.path} is an older copy (write {gen or 0}) than the one this machine last saw "
                f"(write {seen}): it was put back from a backup or a sync, which brings back removed secrets and "
                f"replaced values. Put the newest copy back; to accept this one anyway, delete "
                f"{self._generation_file}")
        if gen is not None and gen > seen:
            with contextlib.suppress(OSError, VaultError):  # a read-only data dir still reads
                self._record_generation(gen)
        return vf, master
