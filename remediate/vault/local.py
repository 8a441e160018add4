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

import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediate.vault.entry import SecretEntry, find_repo_root
from remediate.vault.refs import NAME_RE, NAMESPACE_RE, UNLEAK_SCHEME, format_reference, parse_reference
from scanner.errors import BadReferenceError, UsageError, VaultError
from scanner.fileio import atomic_write_bytes

FORMAT = "unleak-vault"
VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
MAX_VALUE_BYTES = 1 << 20
KEYRING_SERVICE = "unleak"
KEYRING_USERNAME = "vault-key"
_KEY_FILE_PREFIX = "unleak-vault-key-v1:"


def user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("unleak", appauthor=False))


# ------------------------------------------------------------------------------------------------ file helpers


def _ensure_private_dir(path: Path) -> None:
    """Create ``path`` and every missing parent 0700 (mkdir's ``parents=True`` would give the parents the umask's
    mode: 0777 under umask 000), then check it with :func:`_check_private_dir`."""
    missing: list[Path] = []
    p = path
    while not os.path.lexists(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue  # made by someone else meanwhile: the check below decides
        os.chmod(d, 0o700)  # the umask may have removed bits we need
    _check_private_dir(path)


def _check_private_dir(path: Path) -> None:
    """Refuse a directory that is not private to this user, as ssh's StrictModes does: checked with lstat (a
    symbolic link is refused, never followed), owned by the effective uid, no group or other permissions. Another
    user's directory in a shared location could hand us a vault, or delete the key."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        raise VaultError(f"refusing to use {path}: it is a symbolic link; the vault directory must be a real "
                         "directory owned by you (replace the link by the directory it points to)")
    if not stat.S_ISDIR(st.st_mode):
        raise VaultError(f"refusing to use {path}: it is not a directory")
    if st.st_uid != os.geteuid():
        raise VaultError(f"refusing to use {path}: it is owned by uid {st.st_uid}, not by you (uid {os.geteuid()}), "
                         "so that user could read or delete the vault key; point XDG_DATA_HOME at a directory of "
                         "your own")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise VaultError(f"refusing to use {path}: its mode {mode:04o} lets other users in; run: chmod 700 {path}")


def _open_nofollow(path: Path, flags: int, mode: int = 0o600) -> int:
    """os.open that never follows a symbolic link at ``path`` (a link is refused with a clear error)."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise VaultError(f"refusing to use {path}: it is a symbolic link (writing would replace the link and "
                             "leave the target a stale copy); put the file itself there") from None
        raise


def _read_private(path: Path) -> bytes | None:
    """The bytes of ``path`` (None if absent), refusing a symbolic link or a file of another user."""
    try:
        fd = _open_nofollow(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_uid != os.geteuid():
            raise VaultError(f"refusing to use {path}: it is owned by uid {st.st_uid}, not by you")
        return fh.read()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new_private(path: Path, data: bytes) -> None:
    """Create ``path`` (must not exist) with mode 0600 from the first byte, write and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may only have removed bits, but be explicit
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """scanner.fileio's atomic write (0600 temp file, fsync, rename), then the directory is fsync()ed so the
    rename itself survives a crash. A failure (disk full, quota, read-only file system) leaves the old file."""
    try:
        atomic_write_bytes(path, data, mode=0o600)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise VaultError(f"could not write the vault file {path} ({exc.strerror or type(exc).__name__}); "
                         "it was left as it was — free space or fix permissions, then try again") from None


@contextlib.contextmanager
def _flocked(lock_path: Path) -> Iterator[None]:
    fd = _open_nofollow(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _b64e(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _b64d(s: object) -> bytes:
    if not isinstance(s, str):
        raise ValueError("not a string")
    return base64.b64decode(s.encode("ascii"), validate=True)


# ------------------------------------------------------------------------------------------------ keys


def _derive(master: bytes, purpose: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=b"unleak-vault/v1/" + purpose).derive(
        master
    )


def key_id(master: bytes) -> str:
    return _derive(master, b"key-id", 8).hex()


def _usable_keyring() -> Any | None:
    """The active keyring backend, or None when there is no real one (the ``fail`` backend, a chainer with no
    backends, or any error importing or probing it). Imported lazily: keyring's entry-point scan is slow."""
    if os.environ.get("UNLEAK_VAULT_KEYRING", "").lower() in ("0", "no", "false", "off"):
        return None
    try:
        import keyring
        from keyring.backends import chainer, fail

        kr = keyring.get_keyring()
        if isinstance(kr, fail.Keyring):
            return None
        if isinstance(kr, chainer.ChainerBackend) and not kr.backends:
            return None
        return kr
    except Exception:  # any keyring failure means "no keyring", and we fall back to the key file
        return None


class KeyStore:
    """Finds the master key(s) this machine holds and creates one when none exists."""

    def __init__(self, data_dir: Path, use_keyring: bool | None = None) -> None:
        self.data_dir = data_dir
        self.key_file = data_dir / "vault.key"
        self.lock_file = data_dir / "vault.key.lock"
        # The key a rotation (``rotate_key``) re-seals the vault files with, until every one of them is re-written
        # and verified and it replaces the old key; readable like the others meanwhile, so a crash loses nothing.
        self.next_file = data_dir / "vault.key.next"
        self.use_keyring = use_keyring
        self._cache: dict[str, bytes] | None = None

    def _keyring(self) -> Any | None:
        return None if self.use_keyring is False else _usable_keyring()

    def _read_key_file(self, path: Path | None = None) -> bytes | None:
        path = path or self.key_file
        _check_private_dir(self.data_dir)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise VaultError(
                f"the vault key file {path} is accessible by other users "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        raw = _read_private(path)
        if raw is None:
            return None
        return self._decode_key(raw.decode("ascii", errors="replace").strip(), str(path))

    def read_next(self) -> bytes | None:
        """The key of a rotation in progress (see :func:`rotate_key`), or None."""
        return self._read_key_file(self.next_file)

    @staticmethod
    def _decode_key(text: str, where: str) -> bytes:
        try:
            if not text.startswith(_KEY_FILE_PREFIX):
                raise ValueError
            key = _b64d(text[len(_KEY_FILE_PREFIX):])
            if len(key) != KEY_BYTES:
                raise ValueError
        except (ValueError, binascii.Error):
            raise VaultError(f"the vault key in {where} is damaged; restore it from a backup") from None
        return key

    def _read_keyring(self) -> bytes | None:
        kr = self._keyring()
        if kr is None:
            return None
        try:
            text = kr.get_password(KEYRING_SERVICE, KEYRING_USERNAME)
        except Exception:  # a locked or broken keyring is an absent keyring
            return None
        if not text:
            return None
        return self._decode_key(str(text), f"the OS keyring entry {KEYRING_SERVICE}/{KEYRING_USERNAME}")

    def available(self) -> dict[str, bytes]:
        """Every key this machine holds, by key id. The key file wins ties: it was created deliberately."""
        if self._cache is None:
            found: dict[str, bytes] = {}
            for key in (self._read_key_file(), self._read_keyring(), self.read_next()):
                if key is not None:
                    found.setdefault(key_id(key), key)
            self._cache = found
        return self._cache

    def forget(self) -> None:
        self._cache = None

    def _stale_temp_files(self) -> list[Path]:
        return [p for name in (self.key_file.name, self.next_file.name) for p in self.data_dir.glob(f".{name}.tmp.*")]

    def remove_stale_temp_files(self) -> None:
        """Under the key lock, a key temp file belongs to a creator that died before removing it: a second hard
        link to the master key (or a partial one) that would outlive a deleted or rotated key file."""
        if not self._stale_temp_files():
            return
        with _flocked(self.lock_file):
            for tmp in self._stale_temp_files():
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def primary(self) -> bytes:
        """The key new vault files are sealed with, created on first use."""
        keys = self.available()
        rotating = self.read_next() if keys else None
        if rotating is not None:
            return rotating  # a namespace created during a rotation is sealed with the key that stays
        if keys:
            return next(iter(keys.values()))
        _ensure_private_dir(self.data_dir)
        self.remove_stale_temp_files()
        with _flocked(self.lock_file):
            self._cache = None  # another process may have created one while we waited
            keys = self.available()
            if keys:
                return next(iter(keys.values()))
            sealed = sorted((self.data_dir / "vaults").glob("*.vault"))
            if sealed:
                # A lost key file or a locked keyring must not silently start a second key: the vault would split
                # in two, the old namespaces readable only with the old key.
                raise VaultError(
                    f"the vault key is missing (looked in {self.key_file} and the OS keyring entry "
                    f"{KEYRING_SERVICE}/{KEYRING_USERNAME}), and {len(sealed)} vault file(s) in {sealed[0].parent} "
                    "were sealed with it; restore the key (the key file from a backup, or unlock the OS keyring), "
                    "or move that directory aside to start an empty vault with a new key")
            key = secrets.token_bytes(KEY_BYTES)
            text = _KEY_FILE_PREFIX + _b64e(key)
            if not self._store_in_keyring(text):
                self._store_in_key_file(text)
            self._cache = None
            keys = self.available()
            if key_id(key) not in keys:
                raise VaultError("the new vault key could not be read back from where it was stored")
            return keys[key_id(key)]

    def _store_in_keyring(self, text: str) -> bool:
        kr = self._keyring()
        if kr is None:
            return False
        try:
            kr.set_password(KEYRING_SERVICE, KEYRING_USERNAME, text)
            # Some backends accept a write and keep nothing (null keyrings); only trust a read-back.
            return bool(kr.get_password(KEYRING_SERVICE, KEYRING_USERNAME) == text)
        except Exception:
            return False

    def _store_in_key_file(self, text: str, path: Path | None = None) -> None:
        # Write the whole key to a private temp file, then link() it into place: link fails if the name exists,
        # so the key file appears atomically, complete, and is never overwritten (O_EXCL semantics).
        path = path or self.key_file
        tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            _write_new_private(tmp, (text + "\n").encode("ascii"))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # someone else's complete key won; available() will pick it up
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # file systems without hard links: exclusive create of the final name, content written in one go
                _write_new_private(path, (text + "\n").encode("ascii"))
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        _fsync_dir(self.data_dir)


# ------------------------------------------------------------------------------------------------ vault file


@dataclass
class _VaultFile:
    namespace: str
    key_id: str
    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    # Counts the writes, inside the authenticated body: an older copy put back has a smaller one than this machine
    # last saw. None: a file written before generations existed (its body, and so its MAC, has none).
    generation: int | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "namespace": self.namespace,
            "key_id": self.key_id,
            "entries": {k: self.entries[k] for k in sorted(self.entries)},
        }
        if self.generation is not None:
            body["generation"] = self.generation
        return body


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


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
        _ensure_private_dir(self.data_dir)
        _ensure_private_dir(self.vault_dir)
        self.keys.remove_stale_temp_files()
        with _flocked(self.lock_path):
            self._remove_stale_temp_files()
            loaded = self._load()
            if loaded is None:
                master = self.keys.primary()
                vf = _VaultFile(self.namespace, key_id(master))
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
        with _flocked(self.lock_path):
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
        ct = AESGCM(_derive(master, b"entry")).encrypt(nonce, plaintext, reference.encode("utf-8"))
        return {"nonce": _b64e(nonce), "ciphertext": _b64e(ct)}

    def _open_entry(self, vf: _VaultFile, master: bytes, name: str) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        reference = format_reference(UNLEAK_SCHEME, self.namespace, name)
        entry = vf.entries[name]
        try:
            nonce = _b64d(entry.get("nonce"))
            ct = _b64d(entry.get("ciphertext"))
            if len(nonce) != NONCE_BYTES:
                raise ValueError
            return AESGCM(_derive(master, b"entry")).decrypt(nonce, ct, reference.encode("utf-8"))
        except (InvalidTag, ValueError, binascii.Error):
            raise VaultError(f"{reference} failed authentication: the vault file {self.path} was modified "
                             "outside unleak or is damaged") from None

    def _mac(self, master: bytes, vf: _VaultFile) -> str:
        return hmac.new(_derive(master, b"index"), _canonical(vf.body()), hashlib.sha256).hexdigest()

    def _store(self, vf: _VaultFile, master: bytes) -> None:
        vf.generation = max(vf.generation or 0, self._seen_generation()) + 1
        doc = vf.body()
        doc["mac"] = self._mac(master, vf)
        _atomic_write(self.path, (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode("ascii"))
        self._record_generation(vf.generation)

    @property
    def _generation_file(self) -> Path:
        # Next to the key, outside vaults/: a vault directory restored from a backup does not bring it back.
        return self.data_dir / "generations" / self.namespace

    def _seen_generation(self) -> int:
        raw = _read_private(self._generation_file)
        text = raw.decode("ascii", "replace").strip() if raw is not None else ""
        return int(text) if text.isdigit() else 0

    def _record_generation(self, generation: int) -> None:
        if generation > self._seen_generation():
            _ensure_private_dir(self._generation_file.parent)
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

    def _load(self) -> tuple[_VaultFile, bytes] | None:
        _check_private_dir(self.data_dir)
        _check_private_dir(self.vault_dir)
        try:
            raw = _read_private(self.path)
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
                or not isinstance(ns, str) or (gen is not None and (type(gen) is not int or gen < 1))
                or not all(isinstance(k, str) and isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
                           for k, v in entries.items())):
            raise self._damaged("unexpected structure")
        master = self.keys.available().get(kid)
        if master is None:
            self.keys.forget()  # another process may have created the key after we last looked
            master = self.keys.available().get(kid)
        if master is None:
            raise VaultError(
                f"the vault file {self.path} was sealed with a key this machine does not have (looked in "
                f"{self.keys.key_file} and the OS keyring entry {KEYRING_SERVICE}/{KEYRING_USERNAME}); restore "
                "that key, or move the vault file aside to start an empty vault"
            )
        vf = _VaultFile(ns, kid, entries, gen)
        if not hmac.compare_digest(self._mac(master, vf), mac):
            raise VaultError(f"the vault file {self.path} failed its integrity check: it was modified outside "
                             "unleak or is damaged; no entry was read")
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


# ------------------------------------------------------------------------------------------------ key rotation


@dataclass
class Rotation:
    """What :func:`rotate_key` did (key ids only, derived from the keys and revealing nothing about them)."""

    namespaces: list[str]
    entries: int
    old_key_ids: list[str]
    new_key_id: str
    resumed: bool  # an interrupted rotation was finished with the key it had started

    def to_dict(self) -> dict[str, Any]:
        return {"namespaces": self.namespaces, "entries": self.entries, "old_key_ids": self.old_key_ids,
                "new_key_id": self.new_key_id, "resumed": self.resumed}


def rotate_key(data_dir: str | os.PathLike[str] | None = None, *, use_keyring: bool | None = None) -> Rotation:
    """Re-encrypt every namespace under a new master key, then make it the only key.

    ``secrets rm`` removes an entry from the vault file, but a copy of that file made before (a backup, a sync, a
    snapshot) still opens with the key; after a rotation no such copy opens on this machine.

    Crash-safe at every step: the new key is stored first as ``vault.key.next`` (read like the others); each
    namespace is re-sealed under the namespace's lock with an atomic write and read back under the new key, value
    by value; only when every file is re-written and verified does the new key replace the old one (an atomic
    rename of the key file; the keyring entry is set and read back first). A run killed anywhere leaves every value
    readable, and the next run finishes with the same new key."""
    base = Path(data_dir) if data_dir is not None else user_data_dir()
    try:
        return _rotate(base, use_keyring)
    except OSError as exc:
        raise VaultError(f"the key rotation stopped: {exc.strerror or type(exc).__name__}"
                         f"{f' ({exc.filename})' if exc.filename else ''}; every value is still readable (the old "
                         "key is kept until the rotation completes) — fix that and run `unleak secrets rotate-key` "
                         "again") from None


def _rotate(base: Path, use_keyring: bool | None) -> Rotation:
    keys = KeyStore(base, use_keyring)
    _check_private_dir(base)
    if not keys.available():
        raise VaultError(f"there is no vault key yet (looked in {keys.key_file} and the OS keyring): nothing to "
                         "rotate")
    _ensure_private_dir(base)
    keys.remove_stale_temp_files()
    with _flocked(base / "vault.key.rotate.lock"):  # one rotation at a time
        keys.forget()
        new = keys.read_next()
        resumed = new is not None
        old_ids = sorted(k for k in keys.available() if new is None or k != key_id(new))
        if new is None:
            with _flocked(keys.lock_file):
                keys._store_in_key_file(_KEY_FILE_PREFIX + _b64e(secrets.token_bytes(KEY_BYTES)), keys.next_file)
            keys.forget()
            new = keys.read_next()
            if new is None:
                raise VaultError(f"the new vault key could not be read back from {keys.next_file}")
        new_id = key_id(new)
        done: dict[str, int] = {}
        while True:  # again until no file is left: a namespace may be created meanwhile
            pending = [p.stem for p in sorted((base / "vaults").glob("*.vault"))
                       if p.stem not in done and NAMESPACE_RE.fullmatch(p.stem)]
            if not pending:
                break
            for ns in pending:
                done[ns] = _reseal(LocalVault(ns, data_dir=base, repo_path=base, use_keyring=use_keyring), new)
        _promote(keys, new)
    return Rotation(sorted(done), sum(done.values()), old_ids, new_id, resumed)


def _reseal(vault: LocalVault, new: bytes) -> int:
    """Re-seal one namespace under ``new`` (under its lock) and verify every value reads back equal under it."""
    new_id = key_id(new)
    with _flocked(vault.lock_path):
        vault._remove_stale_temp_files()
        loaded = vault._load()
        if loaded is None:
            return 0
        vf, master = loaded
        plain = {n: vault._open_entry(vf, master, n) for n in vf.entries}
        if vf.key_id != new_id:
            fresh = _VaultFile(vault.namespace, new_id, {}, vf.generation)
            for n, value in plain.items():
                fresh.entries[n] = vault._seal(new, format_reference(UNLEAK_SCHEME, vault.namespace, n), value)
            vault._store(fresh, new)
        vault.keys.forget()
        back = vault._load()
        if back is None or back[0].key_id != new_id or set(back[0].entries) != set(plain) or not all(
                hmac.compare_digest(vault._open_entry(back[0], back[1], n), v) for n, v in plain.items()):
            raise VaultError(f"the vault file {vault.path} did not read back equal under the new key; the old key "
                             "was kept, every value is still readable — run `unleak secrets rotate-key` again")
    return len(plain)


def _promote(keys: KeyStore, new: bytes) -> None:
    """Make ``new`` the only key: the keyring entry (when it holds one) is set and read back, then the key file is
    replaced by ``vault.key.next`` in one rename (or ``vault.key.next`` removed when there is no key file)."""
    text = _KEY_FILE_PREFIX + _b64e(new)
    with _flocked(keys.lock_file):
        in_keyring = keys._read_keyring() is not None
        if in_keyring and not keys._store_in_keyring(text):
            raise VaultError(f"the OS keyring entry {KEYRING_SERVICE}/{KEYRING_USERNAME} could not be set to the new "
                             f"key; every vault file is sealed with it and it is kept in {keys.next_file} — unlock "
                             "the keyring and run `unleak secrets rotate-key` again")
        if os.path.lexists(keys.key_file) or not in_keyring:
            os.replace(keys.next_file, keys.key_file)  # the one step that retires the old key file
        else:
            os.unlink(keys.next_file)  # the keyring holds the new key now
        _fsync_dir(keys.data_dir)
        keys.forget()
