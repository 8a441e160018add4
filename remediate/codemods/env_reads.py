"""Environment and ``.env`` reads that would defeat the fix (issue cases 4 and 6).

* ``os.getenv("DB_PASSWORD", "hunter2")`` and ``os.environ.get(…, "…")`` keep a secret as a default: they become
  ``os.environ["DB_PASSWORD"]`` (the value now comes from the vault through the environment).
  python-decouple ``config("K", default="…")`` and django-environ ``env("K", default="…")`` lose the default.
  (decouple and django-environ read ``os.environ`` before their ``.env``/``settings.ini``, so nothing else changes.)
* ``dotenv_values(…)["K"]`` reads the ``.env`` file directly; once that file holds references it would return the
  reference, so such reads of moved keys become ``os.environ["K"]``.
* ``load_dotenv(override=True)`` / django-environ ``read_env(overwrite=True)`` would let the references in ``.env``
  overwrite the values ``unleak run`` injected: they are flipped to ``False``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.metadata import PositionProvider

from remediate.codemods._common import (
    Bindings,
    EnvRead,
    LineCodemod,
    dotted_name,
    env_expr,
    env_read,
    gather,
    string_value,
)
from remediate.codemods.sites import Site

# The same vocabulary as the scanner's generic rule: a default for a variable called like this is a credential.
SECRET_NAME = re.compile(
    r"(?i)(?:passw(?:or)?d|passwd|pwd|secret|token|api[_.-]?key|apikey|access[_.-]?key|private[_.-]?key"
    r"|auth[_.-]?key|credential)"
)


class FixEnvReads(LineCodemod):
    DESCRIPTION = "Drop secret defaults from environment reads; stop .env reads from bypassing injected values."
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, context: CodemodContext, secrets: Collection[str] = (), *,
                 names: Mapping[str, str] | None = None, dotenv_keys: Collection[str] = (),
                 flip_override: bool = False) -> None:
        """``secrets``: raw secret texts known from the scan. Rewrites happen only for what the plan decided:
        ``names`` (raw default -> variable name) for defaults, ``dotenv_keys`` for ``dotenv_values`` reads,
        ``flip_override`` for ``load_dotenv(override=True)``. With none of them the codemod only reports."""
        super().__init__(context)
        self.secrets = set(secrets)
        self.names = names or {}
        self.dotenv_keys = set(dotenv_keys)
        self.flip_override = flip_override
        self.sites: list[Site] = []
        self._b = Bindings()

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self._b = gather(tree)
        return super().transform_module_impl(tree)

    def _is_dotenv_source(self, expr: cst.BaseExpression) -> bool:
        if isinstance(expr, cst.Call):
            return (dotted_name(expr.func) or "") in self._b.dotenv_values
        return isinstance(expr, cst.Name) and expr.value in self._b.dotenv_vars

    # --------------------------------------------------------------------------------- defaults and .get()

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        read = env_read(original_node, self._b)
        if read is not None:
            return self._env_default(read, original_node, updated_node)
        callee = dotted_name(original_node.func) or ""
        # dotenv_values(...).get("K") -> os.environ.get("K")
        if (isinstance(original_node.func, cst.Attribute) and original_node.func.attr.value == "get"
                and self._is_dotenv_source(original_node.func.value) and original_node.args):
            key = string_value(original_node.args[0].value)
            if key is not None:
                self.sites.append(Site(line=self._line(original_node), kind="dotenv-read", env_key=key))
                if key in self.dotenv_keys:
                    os_name = self.os_name(original_node)
                    return updated_node.with_changes(func=cst.parse_expression(f"{os_name}.environ.get"))
            return updated_node
        kw = None
        if callee in self._b.load_dotenv:
            kw = "override"
        elif callee.endswith("read_env") and (callee.rsplit(".", 1)[0] in self._b.environ_env
                                              or callee in ("environ.Env.read_env", "Env.read_env")):
            kw = "overwrite"
        if kw is None:
            return updated_node
        new_args = []
        for orig, arg in zip(original_node.args, updated_node.args, strict=True):
            if (orig.keyword is not None and orig.keyword.value == kw and isinstance(orig.value, cst.Name)
                    and orig.value.value == "True"):
                self.sites.append(Site(line=self._line(original_node), kind="override", hint=kw))
                if self.flip_override:
                    arg = arg.with_changes(value=cst.Name("False"))
            new_args.append(arg)
        return updated_node.with_changes(args=new_args)

    def _env_default(self, read: EnvRead, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        default = read.default
        if default is None or not isinstance(default.value, cst.SimpleString):
            return updated
        value = string_value(default.value)
        raw = default.value.raw_value
        if not value:
            return updated
        known = raw in self.secrets
        if not known and not (read.key and SECRET_NAME.search(read.key)):
            return updated  # e.g. os.getenv("PORT", "8000"): not a credential
        manual = None if read.key else "the variable name is not a string literal: move the default by hand"
        self.sites.append(Site(line=self._line(original), kind="env-default", raw=raw, value=value,
                                 hint=read.key, env_key=read.key, manual=manual))
        if raw not in self.names or read.key is None or self.names[raw] != read.key:
            return updated
        index = next(i for i, a in enumerate(original.args) if a is default)
        if read.family == "os":
            key_node = updated.args[0].value
            quote = key_node.quote[0] if isinstance(key_node, cst.SimpleString) else '"'
            return env_expr(read.key, quote, self.os_name(original)).with_changes(lpar=updated.lpar, rpar=updated.rpar)
        args = list(updated.args)
        removed = args.pop(index)
        if args and index == len(args):
            # The dropped argument was the last: the new last one takes over its (absent or trailing) comma.
            args[-1] = args[-1].with_changes(comma=removed.comma)
        return updated.with_changes(args=args)

    # ----------------------------------------------------------------------------- dotenv_values(...)["K"]

    def leave_Subscript(self, original_node: cst.Subscript,
                        updated_node: cst.Subscript) -> cst.BaseExpression:
        if not self._is_dotenv_source(original_node.value) or len(original_node.slice) != 1:
            return updated_node
        index = original_node.slice[0].slice
        key = string_value(index.value) if isinstance(index, cst.Index) else None
        if key is None:
            return updated_node
        self.sites.append(Site(line=self._line(original_node), kind="dotenv-read", env_key=key))
        if key not in self.dotenv_keys:
            return updated_node
        return updated_node.with_changes(value=cst.parse_expression(f"{self.os_name(original_node)}.environ"))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return self.add_os_imports(updated_node)
