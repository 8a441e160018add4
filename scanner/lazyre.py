"""Regular expressions compiled on first use.

A module-level ``re.compile`` runs on every import, and ``unleak scan --staged`` imports every filter and detector
module although a typical staged change exercises a handful of them: compiling ~60 patterns up front was ~8 ms of a
pre-commit run. :func:`lazy` returns an object that compiles on its first attribute access and then binds the
pattern's methods to itself, so later calls cost exactly what a compiled pattern's do.
"""

from __future__ import annotations

import re
from typing import Any, AnyStr, cast

_BOUND = ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split", "scanner",
          "pattern", "flags", "groups", "groupindex")


_ALL: list[_Lazy] = []


class _Lazy:
    def __init__(self, pattern: str | bytes, flags: int) -> None:
        self._args = (pattern, flags)
        _ALL.append(self)

    def __getattr__(self, name: str) -> Any:  # only reached for names not yet bound
        if name.startswith("__"):
            raise AttributeError(name)
        rx: re.Pattern[Any] = re.compile(self._args[0], self._args[1])
        for attr in _BOUND:
            setattr(self, attr, getattr(rx, attr))
        return getattr(rx, name)

    def __repr__(self) -> str:
        return f"lazy({self._args[0]!r})"


def lazy(pattern: AnyStr, flags: int = 0) -> re.Pattern[AnyStr]:
    """``re.compile(pattern, flags)``, deferred to the first use. Invalid patterns fail there, so every pattern
    made with this is exercised by the tests of the module that owns it."""
    return cast("re.Pattern[AnyStr]", _Lazy(pattern, flags))


def compile_all() -> None:
    """Compile every pattern made so far: before forking workers, so that each inherits them compiled instead of
    compiling its own."""
    for rx in _ALL:
        try:
            rx.search  # noqa: B018 - the first attribute access compiles and binds
        except re.error:  # fails again where it is used, as it would have without this
            continue
