"""The local vault's master key: found in the OS keyring, the 0600 key file or a rotation's next key, and created
once (atomically, under a lock) when this machine has none."""

from __future__ import annotations

import binascii
import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from remediate.vault.envelope import b64d, b64e, key_id
from remediate.vault.privatefs import (
    check_private_dir,
    ensure_private_dir,
    flocked,
    fsync_dir,
    read_private,
    write_new_private,
)
from scanner.errors import VaultError

KEY_BYTES = 32
KEYRING_SERVICE = "unleak"
KEYRING_USERNAME = "vault-key"
KEY_FILE_PREFIX = "unleak-vault-key-v1:"


def usable_keyring() -> Any | None:
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
        return None if self.use_keyring is False else usable_keyring()

    def _read_key_file(self, path: Path | None = None) -> bytes | None:
        path = path or self.key_file
        check_private_dir(self.data_dir)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise VaultError(
                f"the vault key file {path} is accessible by other users "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        raw = read_private(path)
        if raw is None:
            return None
        return self._decode_key(raw.decode("ascii", errors="replace").strip(), str(path))

    def read_next(self) -> bytes | None:
        """The key of a rotation in progress (see :func:`rotate_key`), or None."""
        return self._read_key_file(self.next_file)

    @staticmethod
    def _decode_key(text: str, where: str) -> bytes:
        try:
            if not text.startswith(KEY_FILE_PREFIX):
                raise ValueError
            key = b64d(text[len(KEY_FILE_PREFIX):])
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

    def find(self, kid: str) -> bytes | None:
        """The key with id ``kid``. The key file and a rotation's next key are read first; the OS keyring (a slow
        import and a D-Bus call) only when neither is that key."""
        for key in (self._read_key_file(), self.read_next()):
            if key is not None and key_id(key) == kid:
                return key
        return self.available().get(kid)

    def forget(self) -> None:
        self._cache = None

    def _stale_temp_files(self) -> list[Path]:
        return [p for name in (self.key_file.name, self.next_file.name) for p in self.data_dir.glob(f".{name}.tmp.*")]

    def remove_stale_temp_files(self) -> None:
        """Under the key lock, a key temp file belongs to a creator that died before removing it: a second hard
        link to the master key (or a partial one) that would outlive a deleted or rotated key file."""
        if not self._stale_temp_files():
            return
        with flocked(self.lock_file):
            for tmp in self._stale_temp_files():
                with contextlib.suppress(OSError):
                    tmp.unlink()

    def primary(self) -> bytes:
        """The key new vault files are sealed with, created on first use."""
        file_key = self._read_key_file()
        if file_key is not None:  # it wins ties, so the keyring need not be asked
            return self.read_next() or file_key
        keys = self.available()
        rotating = self.read_next() if keys else None
        if rotating is not None:
            return rotating  # a namespace created during a rotation is sealed with the key that stays
        if keys:
            return next(iter(keys.values()))
        ensure_private_dir(self.data_dir)
        self.remove_stale_temp_files()
        with flocked(self.lock_file):
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
            text = KEY_FILE_PREFIX + b64e(key)
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
            write_new_private(tmp, (text + "\n").encode("ascii"))
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass  # someone else's complete key won; available() will pick it up
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                # file systems without hard links: exclusive create of the final name, content written in one go
                write_new_private(path, (text + "\n").encode("ascii"))
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        fsync_dir(self.data_dir)
