"""Human output: grouped by file, one line per finding, a summary line."""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from scanner.engine import ScanResult

_COL = {"high": "\x1b[1;31m", "medium": "\x1b[33m", "low": "\x1b[36m", "path": "\x1b[1m", "dim": "\x1b[2m",
        "reset": "\x1b[0m"}


def _c(kind: str, s: str, color: bool) -> str:
    return f"{_COL[kind]}{s}{_COL['reset']}" if color else s


def _sanitize(s: str) -> str:
    # Paths come from the scanned repository: strip control characters so a file name cannot drive the terminal.
    return "".join(ch if ch.isprintable() else "?" for ch in s)


def render(result: ScanResult, color: bool = False) -> str:
    out: list[str] = []
    findings = sorted(result.findings, key=lambda f: (f.path, f.line, f.column, f.commit.date if f.commit else ""))
    for path, group in groupby(findings, key=lambda f: f.path):
        out.append(_c("path", _sanitize(path), color))
        for f in group:
            conf = _c(f.confidence.value, f"{f.confidence.value:<6}", color)
            line = f"  {f.line}:{f.column}  {f.rule_id}  {conf}  {f.title}  {f.preview}"
            if f.label:
                line += f"  [{f.label}]"
            if f.context:
                line += f"  {_sanitize(f.context)}"
            if f.commit is not None:
                line += _c("dim", f"  (commit {f.commit.sha[:10]}, {_sanitize(f.commit.author)}, "
                                  f"{f.commit.date[:10]})", color)
            out.append(line)
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
