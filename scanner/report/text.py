"""Human output: grouped by file, one line per finding, a summary line."""

from __future__ import annotations

from collections import Counter
from itertools import groupby

from scanner.finding import Finding, Skipped
from scanner.result import ScanResult
from scanner.words import plural, printable

_COL = {"high": "\x1b[1;31m", "medium": "\x1b[33m", "low": "\x1b[36m", "unlikely": "\x1b[2m", "path": "\x1b[1m",
        "dim": "\x1b[2m", "reset": "\x1b[0m"}


def _c(kind: str, s: str, color: bool) -> str:
    return f"{_COL[kind]}{s}{_COL['reset']}" if color else s


_VERDICT = {"valid": "high", "unknown": "dim", "invalid": "dim"}
# A secret found in this many places or more is one entry of the grouped report (sqlalchemy's history has one
# demo password in 1,024 places: listing each buries every other finding).
GROUP_AT = 3


def _rank(result: ScanResult, fp: str) -> int:
    from scanner.verify.model import rank

    return rank(result.verifications.get(fp))


def _entry(f: Finding, color: bool, result: ScanResult) -> str:
    conf = _c(f.confidence.value, f"{f.confidence.value:<6}", color)
    line = f"{f.rule_id}  {conf}  {f.title}  {f.preview}"
    if f.label:
        line += f"  [{f.label}]"
    if f.context:
        line += f"  {printable(f.context)}"
    verdict = result.verifications.get(f.fingerprint)
    if verdict is not None:
        line += "  " + _c(_VERDICT[verdict.status.value], printable(f"[{verdict.short()}]"), color)
    return line


def _place(f: Finding) -> str:
    where = f"{printable(f.path)}:{f.line}"
    if f.commit is not None:
        where += f" (commit {f.commit.sha[:10]}, {f.commit.date[:10]})"
    return where


def render(result: ScanResult, color: bool = False, group: bool = False) -> str:
    out: list[str] = []
    findings = sorted(result.findings, key=lambda f: (f.path, f.line, f.column, f.commit.date if f.commit else ""))
    if result.verified_first:
        # Files holding a live credential first; inside a file, the same order of rank.
        best = {p: min(_rank(result, f.fingerprint) for f in fs) for p, fs in groupby(findings, key=lambda f: f.path)}
        findings.sort(key=lambda f: (best[f.path], f.path, _rank(result, f.fingerprint), f.line, f.column))
    repeated: dict[tuple[str, str], list[Finding]] = {}
    if group:
        for f in findings:
            repeated.setdefault((f.rule_id, f.fingerprint), []).append(f)
        repeated = {k: v for k, v in repeated.items() if len(v) >= GROUP_AT}
    for path, fs in groupby((f for f in findings if (f.rule_id, f.fingerprint) not in repeated), key=lambda f: f.path):
        out.append(_c("path", printable(path), color))
        for f in fs:
            line = f"  {f.line}:{f.column}  {_entry(f, color, result)}"
            if f.commit is not None:
                line += _c("dim", f"  (commit {f.commit.sha[:10]}, {printable(f.commit.author)}, "
                                  f"{f.commit.date[:10]})", color)
            out.append(line)
            if f.line_context:
                # The line itself, every literal shaped (length and character classes): judged without the value.
                out.append(_c("dim", f"      │ {printable(f.line_context.strip())}", color))
        out.append("")
    if repeated:
        out.append(_c("path", "same secret in several places (--no-group lists each)", color))
        for places in sorted(repeated.values(), key=lambda v: -len(v)):
            by_time = sorted(places, key=lambda f: (f.commit.date if f.commit else "", f.path, f.line))
            files = len({f.path for f in places})
            out.append(f"  {_entry(places[0], color, result)}")
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
        detail = ", ".join(f"{by[k]} {k}" for k in ("high", "medium", "low", "unlikely") if by[k])
        parts.append(f"{plural(n, 'secret')} in {plural(files, 'file')} ({detail})")
    else:
        parts.append("no secrets found")
    scanned = []
    if s.commits:
        scanned.append(plural(s.commits, "commit"))
    if s.files:
        scanned.append(plural(s.files, "file"))
    if s.archive_members:
        scanned.append(plural(s.archive_members, "archive member"))
    if not scanned:
        scanned.append(plural(s.chunks, "chunk"))
    parts.append("scanned " + ", ".join(scanned))
    skipped = [f"{v} {k.replace('_', ' ')}" for k, v in
               (("binary", s.binary_skipped), ("unreadable", s.unreadable), ("too large", s.too_large),
                ("symlinks", s.symlinks_skipped), ("submodules", s.submodules_skipped),
                ("FIFO/socket/device", s.special_skipped)) if v]
    if result.skipped:
        skipped.append(f"{len(result.skipped)} unreadable in git")
    if skipped:
        parts.append("skipped " + ", ".join(skipped))
    if result.baselined:
        parts.append(f"{result.baselined} in baseline")
    if result.verifications:
        seen = {f.fingerprint: result.verifications[f.fingerprint] for f in result.findings
                if f.fingerprint in result.verifications}
        by_status = Counter(v.status.value for v in seen.values())
        parts.append("verified: " + ", ".join(f"{by_status[k]} {k}" for k in ("valid", "invalid", "unknown")
                                               if by_status[k]))
    return " · ".join(parts)


_SHOW_SKIPPED = 5


def skipped_warning(skipped: list[Skipped], strict: bool = False) -> str:
    """One warning naming what history holds but git could not read (commit and path; never content)."""
    commits = {s.commit for s in skipped}
    shown = "; ".join(f"{s.commit[:12]} {printable(s.path) if s.path else '(whole commit)'}: {s.reason}"
                      for s in skipped[:_SHOW_SKIPPED])
    more = f" (+{len(skipped) - _SHOW_SKIPPED} more, listed under \"skipped_objects\" in --format json)" \
        if len(skipped) > _SHOW_SKIPPED else ""
    tail = ("; --strict: exit 2" if strict else
            "; everything else was scanned (--strict makes this exit 2)")
    return (f"warning: {len(skipped)} unreadable git object(s) in {len(commits)} commit(s) were skipped: "
            f"{shown}{more}{tail}")
