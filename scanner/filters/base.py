"""What a filter is and how one is registered, with the helpers several filter modules share.

A filter is a pure predicate over a candidate's :class:`Context` with a one-line docstring: True drops the
candidate. :func:`drop_filter` registers it under its own name (``git_sha`` is ``git-sha``), :func:`demotion`
registers a predicate that keeps a candidate at a lower confidence. The names appear in ``--explain`` and in the
dropped counts of every report, never a value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from scanner.finding import Confidence
from scanner.keyscan import ascii_lower
from scanner.lazyre import lazy
from scanner.rules.base import Rule


@dataclass(frozen=True)
class Context:
    rule: Rule
    # The plaintext and the lines around it: never in a repr (tracebacks, logs).
    value: str = field(repr=False)
    line: str = field(repr=False)  # the whole line the value sits on
    prev_line: str = field(repr=False)
    path: str


@dataclass(frozen=True)
class Filter:
    name: str
    doc: str
    drop: Callable[[Context], bool]


@dataclass(frozen=True)
class Demotion:
    """A named predicate that keeps a candidate at a lower confidence (see the demotions below)."""

    name: str
    doc: str
    confidence: Confidence
    applies: Callable[[Context], bool]


Predicate = Callable[[Context], bool]
_T = TypeVar("_T")
_FILTERS: dict[str, Filter] = {}
_DEMOTIONS: dict[str, Demotion] = {}


def _describe(fn: Predicate) -> tuple[str, str]:
    """A predicate's public name (its function name with dashes: ``git_sha`` is ``git-sha``) and its docstring's
    first line, so the name in outputs and ``--explain`` cannot drift from the code that decides."""
    doc = (fn.__doc__ or "").strip().splitlines()
    if not doc:
        raise ValueError(f"filter {fn.__name__} has no docstring")
    return fn.__name__.replace("_", "-"), doc[0]


def drop_filter(fn: Predicate) -> Predicate:
    """Register ``fn`` as a filter: True drops the candidate."""
    name, doc = _describe(fn)
    if name in _FILTERS:
        raise ValueError(f"duplicate filter {name}")
    _FILTERS[name] = Filter(name, doc, fn)
    return fn


def demotion(confidence: Confidence) -> Callable[[Predicate], Predicate]:
    """Register the decorated predicate as a demotion to ``confidence``: True keeps the candidate, lower."""
    def register(fn: Predicate) -> Predicate:
        name, doc = _describe(fn)
        if name in _DEMOTIONS:
            raise ValueError(f"duplicate demotion {name}")
        _DEMOTIONS[name] = Demotion(name, doc, confidence, fn)
        return fn
    return register


SOFTENED: dict[str, Predicate] = {}


def softens(filter_name: str) -> Callable[[Predicate], Predicate]:
    """Register the decorated predicate as the exception to the drop filter ``filter_name`` at the ``unlikely`` tier:
    True keeps a candidate that filter dropped, at that tier, labelled with the filter's name."""
    def register(fn: Predicate) -> Predicate:
        if filter_name in SOFTENED:
            raise ValueError(f"filter {filter_name} already softened")
        SOFTENED[filter_name] = fn
        return fn
    return register


def _ordered(registry: dict[str, _T], order: tuple[str, ...]) -> tuple[_T, ...]:
    """The registered predicates in ``order``, which must name each of them exactly once."""
    if sorted(order) != sorted(registry):
        raise ValueError(f"filter order and registry differ: {sorted(set(order) ^ set(registry))}")
    return tuple(registry[name] for name in order)


# Families whose candidates come from a secret-like *name* rather than a token format: the filters about code,
# types and UI text only apply to them.
NAME_BASED = frozenset({"generic", "detect-secrets", "xml"})


def _name_based(ctx: Context) -> bool:
    return ctx.rule.family in NAME_BASED


def _generated(v: str) -> bool:
    """16+ characters where letters and digits alternate often (``qx7dm2lz8k4wt6pb``): no one names a variable so."""
    return len(v) >= 16 and len(re.findall(r"[A-Za-z](?=[0-9])|[0-9](?=[A-Za-z])", v)) >= 6


def holds_any(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of the lower-case ``words``, case-insensitively as a ``(?i)word|word`` search
    finds them (on the same-length fold that maps the four non-ASCII letters such a search equates with ASCII
    ones): a case-insensitive alternation tries every position of the text, ~20 times slower than this."""
    low = text.lower() if text.isascii() else ascii_lower(text)
    return any(w in low for w in words)


def _before(line: str, v: str) -> str:
    """The line up to the first occurrence of ``v`` (the whole line when ``v`` is not on it)."""
    idx = line.find(v)
    return line[:idx] if idx >= 0 else line


# ``KEY=…``, ``"key": "…"``, ``key => …``, and a quoted key beside its quoted value in a call (``define('KEY', '…')``,
# ``setdefault("key", "…")``).
_ASSIGNED_NAME = lazy(r"([A-Za-z_][A-Za-z0-9_.-]{0,80})(?:[\"']?\]?\s{0,8}(?::=|=>|=|:)\s{0,8}[\"'`]?"
                      r"|[\"']\s{0,8},\s{0,8}[\"'])$")


def _name_parts(name: str) -> list[str]:
    """Lower-cased word parts of an identifier (``HOMEBREW_GITHUB_API_TOKEN``, ``commitSha``, ``git.rev``)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [p.lower() for p in re.split(r"[^A-Za-z0-9]+", spaced) if p]


def assigned_name(ctx: Context) -> str:
    """The name the value is assigned to on its line (``KEY=…``, ``"key": "…"``, ``key: …``), or ""."""
    idx = ctx.line.rfind(ctx.value)
    if idx <= 0:
        return ""
    m = _ASSIGNED_NAME.search(ctx.line[max(0, idx - 100):idx])
    return m.group(1) if m else ""


# Test code and its data: what a credential there authenticates is a test.
TEST_PATH = lazy(r"(?i)(?:^|/)(?:tests?|spec|specs|__tests__|fixtures?|testdata|mocks?)/|(?:^|/)test_[^/]*$|"
                 r"_test\.[a-z]{1,4}$|\.(?:spec|test)\.[a-z]{1,4}$")
_ENV_LIKE = lazy(r"(?:^|/)\.env(?:\.[A-Za-z0-9_-]+)?$|\.(?:env|ini|cfg|conf|properties|netrc|pgpass)$|"
                       r"(?:^|/)\.?(?:netrc|pgpass|pypirc|npmrc|s3cfg)$")
_WORD_PART = lazy(r"[A-Z]?[a-z]{1,14}|[A-Z]{2,6}(?=[A-Z][a-z]|$|_|-|/)|[AI](?=[A-Z][a-z])")


def _pronounceable(word: str) -> bool:
    """A word-like part: has a vowel and no run of five consonants (``strength`` is, ``xdlfjeh`` is not)."""
    return bool(re.search(r"[aeiouyAEIOUY]", word)) and not re.search(r"[^aeiouyAEIOUY\d]{5}", word)


def _words_only(v: str) -> bool:
    """Whether ``v`` is CamelCase/snake_case/path-like text made only of word-like parts."""
    if not re.fullmatch(r"[A-Za-z]{1,60}(?:[_./:-][A-Za-z]{1,60}){0,6}", v) or len(v) > 120:
        return False
    parts = [w for chunk in re.split(r"[_./:-]", v) for w in _WORD_PART.findall(chunk)]
    if "".join(parts).lower() != re.sub(r"[_./:-]", "", v).lower() or len(parts) < 2:
        return False
    # Every part must read like a word (a vowel, or a short acronym such as AWS, ID, URL, JITNA).
    return all(_pronounceable(w) or (w.isupper() and len(w) <= 6) for w in parts)


_SECRETISH = lazy(r"(?i)pass|pwd|secret|token|key|auth|cred|private|signature|sig\b|bearer|session|cookie")


_PASSWORD_PART = frozenset({"pass", "passwd", "password", "passwort", "pwd", "pw", "passphrase", "pword", "senha",
                            "contrasena", "motdepasse", "mdp"})


def _password_named(ctx: Context) -> bool:
    return any(p in _PASSWORD_PART or p.endswith(("password", "passwd")) for p in _name_parts(assigned_name(ctx)))
