"""libcst codemods that move secrets out of Python source, format-preserving.

Both codemods run through :func:`libcst.codemod.transform_module`, so a file that does not parse (or a codemod
that trips on it) yields a failed :class:`Outcome` for that file instead of aborting the whole fix. Every rewritten
module is compiled by this interpreter before it is accepted (invariant 4: rewritten files parse).

* :class:`~remediate.codemods.literals.ReplaceSecretLiterals` — secret literals (assignments, keyword arguments,
  dict and call values, secrets inside larger strings and f-strings, comments).
* :class:`~remediate.codemods.env_reads.FixEnvReads` — literal defaults of environment reads, ``dotenv_values``
  reads, ``load_dotenv(override=True)``.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from libcst import ParserSyntaxError
from libcst.codemod import CodemodContext, TransformExit, TransformFailure, TransformSuccess, transform_module

from remediate.codemods.env_reads import FixEnvReads
from remediate.codemods.literals import ReplaceSecretLiterals, comment_marker
from remediate.codemods.sites import Site

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


def _describe(result: TransformFailure) -> str:
    exc = result.error
    if isinstance(exc, ParserSyntaxError):
        return f"not valid Python (syntax error at line {exc.raw_line}); fix it by hand"
    return f"the rewrite failed ({type(exc).__name__}); fix it by hand"


def _run(codemod: ReplaceSecretLiterals | FixEnvReads, code: str) -> tuple[str | None, str | None]:
    result = transform_module(codemod, code)
    if isinstance(result, TransformExit):
        # libcst turns Ctrl-C into a result; taken as "unchanged", the fix would go on without this file.
        raise KeyboardInterrupt
    if isinstance(result, TransformFailure):
        return None, _describe(result)
    if isinstance(result, TransformSuccess):
        return result.code, None
    return code, None  # skipped or exited early: unchanged


def analyze(code: str, secrets: Collection[str]) -> Outcome:
    """Where each secret (raw source text) sits and what the code calls it there; nothing is rewritten."""
    env = FixEnvReads(CodemodContext(), secrets)
    _, error = _run(env, code)
    if error:
        return Outcome(None, error=error)
    if not secrets:
        return Outcome(code, env.sites)  # only environment reads asked for: skip the second parse
    lit = ReplaceSecretLiterals(CodemodContext(), secrets)
    _, error = _run(lit, code)
    if error:
        return Outcome(None, error=error)
    return Outcome(code, env.sites + lit.sites)


def rewrite(code: str, secrets: Collection[str], *, names: Mapping[str, str],
            default_names: Mapping[str, str] | None = None, dotenv_keys: Collection[str] = (),
            flip_override: bool = False) -> Outcome:
    """Rewrite ``code``: literals in ``names`` (raw -> variable) become environment reads, env-read defaults in
    ``default_names`` are dropped, ``dotenv_values`` reads of ``dotenv_keys`` read the environment."""
    env = FixEnvReads(CodemodContext(), secrets, names=default_names, dotenv_keys=dotenv_keys,
                      flip_override=flip_override)
    new, error = _run(env, code)
    if error or new is None:
        return Outcome(None, error=error)
    lit = ReplaceSecretLiterals(CodemodContext(), secrets, names=names)
    new, error = _run(lit, new)
    if error or new is None:
        return Outcome(None, error=error)
    try:
        compile(new, "<rewritten>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError):
        return Outcome(None, error="the rewritten file would not parse under this Python; fix it by hand")
    return Outcome(new, env.sites + lit.sites)
