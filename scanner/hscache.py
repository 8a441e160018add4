"""Compiled hyperscan databases, kept between runs in ``$XDG_DATA_HOME/unleak/hyperscan/``.

Compiling the keyword prefilter and detect-secrets' anchors takes ~0.2 s, paid before any worker starts: a tenth
of a history scan of a small repository. A compiled database is a pure function of its patterns, flags, mode and
the hyperscan build, so it is stored under a hash of all four and loaded (~10 µs) next time. Anything wrong with a
stored file — missing, truncated, from another hyperscan or CPU (``loadb`` checks both), unreadable under a
sandbox — means compiling again, exactly as without the cache; a store that fails is skipped in silence.

The files hold compiled patterns only, never scanned text. They decide what a scan looks at, so a planted one
could blind it: they live in unleak's data directory (beside the vault), which the processes unleak confines for
a coding agent cannot read or write (``unleak.confine.unleak_dirs``), not under ``$XDG_CACHE_HOME``, where an
agent could write (and which confinement cannot close without stopping every tool's cache).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

KEEP = 8  # databases kept


def data_dir() -> Path:
    """unleak's data directory: on Linux ``$XDG_DATA_HOME/unleak``, as ``unleak.userenv.data_dir`` (a test holds
    them equal; the scanner does not import the CLI's modules)."""
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        return Path(base) / "unleak"
    import platformdirs

    return Path(platformdirs.user_data_dir("unleak", appauthor=False))


def cache_dir() -> Path:
    return data_dir() / "hyperscan"


def block_database(expressions: list[bytes], flags: list[int]) -> Any:
    """A block-mode hyperscan database of ``expressions`` (pattern ids = list positions), from the cache when an
    identical one was compiled before. Raises what ``hyperscan`` raises when it cannot compile them (callers fall
    back to their regex paths)."""
    import hyperscan

    key = hashlib.sha256(repr((getattr(hyperscan, "__version__", ""), hyperscan.HS_MODE_BLOCK, expressions, flags))
                         .encode()).hexdigest()[:40]
    path = cache_dir() / f"{key}.db"
    try:
        return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
    except Exception:  # absent, unreadable, damaged or built elsewhere: compile
        pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=flags)
    _store(path, hyperscan.dumpb(db))
    return db


MAC_KEY_FILE = "scan-cache.key"  # the caches' MAC key (scanner.cache.mac_key), beside these databases


def read_mac_key() -> bytes | None:
    """The caches' MAC key when it exists whole (32 bytes); None when it is missing, short or unreadable. Here, not
    in :mod:`scanner.cache`, so that a replayed rescan (:mod:`unleak.replay`) reads it without importing that."""
    try:
        raw = (data_dir() / MAC_KEY_FILE).read_bytes()
    except OSError:
        return None
    return raw if len(raw) == 32 else None


def private_dirs(path: Path) -> None:
    """``path`` and every missing directory above it, created 0700 (the vault refuses a data directory others can
    enter, and ``mkdir(parents=True)`` would give the parents the umask's mode)."""
    missing = []
    d = path
    while not d.exists():
        missing.append(d)
        d = d.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)


def _store(path: Path, data: bytes) -> None:
    try:
        private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
        # Each rule change makes a new database; keep the few most recent (a rule set, detect-secrets' anchors).
        stored = sorted(path.parent.glob("*.db"), key=lambda f: f.stat().st_mtime, reverse=True)
        for old in stored[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:  # read-only home, a sandbox, a full disk, a concurrent prune: next run compiles again
        pass
