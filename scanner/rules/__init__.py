"""The rule registry: small declarative units with stable ids (``UL001``…).

A rule is either a regular expression (with prefilter keywords) or a structural detector (a function over a chunk,
for credential-bearing file formats). Modules of rule families call :func:`register`; :func:`all_rules` imports
them once. Ids never change meaning: they appear in SARIF ``ruleId``, baselines, allow comments and config.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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
    flags: int = 0
    # Structural rules: a detector over the whole chunk; ``path_pattern`` or ``keywords`` gate it.
    detect: DetectFn | None = None
    path_pattern: str | None = None  # regex searched in the path; restricts the rule to matching files
    validate: Validator | None = None  # e.g. a checksum; a candidate failing it is dropped as ``failed-checksum``
    min_entropy: float = 0.0  # Shannon bits per char; below it the candidate is dropped as ``low-entropy``
    preview_prefix: str = ""  # the public, non-secret prefix shown in previews (``ghp_``, ``AKIA``)
    revoke: str = ""  # where the provider revokes such a credential
    family: str = "generic"
    description: str = ""
    # Names in filters.py that must NOT apply to this rule (e.g. a provider token never looks like a placeholder).
    skip_filters: frozenset[str] = field(default_factory=frozenset)

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


_REGISTRY: dict[str, Rule] = {}
_LOADED = False


def register(*rules: Rule) -> None:
    for rule in rules:
        if rule.id in _REGISTRY and _REGISTRY[rule.id] is not rule:
            raise ValueError(f"duplicate rule id {rule.id}")
        _REGISTRY[rule.id] = rule


def all_rules() -> dict[str, Rule]:
    """Every built-in rule by id, in id order."""
    global _LOADED
    if not _LOADED:
        # Importing a family module registers its rules.
        from scanner.rules import credential_files, detect_secrets_rules, generic, providers  # noqa: F401

        _LOADED = True
    return dict(sorted(_REGISTRY.items()))


def custom_rule(source: str, spec: dict[str, object]) -> Rule:
    """A user rule from config (``[[tool.unleak.rules]]``): id, regex, keywords, title, confidence."""
    def need(key: str, typ: type) -> object:
        if key not in spec:
            raise ConfigError(f"{source}: rules entry is missing '{key}'")
        val = spec[key]
        if not isinstance(val, typ):
            raise ConfigError(f"{source}: rules.{key} must be a {typ.__name__}")
        return val

    rid = str(need("id", str))
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]{1,40}", rid) or re.fullmatch(r"UL\d+", rid):
        raise ConfigError(f"{source}: rules.id {rid!r} must be a name (letters, digits, -_.) and not a UL id")
    regex = str(need("regex", str))
    try:
        re.compile(regex)
    except re.error as exc:
        raise ConfigError(f"{source}: rules[{rid}].regex does not compile: {exc}") from None
    kws = spec.get("keywords", [])
    if not isinstance(kws, list) or not all(isinstance(k, str) and k for k in kws):
        raise ConfigError(f"{source}: rules[{rid}].keywords must be a list of non-empty strings")
    conf_text = spec.get("confidence", "medium")
    try:
        conf = Confidence.parse(str(conf_text))
    except ValueError as exc:
        raise ConfigError(f"{source}: rules[{rid}].confidence: {exc}") from None
    unknown = set(spec) - {"id", "regex", "keywords", "title", "confidence", "entropy"}
    if unknown:
        raise ConfigError(f"{source}: rules[{rid}] has unknown keys: {', '.join(sorted(unknown))}")
    entropy = spec.get("entropy", 0.0)
    if not isinstance(entropy, int | float):
        raise ConfigError(f"{source}: rules[{rid}].entropy must be a number")
    return Rule(
        id=rid,
        title=str(spec.get("title", rid)),
        confidence=conf,
        pattern=regex,
        keywords=tuple(k.lower() for k in kws),
        min_entropy=float(entropy),
        family="custom",
    )


def rules_markdown(rules: dict[str, Rule] | None = None) -> str:
    """The rule table for the README: id, what it finds, confidence (generated, so it cannot drift)."""
    rows = ["| id | finds | confidence |", "|---|---|---|"]
    for r in (rules or all_rules()).values():
        what = f"**{r.title}** — {r.description}" if r.description else f"**{r.title}**"
        cell = what.replace("|", "\\|")
        rows.append(f"| {r.id} | {cell} | {r.confidence.value} |")
    return "\n".join(rows) + "\n"
