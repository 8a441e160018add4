"""One keyed MAC for everything unleak must be able to trust after an agent had write access to the user's files:
grants and approval requests, the policy, the tier labels of vault entries and the audit log.

The key is 32 random bytes in ``<user data dir>/integrity/key`` (mode 0600, directory 0700), created on first use
and never inside a repository. Beside it live the *heads*: the MAC of the last state unleak itself wrote for each
protected file. A record that does not carry a valid MAC was not written by unleak; a file whose MAC does not match
its head was rolled back, cut short or deleted. Both are detected without trusting anything the agent can write.

What this does not stop: a process running as the same OS user that reads the key. Part 2 of the agent boundary
(OS confinement of granted runs) takes the user data dir out of a child's reach; until then the key raises the bar
from "edit a JSON file" to "find and use unleak's key", and the audit head can also go to syslog (see
:mod:`unleak.audit`), which a user process cannot rewrite.

Only the standard library: the audit log is written on every ``unleak scan --staged`` (the pre-commit path).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scanner.errors import ConfigError

KEY_BYTES = 32


def integrity_dir() -> Path:
    from unleak.userenv import data_dir

    return data_dir() / "integrity"


def _key_path() -> Path:
    return integrity_dir() / "key"


def _ensure_dir() -> Path:
    from unleak.userenv import ensure_private_dir

    return ensure_private_dir(integrity_dir())


_cache: dict[tuple[str, int, int], bytes] = {}


def _read_key(path: Path) -> bytes | None:
    # Verifying a long audit log MACs every record: read the file once per (path, inode, mtime), not per record.
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError:
        st = None
    ident = (str(path), st.st_ino, st.st_mtime_ns) if st is not None else None
    if ident is not None and ident in _cache:
        return _cache[ident]
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read unleak's integrity key ({type(exc).__name__})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{path}: unleak's integrity key is damaged; restore it from a backup (removing it "
                          "ends every grant and makes the audit log fail verification)")
    if ident is not None:
        _cache.clear()
        _cache[ident] = key
    return key


def key() -> bytes:
    """The integrity key, created (0600) on first use. Two processes racing to create it agree on one: the
    second ``link`` fails and reads the first one's key."""
    path = _key_path()
    found = _read_key(path)
    if found is not None:
        return found
    d = _ensure_dir()
    tmp = d / f".key.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(KEY_BYTES).hex().encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    created = False
    try:
        os.link(tmp, path)
        created = True
    except FileExistsError:
        pass
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    found = _read_key(path)
    if found is None:  # pragma: no cover - removed between link and read
        raise ConfigError(f"{path}: unleak's integrity key vanished while it was being created")
    if created:
        # The audit log's head exists from the key's first moment, so a key without a head always means the head
        # (and with it the log's length) was removed.
        write_head("audit", {"seq": -1, "hash": "0" * 64})
    return found


def _subkey(purpose: str) -> bytes:
    # One derived key per purpose, so a MAC made for one file can never be replayed as another's.
    return hmac.new(key(), b"unleak-integrity:" + purpose.encode("utf-8"), hashlib.sha256).digest()


def macs(purpose: str) -> Callable[[bytes], str]:
    """``mac(purpose, ·)`` with the key read and derived once, for checking many records in a row."""
    sub = _subkey(purpose)
    return lambda data: hmac.new(sub, data, hashlib.sha256).hexdigest()


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def mac(purpose: str, data: bytes) -> str:
    """Hex HMAC-SHA256 of ``data`` under the key derived for ``purpose``."""
    return hmac.new(_subkey(purpose), data, hashlib.sha256).hexdigest()


def valid(purpose: str, data: bytes, tag: object) -> bool:
    return isinstance(tag, str) and hmac.compare_digest(mac(purpose, data), tag)


def sign_record(purpose: str, record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with a ``mac`` field over every other field."""
    body = {k: v for k, v in record.items() if k != "mac"}
    return {**body, "mac": mac(purpose, canonical(body))}


def record_valid(purpose: str, record: object) -> bool:
    if not isinstance(record, dict):
        return False
    body = {k: v for k, v in record.items() if k != "mac"}
    return valid(purpose, canonical(body), record.get("mac"))


# ------------------------------------------------------------------------------------------------------ heads


def _head_path(name: str) -> Path:
    return integrity_dir() / f"{name}.head"


def read_head(name: str) -> dict[str, Any] | None:
    """The last state unleak recorded for ``name`` (None when it never recorded one). A head whose own MAC is
    wrong counts as damaged: ConfigError."""
    path = _head_path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise ConfigError(f"{path} is damaged") from None
    if not record_valid("head:" + name, data):
        raise ConfigError(f"{path} does not carry a valid MAC: it was not written by unleak")
    return {k: v for k, v in data.items() if k != "mac"}


def write_head(name: str, head: dict[str, Any]) -> None:
    from scanner.fileio import atomic_write_text

    _ensure_dir()
    atomic_write_text(_head_path(name), json.dumps(sign_record("head:" + name, head), sort_keys=True) + "\n",
                      mode=0o600)
