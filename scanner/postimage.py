"""The lines around a diff's added lines that multi-line rules need, read from the post-image.

A commit (or a staged change) is scanned by its added lines. A secret that spans lines and is changed in place is
then cut off from what makes it recognisable: a private key regenerated below its unchanged ``BEGIN`` line, a
Kubernetes Secret value whose ``kind: Secret`` and ``data:`` lines did not change. A tree scan of the same commit
finds those (UL100, UL101, UL210) and a history scan must too, with the same rule id and fingerprint, or a baseline
does not carry across modes and ``exposure`` says a key is not in HEAD when it is.

:func:`widen` adds, for every added line inside such a block of the file's post-image, the block's lines (a whole
PEM block; the header and Private-Lines of a PuTTY key; the ``kind: Secret`` and ``data:`` lines of a Secret), so at
every commit the history scan sees what a tree scan sees around the changed lines. The post-image is read only for
files whose added lines look like part of such a block (:func:`needs_context`), through the caller's
``git cat-file --batch`` process.
"""

from __future__ import annotations

import bisect
import re
import sys
from collections.abc import Callable
from typing import Any

from scanner.lazyre import lazy

# A line of a base64 key body (bare, quoted, with an escaped newline, or indented in YAML).
_B64_LINE_SRC = r"^[ \t]*[\"']?[A-Za-z0-9+/]{40,}={0,2}(?:\\n)?[\"']?[ \t]*[,+]?[ \t]*$"
_YAML_ITEM_SRC = r"^[ \t]+[A-Za-z0-9_.-]{1,253}:[ \t]{0,4}[\"']?[A-Za-z0-9+/=_-]{4,}[\"']?[ \t]*$"
_B64_LINE = lazy("(?m)" + _B64_LINE_SRC)
_YAML_ITEM = lazy("(?m)" + _YAML_ITEM_SRC)
_BEGIN = lazy(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_END = lazy(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_KIND_SECRET = lazy(r"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$")
_DATA = lazy(r"^[ \t]{0,20}(?:data|stringData):[ \t]*$")
_YAML_PATH = lazy(r"\.ya?ml$", re.IGNORECASE)

MAX_POST_IMAGE = 1024 * 1024  # a larger file is scanned by its added lines only


def needs_context(path: str, added: str) -> bool:
    """Whether the added lines of ``path`` may be part of a multi-line secret whose other lines did not change."""
    if "PuTTY-User-Key-File" not in added and path.lower().endswith(".ppk"):
        return True
    yaml = bool(_YAML_PATH.search(path))
    found = _hyperscan_found(added, yaml)
    if found is None:
        b64, end = bool(_B64_LINE.search(added)), bool(_END.search(added))
    else:
        b64, end = 0 in found, 1 in found
    if b64 or end:
        # A whole key in the added lines needs nothing more.
        return not (_BEGIN.search(added) and end)
    if not yaml or "kind: secret" in added.lower():
        return False
    return 2 in found if found is not None else bool(_YAML_ITEM.search(added))


_HS: Any = None  # (database, scratch) once built; False when hyperscan cannot be used


def _hyperscan_found(added: str, yaml: bool) -> set[int] | None:
    """Which of the base64-line (0), key-end (1) and YAML-item (2, only for ``yaml``) patterns occur in ``added``,
    in one hyperscan pass; None when hyperscan is not loaded (the pre-commit path never loads it: there the regexes
    answer). The patterns use ASCII classes only, so on UTF-8 bytes they match where they match in the text; a
    test holds both answers equal. Every added line of a history scan passes here, and the regexes were ~4 % of it.
    """
    global _HS
    if _HS is None:
        if "hyperscan" not in sys.modules:
            return None
        try:
            import hyperscan

            from scanner.hscache import block_database

            one = hyperscan.HS_FLAG_SINGLEMATCH
            db = block_database([_B64_LINE_SRC.encode(), _END.pattern.encode(), _YAML_ITEM_SRC.encode()],
                                [one | hyperscan.HS_FLAG_MULTILINE, one, one | hyperscan.HS_FLAG_MULTILINE])
            _HS = (db, hyperscan.Scratch(db))
        except Exception:  # not installed, or cannot compile here: the regexes answer
            _HS = False
    if _HS is False:
        return None
    found: set[int] = set()
    db, scratch = _HS
    db.scan(added.encode("utf-8", "surrogatepass"), match_event_handler=_add_id, context=found, scratch=scratch)
    if not yaml:
        found.discard(2)
    return found


def _add_id(pattern: int, start: int, end: int, flags: int, found: set[int]) -> None:
    found.add(pattern)


def _pem_blocks(lines: list[str]) -> list[tuple[int, int]]:
    """0-based inclusive (begin, end) line ranges of PEM private-key blocks."""
    out: list[tuple[int, int]] = []
    begin = -1
    for i, line in enumerate(lines):
        if _BEGIN.search(line):
            begin = i
        elif begin >= 0 and _END.search(line):
            if i - begin <= 400:
                out.append((begin, i))
            begin = -1
    return out


def _putty_block(lines: list[str]) -> tuple[int, int] | None:
    start = next((i for i, ln in enumerate(lines) if ln.startswith("PuTTY-User-Key-File-")), -1)
    if start < 0:
        return None
    for i in range(start, min(len(lines), start + 100)):
        m = re.match(r"Private-Lines: ([0-9]{1,3})\s*$", lines[i])
        if m:
            return start, min(len(lines) - 1, i + int(m.group(1)))
    return None


def _secret_context(lines: list[str], added: list[int]) -> set[int]:
    """For added lines under ``data:``/``stringData:`` of a YAML document with ``kind: Secret``: that line and the
    nearest block header above it (0-based). Each document's kind and each line's header are found in one pass,
    not once per added line (a regenerated 10,000-line manifest made that quadratic)."""
    out: set[int] = set()
    docs = [0] + [i + 1 for i, ln in enumerate(lines) if ln.rstrip() == "---"]
    kinds: dict[int, int] = {}  # document start -> line of its `kind: Secret`, -1 when it has none
    header_above: list[int] = []  # per line: the nearest data header above it in its document, -1 when none
    for i in added:
        k = bisect.bisect_right(docs, i) - 1
        d = docs[k]
        if d not in kinds:
            nxt = docs[k + 1] if k + 1 < len(docs) else len(lines)
            kinds[d] = next((j for j in range(d, nxt) if _KIND_SECRET.match(lines[j])), -1)
        if kinds[d] < 0:
            continue
        if not header_above:
            starts, last = set(docs), -1
            for j, line in enumerate(lines):
                if j in starts:
                    last = -1
                header_above.append(last)
                if _DATA.match(line):
                    last = j
        if header_above[i] >= 0:
            out.update((kinds[d], header_above[i]))
    return out


def widen(path: str, text: str, line_numbers: tuple[int, ...], read: Callable[[], bytes | None]
          ) -> tuple[str, tuple[int, ...]]:
    """The added lines plus the lines of each multi-line block of the post-image that holds one of them, in file
    order. ``read`` returns the post-image (None when it cannot be read); nothing changes when it is not needed or
    not usable."""
    if not line_numbers or not needs_context(path, text):
        return text, line_numbers
    data = read()
    if data is None or len(data) > MAX_POST_IMAGE or b"\0" in data[:8192]:
        return text, line_numbers
    lines = data.decode("utf-8", "replace").split("\n")
    added = [n - 1 for n in line_numbers if 0 < n <= len(lines)]
    if len(added) != len(line_numbers):
        return text, line_numbers  # not this file's post-image (a rename or a race): keep what the diff gave
    extra: set[int] = set()
    blocks = _pem_blocks(lines)
    putty = _putty_block(lines)
    if putty is not None:
        blocks.append(putty)
    for b, e in blocks:
        if any(b <= i <= e for i in added):
            extra.update(range(b, e + 1))
    if _YAML_PATH.search(path):
        extra |= _secret_context(lines, added)
    if not extra - set(added):
        return text, line_numbers
    keep = sorted(extra | set(added))
    return "\n".join(lines[i] for i in keep), tuple(i + 1 for i in keep)
