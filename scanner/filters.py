"""Named false-positive predicates. Each returns True when a candidate should be *dropped*.

The engine reports which filter dropped a candidate by name (``--explain``), never by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from scanner.rules import Rule


@dataclass(frozen=True)
class Context:
    rule: Rule
    value: str
    line: str  # the whole line the value sits on
    prev_line: str
    path: str


@dataclass(frozen=True)
class Filter:
    name: str
    doc: str
    drop: Callable[[Context], bool]


ALLOW_MARKERS = ("pragma: allowlist secret", "gitleaks:allow", "unleak:allow")
_NEXTLINE_MARKER = "pragma: allowlist nextline secret"


def allow_comment(ctx: Context) -> bool:
    """An inline allow comment on the line or an allow-nextline comment on the line before."""
    low = ctx.line.lower()
    if any(m in low for m in ALLOW_MARKERS):
        return True
    prev = ctx.prev_line.lower()
    return _NEXTLINE_MARKER in prev or "unleak:allow-next-line" in prev


_PLACEHOLDER_WORDS = re.compile(
    r"(?i)(?:changeme|change_me|placeholder|your[_-]?[a-z_-]*(?:key|token|secret|password|here)|example|dummy|"
    r"sample|redacted|notasecret|not_a_secret|fake|xxxx|\*\*\*\*|replace[_-]?me|insert[_-]?here|todo|fixme|"
    r"lorem|test123|password123|secret123|^password$|^secret$|^token$|^null$|^none$|^true$|^false$)"
)
_TEMPLATE = re.compile(r"^(?:\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|%\([^)]*\)[sd]|<[^<>]+>|\[[^\]]+\]|%[sd])$")


def placeholder(ctx: Context) -> bool:
    """Template variables and placeholder words (``${VAR}``, ``<your-token>``, ``changeme``, ``xxxx``)."""
    v = ctx.value.strip()
    if _TEMPLATE.match(v) or "${" in v or "{{" in v:
        return True
    if len(set(v)) <= 2:  # "xxxxxxxx", "00000000", "********"
        return True
    return bool(_PLACEHOLDER_WORDS.search(v))


_REFERENCE = re.compile(r"^(?:op|unleak|vault|secret|secrets|aws-sm|gcp-sm|azure-kv|sm|ssm)://", re.IGNORECASE)


def reference(ctx: Context) -> bool:
    """Secret references (``op://``, ``unleak://``, vault paths): safe to commit by design."""
    return bool(_REFERENCE.match(ctx.value.strip()))


_ENV_READ = re.compile(
    r"(?:os\.environ|os\.getenv|getenv\(|process\.env|ENV\[|System\.getenv|env\(|config\(|settings\.)"
)


def env_read(ctx: Context) -> bool:
    """The value is code that reads the environment or config, not a literal."""
    return bool(_ENV_READ.search(ctx.value))


BUILTIN_FILTERS: tuple[Filter, ...] = (
    Filter("allow-comment", "inline allow comment (pragma: allowlist secret, gitleaks:allow, unleak:allow)",
           allow_comment),
    Filter("reference", "secret references such as op:// and unleak://", reference),
    Filter("placeholder", "template variables and placeholder words", placeholder),
    Filter("env-read", "reads from the environment or configuration", env_read),
)


def applicable(rule: Rule) -> tuple[Filter, ...]:
    return tuple(f for f in active_filters() if f.name not in rule.skip_filters)


_EXTRA: list[Filter] = []


def register_filter(f: Filter) -> None:
    """Rule families add format-specific filters here (still named, still pure)."""
    if all(x.name != f.name for x in _EXTRA):
        _EXTRA.append(f)


def active_filters() -> tuple[Filter, ...]:
    return BUILTIN_FILTERS + tuple(_EXTRA)
