"""Each secret's value, cut out of the file version where the history scan found it.

Findings read from the scan cache carry no value (it holds none, invariant 1); the presence walk needs the values.
A value is cut out of its file version (the finding's line and columns) and kept only if it hashes to the finding's
fingerprint, so a wrong line or column costs a rescan of that commit, never a wrong value.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from scanner import archives, git
from scanner.finding import Finding, Secret
from scanner.finding import fingerprint as fingerprint_of
from scanner.sources import DEFAULT_MAX_FILE_SIZE, MESSAGE_PATHS


def values_from_blobs(top: Path, findings: list[Finding]) -> dict[str, Secret]:
    """fingerprint → value for each finding whose value can be cut out of its file version (one streamed
    ``cat-file`` for all) or out of its commit or tag message (one ``git log`` for the commits, one ``for-each-ref``
    for the tags). A cut is kept only if it hashes to the finding's fingerprint, so a wrong line or column (a file
    whose bytes are not UTF-8 around the value, an unusual source) costs a rescan, never a wrong value."""
    in_files = [f for f in findings if f.source not in MESSAGE_PATHS]
    names = [f"{f.commit.sha}:{archives.split(f.path)[0] if f.source == archives.SOURCE else f.path}"
             if f.commit is not None and f.path else "\n" for f in in_files]
    out: dict[str, Secret] = {}
    for f, obj in zip(in_files, git.cat_file_stream(top, names), strict=True):
        if obj is not None and obj[0] == "blob":
            data = _member(obj[1], f.path) if f.source == archives.SOURCE else obj[1]
            value = value_at(data.decode("utf-8", "replace"), f) if data is not None else None
            if value is not None:
                out[f.fingerprint] = Secret(value)
    out.update(_values_from_messages(top, [f for f in findings if f.source in MESSAGE_PATHS]))
    return out


def _member(blob: bytes, path: str) -> bytes | None:
    """The bytes of the member ``path`` names (``a.zip!/dir/f.env``) in ``blob``, the archive's file version."""
    archive, member = archives.split(path)
    head = blob[:archives.HEAD]
    depth = member.count(archives.SEPARATOR) + 1
    budget = archives.Counts()
    return next((data for name, data in archives.members(blob, posixpath.basename(archive), head,
                                                         DEFAULT_MAX_FILE_SIZE, depth, budget) if name == member), None)


def _values_from_messages(top: Path, findings: list[Finding]) -> dict[str, Secret]:
    """The values of findings in commit and tag messages, cut out of the same message text the scan read."""
    if not findings:
        return {}
    texts: dict[tuple[str, str], str] = {}
    try:
        commits = sorted({f.commit.sha for f in findings if f.source == "commit-message" and f.commit is not None})
        texts.update((("commit-message", info.sha), text) for info, text in git.commit_messages(top, [], commits))
        if any(f.source == "tag-message" for f in findings):
            texts.update((("tag-message", info.sha), text) for _name, info, text in git.tag_messages(top))
    except git.GitError:  # then those commits are scanned again, as any value not recovered
        return {}
    out: dict[str, Secret] = {}
    for f in findings:
        text = texts.get((f.source, f.commit.sha)) if f.commit is not None else None
        value = value_at(text, f) if text is not None else None
        if value is not None:
            out[f.fingerprint] = Secret(value)
    return out


_MAX_VALUE_LINES = 200  # a multi-line value (a private key, a certificate bundle) is tried up to this many lines


def value_at(text: str, f: Finding) -> str | None:
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
