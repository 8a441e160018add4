"""Named false-positive predicates. Each returns True when a candidate should be *dropped*.

Every filter is a pure function of the candidate's context with a one-line docstring, registered by
:func:`~scanner.filters.base.drop_filter` under its own name (``git_sha`` is ``git-sha``); the engine reports which
filter dropped a candidate by that name (``--explain``), never by value. Provider rules opt out of filters that make
no sense for them through ``Rule.skip_filters``; the filters also check the rule family where a predicate only makes
sense for name-based (generic) matches.

``base`` defines filters and the registries, ``placeholders`` judges what stands in for a value, ``values``
the value itself, ``code`` the code and names around it, ``demotions`` lowers confidence instead of dropping (and,
at the ``unlikely`` tier, keeps what some filters drop: ``SOFTENED``).
The order below decides which filter names a drop.
"""

from __future__ import annotations

# Importing the filter modules registers their predicates.
from scanner.filters import code, demotions, placeholders, values
from scanner.filters.base import _DEMOTIONS, _FILTERS, NAME_BASED, SOFTENED, Context, Demotion, Filter, _ordered
from scanner.filters.placeholders import ALLOW_MARKERS, placeholder
from scanner.rules.base import Rule

__all__ = ["ALLOW_MARKERS", "BUILTIN_DEMOTIONS", "BUILTIN_FILTERS", "DEMOTION_ORDER", "FILTER_ORDER", "NAME_BASED",
           "SOFTENED", "Context", "Demotion", "Filter", "active_filters", "applicable", "applicable_demotions", "code",
           "demotions", "placeholder", "placeholders", "values"]


# The order in which filters are tried: the first that drops a candidate names the drop (``--explain``, stats).
FILTER_ORDER = (
    "config-allowlist", "allow-comment", "reference", "example-key", "placeholder", "env-read", "lockfile-hash",
    "git-sha", "password-hash", "uuid", "checksum", "public-material", "data-uri", "notebook-media", "ui-string",
    "type-annotation", "code-expression", "name-as-value", "path-or-url", "metadata-name", "encoded-text", "slug",
    "fake-jwt", "non-secret-name", "short-hex", "identifier-words", "regex-source", "key-header-only",
    "plain-words", "short-token", "not-basic-credential", "key-body-fragment", "prose", "invalid-checksum",
    "unnamed-hex", "character-set", "number-or-version",
)
BUILTIN_FILTERS: tuple[Filter, ...] = _ordered(_FILTERS, FILTER_ORDER)


# The first demotion that applies names the finding's label.
DEMOTION_ORDER = ("demo-credential", "test-fixture", "weak-password")
BUILTIN_DEMOTIONS: tuple[Demotion, ...] = _ordered(_DEMOTIONS, DEMOTION_ORDER)


def applicable_demotions(rule: Rule) -> tuple[Demotion, ...]:
    return tuple(d for d in BUILTIN_DEMOTIONS if d.name not in rule.skip_filters)


def applicable(rule: Rule) -> tuple[Filter, ...]:
    return tuple(f for f in active_filters() if f.name not in rule.skip_filters)


def active_filters() -> tuple[Filter, ...]:
    return BUILTIN_FILTERS
