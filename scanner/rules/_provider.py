"""Declarative provider rules: a token's documented shape becomes its pattern, prefilter keywords and entropy floor.

A shape is the format as a provider documents it, written with literal text and character runs::

    "sk-or-v1-{hex:64}"        literal prefix, then 64 lower-case hex characters
    "tskey-auth-{b62:10-20}"   a run of 10 to 20 base62 characters
    "{uuid}:fx"                a UUID, then a literal suffix

:func:`token` makes a rule from one or more shapes (alternatives). The leading literal of each shape is its
prefilter keyword, so a chunk without it never runs the regex; a shape without a leading literal must name its
keywords. :func:`anchored` makes a context-anchored rule for providers whose keys are bare hex or base62: the value
only counts when it is assigned to a name that mentions the service and a secret word (``MAILGUN_API_KEY = …``), so
recall on such keys does not cost precision; the service names are the keywords.

Both keep every repetition bounded and start with a literal where one exists (see ``providers._p``), so a pathological
line costs linear time. ``shapes`` and ``anchors`` stay on the rule: the tests generate examples and near misses from
them.
"""

from __future__ import annotations

import math
import re

from scanner.finding import Confidence
from scanner.rules._util import NAME_SEP
from scanner.rules.base import Rule

ALPHABETS: dict[str, str] = {
    "hex": "0-9a-f", "HEX": "0-9A-F", "Hex": "0-9a-fA-F", "d": "0-9",
    "b62": "A-Za-z0-9", "url": "A-Za-z0-9_-", "b64": "A-Za-z0-9+/", "b64x": "A-Za-z0-9+/=_-",
    "b64p": "A-Za-z0-9+/=_%-",
    "lc": "a-z0-9", "uc": "A-Z0-9", "az": "a-z", "AZ": "A-Z", "alpha": "A-Za-z", "b32": "A-Z2-7", "b32l": "a-z2-7",
}
# How many distinct characters each alphabet has (for the entropy floor).
_SIZES = {"hex": 16, "HEX": 16, "Hex": 22, "d": 10, "b62": 62, "url": 64, "b64": 64, "b64x": 67, "b64p": 68,
          "lc": 36, "uc": 36,
          "az": 26, "AZ": 26, "alpha": 52, "b32": 32, "b32l": 32}
_MIXED = {"b62", "url", "b64", "b64x", "b64p", "alpha"}
_UUID = "{hex:8}-{hex:4}-{hex:4}-{hex:4}-{hex:12}"
_PART = re.compile(r"\{([A-Za-z0-9]+):(\d+)(?:-(\d+))?\}")
_WORDCHARS = "A-Za-z0-9_-"
# A secret word in the name a value is assigned to (``MAILGUN_API_KEY``, ``datadogAppKey``, ``cohere.token``).
# Letters are written as [kK] classes rather than under (?i): Python's compiler takes ~4 ms per rule for an (?i)
# alternation and ~0.2 ms for this, and the engine compiles each rule it needs in every worker.
def _ci(text: str) -> str:
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else re.escape(c) for c in text)


_SECRET_WORDS = "(?:" + "|".join(
    [_ci(w) for w in ("key", "token", "secret", "pwd", "auth", "credential", "dsn", "license")]
    + [_ci("passw") + "(?:" + _ci("or") + ")?" + _ci("d"), _ci("pass") + "(?![a-zA-Z])", _ci("pat") + "(?![a-zA-Z])"]
) + ")"

H = Confidence.HIGH
M = Confidence.MEDIUM

Part = tuple[str, int, int] | str  # (alphabet, min, max) or a literal


def parse_shape(shape: str) -> list[Part]:
    """A shape as literals and (alphabet, min, max) runs."""
    shape = shape.replace("{uuid}", _UUID)
    out: list[Part] = []
    pos = 0
    for m in _PART.finditer(shape):
        if m.start() > pos:
            out.append(shape[pos:m.start()])
        alph = m.group(1)
        if alph not in ALPHABETS:
            raise ValueError(f"unknown alphabet {alph!r} in shape {shape!r}")
        lo = int(m.group(2))
        hi = int(m.group(3) or lo)
        out.append((alph, lo, hi))
        pos = m.end()
    if pos < len(shape):
        out.append(shape[pos:])
    return out


def _run(alph: str, lo: int, hi: int) -> str:
    return f"[{ALPHABETS[alph]}]{{{lo}}}" if lo == hi else f"[{ALPHABETS[alph]}]{{{lo},{hi}}}"


def _shape_regex(parts: list[Part], left: str) -> str:
    """The shape as a regex; the left boundary goes after a leading literal (keeps the literal-prefix search)."""
    body = "".join(re.escape(p) if isinstance(p, str) else _run(*p) for p in parts)
    if parts and isinstance(parts[0], str):
        lit = re.escape(parts[0])
        return lit + f"(?<![{left}]{lit})" + body[len(lit):]
    return f"(?<![{left}])" + body


def _end(parts: list[Part], whole: bool = False) -> str:
    """The right boundary of a token; with ``whole`` (a value assigned to a name, taken whole), base64's ``+``, ``/``
    and ``=`` end nothing either: a base62 run followed by them is the start of a longer base64 value."""
    last = parts[-1]
    extra = (ALPHABETS[last[0]] if not isinstance(last, str) else "") + ("+/=" if whole else "")
    chars = "A-Za-z0-9" + "".join(c for c in extra if c in "+/=%") + "_-"
    return f"(?![{chars}])"


def _max_len(parts: list[Part]) -> int:
    return sum(len(p) if isinstance(p, str) else p[2] for p in parts)


def _entropy_floor(parts_list: list[list[Part]]) -> float:
    """Well under what a random value of the shape has: catches ``sk-or-v1-aaaa…`` style fillers, not draws."""
    floors = []
    for parts in parts_list:
        runs = [p for p in parts if not isinstance(p, str)]
        n = sum(p[1] for p in runs)
        k = max((_SIZES[p[0]] for p in runs), default=2)
        floors.append(0.55 * math.log2(max(2, min(n, k))))
    return round(min(3.0, *floors), 2)


def mixed_case_or_digits(value: str) -> bool:
    """Random base62/base64 text of 16+ characters almost always mixes at least two of upper case, lower case and
    digits (all lower case happens once in ~10^7 draws of 32); a word, slug or identifier often does not."""
    return sum((any(c.isupper() for c in value), any(c.islower() for c in value),
                any(c.isdigit() for c in value))) >= 2


def _leading_literal(parts: list[Part]) -> str:
    return parts[0] if parts and isinstance(parts[0], str) else ""


def token(
    id: str, provider: str, title: str, shapes: str | tuple[str, ...], *, env: str, doc: str, revoke: str,
    category: str, conf: Confidence = H, keywords: tuple[str, ...] = (), desc: str = "", entropy: float | None = None,
    preview: str | None = None,
) -> Rule:
    """A rule for a token with a documented shape (usually a fixed prefix)."""
    alts = (shapes,) if isinstance(shapes, str) else shapes
    parsed = [parse_shape(s) for s in alts]
    kws = keywords or tuple(dict.fromkeys(_leading_literal(p).lower() for p in parsed))
    if any(len(k) < 3 for k in kws):
        raise ValueError(f"rule {id}: every shape needs a leading literal of 3+ characters, or explicit keywords")
    left = _WORDCHARS
    body = "|".join(_shape_regex(p, left) + _end(p) for p in parsed)
    pattern = f"(?P<secret>{body})" if len(parsed) == 1 else f"(?P<secret>(?:{body}))"
    if preview is None:
        lits = [_leading_literal(p) for p in parsed]
        preview = lits[0] if len(set(lits)) == 1 else ""
    # A mixed-alphabet run of 16+ characters must look random (a short prefix like crates.io's "cio" also starts
    # ordinary lower-case words and slugs).
    mixed = all(any(not isinstance(q, str) and q[0] in _MIXED and q[1] >= 16 for q in p) for p in parsed)
    return Rule(
        id=id, title=title, confidence=conf, pattern=pattern, keywords=kws,
        validate=mixed_case_or_digits if mixed else None,
        window=max(_max_len(p) for p in parsed) + 2,
        min_entropy=_entropy_floor(parsed) if entropy is None else entropy, preview_prefix=preview,
        revoke=revoke, family=provider.lower(), description=desc or title, provider=provider, category=category,
        env_name=env, doc=doc, shapes=alts,
    )


def anchored(
    id: str, provider: str, title: str, names: tuple[str, ...], shapes: str | tuple[str, ...], *, env: str, doc: str,
    revoke: str, category: str, conf: Confidence = M, desc: str = "", entropy: float | None = None,
) -> Rule:
    """A rule for a bare key: the value must be assigned to a name that mentions the service and a secret word."""
    alts = (shapes,) if isinstance(shapes, str) else shapes
    parsed = [parse_shape(s) for s in alts]
    if any(not re.fullmatch(r"[a-z0-9_.-]{3,30}", n) for n in names):
        raise ValueError(f"rule {id}: service names are lower-case literals (they are the prefilter keywords)")
    # The service name starts a word (``MY_ABLY_KEY``, not
    # ``PROBABLY_KEY``); the secret word may come either side of it.
    svc = "(?<![A-Za-z])(?:" + "|".join(map(_ci, names)) + ")"
    words = _SECRET_WORDS
    name = (rf"(?:{svc}[A-Za-z0-9_.-]{{0,30}}?{words}|{words}[A-Za-z0-9_.-]{{0,30}}?{svc})"
            r"[A-Za-z0-9_.-]{0,20}")
    values = "|".join("".join(re.escape(q) if isinstance(q, str) else _run(*q) for q in p) + _end(p, whole=True)
                      for p in parsed)
    pattern = rf"{name}{NAME_SEP}(?P<secret>{values})"
    return Rule(
        id=id, title=title, confidence=conf, pattern=pattern,
        keywords=names,
        window=120 + max(_max_len(p) for p in parsed), requires=("=", ":"),
        min_entropy=_entropy_floor(parsed) if entropy is None else entropy,
        revoke=revoke, family=provider.lower(),
        description=desc or f"{title}, assigned to a name that mentions {provider}",
        provider=provider, category=category, env_name=env, doc=doc, shapes=alts, anchors=names,
    )
