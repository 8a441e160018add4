"""libcst codemods that move secrets out of Python source, format-preserving.

Both codemods run on one parse of each text with the contract of :func:`libcst.codemod.transform_module`: a file
that does not parse (or a codemod that trips on it) yields a failed :class:`Outcome` for that file instead of
aborting the whole fix, and Ctrl-C stays an interrupt. Every rewritten
module is compiled by this interpreter before it is accepted (invariant 4: rewritten files parse).

* :class:`~remediate.codemods.literals.ReplaceSecretLiterals` — secret literals (assignments, keyword arguments,
  dict and call values, secrets inside larger strings and f-strings, comments).
* :class:`~remediate.codemods.env_reads.FixEnvReads` — literal defaults of environment reads, ``dotenv_values``
  reads, ``load_dotenv(override=True)``.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import libcst as cst
from libcst import ParserSyntaxError
from libcst.codemod import CodemodContext, SkipFile

from remediate.codemods import _matchers
from remediate.codemods.env_reads import FixEnvReads
from remediate.codemods.literals import ReplaceSecretLiterals, comment_marker
from remediate.codemods.sites import Site

_matchers.install()

__all__ = ["FixEnvReads", "Outcome", "ReplaceSecretLiterals", "Site", "analyze", "comment_marker", "rewrite"]


@dataclass(frozen=True)
class Outcome:
    """The result for one file. ``error`` never quotes the source (it could hold a secret)."""

    code: str | None
    sites: list[Site] = field(default_factory=lambda: [])
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _describe(exc: Exception) -> str:
    if isinstance(exc, ParserSyntaxError):
        return f"not valid Python (syntax error at line {exc.raw_line}); fix it by hand"
    return f"the rewrite failed ({type(exc).__name__}); fix it by hand"


@functools.lru_cache(maxsize=16)
def _parse(code: str) -> cst.Module:
    """One parse per text: planning analyses a file and then rewrites the same text (libcst trees are immutable)."""
    return cst.parse_module(code)


def _run(codemod: ReplaceSecretLiterals | FixEnvReads, tree: cst.Module) -> tuple[cst.Module | None, str | None]:
    """``transform_module`` on a parsed tree, with libcst's contract: one bad file is a failure result, never an
    exception — except Ctrl-C, which libcst would turn into a result taken as "unchanged" (the fix would then go
    on without this file)."""
    try:
        return codemod.transform_module(tree), None
    except SkipFile:
        return tree, None
    except Exception as exc:  # the failure is reported for this file alone
        return None, _describe(exc)


def _tree(code: str) -> tuple[cst.Module | None, str | None]:
    try:
        return _parse(code), None
    except Exception as exc:  # a syntax error (or a parser crash): this file fails
        return None, _describe(exc)


def analyze(code: str, secrets: Collection[str]) -> Outcome:
    """Where each secret (raw source text) sits and what the code calls it there; nothing is rewritten."""
    tree, error = _tree(code)
    if tree is None:
        return Outcome(None, error=error)
    env = FixEnvReads(CodemodContext(), secrets)
    _, error = _run(env, tree)
    if error:
        return Outcome(None, error=error)
    if not secrets:
        return Outcome(code, env.sites)  # only environment reads asked for: skip the second pass
    lit = ReplaceSecretLiterals(CodemodContext(), secrets)
    _, error = _run(lit, tree)
    if error:
        return Outcome(None, error=error)
    return Outcome(code, env.sites + lit.sites)


def rewrite(code: str, secrets: Collection[str], *, names: Mapping[str, str],
            default_names: Mapping[str, str] | None = None, dotenv_keys: Collection[str] = (),
            flip_override: bool = False) -> Outcome:
    """Rewrite ``code``: literals in ``names`` (raw -> variable) become environment reads, env-read defaults in
    ``default_names`` are dropped, ``dotenv_values`` reads of ``dotenv_keys`` read the environment."""
    tree, error = _tree(code)
    if tree is None:
        return Outcome(None, error=error)
    env = FixEnvReads(CodemodContext(), secrets, names=default_names, dotenv_keys=dotenv_keys,
                      flip_override=flip_override)
    tree, error = _run(env, tree)
    if tree is None:
        return Outcome(None, error=error)
    lit = ReplaceSecretLiterals(CodemodContext(), secrets, names=names)
    tree, error = _run(lit, tree)
    if tree is None:
        return Outcome(None, error=error)
    new = tree.code
    try:
        compile(new, "<rewritten>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError):
        return Outcome(None, error="the rewritten file would not parse under this Python; fix it by hand")
    return Outcome(new, env.sites + lit.sites)
