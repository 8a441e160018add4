"""libcst's matcher-decoratable visitors, without their per-instance cost.

Every ``MatcherDecoratableTransformer`` (each codemod, and libcst's own ``AddImportsVisitor`` and
``RemoveImportsVisitor`` that run after it) walks ``dir(self)`` three times when it is created, looking for methods
decorated with ``@m.visit``, ``@m.leave`` or ``@m.call_if_*``: about 25 ms per instance, and a fix creates several per
file — it was most of a fix's planning time. What the walks find depends on the class alone; a class whose walk found
nothing finds nothing the next time, so for such classes the empty answer is remembered. A class that does use the
decorators is walked every time, exactly as libcst does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from libcst.matchers import _visitors

_EMPTY: set[tuple[str, type]] = set()


def _remember_empty(name: str, gather: Callable[[object], dict[Any, Any]]) -> Callable[[object], dict[Any, Any]]:
    def gather_once(obj: object) -> dict[Any, Any]:
        key = (name, type(obj))
        if key in _EMPTY:
            return {}
        found = gather(obj)
        if not found:
            _EMPTY.add(key)
        return found

    gather_once.__wrapped__ = gather  # type: ignore[attr-defined]
    return gather_once


def install() -> None:
    """Idempotent; called when :mod:`remediate.codemods` is imported."""
    for name in ("_gather_matchers", "_gather_constructed_visit_funcs", "_gather_constructed_leave_funcs"):
        current = getattr(_visitors, name, None)
        if current is not None and not hasattr(current, "__wrapped__"):
            setattr(_visitors, name, _remember_empty(name, current))
