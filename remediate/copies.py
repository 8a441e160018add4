"""Every copy of a value being moved, anywhere in the tree: raw (rewritten like a finding) or encoded (a manual step).

The scanner flags the places that look like secrets; the same value may sit elsewhere in a shape no rule knows
(``x = read() or "<value>"``, a fixture, a base64 blob in a YAML file). Once the value is in the vault those copies
would be the only plaintext left, so ``fix`` looks for every form :mod:`scanner.forms` knows in every tracked and
untracked-not-ignored file, and nothing found is left unmentioned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from scanner.forms import encoded_forms

# Larger files are not data a program reads its credentials from; searching them would only slow every plan down.
MAX_BYTES = 20 * 1024 * 1024


Built = tuple[object, dict[str, str]]  # an automaton and form -> value


@dataclass(frozen=True)
class Copy:
    path: str
    line: int
    value: str = field(repr=False)
    raw: bool  # the value as it is (a finding-like site) rather than an encoding of it


def automaton(values: Iterable[str]) -> Built | None:
    """An Aho-Corasick automaton over every form of every value (latin-1 strings of UTF-8 bytes), and form ->
    value. None when there is nothing to look for."""
    import ahocorasick

    owner: dict[str, str] = {}
    for value in sorted(set(values), key=len, reverse=True):
        for form in {*encoded_forms(value), value.encode("utf-8").decode("latin-1")}:
            owner.setdefault(form, value)
    if not owner:
        return None
    auto = ahocorasick.Automaton()
    for form in owner:
        auto.add_word(form, form)
    auto.make_automaton()
    return auto, owner


def in_text(text: str, values: Iterable[str] | Built | None) -> list[Copy]:
    """The copies of ``values`` in ``text`` (path left empty); ``values`` may be an :func:`automaton` already
    built (many texts, one set of values)."""
    built = values if isinstance(values, tuple) or values is None else automaton(values)
    return _search("", text.encode("utf-8").decode("latin-1"), built) if built else []


def find(root: Path, paths: Iterable[str], values: Iterable[str] | Built | None) -> list[Copy]:
    """Every copy of every value in the files ``paths`` (relative to ``root``), in path and line order."""
    built = values if isinstance(values, tuple) or values is None else automaton(values)
    if built is None:
        return []
    out: list[Copy] = []
    for rel in paths:
        p = root / rel
        try:
            if not p.is_file() or p.is_symlink() or p.stat().st_size > MAX_BYTES:
                continue
            data = p.read_bytes()
        except OSError:
            continue
        out += _search(rel, data.decode("latin-1"), built)
    return out


def _search(rel: str, text: str, built: Built) -> list[Copy]:
    auto, owner = built
    seen: dict[tuple[int, str], bool] = {}
    for end, form in auto.iter(text):  # type: ignore[attr-defined]
        value = owner[form]
        line = text.count("\n", 0, end) + 1
        raw = form == value.encode("utf-8").decode("latin-1")
        seen[(line, value)] = seen.get((line, value), False) or raw
    return [Copy(rel, line, value, raw) for (line, value), raw in sorted(seen.items(), key=lambda kv: kv[0][0])]
