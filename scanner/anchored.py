"""Regex search for rules whose every match starts just before one of their keywords.

The engine searches a rule's regex in windows around its keyword hits: from 160 characters before a hit to 1,024
after, clipped to the line, so in practice the whole line. For the generic name-based rules (``NAME = value`` with
a secret-like word in NAME) almost every search fails, and a failing search tries the pattern at every position of
the window: a third of a dense files scan. Yet such a match can only start at the beginning of an identifier (or a
``$``/``@`` sigil) a few characters before the keyword: ``Rule.starts_near`` says how many, at most, before the
keyword's first character, and in fact only where the identifier holding the keyword begins. Here the pattern is
tried only there, with ``match``, in order, skipping those inside a match already found: exactly the matches
``finditer`` gives over the same window, because it cannot find one anywhere else (``tests/scanner/test_anchored.py``
compares both on generated text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# The last position in [pos, endpos) where an identifier or a sigil starts, the first position any of these rules
# can match at (one C call: ``.*`` runs to the end and backs off to the last boundary). Case-insensitive like the
# rules themselves (so the look-behind treats 'ſ' and the Kelvin sign as letters, as theirs does).
_LAST_START = re.compile(r"(?is).*(?<![A-Za-z0-9_.-])(?=[$@A-Za-z0-9_.-])")


def matches(rx: re.Pattern[str], text: str, start: int, end: int, hit_ends: list[int], reach: int
            ) -> Iterator[re.Match[str]]:
    """What ``rx.finditer(text, start, end)`` yields, given that every match starts at most ``reach`` characters
    before the end (index of the last character) of one of ``hit_ends``, sorted, which lie in [start, end).

    A match begins at an identifier start (the rules' own look-behind) and its name holds the keyword, so it begins
    where the identifier holding a hit begins, or at a ``$``/``@`` sigil just before it: per hit, only those one or
    two positions are tried (hits in one identifier share them), instead of every identifier start in reach."""
    last = start
    tried = -1
    for h in hit_ends:
        lo = max(start, h - reach, last)
        if lo > h:
            continue
        m = _LAST_START.match(text, lo, h + 1)
        if m is None:
            continue
        p = m.end()
        if p <= tried:
            continue
        tried = p
        for q in ((p - 1, p) if p - 1 >= lo and text[p - 1] in "$@" else (p,)):
            found = rx.match(text, q, end)
            if found is not None:
                yield found
                last = max(found.end(), q + 1)
                break
