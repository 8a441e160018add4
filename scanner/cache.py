"""A cache of scanned commits under ``.git/unleak/scan-cache/``, so a rescan of history reads only new commits.

A commit's added lines never change, so its findings only depend on the rule set and the scan options. The cache
directory is named by a hash of both (:func:`ruleset_key`): ids, patterns, keywords and every other field of every
active rule, the source of the modules that define rules, filters and the engine, detect-secrets' version and
``scanner.version.VERSION``. Any change there starts a fresh cache; stale directories are removed.

What is stored is what reports show, never a value (invariant 1): per commit, the redacted finding records
(:meth:`Finding.to_dict`, plus detect-secrets' SHA-1 so imported detect-secrets baselines still match), the drop
counters and the number of binary files skipped. Findings read back carry an empty :class:`Secret`: history
findings are for reports and baselines; ``unleak fix`` takes values from working-tree scans only.

One append-only file, ``commits``: a line per scanned commit, its bare id when it had nothing to record, else a
JSON record. Each batch is one ``write`` with a leading newline, so a torn line (a crash, a concurrent scan) only
ever loses commits that are then scanned again, never attaches findings to the wrong commit.

Each line ends with a MAC (HMAC-SHA-256 under a key in unleak's data directory, ``scan-cache.key``) over the rule
set key and the line. The cache sits in the repository, where a coding agent can write: a line it appends ("this
commit was scanned and held nothing") would hide the secret that commit adds from every later history, range and
pre-push scan. The processes unleak confines for an agent cannot read the key, so they cannot write a line that
counts; a line whose MAC does not hold is ignored (the commit is scanned again). Without the key (a sandbox, a
read-only home) there is no cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import inspect
import json
import os
import shutil
import stat
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.fileio import append_state_file, read_setting_bytes, state_dir
from scanner.finding import FINGERPRINT_VERSION, CommitInfo, Confidence, Finding, Secret
from scanner.hscache import MAC_KEY_FILE
from scanner.result import Explanation
from scanner.rules import Rule

CACHE_FORMAT = 4  # 3: commit-message findings cached with their commit; 4: lines carry a MAC


def _code_digest(fn: Any) -> str:
    """A stable digest of a callable: its module's source file (so module-level regexes count) and qualname."""
    if fn is None:
        return ""
    parts = [getattr(fn, "__module__", "") or "", getattr(fn, "__qualname__", "") or ""]
    try:
        src = inspect.getsourcefile(fn)
    except TypeError:
        src = None
    if src and os.path.isfile(src):
        parts.append(_file_digest(src))
    return "|".join(parts)


_FILE_DIGESTS: dict[str, str] = {}


def _file_digest(path: str) -> str:
    d = _FILE_DIGESTS.get(path)
    if d is None:
        with open(path, "rb") as fh:
            d = _FILE_DIGESTS[path] = hashlib.sha256(fh.read()).hexdigest()
    return d


def ruleset_key(rules: Iterable[Rule], filter_fns: Iterable[tuple[str, Any]], options: dict[str, Any]) -> str:
    """The version of "what a scan of a commit yields": rules, filters, engine code, options, versions."""
    from scanner import engine, filters, git, postimage, sources
    from scanner.detect_secrets import adapter, gates, installed_version
    from scanner.detect_secrets import rules as ds_rules
    from scanner.filters import base as filter_base
    from scanner.version import VERSION

    h = hashlib.sha256()

    def add(*items: object) -> None:
        for it in items:
            h.update(repr(it).encode("utf-8", "backslashreplace"))
            h.update(b"\0")

    add("unleak-scan-cache", CACHE_FORMAT, VERSION, FINGERPRINT_VERSION)
    for r in sorted(rules, key=lambda r: r.id):
        add(r.id, r.title, r.confidence.value, r.pattern, tuple(r.keywords), r.window, r.requires, r.starts_near,
            r.flags, r.path_pattern, r.min_entropy, r.preview_prefix, r.family, r.defers, tuple(sorted(r.skip_filters)),
            _code_digest(r.detect), _code_digest(r.validate), r.allow)
    for name, fn in filter_fns:
        add("filter", name, _code_digest(fn))
    from scanner.git import history as git_history
    from scanner.git import parse as git_parse

    for mod in (engine, filters, filter_base, filters.values, filters.code, filters.demotions, filters.placeholders,
                git, git_history, git_parse, sources, postimage, gates, adapter, ds_rules):
        add(mod.__name__, _file_digest(mod.__file__ or ""))
    add("detect-secrets", installed_version())
    for k in sorted(options):
        add(k, options[k])
    return h.hexdigest()[:24]


@dataclass
class CommitRecord:
    findings: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    binary: int = 0
    # Why each dropped candidate was dropped (rule, path, line, filter; never a value), when the commit was scanned
    # with --explain; None when it was not (an --explain scan reads such a commit again).
    explained: list[dict[str, Any]] | None = None

    def empty(self) -> bool:
        return not self.findings and not self.dropped and not self.binary

    def explains(self) -> bool:
        """Whether the record can answer --explain: it kept the reasons, or nothing was dropped."""
        return self.explained is not None or not self.dropped


def record_of(findings: Iterable[Finding], dropped: Counter[str], binary: int,
              explained: Iterable[Explanation] | None = None) -> CommitRecord:
    out = []
    for f in findings:
        d = f.to_dict()
        d.pop("commit", None)  # the commit is the record's key
        d["sha1"] = f.sha1
        out.append(d)
    why = None if explained is None else [e.to_dict() for e in explained]
    return CommitRecord(out, dict(dropped), binary, why)


def explanations_of(rec: CommitRecord, commit: CommitInfo) -> list[Explanation]:
    return [Explanation(d["rule_id"], d["path"], int(d["line"]), d["filter"], commit.sha)
            for d in rec.explained or []]


def findings_of(rec: CommitRecord, commit: CommitInfo) -> list[Finding]:
    return [Finding(rule_id=d["rule_id"], title=d["title"], confidence=Confidence(d["confidence"]), path=d["path"],
                    line=int(d["line"]), column=int(d["column"]), end_column=int(d["end_column"]),
                    fingerprint=d["fingerprint"], preview=d["preview"], source=d["source"], commit=commit,
                    secret=Secret(""), sha1=d.get("sha1", ""), label=d.get("label", ""),
                    context=d.get("context", ""), line_context=d.get("line_context", "")) for d in rec.findings]


class ScanCache:
    """The scanned-commit cache of one repository for one rule-set key."""

    def __init__(self, git_dir: Path, key: str) -> None:
        self.git_dir = git_dir
        self.root = git_dir / "unleak" / "scan-cache"
        self.dir = self.root / key
        self.key = key
        self.done: set[str] = set()
        self.records: dict[str, tuple[CommitInfo, CommitRecord]] = {}
        self._key = mac_key()  # no key, no cache
        self._keyed: hmac.HMAC | None = None

    def _mac(self, raw: bytes) -> bytes:
        """``hmac.new(key, self.key + b"\\0" + raw, sha256).hexdigest()[:32]``, from a copy of an HMAC that has
        taken the key (and the prefix) once: a cache of sqlalchemy's 24,000 commits is 24,000 MACs on every load,
        and ``hmac.new`` pays for the key each time (1.8 µs a line, 1.2 µs this way)."""
        assert self._key is not None
        if self._keyed is None:
            self._keyed = hmac.new(self._key, self.key.encode() + b"\0", hashlib.sha256)
        mac = self._keyed.copy()
        mac.update(raw)
        return mac.hexdigest()[:32].encode()

    def load(self) -> ScanCache:
        if self._key is None or state_dir(self.git_dir, "unleak", "scan-cache", self.key, create=False) is None:
            return self
        try:
            data = read_setting_bytes(self.dir / "commits", follow=False)
        except OSError:
            return self
        for line in data.split(b"\n"):
            raw, _, mac = line.rpartition(b"\t")
            if not raw or not hmac.compare_digest(mac, self._mac(raw)):
                continue  # torn, or not written by unleak with this user's key: the commit is scanned again
            if len(raw) == 40:  # a clean commit: just its id
                self.done.add(raw.decode("ascii", "replace"))
                continue
            if not raw.startswith(b"{"):
                continue
            try:
                d = json.loads(raw)
                info = CommitInfo(**d["commit"])
                rec = CommitRecord(d.get("findings", []), d.get("dropped", {}), int(d.get("binary", 0)),
                                   d.get("explained"))
            except (ValueError, KeyError, TypeError):
                continue  # a torn line (crash, concurrent writer): that commit is simply scanned again
            self.records[info.sha] = (info, rec)
            self.done.add(info.sha)
        return self

    def add(self, entries: list[tuple[CommitInfo, CommitRecord]]) -> None:
        """Persist scanned commits, one line each, in one append: a commit is cached only if its whole line is."""
        if not entries or self._key is None:
            return
        lines = []
        for info, rec in entries:
            if rec.empty():
                lines.append(info.sha)
            else:
                d = {"commit": info.to_dict(), "findings": rec.findings, "dropped": rec.dropped, "binary": rec.binary}
                if rec.explained is not None:
                    d["explained"] = rec.explained
                lines.append(json.dumps(d, separators=(",", ":")))
        try:
            fresh = not os.path.lexists(self.dir)
            # Never through a symbolic link an agent planted (.git/unleak, scan-cache, the key's directory, the
            # file): appending a line to whatever it points at, or pruning "other keys" there, is not a cache.
            if state_dir(self.git_dir, "unleak", "scan-cache", self.key) is None:
                return
            if fresh:
                self._prune_others()
            signed = [raw + b"\t" + self._mac(raw) for raw in (ln.encode("utf-8") for ln in lines)]
            append_state_file(self.dir / "commits", b"\n" + b"\n".join(signed) + b"\n")
        except OSError:
            return  # a read-only .git or a full disk: the scan result is still right, only not cached
        for info, rec in entries:
            self.done.add(info.sha)
            if not rec.empty():
                self.records[info.sha] = (info, rec)

    def _prune_others(self) -> None:
        """Remove the directories of other rule-set keys: real directories named like a key, nothing else."""
        for d in self.root.iterdir():
            if (d.name != self.key and len(d.name) == len(self.key) and all(c in "0123456789abcdef" for c in d.name)
                    and stat.S_ISDIR(os.lstat(d).st_mode)):
                shutil.rmtree(d, ignore_errors=True)


KEY_FILE = MAC_KEY_FILE


def mac_key() -> bytes | None:
    """The key of the caches' MACs (the scan cache's lines, the exposure caches), made on first use (32 random
    bytes, 0600); None when unreadable here. It appears whole or not at all (written to a temporary file, then
    linked into place), so a crash or a concurrent scan never leaves a short key behind."""
    import tempfile

    from scanner.hscache import data_dir, private_dirs

    path = data_dir() / KEY_FILE
    try:
        return _whole(path.read_bytes())
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".scan-cache.key.")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(32))
            with contextlib.suppress(FileExistsError):  # a concurrent scan linked its key first: read that one
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
        return _whole(path.read_bytes())
    except OSError:
        return None


def _whole(key: bytes) -> bytes | None:
    return key if len(key) == 32 else None
