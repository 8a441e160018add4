"""Git's patch output as data: added lines per file and commit, parsed from ``git diff``/``git log -p`` text (or a
unified diff an agent wrote). Pure functions; nothing here starts git."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from operator import add

from scanner.finding import CommitInfo
from scanner.git.proc import (
    COMMIT_MARK,
)
from scanner.lazyre import lazy

# --------------------------------------------------------------------------------------------- patch parsing
_HUNK = lazy(r"^(@{2,}) (?:-\d+(?:,\d+)? )+\+(\d+)(?:,(\d+))? @{2,}")


@dataclass
class FilePatch:
    path: str
    added: list[tuple[int, str]] = field(default_factory=list)
    binary: bool = False


def _strip_prefix(p: str) -> str:
    p = p.rstrip("\n").rstrip("\r")
    if p.startswith('"') and p.endswith('"'):
        # A C-quoted name (git quotes a tab, a quote, a backslash or a control character in it): a tab inside is
        # part of the name.
        p = p[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode(
            "utf-8", "replace")
    elif "\t" in p:  # some diff tools append a timestamp after a tab
        p = p.split("\t", 1)[0]
    return p[2:] if p[:2] in ("a/", "b/") else p


_QUOTED_A = re.compile(r'"a/(?:[^"\\]|\\.)*" ')


def _header_path(rest: str) -> str:
    """The new path of a ``diff --git a/X b/Y`` line (``rest`` is what follows ``diff --git ``): a best guess, as
    the names may hold spaces, until a ``+++`` line names it. Either side may be C-quoted."""
    if rest.startswith('"'):
        m = _QUOTED_A.match(rest)
        if m is not None:
            return _strip_prefix(rest[m.end():])
    elif rest.endswith('"') and ' "b/' in rest:
        return _strip_prefix(rest[rest.rindex(' "b/') + 1:])
    half = rest.split(" b/", 1)
    return half[1] if len(half) == 2 else _strip_prefix(rest)


def _commit_info(marker_line: str) -> CommitInfo:
    """The commit of a :data:`LOG_FORMAT` marker line."""
    parts = marker_line[len(COMMIT_MARK):].split("\x01")
    parts += [""] * (4 - len(parts))
    return CommitInfo(sha=parts[0], author=parts[1], email=parts[2], date=parts[3])


def parse_patch(lines: Iterator[str], on_commit: Callable[[CommitInfo], None] | None = None
                ) -> Iterator[tuple[CommitInfo | None, FilePatch]]:
    """Added lines of a unified (or combined) diff, per file, with their new-file line numbers.

    Accepts ``git diff``/``git log -p`` output (with commit marker lines, see :data:`COMMIT_MARK`) and plain
    unified diffs as coding agents write them. Hunk line counts decide where a hunk ends, so an added line that
    itself starts with ``++`` is never taken for a file header.
    """
    commit: CommitInfo | None = None
    current: FilePatch | None = None
    new_left = 0
    old_left = 0
    parents = 1
    lineno = 0

    def flush() -> Iterator[tuple[CommitInfo | None, FilePatch]]:
        if current is not None and (current.added or current.binary):
            yield commit, current

    for raw in lines:
        line = raw.rstrip("\n")
        if line.endswith("\r"):
            line = line[:-1]
        if new_left > 0 or old_left > 0:
            prefix, body = line[:parents], line[parents:]
            if len(prefix) == parents and set(prefix) <= {"+", "-", " "}:
                if "-" in prefix:
                    old_left -= 1
                    continue
                # In a combined diff only lines new against *every* parent are new content (evil merges).
                if current is not None and prefix == "+" * parents:
                    current.added.append((lineno, body))
                lineno += 1
                new_left -= 1
                if prefix == " " * parents:
                    old_left -= 1
                continue
            if line.startswith("\\"):  # "\ No newline at end of file"
                continue
            new_left = old_left = 0  # malformed counts: fall through to header parsing
        if line.startswith(COMMIT_MARK):
            yield from flush()
            current = None
            commit = _commit_info(line)
            if on_commit is not None:
                on_commit(commit)
            continue
        if line.startswith("diff --git ") or line.startswith("diff --cc ") or line.startswith("diff --combined "):
            yield from flush()
            current = FilePatch(path="")
            if line.startswith("diff --git "):
                # Best guess until "+++ b/…" names it (binary files have no +++ line).
                current.path = _header_path(line[len("diff --git "):])
            else:
                current.path = line.split(" ", 2)[2]
            continue
        if line.startswith("--- ") and (current is None or not current.added):
            if current is None:
                current = FilePatch(path=_strip_prefix(line[4:]))
            continue
        if line.startswith("+++ "):
            target = line[4:]
            if current is None:
                current = FilePatch(path="")
            current.path = "" if target.strip() == "/dev/null" else _strip_prefix(target)
            continue
        if line.startswith("Binary files ") or line.startswith("GIT binary patch"):
            if current is not None:
                current.binary = True
            continue
        m = _HUNK.match(line)
        if m:
            parents = len(m.group(1)) - 1
            lineno = int(m.group(2))
            new_left = int(m.group(3)) if m.group(3) is not None else 1
            # Old counts: sum over parents is not needed; a removed line is recognised by its '-' prefix.
            olds = re.findall(r"-\d+(?:,(\d+))?", line.split("+", 1)[0])
            old_left = max((int(o) if o else 1) for o in olds) if olds else 0
            if new_left == 0:
                lineno += 1
            if current is None:
                current = FilePatch(path="")
            continue
    yield from flush()


@dataclass
class AddedText:
    """One file's added lines in one commit, already joined: what a :class:`FilePatch` becomes in a chunk."""

    path: str
    text: str
    line_numbers: tuple[int, ...]
    binary: bool = False


# Literal-led ("\n@@", "\n+"), run over b"\n" + text: a leading literal lets the regex engine jump between
# occurrences, where a "^" anchor with re.M would try every position of a history's worth of bytes.
_HUNK_B = lazy(rb"\n@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_MARK_B = COMMIT_MARK.encode()
_ADDED_B = lazy(rb"\n\+([^\n]*)")


def _section_fallback(section: bytes) -> Iterator[FilePatch]:
    for _, fp in parse_patch(iter(section.decode("utf-8", "replace").split("\n"))):
        yield fp


def _parse_section(buf: bytes, start: int, end: int) -> AddedText | None:
    """The ``diff --git`` section ``buf[start:end]`` of ``-U0`` output without per-line work and without copying
    it: hunk headers by regex, the added lines by regex. Anything unusual returns None and the caller uses
    :func:`parse_patch` for the section."""
    hunk = buf.find(b"\n@@ ", start, end)
    head_end = hunk + 1 if hunk >= 0 else end
    header = buf[start:head_end]
    # The same path rules as parse_patch: "diff --git a/x b/x" guesses, a "+++ " line decides.
    plus = header.find(b"\n+++ ")
    if plus >= 0:
        stop = header.find(b"\n", plus + 1)
        line = header[plus + 1:stop if stop >= 0 else len(header)].decode("utf-8", "replace")
        if line.endswith("\r"):
            line = line[:-1]
        target = line[4:]
        path = "" if target.strip() == "/dev/null" else _strip_prefix(target)
    else:
        stop = header.find(b"\n")
        line = header[:stop if stop >= 0 else len(header)].decode("utf-8", "replace")
        if line.endswith("\r"):
            line = line[:-1]
        path = _header_path(line[len("diff --git "):])
    binary = (b"\nBinary files " in header or b"\nGIT binary patch" in header)
    if binary:
        return AddedText(path, "", (), binary=True) if hunk < 0 else None
    if hunk < 0:  # no hunks (mode change, rename, empty file)
        return AddedText(path, "", ())
    # From the "\n" before the first "@@": the patterns are literal-led ("\n@@", "\n+").
    heads = _HUNK_B.findall(buf, hunk, end)
    olds = sum(int(o) if o else 1 for o, _, _ in heads)
    news = [int(n) if n else 1 for _, _, n in heads]
    added = _ADDED_B.findall(buf, hunk, end)
    # With -U0 a hunk is its header, its removed lines, then its added lines, each side's last line possibly
    # followed by "\ No newline at end of file" (which parse_patch skips, and which adds nothing: the line before
    # it is whole). If the line count, less those markers, and the "+" count add up, the "+" lines are exactly the
    # added lines; otherwise let the careful parser decide.
    lines = (buf.count(b"\n", hunk, end) - (buf[end - 1:end] == b"\n")
             - buf.count(b"\n\\", hunk, end))
    if len(added) != sum(news) or lines != len(heads) + olds + sum(news):
        return None
    firsts = [int(first) for _, first, _ in heads]
    numbers = tuple(chain.from_iterable(map(range, firsts, map(add, firsts, news))))
    if not numbers:  # only removed lines
        return AddedText(path, "", ())
    text = b"\n".join(added).replace(b"\r\n", b"\n")
    if text.endswith(b"\r"):
        text = text[:-1]
    return AddedText(path, text.decode("utf-8", "replace"), numbers)
