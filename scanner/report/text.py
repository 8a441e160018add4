"""Human output: grouped by file, one line per finding, a summary line."""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from scanner.engine import ScanResult
from scanner.finding import Finding

_COL = {"high": "\x1b[1;31m", "medium": "\x1b[33m", "low": "\x1b[36m", "path": "\x1b[1m", "dim": "\x1b[2m",
        "reset": "\x1b[0m"}


def _c(kind: str, s: str, color: bool) -> str:
    return f"{_COL[kind]}{s}{_COL['reset']}" if color else s


def _sanitize(s: str) -> str:
    # Paths come from the scanned repository: strip control characters so a file name cannot drive the terminal.
    return "".join(ch if ch.isprintable() else "?" for ch in s)


# A secret found in this many places or more is one entry of the grouped report (sqlalchemy's history has one
# demo password in 1,024 places: listing each buries every other finding).
GROUP_AT = 3


def _entry(f: Finding, color: bool) -> str:
    conf = _c(f.confidence.value, f"{f.confidence.value:<6}", color)
    line = f"{f.rule_id}  {conf}  {f.title}  {f.preview}"
    if f.label:
        line += f"  [{f.label}]"
    if f.context:
        line += f"  {_sanitize(f.context)}"
    return line


def _place(f: Finding) -> str:
    where = f"{_sanitize(f.path)}:{f.line}"
    if f.commit is not None:
        where += f" (commit {f.commit.sha[:10]}, {f.commit.date[:10]})"
    return where


def render(result: ScanResult, color: bool = False, group: bool = False) -> str:
    out: list[str] = []
    findings = sorted(result.findings, key=lambda f: (f.path, f.line, f.column, f.commit.date if f.commit else ""))
    repeated: dict[tuple[str, str], list[Finding]] = {}
    if group:
        for f in findings:
            repeated.setdefault((f.rule_id, f.fingerprint), []).append(f)
        repeated = {k: v for k, v in repeated.items() if len(v) >= GROUP_AT}
    for path, fs in groupby((f for f in findings if (f.rule_id, f.fingerprint) not in repeated), key=lambda f: f.path):
        out.append(_c("path", _sanitize(path), color))
        for f in fs:
            line = f"  {f.line}:{f.column}  {_entry(f, color)}"
            if f.commit is not None:
                line += _c("dim", f"  (commit {f.commit.sha[:10]}, {_sanitize(f.commit.author)}, "
                                  f"{f.commit.date[:10]})", color)
            out.append(line)
        out.append("")
    if repeated:
        out.append(_c("path", "same secret in several places (--no-group lists each)", color))
        for places in sorted(repeated.values(), key=lambda v: -len(v)):
            by_time = sorted(places, key=lambda f: (f.commit.date if f.commit else "", f.path, f.line))
            files = len({f.path for f in places})
            out.append(f"  {_entry(places[0], color)}")
            out.append(f"      {len(places):,} places in {files:,} file{'s' if files != 1 else ''}; "
                       f"first {_place(by_time[0])}, last {_place(by_time[-1])}")
        out.append("")
    out.append(summary(result))
    for note in result.notes:
        out.append(f"note: {note}")
    return "\n".join(out) + "\n"


def summary(result: ScanResult) -> str:
    n = len(result.findings)
    files = len({f.path for f in result.findings})
    by = Counter(f.confidence.value for f in result.findings)
    s = result.stats
    parts: list[str] = []
    if n:
        detail = ", ".join(f"{by[k]} {k}" for k in ("high", "medium", "low") if by[k])
        parts.append(f"{n} secret{'s' if n != 1 else ''} in {files} file{'s' if files != 1 else ''} ({detail})")
    else:
        parts.append("no secrets found")
    scanned = []
    if s.commits:
        scanned.append(f"{s.commits} commits")
    if s.files:
        scanned.append(f"{s.files} files")
    if not scanned:
        scanned.append(f"{s.chunks} chunks")
    parts.append("scanned " + ", ".join(scanned))
    skipped = [f"{v} {k.replace('_', ' ')}" for k, v in
               (("binary", s.binary_skipped), ("unreadable", s.unreadable), ("too large", s.too_large),
                ("symlinks", s.symlinks_skipped), ("submodules", s.submodules_skipped)) if v]
    if skipped:
        parts.append("skipped " + ", ".join(skipped))
    if result.baselined:
        parts.append(f"{result.baselined} in baseline")
    return " · ".join(parts)
