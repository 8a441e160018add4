"""Exposure: for every distinct secret ever committed, where and since when it is exposed, and how to rotate it.

A secret that was committed once must be treated as compromised, even after the line was deleted: every clone,
fork and pushed ref keeps it. This module answers, per fingerprint, which commits' trees hold it, whether HEAD still
does, which branches and tags have it in their history, whether a remote-tracking ref has it (it was pushed) and
whether an agent transcript carries it. Read-only, like the rest of ``scanner``.

Where the findings come from: the history scan, through its cache, so a repository scanned before costs only the
commits added since. The cache holds no values (invariant 1), so each secret's value is cut out of the file version
where it was found (its line and columns), kept only if it hashes to the finding's fingerprint; a secret whose
value cannot be cut out that way has its commit scanned again.

How presence is computed: one ``git log --raw`` walk of all refs (parents first) gives, per commit, the blobs that
changed against the first parent; a changed blob is opened only where a secret can be: where the scan found one
added (that commit, that path), at a path that held one in a parent, or in a commit that deletes such a path (a
file moved and edited at once, which the scan's rename detection shows without its old lines). Every opened
blob is checked once for all values (hyperscan when installed); a commit's set of secret-bearing paths
is its first parent's set updated by its changes. The blobs are not read one round trip at a time: dry runs of the
walk on what is known so far name the blobs it needs, which are read in one ``cat-file`` stream per round (see
:meth:`_Presence._prefetch`), and which secrets each blob holds is kept by object id under
``.git/unleak/exposure-cache`` (fingerprints, no values), so a second exposure opens only blobs added since.
Reachability (which refs contain a commit that holds the secret)
is a bitset per commit, OR-ed over parents in the same walk, so no ``--contains`` query per secret is needed.

Counting: ``scan`` reports findings (each place a secret was added: a commit, a path, a line), ``exposure`` reports
distinct secrets (by fingerprint). One secret added in three commits is three findings and one secret; both
numbers are in the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from scanner import git
from scanner.chunk import Chunk
from scanner.errors import GitError, UsageError
from scanner.finding import CommitInfo, Confidence, Finding, Secret
from scanner.finding import fingerprint as fingerprint_of
from scanner.sources import MESSAGE_PATHS

if TYPE_CHECKING:
    from scanner.api import ScanRequest
    from scanner.baseline import Baseline
    from scanner.rules import Rule

# Blobs larger than this are not opened for the presence check (the history scan reads them in diffs anyway).
MAX_BLOB = 25 * 1024 * 1024
_SUBMODULE_MODE = "160000"


@dataclass(frozen=True)
class Exposure:
    """One distinct secret (by fingerprint) and everything known about where it is exposed. Never the value."""

    fingerprint: str
    rule_id: str
    title: str
    preview: str
    paths: tuple[str, ...]  # paths where it was added
    first: CommitInfo  # earliest commit whose tree holds it
    last: CommitInfo  # latest commit whose tree holds it
    commits: int  # how many commits' trees hold it
    in_head: bool
    branches: tuple[str, ...]  # local branches whose history holds it
    tags: tuple[str, ...]
    remote_refs: tuple[str, ...]  # remote-tracking refs whose history holds it: it was pushed
    other_refs: tuple[str, ...]  # stash, notes, pull-request refs ...
    tips: tuple[str, ...]  # refs whose *current* tree still holds it
    agent_logs: tuple[str, ...]  # transcript / history files where it was seen
    secret: Secret = field(default_factory=lambda: Secret(""), compare=False, repr=False)

    @property
    def pushed(self) -> bool:
        return bool(self.remote_refs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint, "rule_id": self.rule_id, "title": self.title, "preview": self.preview,
            "paths": list(self.paths), "first_commit": self.first.to_dict(), "last_commit": self.last.to_dict(),
            "commits": self.commits, "in_head": self.in_head, "branches": list(self.branches),
            "tags": list(self.tags), "pushed": self.pushed, "remote_refs": list(self.remote_refs),
            "other_refs": list(self.other_refs), "tips": list(self.tips), "agent_logs": list(self.agent_logs),
        }


@dataclass(frozen=True)
class RotationItem:
    rule_id: str
    title: str
    revoke: str  # URL or console path; "" when the rule does not say
    fingerprints: tuple[str, ...]
    previews: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "title": self.title, "revoke": self.revoke,
                "fingerprints": list(self.fingerprints), "previews": list(self.previews)}


@dataclass
class ExposureReport:
    exposures: list[Exposure] = field(default_factory=list)
    rotation: list[RotationItem] = field(default_factory=list)
    commits_scanned: int = 0
    notes: list[str] = field(default_factory=list)
    agent_logs_scanned: bool = False
    findings: int = 0  # the history scan's count: places a secret was added (commit, path, line)
    skipped: int = 0  # objects the history scan could not read (scanner.git), see notes
    # `exposure --verify`: fingerprint → scanner.verify.Verification (typed loosely: no verify import here)
    verifications: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"exposures": [self._exposure_dict(e) for e in self.exposures],
                "rotation": [r.to_dict() for r in self.rotation],
                "commits_scanned": self.commits_scanned, "agent_logs_scanned": self.agent_logs_scanned,
                "findings": self.findings, "skipped": self.skipped, "notes": list(self.notes)}

    def _exposure_dict(self, e: Exposure) -> dict[str, Any]:
        d = e.to_dict()
        if e.fingerprint in self.verifications:
            d["verified"] = self.verifications[e.fingerprint].to_dict()
        return d

    def verdict(self, fp: str) -> str:
        v = self.verifications.get(fp)
        return "" if v is None else str(v.short())

    def live(self, fps: Iterable[str]) -> int:
        return sum(1 for fp in fps if fp in self.verifications and self.verifications[fp].status.value == "valid")


def as_findings(report: ExposureReport) -> list[Finding]:
    """One finding per exposed secret (its first path and commit), for verification: it carries the value."""
    return [Finding(rule_id=e.rule_id, title=e.title, confidence=Confidence.LOW, path=e.paths[0] if e.paths else "",
                    line=0, column=1, end_column=1, fingerprint=e.fingerprint, preview=e.preview, source="commit",
                    commit=e.first, secret=e.secret) for e in report.exposures]


def apply_verification(report: ExposureReport, verdicts: dict[str, Any]) -> None:
    """Attach verdicts and put live credentials first: in the list, and in the rotation checklist (a rule with a
    live secret before one whose secrets are all dead)."""
    from scanner.verify.model import rank

    report.verifications = dict(verdicts)
    report.exposures.sort(key=lambda e: rank(verdicts.get(e.fingerprint)))
    report.rotation.sort(key=lambda r: min((rank(verdicts.get(fp)) for fp in r.fingerprints), default=3))


@dataclass
class _Seen:
    rule_id: str
    title: str
    preview: str
    secret: Secret
    paths: dict[str, None] = field(default_factory=dict)
    commits: list[CommitInfo] = field(default_factory=list)


def _group(findings: Iterable[Finding], values: dict[str, Secret] | None = None) -> dict[str, _Seen]:
    """Findings by fingerprint; ``values`` supplies the secret of findings read from the cache (which have none)."""
    seen: dict[str, _Seen] = {}
    for f in findings:
        secret = f.secret if f.secret.reveal() else (values or {}).get(f.fingerprint, f.secret)
        if not secret.reveal():
            continue
        s = seen.get(f.fingerprint)
        if s is None:
            s = seen[f.fingerprint] = _Seen(f.rule_id, f.title, f.preview, secret)
        s.paths.setdefault(f.path, None)
        if f.commit is not None:
            s.commits.append(f.commit)
    return seen


_AC_THRESHOLD = 8  # from this many values on, one Aho-Corasick pass per blob beats a substring search per value


def _matcher(values: list[bytes]) -> Callable[[bytes], int]:
    """A function from blob bytes to the bitset of values it holds. A multi-line value (a private key) committed
    with CRLF line endings counts too."""
    forms: list[tuple[bytes, int]] = []
    for i, v in enumerate(values):
        forms.append((v, 1 << i))
        if b"\n" in v and b"\r\n" not in v:
            forms.append((v.replace(b"\n", b"\r\n"), 1 << i))
    if len(values) < _AC_THRESHOLD:
        def match_few(data: bytes) -> int:
            bits = 0
            for form, bit in forms:
                if form in data:
                    bits |= bit
            return bits

        return match_few
    fast = _hyperscan_matcher(forms)
    if fast is not None:
        return fast
    import ahocorasick  # C extension, as in the engine

    auto = ahocorasick.Automaton()
    merged: dict[str, int] = {}
    for form, bit in forms:
        key = form.decode("latin-1")  # latin-1: one char per byte, so matching on str is matching on bytes
        merged[key] = merged.get(key, 0) | bit
    for key, bit in merged.items():
        auto.add_word(key, bit)
    auto.make_automaton()

    def match_many(data: bytes) -> int:
        bits = 0
        for _end, bit in auto.iter(data.decode("latin-1")):
            bits |= bit
        return bits

    return match_many


class _TooManyReads(Exception):
    """The walk met more unread blobs than it should read one round trip at a time."""


_EAGER_READS = 64  # blobs a walk on cached answers may read one by one before it prefetches instead
_PREFETCH_ROUNDS = 6  # dry runs of the presence walk; each reads what the previous one found missing
_HS_PREFIX = 48  # bytes of each form hyperscan looks for; a hit on a longer form is confirmed by a substring search


def _hyperscan_matcher(forms: list[tuple[bytes, int]]) -> Callable[[bytes], int] | None:
    """The matcher on hyperscan (when installed): one pass over the bytes for all values, each reported once, with
    no per-match Python work and no decoding (the automaton needs a str copy of every blob and yields every
    occurrence; on sqlalchemy's 1.6 GB of secret-bearing file versions that was most of exposure's time)."""
    try:
        import hyperscan
    except ImportError:
        return None
    exprs = [b"".join(bytes([c]) if chr(c).isalnum() and c < 128 else b"\\x%02x" % c for c in form[:_HS_PREFIX])
             for form, _ in forms]
    try:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs),
                   flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(exprs))
        scratch = hyperscan.Scratch(db)
    except hyperscan.error:
        return None

    def match_hs(data: bytes) -> int:
        if not data:
            return 0
        hits: list[int] = []
        db.scan(data, match_event_handler=_hs_hit, context=hits, scratch=scratch)
        bits = 0
        for i in hits:
            form, bit = forms[i]
            if not bits & bit and (len(form) <= _HS_PREFIX or form in data):
                bits |= bit
        return bits

    return match_hs


def _hs_hit(pattern_id: int, start: int, end: int, flags: int, hits: object) -> None:
    cast("list[int]", hits).append(pattern_id)


class _BlobCache:
    """Which secrets (by fingerprint) each file version holds, kept under ``.git/unleak/exposure-cache`` so a second
    exposure reads only file versions added since. No value is stored (invariant 1): object ids and fingerprints,
    as the scan cache stores. The answers are for the set of secrets checked when they were written; a secret not
    in that set (one committed since) makes the file start over."""

    _VERSION = "unleak-exposure-blobs 1"

    def __init__(self, git_dir: Path, fps: list[str]) -> None:
        self.path = git_dir / "unleak" / "exposure-cache" / "blobs"
        self.fps = fps
        self.known: dict[str, int] = {}  # oid -> bits over ``fps``
        self._checked: list[str] = []

    def load(self) -> _BlobCache:
        try:
            lines = self.path.read_text(encoding="ascii").split("\n")
        except (OSError, UnicodeDecodeError):
            return self
        if len(lines) < 2 or lines[0] != self._VERSION:
            return self
        checked = lines[1].split(",") if lines[1] else []
        if not set(self.fps) <= set(checked):
            return self
        self._checked = checked
        bit_of = {fp: 1 << i for i, fp in enumerate(self.fps)}
        for line in lines[2:]:
            oid, _, held = line.partition(" ")
            if len(oid) not in (40, 64):
                continue  # a torn last line: that version is read again
            bits = 0
            for fp in held.split(",") if held else ():
                bits |= bit_of.get(fp, 0)
            self.known[oid] = bits
        return self

    def save(self, bits_by_oid: dict[str, int]) -> None:
        """Write every answer known now (``bits_by_oid`` over ``fps``), atomically; best effort (a read-only
        .git only costs the next run its speed)."""
        if self._checked and set(self._checked) >= set(self.fps) and all(o in self.known for o in bits_by_oid):
            return  # nothing new
        out = [self._VERSION, ",".join(self.fps)]
        for oid, bits in bits_by_oid.items():
            held = [self.fps[i] for i in range(len(self.fps)) if bits >> i & 1]
            out.append(f"{oid} {','.join(held)}" if held else oid)
        tmp = self.path.with_name(f".blobs.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write("\n".join(out) + "\n")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


class _Presence:
    """Per-commit bitsets over the secrets: which trees hold them (``present``), which histories do (``reach``).

    Two passes. The first reads the history (one ``git log --raw``) and, in one streamed ``git cat-file --batch``,
    every file version at a path where the scan found a secret: these are the only blobs the second pass can need
    but for a few (a commit that moves a secret-bearing file, read on demand). The second pass is pure bookkeeping
    over what was read, so what it decides is exactly what a walk opening blob by blob decides."""

    def __init__(self, repo: Path, values: list[bytes], added: set[tuple[str, str]] | None = None,
                 unreadable: set[tuple[str, str]] | None = None,
                 progress: Callable[[Chunk], None] | None = None,
                 phase: Callable[[str, int | None], None] | None = None,
                 known: dict[str, int] | None = None) -> None:
        """``added``: (commit, path) pairs where the scan found a secret added (None: open every changed blob).
        ``unreadable``: (commit, path) pairs the scan could not read, (commit, "") for a whole commit; never
        opened here. ``phase`` announces the blob reading (its total in blobs) and ``progress`` ticks once per
        commit walked and once per blob read. ``known``: bits of file versions read by an earlier run (oid ->
        bits over ``values``), not read again."""
        self.values = values
        self.present: dict[str, int] = {}
        self.reach: dict[str, int] = {}
        self.order: dict[str, int] = {}  # topological position, parents first
        self.info: dict[str, git.RawCommit] = {}
        self.opened = 0  # blobs whose content decided a commit's state
        self.read = 0  # blobs read from git (the prefetch reads a few the walk then does not need)
        self.error = ""
        self._blob_bits: dict[str, int] = {}
        self._prefetched: dict[str, int] = dict(known or {})
        self._unread: set[str] = set()  # objects git could not give
        self._match = _matcher(values)
        self._added = added
        self._unreadable = unreadable or set()
        self._progress = progress
        self._phase = phase
        self._cat: git.CatFile | None = None
        self._budget: int | None = None  # blobs the walk may still read one by one (None: no limit)
        if values:
            commits = self._history(repo)
            try:
                try:
                    # With what an earlier run learnt (``known``), the walk usually needs nothing new: walk at
                    # once, and only if it starts reading blob after blob, prefetch and walk again.
                    self._budget = _EAGER_READS if known else 0
                    self._walk(repo, commits)
                except _TooManyReads:
                    self._reset()
                    self._budget = None
                    self._prefetch(repo, commits)
                    self._walk(repo, commits)
            except GitError as exc:
                self.error = self.error or str(exc)
            finally:
                if self._cat is not None:
                    self._cat.close()

    def _reset(self) -> None:
        self.present.clear()
        self.reach.clear()
        self.order.clear()
        self.info.clear()
        self.opened = 0
        self._blob_bits.clear()

    def _history(self, repo: Path) -> list[git.RawCommit]:
        commits: list[git.RawCommit] = []
        try:
            for rc in git.raw_history(repo, ["--all"]):
                commits.append(rc)
                if self._progress is not None:
                    self._progress(Chunk(path="", text="", source="commit", commit=rc.info))
        except GitError as exc:  # an unreadable tree or commit: what was walked stands
            self.error = str(exc)
        return commits

    def _readable(self, sha: str, ch: git.RawChange) -> bool:
        return (ch.new_oid != git.ZERO_OID and ch.new_mode != _SUBMODULE_MODE and (sha, "") not in self._unreadable
                and (sha, ch.path) not in self._unreadable)

    def _prefetch(self, repo: Path, commits: list[git.RawCommit]) -> None:
        """Bits of the file versions the walk will open, read in streams instead of one round trip each.

        Which versions the walk opens depends on what the earlier ones hold, so the walk is first run dry on what
        is known, guessing what a version not read yet holds (see below); everything it asked for is read in one
        stream, and again until it asks for nothing new (two or three rounds). Anything still missing is read on
        demand by the real walk, so a wrong guess costs time, never a different answer."""
        if self._added is None:
            todo = {ch.new_oid: None for rc in commits for ch in rc.changes if self._readable(rc.sha, ch)}
            self._read_all(repo, list(todo))
            return
        for _ in range(_PREFETCH_ROUNDS):
            missing: dict[str, None] = {}
            self._walk(repo, commits, missing)
            if not missing:
                return
            self._read_all(repo, list(missing))

    def answers(self) -> dict[str, int]:
        """Bits of every file version read (this run or an earlier one), for the blob cache."""
        return {oid: bits for oid, bits in {**self._prefetched, **self._blob_bits}.items() if oid not in self._unread}

    def _read_all(self, repo: Path, oids: list[str]) -> None:
        if self._phase is not None:
            self._phase("reading files", len(oids) or None)
        for oid, obj in zip(oids, git.cat_file_stream(repo, oids), strict=True):
            self.read += 1
            # An object git cannot give counts as holding nothing, as when the walk opens it (and is not cached:
            # it may be fetched later).
            if obj is None:
                self._unread.add(oid)
            self._prefetched[oid] = (self._match(obj[1]) if obj is not None and obj[0] == "blob"
                                     and len(obj[1]) <= MAX_BLOB else 0)
            if self._progress is not None:
                # The bar counts distinct ids; a blob's id stands in for a commit's here.
                self._progress(Chunk(path="", text="", source="blob",
                                     commit=CommitInfo(sha=oid, author="", email="", date="")))

    def _bits_of(self, repo: Path, oid: str) -> int:
        bits = self._blob_bits.get(oid)
        if bits is None:
            self.opened += 1
            bits = self._prefetched.get(oid)
            if bits is None:
                if self._budget is not None:
                    if self._budget <= 0:
                        raise _TooManyReads
                    self._budget -= 1
                if self._cat is None:
                    self._cat = git.CatFile(repo)
                self.read += 1
                obj = self._cat.read(oid)
                if obj is None:
                    self._unread.add(oid)
                bits = self._match(obj[1]) if obj is not None and obj[0] == "blob" and len(obj[1]) <= MAX_BLOB else 0
            self._blob_bits[oid] = bits
        return bits

    def _walk(self, repo: Path, commits: list[git.RawCommit], missing: dict[str, None] | None = None) -> None:
        """The presence walk; with ``missing``, a dry run on the prefetched bits that collects the versions it
        would have to read (see :meth:`_prefetch`) and records nothing."""
        # Per commit: {path: bits} of the paths whose blob holds a secret. Shared with the parent when unchanged.
        states: dict[str, dict[str, int]] = {}
        empty: dict[str, int] = {}
        memo = self._blob_bits if missing is None else {}
        added = self._added or set()
        every = self._added is None
        unreadable = self._unreadable
        prefetched = self._prefetched
        zero = git.ZERO_OID
        presents: dict[int, int] = {}  # id(state) -> bits, while that state object lives in ``states``
        for n, rc in enumerate(commits):
            sha = rc.sha
            state = states.get(rc.parents[0], empty) if rc.parents else empty
            new: dict[str, int] | None = None
            # Paths that held a secret in another parent: a merge takes them from there too.
            others = [states.get(q, empty) for q in rc.parents[1:]]
            # A commit that deletes a secret-bearing path may have moved the secret elsewhere (a rename with
            # edits): every blob it adds is opened then.
            moved = every or any(ch.new_oid == zero and ch.path in state for ch in rc.changes)
            whole = bool(unreadable) and (sha, "") in unreadable
            for ch in rc.changes:
                bits = 0
                path, oid = ch.path, ch.new_oid
                if (oid != zero and ch.new_mode != _SUBMODULE_MODE and not whole
                        and not (unreadable and (sha, path) in unreadable)):
                    known = memo.get(oid)
                    if known is not None:
                        bits = known
                    elif (moved or path in state or (sha, path) in added
                          or any(path in o for o in others)):
                        if missing is None:
                            bits = self._bits_of(repo, oid)
                        else:
                            got = prefetched.get(oid)
                            if got is None:
                                # Not read yet. Guess: an edit keeps what the path held, a version where the scan
                                # found a secret added or that a merge brings holds one (so the versions after it
                                # are asked for now), a file a move adds holds nothing (it is read, and followed
                                # in the next round if it does hold one).
                                missing[oid] = None
                                got = state.get(path, 0) or (
                                    -1 if (sha, path) in added or any(path in o for o in others) else 0)
                            bits = memo[oid] = got
                if bits or path in state:
                    if new is None:
                        new = dict(state)
                    if bits:
                        new[path] = bits
                    else:
                        new.pop(path, None)
            if new is not None:
                state = new
            states[sha] = state
            if missing is not None:
                continue
            self.order[sha] = n
            self.info[sha] = rc
            present = presents.get(id(state)) if new is None and state is not empty else None
            if present is None:
                present = 0
                for bits in state.values():
                    present |= bits
                presents[id(state)] = present
            self.present[sha] = present
            reach = present
            for p in rc.parents:
                reach |= self.reach.get(p, 0)
            self.reach[sha] = reach


def _ref_kind(name: str) -> tuple[str, str]:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag"), ("refs/remotes/", "remote")):
        if name.startswith(prefix):
            return kind, name[len(prefix):]
    return "other", name


def analyze(root: Path, request: ScanRequest | None = None, agent_logs: list[str] | None = None,
            progress: Callable[[Chunk], None] | None = None,
            phase: Callable[[str, int | None], None] | None = None) -> ExposureReport:
    """Exposure of every secret in the history of the repository at ``root``.

    ``request`` is a :class:`scanner.api.ScanRequest` carrying config (exclusions, disabled rules, baseline); its
    modes are replaced by a history scan. ``agent_logs``: None skips transcripts, [] scans the default locations.
    ``phase(name, total)`` announces each step (history scan, reading values, walking history, refs) and
    ``progress`` is called with a chunk per commit done in it.
    """
    from scanner.api import ScanRequest, scan

    def step(name: str, total: int | None) -> None:
        if phase is not None:
            phase(name, total)

    top = git.require_repo(root, "exposure", bare=True)
    req = request if request is not None else ScanRequest(root=top)
    baseline = req.baseline
    # A baseline silences known findings in the *tree*; a committed secret stays exposed whatever its baseline
    # status says (accepted, even rotated: the old value is still in history). Only false positives are left out.
    req = dataclasses.replace(req, root=top, modes=("history",), paths=(), text=None, baseline=None)
    step("scanning history", None)
    result = scan(req, progress=progress)
    report = ExposureReport(notes=list(result.notes), findings=len(result.findings), skipped=len(result.skipped))
    if result.skipped:
        report.notes.append(f"{len(result.skipped)} git object(s) could not be read and were skipped "
                            "(`unleak scan --history` names them)")
    findings = result.findings
    # Findings read from the scan cache carry no value (it stores none); the presence check needs the values. Each
    # secret's value is cut out of the file version where it was found (line and columns), and kept only if it
    # hashes to the finding's fingerprint; the commits of any secret not recovered that way are scanned again,
    # without the cache.
    values: dict[str, Secret] = {}
    firsts: dict[str, Finding] = {}
    for f in findings:
        if f.commit is not None and not f.secret.reveal():
            firsts.setdefault(f.fingerprint, f)
    if firsts:
        step("reading values", len(firsts))
        values = _values_from_blobs(top, list(firsts.values()))
        need = sorted({f.commit.sha for fp, f in firsts.items() if fp not in values and f.commit is not None})
        if need:
            again = scan(dataclasses.replace(req, revs=("--no-walk", *need), cache=False), progress=progress)
            values.update((f.fingerprint, f.secret) for f in again.findings
                          if f.secret.reveal() and f.fingerprint not in values)
    if baseline is not None:
        kept = [f for f in findings if not _false_positive(baseline, f)]
        if len(kept) != len(findings):
            report.notes.append(f"{len(findings) - len(kept)} finding(s) marked false-positive in the baseline "
                                "were left out")
        findings = kept
    seen = _group(findings, values)
    fps = list(seen)
    raw_values = [seen[fp].secret.reveal().encode("utf-8") for fp in fps]
    step("walking history", (result.stats.commits or None) if raw_values else None)
    blob_cache = _BlobCache(git.common_git_dir(top), fps).load() if req.cache and raw_values else None
    pres = _Presence(top, raw_values, added={(f.commit.sha, f.path) for f in findings if f.commit is not None},
                     unreadable={(s.commit, s.path) for s in result.skipped}, progress=progress, phase=phase,
                     known=blob_cache.known if blob_cache is not None else None)
    if blob_cache is not None and not pres.error:
        blob_cache.save(pres.answers())
    if pres.error:
        report.notes.append(f"the walk of history stopped early ({pres.error}); presence and refs are partial")
    report.commits_scanned = len(pres.order) or git.count_commits(top, ["--all"])
    step("reading refs", None)

    head = git.head_sha(top)
    head_bits = pres.present.get(head, 0) if head else 0
    refs = [(name, sha) for name, sha in git.ref_targets(top, ("refs/",)) if sha in pres.reach]

    in_logs: dict[str, dict[str, None]] = {fp: {} for fp in fps}
    if agent_logs is not None:
        report.agent_logs_scanned = True
        _match_agent_logs(req, agent_logs, seen, in_logs)

    def commit_of(sha: str) -> CommitInfo:
        return pres.info[sha].info

    # One pass over the commits whose trees hold any secret: per secret, how many, the earliest and the latest (by
    # commit time, then history order).
    held = [0] * len(fps)
    first_of: list[tuple[int, int, str] | None] = [None] * len(fps)
    last_of: list[tuple[int, int, str] | None] = [None] * len(fps)
    # Few distinct bitsets (one per change of what the trees hold): first, last and count per bitset, then per bit.
    groups: dict[int, list[Any]] = {}
    for sha, bits in pres.present.items():
        if not bits:
            continue
        key = (pres.info[sha].timestamp, pres.order[sha], sha)
        g = groups.get(bits)
        if g is None:
            groups[bits] = [key, key, 1]
        else:
            if key < g[0]:
                g[0] = key
            if key > g[1]:
                g[1] = key
            g[2] += 1
    for bits, (lo, hi, count) in groups.items():
        while bits:
            low = bits & -bits
            i = low.bit_length() - 1
            bits ^= low
            held[i] += count
            f0, l0 = first_of[i], last_of[i]
            if f0 is None or lo < f0:
                first_of[i] = lo
            if l0 is None or hi > l0:
                last_of[i] = hi
    for i, fp in enumerate(fps):
        s = seen[fp]
        bit = 1 << i
        f0, l0 = first_of[i], last_of[i]
        if f0 is not None and l0 is not None:
            first_ci, last_ci = commit_of(f0[2]), commit_of(l0[2])
        elif s.commits:
            # Not found byte for byte in any blob (a file too large to open, or bytes that are not UTF-8 around
            # it): fall back to the commits whose added lines held it.
            first_ci, last_ci = s.commits[0], s.commits[-1]
            if not all(p in MESSAGE_PATHS.values() for p in s.paths):  # only in messages: nothing to explain
                report.notes.append(f"{s.preview}: not found in any file version byte for byte (larger than "
                                    f"{MAX_BLOB // (1024 * 1024)} MB, or not UTF-8); first/last are the commits that "
                                    "added it")
        else:
            continue
        kinds: dict[str, list[str]] = {"branch": [], "tag": [], "remote": [], "other": []}
        tips: list[str] = []
        for name, sha in refs:
            kind, short = _ref_kind(name)
            if pres.reach[sha] & bit:
                kinds[kind].append(short)
            if pres.present.get(sha, 0) & bit:
                tips.append(short if kind != "other" else name)
        report.exposures.append(Exposure(
            fingerprint=fp, rule_id=s.rule_id, title=s.title, preview=s.preview, paths=tuple(s.paths),
            first=first_ci, last=last_ci, commits=held[i], in_head=bool(head_bits & bit),
            branches=tuple(kinds["branch"]), tags=tuple(kinds["tag"]), remote_refs=tuple(kinds["remote"]),
            other_refs=tuple(kinds["other"]), tips=tuple(tips), agent_logs=tuple(in_logs[fp]), secret=s.secret,
        ))
    # Oldest exposure first; by commit time and history order (ISO dates in mixed time zones do not sort as text).
    def age(e: Exposure) -> tuple[int, int, str]:
        rc = pres.info.get(e.first.sha)
        return (rc.timestamp, pres.order[rc.sha], e.fingerprint) if rc else (0, 0, e.fingerprint)

    report.exposures.sort(key=age)
    report.rotation = _rotation(report.exposures, result.rules)
    return report


def _values_from_blobs(top: Path, findings: list[Finding]) -> dict[str, Secret]:
    """fingerprint → value for each finding whose value can be cut out of its file version (one streamed
    ``cat-file`` for all). A cut is kept only if it hashes to the finding's fingerprint, so a wrong line or column
    (a file whose bytes are not UTF-8 around the value, an unusual source) costs a rescan, never a wrong value."""
    names = [f"{f.commit.sha}:{f.path}" if f.commit is not None and f.path else "\n" for f in findings]
    out: dict[str, Secret] = {}
    for f, obj in zip(findings, git.cat_file_stream(top, names), strict=True):
        if obj is not None and obj[0] == "blob":
            value = _value_at(obj[1].decode("utf-8", "replace"), f)
            if value is not None:
                out[f.fingerprint] = Secret(value)
    return out


_MAX_VALUE_LINES = 200  # a multi-line value (a private key, a certificate bundle) is tried up to this many lines


def _value_at(text: str, f: Finding) -> str | None:
    """The value of ``f`` in ``text`` (the file version it was found in), or None. ``column``/``end_column`` span
    the value's first line (see :class:`Finding`); a value that goes on runs to the end of that line, and its end
    on a later line is the one whose text hashes to the fingerprint."""
    lines = text.split("\n")
    if not 1 <= f.line <= len(lines) or f.column < 1:
        return None
    line = lines[f.line - 1]
    first = line[f.column - 1:f.end_column - 1]
    if fingerprint_of(f.rule_id, first) == f.fingerprint:
        return first
    if f.end_column - 1 != len(line):
        return None
    value = first
    for nxt in lines[f.line:f.line + _MAX_VALUE_LINES]:
        for cut in range(len(nxt) + 1):
            candidate = value + "\n" + nxt[:cut]
            if fingerprint_of(f.rule_id, candidate) == f.fingerprint:
                return candidate
        value += "\n" + nxt
    return None


def _false_positive(baseline: Baseline, f: Finding) -> bool:
    entry = baseline.entries.get(f.key)
    if entry is not None and entry.status == "false-positive":
        return True
    imported = baseline.imported.get((f.path, f.sha1))
    return imported is not None and imported.status == "false-positive"


def _match_agent_logs(req: ScanRequest, paths: list[str], seen: dict[str, _Seen],
                      out: dict[str, dict[str, None]]) -> None:
    """Transcripts are scanned with the same rules (fingerprint match) and searched for the literal values: a
    value pasted into a prompt or echoed by a tool may sit where no rule's context fires (escaped JSON, a log)."""
    from scanner.api import scan

    fps = list(seen)
    match = _matcher([seen[fp].secret.reveal().encode("utf-8") for fp in fps])

    def look(chunk: Chunk) -> None:
        bits = match(chunk.text.encode("utf-8"))
        for i, fp in enumerate(fps):
            if bits >> i & 1:
                out[fp].setdefault(chunk.path, None)

    logs = scan(dataclasses.replace(req, modes=("agent-logs",), paths=tuple(paths), baseline=None), progress=look)
    for f in logs.findings:
        if f.fingerprint in out:
            out[f.fingerprint].setdefault(f.path, None)


def _rotation(exposures: list[Exposure], rules: dict[str, Rule]) -> list[RotationItem]:
    by_rule: dict[str, list[Exposure]] = {}
    for e in exposures:
        by_rule.setdefault(e.rule_id, []).append(e)
    items = []
    for rule_id, group in sorted(by_rule.items()):
        rule = rules.get(rule_id)
        revoke = rule.revoke if rule is not None else ""
        items.append(RotationItem(rule_id=rule_id, title=group[0].title, revoke=revoke,
                                  fingerprints=tuple(e.fingerprint for e in group),
                                  previews=tuple(e.preview for e in group)))
    return items


def select(report: ExposureReport, prefixes: Iterable[str]) -> list[Exposure]:
    """Exposures chosen by fingerprint (or a unique prefix of at least 6 characters); all when none given."""
    wanted = list(prefixes)
    if not wanted:
        return list(report.exposures)
    chosen: dict[str, Exposure] = {}
    for p in wanted:
        if len(p) < 6:
            raise UsageError(f"fingerprint {p!r} is too short; give at least 6 characters (see `unleak exposure`)")
        hits = [e for e in report.exposures if e.fingerprint.startswith(p)]
        if len(hits) != 1:
            what = "no secret in history" if not hits else f"{len(hits)} secrets"
            raise UsageError(f"fingerprint {p!r} matches {what}; run `unleak exposure` to list fingerprints")
        chosen[hits[0].fingerprint] = hits[0]
    return list(chosen.values())


# ----------------------------------------------------------------------------------------------------- rendering

NO_REVOKE = "rotate it where it was issued (the rule names no revoke page)"


_SHOW_REFS = 8  # text and markdown list this many names per kind; JSON lists all


def _names(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:_SHOW_REFS])
    return shown + (f" (+{len(names) - _SHOW_REFS} more)" if len(names) > _SHOW_REFS else "")


def _refs_line(e: Exposure) -> str:
    kinds = (("branches", e.branches), ("tags", e.tags), ("remote", e.remote_refs), ("other", e.other_refs))
    return "; ".join(f"{label} {_names(names)}" for label, names in kinds if names) or "no ref (unreachable)"


def _short(c: CommitInfo) -> str:
    return f"{c.sha[:10]} {c.author} {c.date}"


def counted(report: ExposureReport) -> str:
    """How the report counts, next to how `scan --history` counts."""
    return (f"distinct secrets by fingerprint; `unleak scan --history` counts {report.findings} finding(s), one per "
            "commit, path and line where a secret was added")


def render_text(report: ExposureReport) -> str:
    if not report.exposures:
        return f"no secrets in history ({report.commits_scanned} commits)\n"
    out = [f"{len(report.exposures)} secret(s) exposed in history ({report.commits_scanned} commits)", counted(report),
           ""]
    for e in report.exposures:
        flags = ["IN HEAD" if e.in_head else "not in HEAD", "PUSHED" if e.pushed else "not pushed"]
        if report.agent_logs_scanned:
            flags.append("IN AGENT LOGS" if e.agent_logs else "not in agent logs")
        out.append(f"{e.preview}  {e.rule_id} {e.title}  [{', '.join(flags)}]")
        out.append(f"  fingerprint  {e.fingerprint}")
        out.append(f"  paths        {', '.join(e.paths)}")
        out.append(f"  first        {_short(e.first)}")
        out.append(f"  last present {_short(e.last)}  ({e.commits} commit(s) hold it)")
        if report.verdict(e.fingerprint):
            out.append(f"  verified     {report.verdict(e.fingerprint)}")
        out.append(f"  reachable    {_refs_line(e)}")
        if e.tips:
            out.append(f"  still in tip {_names(e.tips)}")
        if e.agent_logs:
            out.append(f"  agent logs   {', '.join(e.agent_logs)}")
        out.append("")
    out.append("rotation checklist (rotate before purging history; a purge does not un-leak a pushed secret):")
    for r in report.rotation:
        live = report.live(r.fingerprints)
        out.append(f"  [ ] {r.rule_id} {r.title}: {len(r.fingerprints)} secret(s) "
                   f"({', '.join(r.previews)}){f' — {live} LIVE' if live else ''}")
        out.append(f"      revoke: {r.revoke or NO_REVOKE}")
    out.extend(f"note: {n}" for n in report.notes)
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ExposureReport) -> str:
    out = ["# Secret exposure report", ""]
    if not report.exposures:
        return "\n".join([*out, f"No secrets in history ({report.commits_scanned} commits scanned).", ""])
    out += [f"{len(report.exposures)} secret(s) exposed in history ({report.commits_scanned} commits scanned).",
            counted(report), "",
            "| secret | rule | first commit | last present | in HEAD | pushed | agent logs | branches | tags |"
            + (" verified |" if report.verifications else ""),
            "|---|---|---|---|---|---|---|---|---|" + ("---|" if report.verifications else "")]
    for e in report.exposures:
        logs = ("yes" if e.agent_logs else "no") if report.agent_logs_scanned else "not scanned"
        out.append("| " + " | ".join(_md(x) for x in (
            f"`{e.preview}`", f"{e.rule_id} {e.title}", f"`{e.first.sha[:10]}` {e.first.author} {e.first.date}",
            f"`{e.last.sha[:10]}` {e.last.date}", "**yes**" if e.in_head else "no", "**yes**" if e.pushed else "no",
            logs, _names(e.branches) or "-", _names(e.tags) or "-",
            *([report.verdict(e.fingerprint) or "-"] if report.verifications else []))) + " |")
    out += ["", "## Rotation checklist", "", "Rotate first: once pushed, a secret is compromised even if history is "
            "rewritten.", ""]
    for r in report.rotation:
        where = f"<{r.revoke}>" if r.revoke.startswith("https://") else (r.revoke or NO_REVOKE)
        live = report.live(r.fingerprints)
        out.append(f"- [ ] **{r.rule_id} {_md(r.title)}** ({', '.join(f'`{p}`' for p in r.previews)})"
                   f"{f' — **{live} live**' if live else ''}: {where}")
    if report.notes:
        out += ["", *[f"> note: {_md(n)}" for n in report.notes]]
    return "\n".join(out) + "\n"


def render(report: ExposureReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "text":
        return render_text(report)
    raise UsageError(f"unknown exposure format {fmt!r}; use text, markdown or json")
