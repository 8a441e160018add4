"""remediate.codemods._matchers: libcst's decorator walk is skipped only for classes whose walk found nothing."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.matchers import _visitors

import remediate.codemods  # noqa: F401  (installs the cache)


class _Plain(VisitorBasedCodemodCommand):
    def leave_SimpleString(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        return updated.with_changes(value='"x"')


class _Decorated(VisitorBasedCodemodCommand):
    @m.leave(m.SimpleString())
    def _quote(self, original: cst.SimpleString, updated: cst.SimpleString) -> cst.SimpleString:
        return updated.with_changes(value='"y"')

    @m.call_if_inside(m.FunctionDef())
    def visit_Name(self, node: cst.Name) -> None:
        self.context.scratch["seen"] = self.context.scratch.get("seen", 0) + 1


def test_the_cache_is_installed_and_keeps_the_original() -> None:
    for name in ("_gather_matchers", "_gather_constructed_visit_funcs", "_gather_constructed_leave_funcs"):
        assert hasattr(getattr(_visitors, name), "__wrapped__")


def test_decorated_methods_still_run_every_time() -> None:
    code = 'a = "1"\ndef f():\n    return b\n'
    for _ in range(3):  # later instances too: a class with decorators is never taken for empty
        ctx = CodemodContext()
        out = _Decorated(ctx).transform_module(cst.parse_module(code)).code
        assert out == 'a = "y"\ndef f():\n    return b\n' and ctx.scratch["seen"] == 2
        assert _Plain(CodemodContext()).transform_module(cst.parse_module(code)).code.startswith('a = "x"')
