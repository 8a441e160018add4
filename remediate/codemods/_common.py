"""Shared pieces of the Python codemods: dotted names, what a module imports and binds, environment reads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import libcst as cst
from libcst.codemod import CodemodContext, VisitorBasedCodemodCommand
from libcst.metadata import PositionProvider, Scope, ScopeProvider

from remediate.codemods.imports import add_import_os

# Callees that read one variable from the environment and take a default: dotted name -> (index of the key
# argument, index of a positional default or None, name of the keyword default).
_OS_READS = {
    "os.getenv": (0, 1, "default"),
    "getenv": (0, 1, "default"),
    "os.environ.get": (0, 1, "default"),
    "environ.get": (0, 1, "default"),
}
# python-decouple: config(option, default=..., cast=...); the second positional is the default.
_DECOUPLE_READ = (0, 1, "default")
# django-environ: env(var, cast=None, default=NOTSET) (second positional is the cast), env.str(var, default, ...).
_ENVIRON_CALL = (0, None, "default")
_ENVIRON_METHOD = (0, 1, "default")


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """``os.environ.get`` for the expression ``os.environ.get``; None for anything that is not a plain name chain."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        head = dotted_name(expr.value)
        return f"{head}.{expr.attr.value}" if head else None
    return None


def env_expr(name: str, quote: str = '"', os_name: str = "os") -> cst.BaseExpression:
    """``os.environ["NAME"]``, quoted like the literal it replaces (``os_name``: what the module calls ``os``)."""
    return cst.parse_expression(f"{os_name}.environ[{quote}{name}{quote}]")


def string_value(expr: cst.BaseExpression | None) -> str | None:
    """The value of a plain (non-bytes, non-f) string literal, else None."""
    if isinstance(expr, cst.SimpleString) and "b" not in expr.prefix.lower():
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        left, right = string_value(expr.left), string_value(expr.right)
        return left + right if left is not None and right is not None else None
    return None


@dataclass
class Bindings:
    """What the module imports and binds that matters for environment reads (gathered before transforming)."""

    decouple: set[str] = field(default_factory=lambda: set())  # names that are python-decouple config objects
    environ_env: set[str] = field(default_factory=lambda: set())  # names bound to django-environ Env instances
    dotenv_values: set[str] = field(default_factory=lambda: {"dotenv_values", "dotenv.dotenv_values"})
    dotenv_vars: set[str] = field(default_factory=lambda: set())  # names bound to a dotenv_values(...) result
    load_dotenv: set[str] = field(default_factory=lambda: {"load_dotenv", "dotenv.load_dotenv"})


class _Gather(cst.CSTVisitor):
    def __init__(self) -> None:
        self.b = Bindings()

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = dotted_name(node.module) if node.module is not None else None
        if module is None or isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            imported = dotted_name(alias.name) or ""
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else imported
            if module == "decouple" and imported == "config":
                self.b.decouple.add(local)
            elif module == "dotenv" and imported == "dotenv_values":
                self.b.dotenv_values.add(local)
            elif module == "dotenv" and imported == "load_dotenv":
                self.b.load_dotenv.add(local)

    def visit_Assign(self, node: cst.Assign) -> None:
        if not isinstance(node.value, cst.Call):
            return
        callee = dotted_name(node.value.func) or ""
        targets = [t.target.value for t in node.targets if isinstance(t.target, cst.Name)]
        if callee in ("AutoConfig", "Config", "decouple.AutoConfig", "decouple.Config", "RepositoryEnv"):
            self.b.decouple.update(targets)
        elif callee in ("environ.Env", "Env"):
            self.b.environ_env.update(targets)
        elif callee in self.b.dotenv_values:
            self.b.dotenv_vars.update(targets)


def gather(module: cst.Module) -> Bindings:
    g = _Gather()
    module.visit(g)
    if "decouple" in module.code:
        g.b.decouple.add("decouple.config")
    return g.b


@dataclass(frozen=True)
class EnvRead:
    """A call that reads one environment variable, with the argument that holds its default (if any)."""

    call: cst.Call
    family: str  # os | decouple | environ
    key: str | None  # the variable name when it is a string literal
    default: cst.Arg | None


def env_read(call: cst.Call, b: Bindings) -> EnvRead | None:
    callee = dotted_name(call.func)
    if callee is None:
        return None
    spec: tuple[int, int | None, str | None] | None
    family = "os"
    spec = _OS_READS.get(callee)
    if spec is None and callee in b.decouple:
        spec, family = _DECOUPLE_READ, "decouple"
    if spec is None and callee in b.environ_env:
        spec, family = _ENVIRON_CALL, "environ"
    if spec is None and "." in callee and callee.rsplit(".", 1)[0] in b.environ_env:
        spec, family = _ENVIRON_METHOD, "environ"
    if spec is None:
        return None
    key_index, default_index, default_kw = spec
    positional = [a for a in call.args if a.keyword is None and not a.star]
    if len(positional) <= key_index:
        return None
    key = string_value(positional[key_index].value)
    default: cst.Arg | None = None
    if default_index is not None and len(positional) > default_index:
        default = positional[default_index]
    for a in call.args:
        if a.keyword is not None and a.keyword.value == default_kw:
            default = a
    return EnvRead(call, family, key, default)


# `os` used as anything but `os.` or in `import os`: a parameter, a variable, a loop target, another import.
_OS_OTHER_USE = re.compile(r"\bos\b(?!\s*\.)")
_IMPORT_OS = re.compile(r"^[ \t]*import[ \t]+os[ \t]*(?:#.*)?$", re.MULTILINE)


class LineCodemod(VisitorBasedCodemodCommand):
    """A codemod that records the line of each site it reports (subclasses list ``PositionProvider`` among their
    ``METADATA_DEPENDENCIES``) and writes environment reads under a name that reaches the ``os`` module there."""

    def __init__(self, context: CodemodContext) -> None:
        super().__init__(context)
        self._scopes: Mapping[cst.CSTNode, Scope | None] | None = None
        self._os_plain = False  # `os` written somewhere: the module needs `import os`
        self._os_alias: str | None = None  # `os` is shadowed somewhere: the module imports it under this name
        self._tree: cst.Module | None = None
        self._source: str | None = None

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self._tree, self._source = tree, None
        self._scopes = None
        return super().transform_module_impl(tree)

    @property
    def _code(self) -> str:
        """The module's source, generated only when a rewrite needs it (code generation of a large module costs
        as much as a visit of it, and most files are only analysed)."""
        if self._source is None:
            self._source = self._tree.code if self._tree is not None else ""
        return self._source

    def _os_reaches(self, scope: Scope | None, name: str) -> bool:
        """Whether ``name`` at a place in ``scope`` is the module ``os`` (or unbound, so an import makes it so)."""
        if scope is None:
            return True
        for a in scope[name]:
            node = getattr(a, "node", None)
            if not isinstance(node, cst.Import) or not any(
                    dotted_name(al.name) in ("os", "os.path") and (
                        (al.asname is None and name == "os") or (
                            al.asname is not None and isinstance(al.asname.name, cst.Name)
                            and al.asname.name.value == name))
                    for al in node.names):
                return False
        return True

    def os_name(self, node: cst.CSTNode) -> str:
        """What to call ``os`` at ``node``: ``os`` unless a parameter, variable or other import shadows it there;
        then an existing ``import os as X`` or a fresh ``_os`` (libcst scope analysis, only when the source uses
        ``os`` as anything but a module)."""
        scope: Scope | None = None
        if _OS_OTHER_USE.search(_IMPORT_OS.sub("", self._code)):
            if self._scopes is None:
                self._scopes = self.context.wrapper.resolve(ScopeProvider) if self.context.wrapper else {}
            scope = self._scopes.get(node)
        if self._os_reaches(scope, "os"):
            self._os_plain = True
            return "os"
        if self._os_alias is None:
            existing = re.findall(r"^import[ \t]+os[ \t]+as[ \t]+([A-Za-z_]\w*)", self._code, re.MULTILINE)
            names = set(re.findall(r"[A-Za-z_]\w*", self._code))
            fresh = next(n for n in ("_os", "_os_module", "_unleak_os") if n not in names)
            self._os_alias = next((n for n in existing if self._os_reaches(scope, n)), fresh)
        return self._os_alias

    def add_os_imports(self, module: cst.Module) -> cst.Module:
        """``module`` with the ``os`` imports its rewrites need, placed in the standard-library group."""
        if self._os_plain:
            module = add_import_os(module)
        if self._os_alias is not None:
            module = add_import_os(module, self._os_alias)
        return module

    def _line(self, node: cst.CSTNode) -> int:
        try:
            return int(self.get_metadata(PositionProvider, node).start.line)
        except KeyError:
            return 0


def is_docstring(node: cst.CSTNode, parent: cst.CSTNode | None) -> bool:
    return isinstance(parent, cst.Expr) and parent.value is node
