"""Findings: frozen, hashable, redacted records.

A finding's identity is (path, rule id, fingerprint), never the line number, so baselines survive code moving and
rebases. The secret value travels only inside a :class:`Secret`, whose ``repr``/``str`` are redacted and which no
report serialises; ``remediate`` unwraps it with :meth:`Secret.reveal` to move the value into a vault.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

FINGERPRINT_VERSION = "v1"


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    # Below every default: what usually stands in for a credential in test code (`password = "secret"`,
    # `user:pass@host`), reported only when asked for (`--min-confidence unlikely`), labelled with the filter that
    # would otherwise drop it.
    UNLIKELY = "unlikely"

    @property
    def rank(self) -> int:
        return {"high": 3, "medium": 2, "low": 1, "unlikely": 0}[self.value]

    @classmethod
    def parse(cls, text: str) -> Confidence:
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(f"unknown confidence {text!r}; use high, medium, low or unlikely") from None


class Secret:
    """A secret value that refuses to show itself: redacted in ``repr``, ``str`` and f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plaintext. Only the vault write and the runtime masker may call this."""
        return self._value

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        # Worker processes return findings to the parent; pickling stays in memory/pipes, never in a file.
        return (Secret, (self._value,))


def fingerprint(rule_id: str, value: str) -> str:
    """A stable id for (rule, secret): survives rebases, squashes and moved lines; reveals nothing useful."""
    digest = hashlib.sha256(f"unleak:{FINGERPRINT_VERSION}:{rule_id}:{value}".encode()).hexdigest()
    return digest[:20]


def sha1_hex(value: str) -> str:
    """detect-secrets' ``hashed_secret`` form, used only to honour imported detect-secrets baselines."""
    return hashlib.sha1(value.encode("utf-8"), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author: str
    email: str
    date: str  # ISO 8601 as git prints it

    def to_dict(self) -> dict[str, str]:
        return {"sha": self.sha, "author": self.author, "email": self.email, "date": self.date}


def value_shape(value: str) -> str:
    """The value's shape: A for an upper-case letter, a for lower case, 0 for a digit, * for anything else; a value
    that is its own shape (``aaaa``) shows only its length, so the shape never spells the value."""
    out = "".join("A" if c.isascii() and c.isupper() else "a" if c.isascii() and c.islower() else
                  "0" if c.isascii() and c.isdigit() else "*" for c in value.split("\n", 1)[0][:80])
    if out in value or value in out:
        return f"<{len(value)} chars>"
    return out + ("…" if len(value) > 80 or "\n" in value else "")


_NAME_BEFORE = re.compile(r"([A-Za-z_$@][A-Za-z0-9_.$-]{0,60})[\"'\]]?\s{0,4}(?::=|=>|=|:|\()\s{0,4}[\"'`(\[]?$")
_SECRETISH_NAME = re.compile(r"(?i)pass|pwd|secret|token|key|auth|cred|private|signature|bearer|session|cookie|"
                             r"authorization|login")


def masked_context(line_before: str, value: str) -> str:
    """``NAME = shape`` for triage. The name is shown only when it is about a secret (password, token, key…), so a
    username or a token in a URL's user part never appears; otherwise only the shape."""
    m = _NAME_BEFORE.search(line_before[-120:])
    name = m.group(1) if m and _SECRETISH_NAME.search(m.group(1)) and m.group(1) != value else ""
    shape = value_shape(value)
    return f"{name} = {shape}" if name else shape


# A token of a line: a run between delimiters (spaces, quotes, brackets, assignment and separator characters).
_LINE_TOKEN = re.compile(r"[^\s\"'`=:,;()\[\]{}<>]+")
# Unambiguous on purpose (a separator is "." or "-", never a letter or "_"): every string has one parse, so a
# long token that fails the match costs a single linear pass instead of exponential backtracking.
_WORDISH = re.compile(r"[A-Za-z_$@][A-Za-z_$]*(?:[.-][A-Za-z][A-Za-z_]*)*")
_PLAIN_PART = re.compile(r"[A-Z]?[a-z]{1,14}|[A-Z]{1,6}(?=[A-Z][a-z])|[A-Z]{1,20}$")
MASKED_LINE_MAX = 240


def _plain_word(token: str) -> bool:
    """An identifier made of word-like parts (``DB_PASSWORD``, ``os.environ``, ``apiKey``): structure, not data."""
    if len(token) > 60 or not _WORDISH.fullmatch(token):
        return False
    parts = [w for chunk in re.split(r"[_.$@-]+", token) if chunk for w in _PLAIN_PART.findall(chunk)]
    if "".join(parts) != re.sub(r"[_.$@-]", "", token):
        return False
    return all(re.search(r"[aeiouyAEIOUY]", w) or len(w) <= 3 or (w.isupper() and len(w) <= 4) for w in parts)


def masked_line(line: str, start: int, end: int) -> str:
    """The finding's whole line for triage, with the value replaced in place by its shape (:func:`value_shape`).
    Every other token that is not plainly an identifier made of words (``DB_PASSWORD``, ``os.getenv``) is shaped as
    well, and so is everything inside quotes: code structure stays readable, and no character of the value, or of
    any other string on the line that might be a secret (a second key, a URL's user part), is shown.

    At most MASKED_LINE_MAX characters around the value are kept (minified bundles are one line), and the work done
    is bounded by that window, not by the line: a line with thousands of findings stays linear. Where the window
    starts inside the line, whether it starts inside a string is not known, so every token there is shaped."""
    nl = line.find("\n", end)  # the value may span lines (a key block); its line ends after it
    if nl >= 0:
        line = line[:nl]
    line = line[:end + MASKED_LINE_MAX // 2 + 1].rstrip("\r")
    end = min(end, len(line))
    if not 0 <= start < end:
        return ""
    cut = start > MASKED_LINE_MAX // 2
    head = "…" + line[start - MASKED_LINE_MAX // 2:start] if cut else line[:start]
    tail = line[end:]
    if len(tail) > MASKED_LINE_MAX // 2:
        tail = tail[:MASKED_LINE_MAX // 2] + "…"

    def mask(text: str, quote_at_start: str) -> str:
        out: list[str] = []
        pos = 0
        quote = quote_at_start
        for m in _LINE_TOKEN.finditer(text):
            gap = text[pos:m.start()]
            for c in gap:  # track string literals through the delimiters between tokens
                if c in "\"'`":
                    quote = "" if quote == c else (quote or c)
            out.append(gap)
            tok = m.group(0)
            after = text[m.end():m.end() + 3].lstrip(" ")
            # A quoted plain word followed by `:` is a key (`"api_key": …`); a flag or comment marker is structure.
            key = bool(quote) and gap.endswith(quote) and after[:1] == quote and after[1:2] in (":", "")
            bare = tok.lstrip("-#!&|*+.")  # not "/": `//user` is a URL's user part
            punctuation = not re.search(r"[A-Za-z0-9]", tok) and len(tok) <= 3
            word = _plain_word(tok) or (bare != tok and len(tok) - len(bare) <= 2 and _plain_word(bare))
            if punctuation or (not cut and (not quote or key) and word):
                out.append(tok)
            else:
                out.append(value_shape(tok))
            pos = m.end()
        out.append(text[pos:])
        return "".join(out)

    opened = ""
    if not cut:
        for c in line[:start]:
            if c in "\"'`":
                opened = "" if opened == c else (opened or c)
    return mask(head, "") + value_shape(line[start:end]) + mask(tail, opened)


def redacted_preview(prefix: str, fp: str) -> str:
    """What people see instead of the value: the format's public prefix (e.g. ``ghp_``) and the fingerprint."""
    return f"{prefix}…[{fp[:8]}]" if prefix else f"…[{fp[:8]}]"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    confidence: Confidence
    path: str
    line: int
    column: int  # 1-based, first character of the secret
    end_column: int  # 1-based, one past the last character (SARIF endColumn convention)
    fingerprint: str
    preview: str
    source: str  # file | staged | changes | commit | diff | agent-log
    commit: CommitInfo | None = None
    secret: Secret = field(default_factory=lambda: Secret(""), compare=False, repr=False)
    sha1: str = field(default="", compare=False, repr=False)
    # Why the confidence was lowered (a demotion's name: test-fixture, weak-password, demo-credential), or "".
    label: str = field(default="", compare=False)
    # A safe triage context: the secret-like name the value is assigned to and the value's shape (length and
    # character classes, never a character of it), e.g. ``DB_PASSWORD = aaaaaa00``. See :func:`masked_context`.
    context: str = field(default="", compare=False)
    # The whole line with the value (and every literal-looking token) shaped in place: see :func:`masked_line`.
    line_context: str = field(default="", compare=False)

    @property
    def key(self) -> tuple[str, str, str]:
        """The identity used by baselines: content-keyed, no line numbers."""
        return (self.path, self.rule_id, self.fingerprint)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        """A finding back from :meth:`to_dict` (a report, a worker's answer): redacted, so without its value."""
        commit = CommitInfo(**d["commit"]) if d.get("commit") else None
        return cls(rule_id=d["rule_id"], title=d["title"], confidence=Confidence(d["confidence"]), path=d["path"],
                   line=int(d["line"]), column=int(d["column"]), end_column=int(d["end_column"]),
                   fingerprint=d["fingerprint"], preview=d["preview"], source=d["source"], commit=commit)

    def to_dict(self) -> dict[str, Any]:
        """Serialisable form. Never includes the value (invariant 1)."""
        d: dict[str, Any] = {
            "rule_id": self.rule_id,
            "title": self.title,
            "confidence": self.confidence.value,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_column": self.end_column,
            "fingerprint": self.fingerprint,
            "preview": self.preview,
            "source": self.source,
        }
        if self.label:
            d["label"] = self.label
        if self.context:
            d["context"] = self.context
        if self.line_context:
            d["line_context"] = self.line_context
        if self.commit is not None:
            d["commit"] = self.commit.to_dict()
        return d


@dataclass(frozen=True)
class Skipped:
    """Something history holds that could not be read (a missing or corrupt object, a promisor object a partial
    clone never fetched): the commit, the path when known ("" for the whole commit), and why. Never content."""

    commit: str
    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"commit": self.commit, "path": self.path, "reason": self.reason}
