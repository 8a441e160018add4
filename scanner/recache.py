"""Rule patterns compiled once and kept between runs in ``$XDG_DATA_HOME/unleak/regex/``.

Python's ``re`` parses and compiles a pattern in Python: ~0.3 s for the ~520 rule patterns, paid by every process
that uses them (the parent scanning commit messages, and each worker the ones its diffs reach), a fifth of the CPU
of a small repository's history scan. What the compiler produces — the code ``_sre`` runs, the group count and
names — is a pure function of the pattern, its flags and the interpreter, so it is stored (``marshal``, keyed by
pattern and flags, in a file named by the interpreter's version) and handed back to ``_sre.compile``, which checks
the code before it accepts it (about 5 µs a pattern). The result is the same pattern object ``re.compile`` gives:
equal code, flags, groups and group names (``tests/scanner/test_recache.py`` compares every rule's).

:meth:`scanner.engine.Engine.warm` compiles every rule pattern this way before worker processes fork, so they
inherit them compiled. Anything unexpected — another Python without ``re._compiler``, a missing, damaged or
unreadable file, code ``_sre`` refuses — means ``re.compile`` as before; a store that fails is skipped. Like the
hyperscan databases (:mod:`scanner.hscache`), the file lives in unleak's data directory, which the processes unleak
confines for a coding agent can neither read nor write: a planted pattern could blind a scan.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

Key = tuple[str, int]
Parts = tuple[int, list[int], int, dict[str, int], tuple[str | None, ...]]


def _store_path() -> Path:
    import _sre  # type: ignore[import-not-found]

    from scanner.hscache import data_dir

    tag = hashlib.sha256(repr((sys.version, sys.implementation.cache_tag, _sre.MAGIC, _sre.CODESIZE)).encode())
    return data_dir() / "regex" / f"{tag.hexdigest()[:24]}.marshal"


def _load(path: Path) -> dict[Key, Parts]:
    try:
        with open(path, "rb") as fh:
            got = marshal.loads(fh.read())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return got if isinstance(got, dict) else {}


def _parts(pattern: str, flags: int) -> Parts:
    """What ``re._compiler.compile`` hands ``_sre.compile`` for ``pattern`` (plain ints: marshal takes no
    subclasses)."""
    from re import _compiler, _parser  # type: ignore[attr-defined]

    p = _parser.parse(pattern, flags)
    code = [int(c) for c in _compiler._code(p, flags)]
    groupindex = {str(k): int(v) for k, v in p.state.groupdict.items()}
    indexgroup: list[str | None] = [None] * p.state.groups
    for name, i in groupindex.items():
        indexgroup[i] = name
    return int(flags | p.state.flags), code, int(p.state.groups - 1), groupindex, tuple(indexgroup)


def _build(pattern: str, parts: Parts) -> re.Pattern[str] | None:
    import _sre

    try:
        rx = _sre.compile(pattern, *parts)
    except Exception:  # code _sre refuses (a damaged store): compiled the ordinary way instead
        return None
    return rx if isinstance(rx, re.Pattern) else None


def compile_many(items: Iterable[Key]) -> dict[Key, re.Pattern[str]]:
    """Compiled patterns for ``items`` ((pattern, flags) pairs), from the store where it has them; those it lacked
    are compiled and the store rewritten with exactly ``items``. A pattern that does not compile is left out (its
    user compiles it and reports the error as before). Empty where this Python's ``re`` is not the one this knows."""
    wanted = list(dict.fromkeys(items))
    if not wanted or sys.implementation.name != "cpython" or sys.version_info < (3, 11):
        return {}
    path = _store_path()
    stored = _load(path)
    out: dict[Key, re.Pattern[str]] = {}
    keep: dict[Key, Parts] = {}
    fresh = False
    for key in wanted:
        pattern, flags = key
        parts = stored.get(key)
        rx = _build(pattern, parts) if parts is not None else None
        if rx is None:
            try:
                parts = _parts(pattern, flags)
            except Exception:  # re.error (left to the caller), or a change in re's internals
                continue
            rx = _build(pattern, parts)
            fresh = True
            if rx is None:
                continue
        out[key] = rx
        assert parts is not None
        keep[key] = parts
    if fresh or len(keep) != len(stored):
        _save(path, keep)
    return out


def _save(path: Path, entries: dict[Key, Any]) -> None:
    from scanner.hscache import private_dirs

    try:
        private_dirs(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(marshal.dumps(entries))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except (OSError, ValueError):
        return
