"""Words in messages: counted nouns ("1 file", "2 files", never "1 files" or "file(s)"), and text from a scanned
repository made safe to print."""

from __future__ import annotations


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and the noun in the right number; ``many`` for irregular plurals ("1 entry", "2 entries")."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def printable(s: str) -> str:
    """``s`` with every control character as ``?``: paths, member and author names come from the scanned
    repository, and none must drive the terminal or the CI log that shows a report, or pose as a line of its own."""
    return "".join(ch if ch.isprintable() else "?" for ch in s)
