"""Generic rules: values assigned to password-, secret-, token- or key-like names in any language."""

from __future__ import annotations

from scanner.finding import Confidence
from scanner.rules import Rule, register

# name [quote] (= | : | => | :=) [quote] value [quote]
_NAME = (
    r"[A-Za-z0-9_.-]{0,40}(?:passw(?:or)?d|passwd|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key"
    r"|private[_.-]?key|auth[_.-]?key|credential)[A-Za-z0-9_.-]{0,40}"
)

register(
    Rule(
        id="UL900",
        title="Secret assigned to a secret-like name",
        confidence=Confidence.MEDIUM,
        pattern=(
            r"(?i)(?P<name>" + _NAME + r")[\"']?\s{0,8}(?::=|=>|=|:)\s{0,8}"
            r"(?:[\"'](?P<secret>[^\"'\s]{6,200})[\"']|(?P<bare>[^\"'\s,;#`]{8,200}))"
        ),
        keywords=("pass", "pwd", "secret", "token", "key", "credential"),
        min_entropy=2.5,
        family="generic",
        description="Assignments in .env, YAML, JSON, TOML, INI, properties and source code",
    ),
)
