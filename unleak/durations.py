"""Durations as people write them (``90s``, ``15m``, ``2h``, ``1d``): grants' lifetimes and ``audit --since``."""

from __future__ import annotations

import re

from scanner.errors import UsageError

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int) -> int:
    """``30m`` → 1800. Units s, m, h, d (a bare number is seconds)."""
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    else:
        m = _DURATION_RE.match(str(text).lower())
        if not m:
            raise UsageError(f"invalid duration {text!r}: use a number with a unit, e.g. 90s, 15m, 2h, 1d")
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds <= 0:
        raise UsageError(f"invalid duration {text!r}: it must be longer than zero")
    return seconds


def format_duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s >= 3600 and s % 3600 == 0:
        return f"{s // 3600} h"
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    return f"{s} s"
