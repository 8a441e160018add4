"""Replaying ``unleak scan --history`` when nothing it depends on has changed since a run that read every commit
from the scan cache.

A history scan with every commit cached still starts Python, imports the scanner, builds ~540 rules, lists every
commit and reads the cache: ~0.2 s where the scan itself is 1.5 s. Yet its report is a function of inputs that are
cheap to check: the command line and working directory, the refs (every commit ``--all`` reaches follows from them,
and a commit never changes), the files that configure the scan, git's own configuration, the environment variables
unleak and git read, and unleak's own code. A run whose every commit came from the cache records its report under
a hash of all of these (``.git/unleak/scan-cache/replay``), and so does a run that scanned commits anew and left every
one in the cache, with the report a rescan would give (:meth:`scanner.result.ScanResult.as_rescan`: the same
findings, the counters and the note of a rescan); the next run with the same hash writes that report again — the
same stdout, stderr, ``--output`` file, audit record and exit code — without importing the scanner.

Only what the fast entry parses (:mod:`unleak.fastpath`) is replayed, with no paths and no mode but ``--history``.
Anything that makes the inputs hard to pin down turns replay off and the scan runs as always: git environment
variables that move the repository (``GIT_DIR`` and the like), a reftable repository, a gitleaks/betterleaks
config (it may extend other files), a scan that scanned anything anew. A commit with an unreadable object is never
cached, and is scanned again by every rescan, with the same result while the object store is the same: such a
rescan is recorded too (its warning about what was skipped included), and a fetch or repair ends the replay.

The record is signed like the scan cache (HMAC-SHA-256 under the key in unleak's data directory): a coding agent
confined by unleak cannot read that key, so a report it plants ("nothing found") is not replayed. It holds what
the report showed and nothing more: no value (invariant 1).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

FORMAT = 1
NAME = "replay"
# run_scan's parameters a replayed command may carry (the rest make it ineligible).
_PARAMS = {"history", "fmt", "output", "no_baseline", "exit_zero", "min_confidence", "baseline_path", "config_path",
           "repo_dir"}
# Environment variables that decide where the repository is or how git reads it: replay is off when one is set.
_GIT_MOVES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
              "GIT_INDEX_FILE", "GIT_NAMESPACE", "GIT_REPLACE_REF_BASE", "GIT_NO_REPLACE_OBJECTS",
              "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
              "GIT_CONFIG_COUNT")
_ENV_PREFIXES = ("GIT_", "UNLEAK_", "XDG_", "LC_", "PRE_COMMIT_", "GITHUB_")
_ENV_NAMES = ("HOME", "PATH", "LANG", "NO_COLOR", "FORCE_COLOR", "TZ", "PYTHONPATH", "PYTHONHOME")
_TERMINAL = ("TERM", "COLUMNS", "LINES")  # only when writing to a terminal
_CONFIG_NAMES = (".unleak.toml", "pyproject.toml")
_GITLEAKS_NAMES = (".gitleaks.toml", ".betterleaks.toml")  # as unleak.gitleaks.CONFIG_NAMES (a test holds them equal)
_PACKAGES = ("unleak", "scanner", "remediate", "detect_secrets")


def eligible(params: dict[str, Any]) -> bool:
    return bool(params.get("history")) and not params.get("paths") and set(params) <= _PARAMS | {"paths"}


class _Key:
    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, *items: object) -> None:
        for it in items:
            self._h.update(it if isinstance(it, bytes) else repr(it).encode("utf-8", "surrogateescape"))
            self._h.update(b"\0")

    def file(self, path: str) -> None:
        """A file's bytes (or that it is absent)."""
        from scanner.fileio import read_setting_bytes

        try:
            self.add(path, read_setting_bytes(path))  # a FIFO planted there raises (no replay), never waits
        except FileNotFoundError:
            self.add(path, "absent")
        except IsADirectoryError:
            self.add(path, "directory")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _git_dirs(start: str) -> tuple[str, str, str] | None:
    """(work tree top, git dir, common git dir) found the way git finds them from ``start``, for an ordinary
    repository or a linked work tree; None for anything else (bare, a submodule's gitfile elsewhere, not a repo)."""
    d = start
    while True:
        dot = os.path.join(d, ".git")
        if os.path.isdir(dot):
            return d, dot, dot
        if os.path.isfile(dot):
            try:
                with open(dot, encoding="utf-8") as fh:
                    line = fh.read().strip()
            except (OSError, UnicodeDecodeError):
                return None
            if not line.startswith("gitdir: "):
                return None
            git_dir = os.path.normpath(os.path.join(d, line[len("gitdir: "):]))
            try:
                with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
                    common = os.path.normpath(os.path.join(git_dir, fh.read().strip()))
            except FileNotFoundError:
                common = git_dir
            except (OSError, UnicodeDecodeError):
                return None
            return d, git_dir, common
        if all(os.path.exists(os.path.join(d, n)) for n in ("HEAD", "objects", "refs")):
            return None  # a bare repository (or inside a git directory): git would stop here too
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _walk(top: str) -> Iterator[os.DirEntry[str]]:
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for e in sorted(entries, key=lambda e: e.name):
        if e.is_dir(follow_symlinks=False):
            if e.name != "__pycache__":
                yield from _walk(e.path)
        else:
            yield e


def _code(key: _Key) -> None:
    """unleak's own code and what it runs: every file of its packages and detect-secrets' (path, size, mtime),
    the interpreter, and the git binary the PATH leads to."""
    key.add(sys.version, sys.executable)
    for name in _PACKAGES:
        mod = sys.modules.get(name)
        base = os.path.dirname(mod.__file__) if mod is not None and mod.__file__ else None
        if base is None:
            base = next((os.path.join(p or ".", name) for p in sys.path
                         if os.path.isdir(os.path.join(p or ".", name))), None)
        key.add(name, base)
        if base is None:
            continue
        for e in _walk(base):
            st = e.stat(follow_symlinks=True)
            key.add(e.path, st.st_size, st.st_mtime_ns)
    for d in os.environ.get("PATH", "").split(os.pathsep):
        git = os.path.join(d or ".", "git")
        if os.access(git, os.X_OK):
            st = os.stat(git)
            key.add("git", git, st.st_size, st.st_mtime_ns)
            break


def _refs(key: _Key, git_dir: str, common: str) -> None:
    """What ``git rev-list --all`` starts from: HEAD of this and every work tree, loose and packed refs, what
    changes the walk (shallow, grafts) and the objects it reads; git's configuration files, which can change what
    ``git log`` prints."""
    key.file(os.path.join(git_dir, "HEAD"))
    for base in dict.fromkeys((git_dir, common)):
        key.file(os.path.join(base, "packed-refs"))
        for e in _walk(os.path.join(base, "refs")):
            key.file(e.path)
    for e in _walk(os.path.join(common, "worktrees")):
        if e.name == "HEAD":
            key.file(e.path)
    for name in ("shallow", os.path.join("info", "grafts"), os.path.join("objects", "info", "alternates"), "config",
                 "config.worktree"):
        key.file(os.path.join(common, name))
    # The object store as directory times and pack files: a deleted, corrupted or repacked object (which a rescan
    # would report as unreadable) or any object added since moves one of them.
    objects = os.path.join(common, "objects")
    for e in sorted(os.scandir(objects), key=lambda e: e.name) if os.path.isdir(objects) else ():
        st = e.stat(follow_symlinks=False)
        key.add(e.name, st.st_mtime_ns)
    for e in _walk(os.path.join(objects, "pack")):
        st = e.stat(follow_symlinks=False)
        key.add(e.name, st.st_size, st.st_mtime_ns)
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    for path in (os.path.join(home, ".gitconfig"), os.path.join(xdg, "git", "config"), "/etc/gitconfig"):
        key.file(path)


def _digest(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None


def _inputs(inputs: dict[str, Any], top: str) -> dict[str, str | None]:
    """Digests of the files the recorded run's config named (its own file, the baseline it points at)."""
    out: dict[str, str | None] = {}
    for name in ("config", "baseline"):
        path = inputs.get(name)
        if isinstance(path, str) and path:
            full = path if os.path.isabs(path) else os.path.join(top, path)
            out[full] = _digest(full)
    return out


def lookup_key(params: dict[str, Any]) -> tuple[str, str, str] | None:
    """(record file, key, work tree top) of this command, or None when it cannot be replayed (or something it
    reads cannot be read: a deleted working directory, a file removed while it is read; the scan then says so)."""
    if not eligible(params) or any(v in os.environ for v in _GIT_MOVES):
        return None
    try:
        return _lookup_key(params)
    except (OSError, ValueError):
        return None


def _lookup_key(params: dict[str, Any]) -> tuple[str, str, str] | None:
    root = os.path.realpath(params.get("repo_dir") or ".")
    found = _git_dirs(root)
    if found is None:
        return None
    top, git_dir, common = found
    if os.path.exists(os.path.join(common, "reftable")):
        return None
    key = _Key()
    key.add("unleak-replay", FORMAT, os.getcwd(), root, sorted((k, str(v)) for k, v in params.items()))
    key.add(sorted((k, v) for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES))
    tty = sys.stdout.isatty(), sys.stderr.isatty()
    key.add(tty, [os.environ.get(v) for v in _TERMINAL] if any(tty) else None)
    # The files that configure the scan: unleak's config is looked for from the scanned directory up to the top
    # of the work tree, a gitleaks config and the baselines at the top; explicit ones where the command names them.
    d = root
    while True:
        for name in _CONFIG_NAMES:
            key.file(os.path.join(d, name))
        if d == top or os.path.dirname(d) == d:
            break
        d = os.path.dirname(d)
    for name in _GITLEAKS_NAMES:
        if os.path.lexists(os.path.join(top, name)) or os.path.lexists(os.path.join(root, name)):
            return None  # may extend other files, anywhere
    for name in (".unleak-baseline.json", ".gitleaksignore"):
        key.file(os.path.join(top, name))
    for param in ("config_path", "baseline_path"):
        if params.get(param):
            path = str(params[param])
            if "gitleaks" in os.path.basename(path) or "betterleaks" in os.path.basename(path):
                return None
            key.file(path if os.path.isabs(path) else os.path.join(os.getcwd(), path))
            key.file(path if os.path.isabs(path) else os.path.join(root, path))
    _refs(key, git_dir, common)
    _code(key)
    return os.path.join(common, "unleak", "scan-cache", NAME), key.hexdigest(), top


def _mac_key() -> bytes | None:
    """The scan cache's MAC key, read without importing the scan cache (``scanner.cache.mac_key`` makes it; a
    replay needs a run that did)."""
    from scanner.hscache import read_mac_key

    return read_mac_key()


def _sign(mac_key: bytes, key: str, payload: bytes) -> bytes:
    return hmac.new(mac_key, b"unleak-replay\0" + key.encode() + b"\0" + payload, hashlib.sha256).hexdigest().encode()


def load(found: tuple[str, str, str]) -> dict[str, Any] | None:
    """The recorded run of the command :func:`lookup_key` gave ``found`` for, when the record is signed (its key
    holds every input, so a record under it is that command's with the same inputs)."""
    mac_key = _mac_key()
    if mac_key is None:
        return None
    path, key, _top = found
    from scanner.fileio import read_setting_bytes

    try:
        data = read_setting_bytes(path, follow=False, limit=64 << 20)
    except OSError:
        return None
    payload, _, mac = data.rstrip(b"\n").rpartition(b"\n")
    if not payload or not hmac.compare_digest(mac, _sign(mac_key, key, payload)):
        return None
    try:
        rec = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(rec, dict) or rec.get("key") != key or not isinstance(rec.get("digests"), dict):
        return None
    if any(_digest(p) != d for p, d in rec["digests"].items()):
        return None  # a file the config names has changed
    return rec


def save(key: tuple[str, str, str], rec: dict[str, Any]) -> None:
    """Record this run (what ``run_scan`` put in its recorder) for replay. Never raises: without a record the next
    run simply scans."""
    from pathlib import Path

    from scanner.fileio import state_dir, write_state_file

    mac_key = _mac_key()
    path, k, top = key
    if mac_key is None or not rec.get("replayable"):
        return
    names = ("stdout", "stderr", "output_text", "audit_result", "audit_detail", "code")
    kept: dict[str, Any] = {name: rec[name] for name in names if name in rec}
    kept["digests"] = _inputs(rec.get("inputs") or {}, top)
    try:
        payload = json.dumps({**kept, "key": k}, separators=(",", ":")).encode("utf-8", "surrogateescape")
    except (TypeError, ValueError):
        return
    try:
        if state_dir(Path(path).parent.parent.parent, "unleak", "scan-cache") is None:
            return
        write_state_file(Path(path), payload + b"\n" + _sign(mac_key, k, payload) + b"\n")
    except (OSError, ValueError):
        return


def replay(rec: dict[str, Any], params: dict[str, Any]) -> int:
    """Write the recorded run's output again and return its exit code."""
    if rec.get("output_text") is not None and params.get("output"):
        from pathlib import Path

        from scanner.fileio import write_report

        write_report(Path(params["output"]), rec["output_text"])
    sys.stdout.write(rec.get("stdout", ""))
    sys.stdout.flush()
    sys.stderr.write(rec.get("stderr", ""))
    from unleak.audit import record

    record("scan", result=rec.get("audit_result", ""), detail=rec.get("audit_detail", {}))
    return int(rec.get("code", 0))
