"""Small helpers shared by rule modules."""

from __future__ import annotations

import math
import string
import zlib
from collections import Counter
from collections.abc import Iterator

_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

# Between a secret-like name and its value: an optional closing quote, then =, : or => (.env, YAML, JSON, Ruby).
NAME_SEP = r"[\"']?\s{0,4}(?:=|:|=>)\s{0,4}[\"']?"


def shannon_entropy(value: str) -> float:
    """Bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def base62(n: int, width: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(width, "0")


def github_checksum_ok(token: str) -> bool:
    """GitHub's newer tokens end in a base62 CRC32 of the random part (6 chars after 30 random chars)."""
    _, _, body = token.partition("_")
    if len(body) != 36:
        return False
    return base62(zlib.crc32(body[:30].encode()) & 0xFFFFFFFF, 6) == body[30:]


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """(offset, line) for every line, without the newline."""
    pos = 0
    for line in text.split("\n"):
        yield pos, line
        pos += len(line) + 1


def lines_holding(text: str, word: str, haystack: str | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of each line of ``text`` that holds ``word``, in order, found with str.find, not by splitting
    the whole text: what filtering :func:`iter_lines` on ``word in line`` gives. ``haystack``: where to look
    instead, a same-length copy of ``text`` (a case fold)."""
    look = text if haystack is None else haystack
    at = look.find(word)
    while at >= 0:
        start = text.rfind("\n", 0, at) + 1
        nl = text.find("\n", at)
        end = len(text) if nl < 0 else nl
        yield start, end
        at = look.find(word, end)  # (-1 at the end of the text: str.find past it finds nothing)


def b64decode_text(value: str) -> str | None:
    """The UTF-8 text behind a base64 value, or None when it is not base64 of printable text."""
    import base64
    import binascii

    v = value.strip()
    if not v or len(v) > 65536:
        return None
    try:
        raw = base64.b64decode(v + "=" * (-len(v) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        out = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not out or any(ord(c) < 32 and c not in "\t\r\n" for c in out):
        return None
    return out
