"""What a rule is: :class:`Rule`, the :class:`Candidate` it yields, allowlists, and the one registry.

Rule family modules import this module only, never the :mod:`scanner.rules` package that loads them, so the
registry and its families form no import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from scanner.chunk import Chunk
from scanner.finding import Confidence


@dataclass(frozen=True)
class Candidate:
    """A possible secret before filtering: offsets are into the chunk's text."""

    rule_id: str
    value: str = field(repr=False)  # the plaintext: never in a repr (tracebacks, logs)
    start: int  # offset of the value in chunk.text
    end: int
    confidence: Confidence | None = None  # overrides the rule's when a detector knows better


@dataclass(frozen=True)
class Allow:
    """An allowlist from a migrated gitleaks/betterleaks config: a candidate it matches is dropped
    (``config-allowlist``). ``condition`` "OR": any given criterion suffices; "AND": every given one must hold.
    Frozen and made of strings, so its repr keys the scan cache."""

    regexes: tuple[str, ...] = ()
    target: str = "secret"  # what ``regexes`` search: the secret, the rule's whole match, or the line
    stopwords: tuple[str, ...] = ()  # lower-case; the secret contains one
    paths: tuple[str, ...] = ()  # regexes searched in the file path
    condition: str = "OR"

    def drops(self, value: str, match: str, line: str, path: str) -> bool:
        text = {"secret": value, "match": match, "line": line}.get(self.target, value)
        checks: list[bool] = []
        if self.regexes:
            checks.append(any(_compile("allow", rx, 0).search(text) for rx in self.regexes))
        if self.stopwords:
            low = value.lower()
            checks.append(any(w in low for w in self.stopwords))
        if self.paths:
            checks.append(any(_compile("allow", rx, 0).search(path) for rx in self.paths))
        if not checks:
            return False
        return all(checks) if self.condition == "AND" else any(checks)


Validator = Callable[[str], bool]
DetectFn = Callable[[Chunk], Iterable[Candidate]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    confidence: Confidence
    # Regex rules: the value is the named group ``secret`` if present, else group 1, else the whole match.
    pattern: str | None = None
    keywords: tuple[str, ...] = ()  # lowercase literals; a chunk without any of them skips the rule
    window: int = 1024  # how far after a keyword hit the regex may match (raise it for long tokens like JWTs)
    # Every match contains one of these: a keyword window without any is not searched (UL900's "pass" hits are
    # mostly Python's `pass` statement, which has no "=" or ":").
    requires: tuple[str, ...] = ()
    # Every match starts at most this many characters before the first character of one of its keywords (-1: no
    # bound). The engine then tries the pattern only there (scanner.anchored), not at every position of a window.
    starts_near: int = -1
    flags: int = 0
    # Structural rules: a detector over the whole chunk; ``path_pattern`` or ``keywords`` gate it.
    detect: DetectFn | None = None
    path_pattern: str | None = None  # regex searched in the path; restricts the rule to matching files
    validate: Validator | None = None  # e.g. a checksum; a candidate failing it is dropped as ``failed-checksum``
    min_entropy: float = 0.0  # Shannon bits per char; below it the candidate is dropped as ``low-entropy``
    preview_prefix: str = ""  # the public, non-secret prefix shown in previews (``ghp_``, ``AKIA``)
    revoke: str = ""  # where the provider revokes such a credential
    family: str = "generic"
    defers: bool = False  # loses every overlap with another rule's candidate, whatever the families and confidences
    description: str = ""
    # Names in filters.py that must NOT apply to this rule (e.g. a provider token never looks like a placeholder).
    skip_filters: frozenset[str] = field(default_factory=frozenset)
    # Values are phrases that may hold spaces (UL907's passphrases): the ui-string filter judges the phrase (a label,
    # a message, a template) instead of dropping every value with a space as prose.
    phrase: bool = False
    # Provider metadata (scanner/rules/_provider.py builds these for the provider modules): the service, the
    # category `unleak rules` groups by, the environment-variable name `fix` gives the value when nothing in the
    # code names it, and the provider's documentation of the format.
    provider: str = ""
    category: str = ""
    env_name: str = ""
    doc: str = ""
    # The declared format, for generated examples: token shapes (``sk-or-v1-{hex:64}``) and, for context-anchored
    # rules, the service names that must precede the value.
    shapes: tuple[str, ...] = ()
    anchors: tuple[str, ...] = ()
    allow: tuple[Allow, ...] = ()  # allowlists from a migrated gitleaks/betterleaks config

    def __post_init__(self) -> None:
        if (self.pattern is None) == (self.detect is None):
            raise ValueError(f"rule {self.id}: exactly one of pattern or detect")

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.id, self.pattern or "", self.flags)

    @property
    def path_regex(self) -> re.Pattern[str] | None:
        return _compile(self.id + ":path", self.path_pattern, 0) if self.path_pattern else None


_COMPILED: dict[tuple[str, str, int], re.Pattern[str]] = {}


def _compile(key: str, pattern: str, flags: int) -> re.Pattern[str]:
    k = (key, pattern, flags)
    rx = _COMPILED.get(k)
    if rx is None:
        rx = _COMPILED[k] = re.compile(pattern, flags)
    return rx


def precompile(rules: Iterable[Rule]) -> None:
    """Compile the patterns (and path patterns) of ``rules`` now, through the store of compiled patterns
    (:mod:`scanner.recache`): before worker processes fork, so that they inherit them compiled."""
    from scanner import recache

    keys: list[tuple[str, str, int]] = []
    for r in rules:
        if r.pattern:
            keys.append((r.id, r.pattern, r.flags))
        if r.path_pattern:
            keys.append((r.id + ":path", r.path_pattern, 0))
    todo = [k for k in keys if k not in _COMPILED]
    if not todo:
        return
    # All of them, not only those not compiled yet: the store keeps exactly what it is asked for.
    got = recache.compile_many((pattern, flags) for _, pattern, flags in keys)
    for k in todo:
        rx = got.get((k[1], k[2]))
        if rx is not None:
            _COMPILED[k] = rx


_REGISTRY: dict[str, Rule] = {}


def register(*rules: Rule) -> None:
    for rule in rules:
        if rule.id in _REGISTRY and _REGISTRY[rule.id] is not rule:
            raise ValueError(f"duplicate rule id {rule.id}")
        _REGISTRY[rule.id] = rule


def registered() -> dict[str, Rule]:
    """The rules registered so far, by id (:func:`scanner.rules.all_rules` loads every family first)."""
    return dict(_REGISTRY)
