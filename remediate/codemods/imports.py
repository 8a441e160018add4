"""Where a codemod puts the ``import os`` it needs: in the standard-library group, the way isort would.

libcst's ``AddImportsVisitor`` appends new imports after the last import at the top of the module, which puts
``import os`` below ``import requests`` and makes every fixed file fail the project's isort/ruff check. Here the
import goes after the module docstring and ``from __future__`` imports, in alphabetical place among the other
standard-library imports, and, when the module has none, as a group of its own before the third-party imports.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from typing import Any

import libcst as cst
from libcst.helpers import get_full_name_for_node as dotted_name

_Key = tuple[str, int]  # (module, 0 for `import m` / 1 for `from m import ...`)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _import_key(stmt: cst.BaseStatement) -> tuple[str, _Key] | None:
    """("future" | "stdlib" | "other", sort key) for a line holding only imports, else None."""
    if not isinstance(stmt, cst.SimpleStatementLine) or not stmt.body:
        return None
    first = stmt.body[0]
    if not all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body):
        return None
    if isinstance(first, cst.ImportFrom):
        if first.relative:
            return "other", ("." * len(first.relative), 1)
        module = dotted_name(first.module) if first.module is not None else ""
        if module == "__future__":
            return "future", ("__future__", 1)
        key: _Key = (module or "", 1)
    else:
        assert isinstance(first, cst.Import)
        key = (dotted_name(first.names[0].name) or "", 0)
    top = key[0].split(".", 1)[0]
    return ("stdlib" if top in sys.stdlib_module_names else "other"), key


def _binds(body: Sequence[cst.BaseStatement], asname: str | None) -> bool:
    """Whether a module-level import already binds ``os`` (or ``asname`` to the module ``os``)."""
    for stmt in body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if not isinstance(small, cst.Import):
                continue
            for alias in small.names:
                name = dotted_name(alias.name)
                bound = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
                if asname is None and bound is None and name in ("os", "os.path"):
                    return True
                if asname is not None and bound == asname and name == "os":
                    return True
    return False


def _split_blank(lines: Sequence[cst.EmptyLine]) -> tuple[list[cst.EmptyLine], list[cst.EmptyLine]]:
    """The blank lines before the first comment, and the rest (comments stay with the statement they precede)."""
    n = 0
    while n < len(lines) and lines[n].comment is None:
        n += 1
    return list(lines[:n]), list(lines[n:])


def add_import_os(module: cst.Module, asname: str | None = None) -> cst.Module:
    """``module`` with ``import os`` (or ``import os as <asname>``) in its standard-library import group."""
    body = list(module.body)
    if _binds(body, asname):
        return module
    alias = cst.AsName(name=cst.Name(asname)) if asname else None
    new = cst.SimpleStatementLine(body=[cst.Import(names=[cst.ImportAlias(name=cst.Name("os"), asname=alias)])])
    own: _Key = ("os", 0)
    head = 1 if body and _is_docstring(body[0]) else 0
    block: list[tuple[int, str, _Key]] = []  # the leading run of import lines, after the docstring
    for i in range(head, len(body)):
        kind = _import_key(body[i])
        if kind is None:
            break
        block.append((i, kind[0], kind[1]))
    stdlib = [(i, key) for i, kind, key in block if kind == "stdlib"]
    if stdlib:
        # isort's order within a section: every `import m` before every `from m import ...`, each alphabetical —
        # unless the file sorts both kinds together by module (isort's force_sort_within_sections), which shows as
        # a `from` import followed by a plain one.
        kinds = [key[1] for _, key in stdlib]
        together = any(a > b for a, b in itertools.pairwise(kinds))

        def order(key: _Key) -> tuple[Any, ...]:
            return key if together else (key[1], key[0])

        at = next((i for i, key in stdlib if order(key) > order(own)), None)
        if at is None:
            body.insert(stdlib[-1][0] + 1, new)
        else:
            moved = body[at]
            assert isinstance(moved, cst.SimpleStatementLine)
            body[at] = moved.with_changes(leading_lines=[])
            body.insert(at, new.with_changes(leading_lines=moved.leading_lines))
        return module.with_changes(body=body)
    # A group of its own, after the docstring and `from __future__`, before third-party imports or the code.
    at = next((i for i, kind, _ in block if kind != "future"), None)
    if at is None:
        at = block[-1][0] + 1 if block else head
    if at >= len(body):
        body.append(new)
        return module.with_changes(body=body)
    following = body[at]
    blank, rest = _split_blank(getattr(following, "leading_lines", ()))
    body[at] = following.with_changes(leading_lines=[cst.EmptyLine(), *rest])
    body.insert(at, new.with_changes(leading_lines=blank))
    return module.with_changes(body=body)
