"""Keyword hits with hyperscan: the engine's prefilter, the same hits as its pyahocorasick automaton, ~10x faster.

Compiled once per scan (before worker processes fork) from the rules' keywords and the detect-secrets gates' patterns;
the engine falls back to the automaton where hyperscan is not installed or refuses a pattern.
"""

from __future__ import annotations

import re
from typing import Any, cast


class Hyperscan:
    """Keyword hits (and, for ASCII text, gate-pattern lines) of a chunk in one hyperscan pass.

    Keywords match case-insensitively in the text, which for ASCII is exactly what the automaton finds in its
    lower-cased copy; hits come back as the automaton yields them (by end offset, the longer keyword first at one
    offset, end = index of the last character), so windows and candidate order are the same. Gate patterns are
    the gates' look-behind-free forms (:data:`scanner.detect_secrets.gates._FORWARD`); only the line of each match
    is used.
    Other text is scanned as its ASCII proxy (:meth:`scan_unicode`): one byte per character, so offsets stay those of
    the text. ``tests/scanner/test_engine_hyperscan.py`` proves equal candidates against the automaton path.
    """

    def __init__(self, words: list[tuple[str, tuple[tuple[str, int], ...]]], gates: dict[str, Any]) -> None:
        import hyperscan

        words = sorted(words, key=lambda w: -len(w[0].encode("utf-8")))  # id order = longest first
        exprs = [hs_literal(kw) for kw, _ in words]
        flags = [hyperscan.HS_FLAG_CASELESS] * len(words)
        self._pairs = [pairs for _, pairs in words]
        self._families: list[str] = []
        for fam, gate in gates.items():
            for pattern, caseless in gate.forward:
                exprs.append(pattern.encode("ascii"))
                flags.append(hyperscan.HS_FLAG_CASELESS if caseless else 0)
                self._families.append(fam)
        self._n = len(words)
        self._gates_end = len(exprs)
        # In the proxy of non-ASCII text every non-ASCII character is a '?': a keyword holding one is searched there
        # in its proxied form, and a hit of it, or of a keyword holding a '?', is checked against the text itself.
        self._words = [kw for kw, _ in words]
        self._check = frozenset(i for i, kw in enumerate(self._words) if "?" in kw or not kw.isascii())
        self._proxied: dict[int, int] = {}
        for i, kw in enumerate(self._words):
            if not kw.isascii():
                self._proxied[len(exprs)] = i
                exprs.append(hs_literal(kw.encode("ascii", "replace").decode("ascii")))
                flags.append(hyperscan.HS_FLAG_CASELESS)
        from scanner.hscache import block_database

        self._db = block_database(exprs, flags)
        self._scratch = hyperscan.Scratch(self._db)

    def scan(self, text: str) -> tuple[list[tuple[int, tuple[tuple[str, int], ...]]], dict[str, set[int]]]:
        found: list[tuple[int, int]] = []
        self._db.scan(text.encode("ascii"), match_event_handler=_collect, context=found, scratch=self._scratch)
        found.sort()
        n, pairs = self._n, self._pairs
        hits = [(end - 1, pairs[i]) for end, i in found if i < n]
        lines: dict[str, set[int]] = {}
        if len(hits) < len(found):
            rfind = text.rfind
            gates_end = self._gates_end
            for end, i in found:
                if n <= i < gates_end:
                    lines.setdefault(self._families[i - n], set()).add(rfind("\n", 0, end - 1) + 1)
        return hits, lines

    def scan_unicode(self, text: str) -> tuple[list[tuple[int, tuple[tuple[str, int], ...]]], str,
                                               dict[str, set[int]] | None]:
        """Keyword hits of non-ASCII text, the automaton's on :func:`ascii_lower` of it, from a hyperscan pass over
        its ASCII proxy: every non-ASCII character encoded as one '?'. Only 'İ', 'ı', 'ſ' and 'K' (Kelvin) match an
        ASCII letter case-insensitively (in Python's regex matching, which rule patterns use, and in the fold), so
        text holding one of them is folded first; that fold is returned too ("" when none was needed).

        Third, the gate-pattern lines among the lines that are ASCII (a line's proxy is the line itself there, and
        no pattern spans a line break), as :meth:`scan` gives them for ASCII text; the other lines are the regexes'
        to judge. None when the text had to be folded (the case-sensitive patterns cannot be judged on the fold)."""
        folded = ascii_lower(text) if _FOLDS_TO_ASCII.search(text) else ""
        src = folded or text
        found: list[tuple[int, int]] = []
        self._db.scan(src.encode("ascii", "replace"), match_event_handler=_collect, context=found,
                      scratch=self._scratch)
        n, pairs, words, check, proxied = self._n, self._pairs, self._words, self._check, self._proxied
        gates_end = self._gates_end
        lines: dict[str, set[int]] | None = None if folded else {}
        ascii_line: dict[int, bool] = {}
        hits: list[tuple[int, int, int]] = []
        for end, i in found:
            if i >= n:
                if i < gates_end:
                    if lines is not None:
                        start = text.rfind("\n", 0, end - 1) + 1
                        ok = ascii_line.get(start)
                        if ok is None:
                            stop = text.find("\n", start)
                            ok = ascii_line[start] = text[start:len(text) if stop < 0 else stop].isascii()
                        if ok:
                            lines.setdefault(self._families[i - n], set()).add(start)
                    continue
                i = proxied.get(i, -1)
                if i < 0:
                    continue
            if i in check:
                kw = words[i]
                if ascii_lower(src[end - len(kw):end]) != kw:
                    continue
            hits.append((end - 1, -len(words[i]), i))
        hits.sort()
        return [(end, pairs[i]) for end, _, i in hits], folded, lines


def _collect(pattern_id: int, start: int, end: int, flags: int, found: object) -> None:
    cast("list[tuple[int, int]]", found).append((end, pattern_id))


def hs_literal(word: str) -> bytes:
    """``word`` as a hyperscan pattern matching it literally: ASCII letters and digits as they are, every other
    byte as ``\\xHH``."""
    return b"".join(bytes([c]) if c < 128 and chr(c).isalnum() else b"\\x%02x" % c for c in word.encode("utf-8"))


_FOLDS_TO_ASCII = re.compile("[\u0130\u0131\u017f\u212a]")


def ascii_lower(text: str) -> str:
    """Case fold of non-ASCII text, same length as ``text``."""
    # 'İ' is the only character whose str.lower() is not one character; 'ı' and 'ſ' are those that Python's
    # case-insensitive regex matching treats as an ASCII letter although str.lower() does not. Folding them first
    # keeps offsets aligned and makes a keyword hit in the fold a superset of what a (?i) rule pattern can match.
    # One character for one, so offsets stay aligned. str.replace, not str.translate: translate walks a mapping per
    # character (~25 ms a megabyte), replace is a memchr-speed search.
    return text.replace("\u0130", "i").replace("\u0131", "i").replace("\u017f", "s").lower()
