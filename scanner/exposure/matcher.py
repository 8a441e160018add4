"""Which of a set of secret values a blob holds, as a bitset over the values, in one pass: a substring search for
a few values, one Aho-Corasick automaton for more, hyperscan when it is installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

_AC_THRESHOLD = 8  # from this many values on, one Aho-Corasick pass per blob beats a substring search per value
_HS_PREFIX = 48  # bytes of each form hyperscan looks for; a hit on a longer form is confirmed by a substring search


def matcher(values: list[bytes]) -> Callable[[bytes], int]:
    """A function from blob bytes to the bitset of values it holds. A multi-line value (a private key) committed
    with CRLF line endings counts too."""
    forms: list[tuple[bytes, int]] = []
    for i, v in enumerate(values):
        forms.append((v, 1 << i))
        if b"\n" in v and b"\r\n" not in v:
            forms.append((v.replace(b"\n", b"\r\n"), 1 << i))
    if len(values) < _AC_THRESHOLD:
        def match_few(data: bytes) -> int:
            bits = 0
            for form, bit in forms:
                if form in data:
                    bits |= bit
            return bits

        return match_few
    fast = _hyperscan_matcher(forms)
    if fast is not None:
        return fast
    import ahocorasick  # C extension, as in the engine

    auto = ahocorasick.Automaton()
    merged: dict[str, int] = {}
    for form, bit in forms:
        key = form.decode("latin-1")  # latin-1: one char per byte, so matching on str is matching on bytes
        merged[key] = merged.get(key, 0) | bit
    for key, bit in merged.items():
        auto.add_word(key, bit)
    auto.make_automaton()

    def match_many(data: bytes) -> int:
        bits = 0
        for _end, bit in auto.iter(data.decode("latin-1")):
            bits |= bit
        return bits

    return match_many



def _hyperscan_matcher(forms: list[tuple[bytes, int]]) -> Callable[[bytes], int] | None:
    """The matcher on hyperscan (when installed): one pass over the bytes for all values, each reported once, with
    no per-match Python work and no decoding (the automaton needs a str copy of every blob and yields every
    occurrence; on sqlalchemy's 1.6 GB of secret-bearing file versions that was most of exposure's time)."""
    try:
        import hyperscan
    except ImportError:
        return None
    exprs = [b"".join(bytes([c]) if chr(c).isalnum() and c < 128 else b"\\x%02x" % c for c in form[:_HS_PREFIX])
             for form, _ in forms]
    try:
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs),
                   flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(exprs))
        scratch = hyperscan.Scratch(db)
    except hyperscan.error:
        return None

    def match_hs(data: bytes) -> int:
        if not data:
            return 0
        hits: list[int] = []
        db.scan(data, match_event_handler=_hs_hit, context=hits, scratch=scratch)
        bits = 0
        for i in hits:
            form, bit = forms[i]
            if not bits & bit and (len(form) <= _HS_PREFIX or form in data):
                bits |= bit
        return bits

    return match_hs


def _hs_hit(pattern_id: int, start: int, end: int, flags: int, hits: object) -> None:
    cast("list[int]", hits).append(pattern_id)
