"""What a scan returns: findings, what was dropped and why (by filter name), counts, notes and skipped objects.

Its own module so that reports, sources and front ends can use a result without importing the engine.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from scanner.finding import Finding, Skipped
from scanner.rules.base import Rule


@dataclass
class Stats:
    files: int = 0
    archive_members: int = 0  # text files read out of archives (scanner.archives), besides ``files``
    bytes: int = 0
    chunks: int = 0
    commits: int = 0
    binary_skipped: int = 0
    unreadable: int = 0
    too_large: int = 0
    symlinks_skipped: int = 0
    submodules_skipped: int = 0
    special_skipped: int = 0  # FIFOs, sockets and devices: never opened (a FIFO's read would wait for a writer)

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Explanation:
    """Why a candidate was dropped: rule, place and the filter's *name*; never the value."""

    rule_id: str
    path: str
    line: int
    filter: str
    commit: str = ""  # the commit whose added lines held the candidate (history, range), else ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"rule_id": self.rule_id, "path": self.path, "line": self.line, "filter": self.filter}
        if self.commit:
            d["commit"] = self.commit
        return d


@dataclass(frozen=True)
class Rescan:
    """How a rescan with nothing new would report differently from a run that left every commit it read in the
    scan cache (but those with an unreadable object, which no run caches): it adds none of the bytes and chunks read
    from the cached commits' files and messages (``stats``, what to add), and says those came from the cache
    (``note``, inserted at ``note_at`` or, with ``replaces``, replacing the note there). :mod:`unleak.replay`
    records that report at once, so the first rescan is replayed too."""

    stats: dict[str, int]
    note_at: int
    note: str | None  # None: a rescan reads no commit from the cache (each has an unreadable object)
    replaces: bool


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    dropped: Counter[str] = field(default_factory=Counter)
    explanations: list[Explanation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baselined: int = 0
    rules: dict[str, Rule] = field(default_factory=dict)
    # Everything found, baselined or not (for `baseline update` and stale-entry reports).
    all_findings: list[Finding] = field(default_factory=list)
    # `--verify`: fingerprint → scanner.verify.Verification (typed loosely so the engine never imports verify).
    verifications: dict[str, Any] = field(default_factory=dict)
    verified_first: bool = False  # order reports live credentials first
    # What history holds but git could not read (scanner.git.Skipped): the rest was scanned.
    skipped: list[Skipped] = field(default_factory=list)
    # Configured patterns stopped for running past their time limit (named, as rules.base.UserPattern.what): the
    # rest of the scan ran without them.
    stopped: list[str] = field(default_factory=list)
    # A history scan that read every commit from the scan cache, and scanned nothing anew (unleak.replay).
    replayable: bool = False
    # A history scan that read commits anew and left every one in the scan cache: how a rescan would differ.
    rescan: Rescan | None = None

    def as_rescan(self) -> ScanResult | None:
        """The result a rescan with nothing new would give (None when this run cannot tell: see :class:`Rescan`)."""
        r = self.rescan
        if r is None:
            return None
        stats = Stats(**{k: v + r.stats.get(k, 0) for k, v in self.stats.to_dict().items()})
        notes = list(self.notes)
        if r.note is not None:
            if r.replaces:
                notes[r.note_at] = r.note
            else:
                notes.insert(r.note_at, r.note)
        return replace(self, stats=stats, notes=notes, rescan=None, replayable=True)
