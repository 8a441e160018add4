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

    @property
    def rank(self) -> int:
        return {"high": 3, "medium": 2, "low": 1}[self.value]

    @classmethod
    def parse(cls, text: str) -> Confidence:
        try:
            return cls(text.lower())
        except ValueError:
            raise ValueError(f"unknown confidence {text!r}; use high, medium or low") from None


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
