"""Counted nouns in messages: "1 file", "2 files" (never "1 files" or "file(s)")."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the noun in the right number; ``many`` for irregular plurals ("1 entry", "2 entries")."""
    return f"{n} {word if n == 1 else (many or word + 's')}"
