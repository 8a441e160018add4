"""The fixing package's layout: no module grows past ~450 lines (500 with slack), and every module says in its
docstring what it owns. A module still over the limit is listed with the size it may not exceed, so it can only
shrink."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
LIMIT = 500
# Not yet split by responsibility: may shrink, may not grow.
STILL_TOO_LONG = {"remediate/purge.py": 632}
MODULES = sorted(p for p in (ROOT / "remediate").rglob("*.py") if p.name != "__init__.py")


def test_no_module_of_remediate_is_too_long() -> None:
    too_long = {}
    for path in MODULES:
        rel = path.relative_to(ROOT).as_posix()
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > STILL_TOO_LONG.get(rel, LIMIT):
            too_long[rel] = n
    assert too_long == {}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_says_what_it_owns(path: Path) -> None:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc and doc.strip()
