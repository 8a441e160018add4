"""Small helpers shared by rule modules."""

from __future__ import annotations

import math
import string
import zlib
from collections import Counter

_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


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
