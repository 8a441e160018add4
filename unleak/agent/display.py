"""One escaping function for every place a human reads text an agent chose (argv, names, reasons, task ids):
the approval page, `unleak approve`, `unleak grants`, the secret entry page, the elicitation message.

A terminal obeys ANSI escape sequences (clear the line, move the cursor, retitle the window) and carriage
returns; a browser and a terminal both obey bidi overrides (U+202E turns ``txt.exe`` into ``exe.txt`` on screen)
and hide zero-width characters. Any of these lets a request look like a different one. Each such character is
shown as a visible escape (``\\x1b``, ``\\u202e``) instead, so what the human reads is what will run.
"""

from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls (ESC, CR, BEL, NUL…); Cf: format characters (bidi embeddings, overrides and isolates, zero
# width joiners, BOM); Zl/Zp: line and paragraph separators; Co/Cs/Cn: private use, surrogates, unassigned.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def _escape(ch: str) -> str:
    n = ord(ch)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def shown(text: str) -> str:
    """``text`` with every control, format and invisible character replaced by a visible escape."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in _HIDDEN else ch for ch in text)


__all__ = ["shown"]
