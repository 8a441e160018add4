"""What a rule is: :class:`Rule`, the :class:`Candidate` it yields, allowlists, and the one registry.

Rule family modules import this module only, never the :mod:`scanner.rules` package that loads them, so the
registry and its families form no import cycle.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scanner.chunk import Chunk
from scanner.errors import ConfigError
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
            checks.append(any(user_pattern("an allowlist regex", rx).search(text) for rx in self.regexes))
        if self.stopwords:
            low = value.lower()
            checks.append(any(w in low for w in self.stopwords))
        if self.paths:
            checks.append(any(user_pattern("an allowlist path", rx).search(path) for rx in self.paths))
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
        if self.family == "custom":
            return user_pattern(f"rule {self.id}", self.pattern or "", self.flags)  # type: ignore[return-value]
        return _compile(self.id, self.pattern or "", self.flags)

    @property
    def path_regex(self) -> re.Pattern[str] | None:
        if not self.path_pattern:
            return None
        if self.family == "custom":
            return user_pattern(f"rule {self.id}'s path", self.path_pattern)  # type: ignore[return-value]
        return _compile(self.id + ":path", self.path_pattern, 0)


# A pattern a configuration supplies (a custom rule, a migrated gitleaks allowlist) can backtrack for hours on a line
# written for it, and the repository that holds the config also holds the files scanned. Each search of one may take
# this long, plus a second per million characters searched; past that the pattern is stopped (PatternTimeout).
USER_PATTERN_SECONDS = 1.0
# The drop counter's key for a stopped pattern (then its name): it travels with the counts from worker processes and
# the scan cache, and scanner.api turns it into a note and a `skipped` entry.
STOPPED = "pattern-stopped:"


class PatternTimeout(TimeoutError):
    """A configured pattern ran past its time limit; ``what`` names it ("rule acme-token"), never the text."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: a search ran past its time limit")
        self.what = what


class UserPattern:
    """A configured pattern, compiled by the ``regex`` module (the ``re`` syntax, and a time limit per search).
    Once a search runs out of time the pattern is stopped in this process: every later search raises
    :class:`PatternTimeout` at once, so a backtracking pattern costs one time limit, not one per line, and each
    text it did not search is counted."""

    def __init__(self, what: str, pattern: str, flags: int = 0) -> None:
        import regex  # only scans with configured patterns load it

        self.what = what
        self.pattern = pattern
        self._rx: Any = regex.compile(pattern, flags)
        self.groups: int = self._rx.groups
        self.groupindex: dict[str, int] = dict(self._rx.groupindex)
        self.stopped = False

    def _limit(self, pos: int, endpos: int) -> float:
        return USER_PATTERN_SECONDS + max(endpos - pos, 0) / 1_000_000

    def finditer(self, text: str, pos: int = 0, endpos: int | None = None) -> Iterator[Any]:
        if self.stopped:  # each text it no longer searches is counted
            raise PatternTimeout(self.what)
        end = len(text) if endpos is None else endpos
        try:
            yield from self._rx.finditer(text, pos, end, timeout=self._limit(pos, end))
        except TimeoutError:
            self.stopped = True
            raise PatternTimeout(self.what) from None

    def _one(self, how: str, text: str, pos: int, endpos: int | None) -> Any:
        if self.stopped:
            raise PatternTimeout(self.what)
        end = len(text) if endpos is None else endpos
        try:
            return getattr(self._rx, how)(text, pos, end, timeout=self._limit(pos, end))
        except TimeoutError:
            self.stopped = True
            raise PatternTimeout(self.what) from None

    def search(self, text: str, pos: int = 0, endpos: int | None = None) -> Any:
        return self._one("search", text, pos, endpos)

    def match(self, text: str, pos: int = 0, endpos: int | None = None) -> Any:
        return self._one("match", text, pos, endpos)

    def fullmatch(self, text: str, pos: int = 0, endpos: int | None = None) -> Any:
        return self._one("fullmatch", text, pos, endpos)


_USER: dict[tuple[str, str, int], UserPattern] = {}


def restart_user_patterns() -> None:
    """Un-stop every configured pattern: a pattern is stopped for the rest of one scan, not of the process (the
    Action's second scan, a fleet worker's next repository)."""
    for rx in _USER.values():
        rx.stopped = False


def check_user_pattern(where: str, pattern: str) -> int:
    """The number of groups of ``pattern`` compiled as :class:`UserPattern` will compile it; ConfigError naming
    ``where`` when it does not compile."""
    import regex

    try:
        return int(regex.compile(pattern).groups)
    except (regex.error, OverflowError, RecursionError, ValueError) as exc:  # a count past 2**32; nesting too deep
        raise ConfigError(f"{where} does not compile: {exc or type(exc).__name__}") from None


def user_pattern(what: str, pattern: str, flags: int = 0) -> UserPattern:
    """The one :class:`UserPattern` of a configured pattern in this process."""
    k = (what, pattern, flags)
    rx = _USER.get(k)
    if rx is None:
        rx = _USER[k] = UserPattern(what, pattern, flags)
    return rx


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
        if r.family == "custom":  # configured patterns: compiled by the regex module, with a time limit
            continue
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
