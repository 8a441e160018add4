"""Master key rotation: every namespace re-sealed under a new key and verified, then the new key made the only one."""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediate.vault.envelope import VaultFile, b64e, key_id
from remediate.vault.keystore import KEY_BYTES, KEY_FILE_PREFIX, KEYRING_SERVICE, KEYRING_USERNAME, KeyStore
from remediate.vault.local import LocalVault, user_data_dir
from remediate.vault.privatefs import check_private_dir, ensure_private_dir, flocked, fsync_dir
from remediate.vault.refs import NAMESPACE_RE, UNLEAK_SCHEME, format_reference
from scanner.errors import VaultError


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
    check_private_dir(base)
    if not keys.available():
        raise VaultError(f"there is no vault key yet (looked in {keys.key_file} and the OS keyring): nothing to "
                         "rotate")
    ensure_private_dir(base)
    keys.remove_stale_temp_files()
    with flocked(base / "vault.key.rotate.lock"):  # one rotation at a time
        keys.forget()
        new = keys.read_next()
        resumed = new is not None
        old_ids = sorted(k for k in keys.available() if new is None or k != key_id(new))
        if new is None:
            with flocked(keys.lock_file):
                keys._store_in_key_file(KEY_FILE_PREFIX + b64e(secrets.token_bytes(KEY_BYTES)), keys.next_file)
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
    with flocked(vault.lock_path):
        vault._remove_stale_temp_files()
        loaded = vault._load()
        if loaded is None:
            return 0
        vf, master = loaded
        plain = {n: vault._open_entry(vf, master, n) for n in vf.entries}
        if vf.key_id != new_id:
            fresh = VaultFile(vault.namespace, new_id, {}, vf.generation)
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
    text = KEY_FILE_PREFIX + b64e(new)
    with flocked(keys.lock_file):
        in_keyring = keys._read_keyring() is not None
        if in_keyring and not keys._store_in_keyring(text):
            raise VaultError(f"the OS keyring entry {KEYRING_SERVICE}/{KEYRING_USERNAME} could not be set to the new "
                             f"key; every vault file is sealed with it and it is kept in {keys.next_file} — unlock "
                             "the keyring and run `unleak secrets rotate-key` again")
        if os.path.lexists(keys.key_file) or not in_keyring:
            os.replace(keys.next_file, keys.key_file)  # the one step that retires the old key file
        else:
            os.unlink(keys.next_file)  # the keyring holds the new key now
        fsync_dir(keys.data_dir)
        keys.forget()
