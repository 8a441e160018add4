"""Regex search for rules whose every match starts just before one of their keywords.

The engine searches a rule's regex in windows around its keyword hits: from 160 characters before a hit to 1,024
after, clipped to the line, so in practice the whole line. For the generic name-based rules (``NAME = value`` with
a secret-like word in NAME) almost every search fails, and a failing search tries the pattern at every position of
the window: a third of a dense files scan. Yet such a match can only start at the beginning of an identifier (or a
``$``/``@`` sigil) a few characters before the keyword: ``Rule.starts_near`` says how many, at most, before the
keyword's first character. Here the pattern is tried only at those positions, with ``match``, in order, skipping
those inside a match already found: exactly the matches ``finditer`` gives over the same window, because it cannot
find one anywhere else (``tests/scanner/test_anchored.py`` compares both on generated text).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator

# Where an identifier or a sigil starts: the first position any of these rules can match at. Case-insensitive like
# the rules themselves (so the look-behind treats 'ſ' and the Kelvin sign as letters, as theirs does).
_STARTS = re.compile(r"(?i)(?<![A-Za-z0-9_.-])(?=[$@A-Za-z0-9_.-])")


def matches(rx: re.Pattern[str], text: str, start: int, end: int, hit_ends: list[int], reach: int
            ) -> Iterator[re.Match[str]]:
    """What ``rx.finditer(text, start, end)`` yields, given that every match starts at most ``reach`` characters
    before the end (index of the last character) of one of ``hit_ends``, sorted, which lie in [start, end)."""
    last = start
    lo = hi = -1
    for h in hit_ends:
        a = max(start, h - reach, last)
        if a > hi:  # a new range of positions: finish the previous one
            if hi >= lo >= 0:
                last = yield from _try(rx, text, lo, hi, end, last)
            lo, hi = max(a, last), h
        else:
            hi = max(hi, h)
    if hi >= lo >= 0:
        yield from _try(rx, text, lo, hi, end, last)


def _try(rx: re.Pattern[str], text: str, lo: int, hi: int, end: int, last: int
         ) -> Generator[re.Match[str], None, int]:
    """The matches starting in [lo, hi] at or after ``last``; returns where the last one ended (or ``last``)."""
    for st in _STARTS.finditer(text, max(lo, last), hi + 1):
        p = st.start()
        if p < last:
            continue
        m = rx.match(text, p, end)
        if m is not None:
            yield m
            last = max(m.end(), p + 1)
    return last
