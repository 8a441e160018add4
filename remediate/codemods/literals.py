"""Secret string literals -> environment reads (issue cases 1, 2, 3 and 5).

``STRIPE_KEY = "sk_live_…"`` becomes ``STRIPE_KEY = os.environ["STRIPE_KEY"]``; a secret inside a larger literal
becomes an f-string (or, where the literal is itself a format template, a parenthesised concatenation) that
produces the same string when the variable holds the value. Comments that quote a secret get a marker instead.

The codemod runs in two modes. Without ``names`` it only records where each secret sits and what the code calls
it there (the planner turns those hints into names); with ``names`` (raw secret text -> variable name) it rewrites.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.metadata import ParentNodeProvider, PositionProvider

from remediate.codemods._common import (
    Bindings,
    LineCodemod,
    dotted_name,
    env_expr,
    env_read,
    gather,
    is_docstring,
    string_value,
)
from remediate.codemods.sites import Site

# Wrappers the secret may sit inside while the *target* (variable, keyword, dict key) is further up.
_PASS_THROUGH = (
    cst.ConcatenatedString, cst.FormattedString, cst.FormattedStringExpression, cst.BinaryOperation,
    cst.IfExp, cst.BooleanOperation, cst.Element, cst.List, cst.Tuple, cst.Set, cst.StarredElement,
)


def comment_marker(name: str) -> str:
    """What replaces a secret quoted in a comment: the variable that now holds it (a name is not a secret)."""
    return f"<unleak:{name}>"


_BASIC_AUTH_CALLS = {"HTTPBasicAuth", "HTTPDigestAuth", "BasicAuth", "DigestAuth", "login"}
# Factory methods whose name says nothing about what they build: `x = URL.create(password=…)` is scoped by x.
_FACTORY_VERBS = {"create", "new", "build", "make", "of", "from_parts"}


def _pair_user(items: Sequence[cst.BaseElement | cst.Arg], second: cst.CSTNode) -> str | None:
    """``user`` when ``items`` is ``("user", <second>)`` with a literal user (an e-mail address: its local part)."""
    if len(items) != 2 or items[1] is not second or not isinstance(items[0].value, cst.SimpleString):
        return None
    user = string_value(items[0].value)
    return user.split("@", 1)[0] if user and user.split("@", 1)[0] else None


def _secret_wrapper(call: cst.Call) -> bool:
    """``SecretStr("…")``: pydantic's wrapper around one string literal, which a settings field builds itself."""
    return ((dotted_name(call.func) or "").rsplit(".", 1)[-1] in ("SecretStr", "SecretBytes") and len(call.args) == 1
            and call.args[0].keyword is None and not call.args[0].star
            and isinstance(call.args[0].value, cst.SimpleString))


def _hint_before(text_before: str) -> str | None:
    """What the text just before a secret embedded in a larger string calls it."""
    if re.search(r"://[^/@\s]*:$", text_before):
        return "password"  # scheme://user:SECRET@host
    m = re.search(r"([A-Za-z_][A-Za-z0-9_-]*)\s*[=:]\s*$", text_before)
    if m:
        return m.group(1)
    if re.search(r"(?i)(?:bearer|token|basic)\s+$", text_before):
        return "token"
    return None


def _env_prefix(cls: cst.ClassDef) -> str:
    """``env_prefix`` of a pydantic-settings class (``model_config = SettingsConfigDict(env_prefix=…)`` or an inner
    ``class Config: env_prefix = …``), '' when none."""
    for stmt in cls.body.body:
        if isinstance(stmt, cst.ClassDef) and stmt.name.value == "Config":
            for inner in stmt.body.body:
                if isinstance(inner, cst.SimpleStatementLine):
                    for small in inner.body:
                        if (isinstance(small, cst.Assign) and isinstance(small.targets[0].target, cst.Name)
                                and small.targets[0].target.value == "env_prefix"):
                            return string_value(small.value) or ""
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Assign, cst.AnnAssign)) and isinstance(small.value, cst.Call):
                    for arg in small.value.args:
                        if arg.keyword is not None and arg.keyword.value == "env_prefix":
                            return string_value(arg.value) or ""
    return ""


class ReplaceSecretLiterals(LineCodemod):
    DESCRIPTION = "Replace secret string literals with os.environ reads."
    METADATA_DEPENDENCIES = (ParentNodeProvider, PositionProvider)

    def __init__(self, context: CodemodContext, secrets: Collection[str],
                 names: Mapping[str, str] | None = None) -> None:
        super().__init__(context)
        # Longest first: a secret that contains another must be matched whole.
        self.raws = sorted(set(s for s in secrets if s), key=len, reverse=True)
        self._rx = re.compile("|".join(re.escape(r) for r in self.raws)) if self.raws else None
        self.names = names
        self.sites: list[Site] = []
        # function (by id of its original node) -> (parameter, environment read) for defaults read at call time
        self._param_reads: dict[int, list[tuple[str, cst.BaseExpression]]] = {}
        self._bindings = Bindings()
        self._env_defaults: set[int] = set()

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        self._bindings = gather(tree)
        return super().transform_module_impl(tree)

    # ------------------------------------------------------------------------------------------- helpers

    def _parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        try:
            parent: cst.CSTNode = self.get_metadata(ParentNodeProvider, node)
        except KeyError:
            return None
        return parent

    def _enclosing_def(self, param: cst.Param) -> cst.FunctionDef | None:
        params = self._parent(param)
        fn = self._parent(params) if params is not None else None
        return fn if isinstance(fn, cst.FunctionDef) else None

    def _settings_field(self, node: cst.CSTNode, parent: cst.CSTNode | None) -> str | None:
        """The environment variable a pydantic-settings field reads, when ``node`` is that field's default (or the
        one argument of the ``SecretStr(…)`` that is)."""
        call = self._parent(parent) if isinstance(parent, cst.Arg) else None
        if isinstance(call, cst.Call) and _secret_wrapper(call):
            node, parent = call, self._parent(call)
        if not isinstance(parent, cst.AnnAssign) or parent.value is not node or not isinstance(parent.target, cst.Name):
            return None
        body = self._parent(parent)
        block = self._parent(body) if body is not None else None
        cls = self._parent(block) if block is not None else None
        if not isinstance(cls, cst.ClassDef) or not any(
                (dotted_name(b.value) or "").rsplit(".", 1)[-1] == "BaseSettings" for b in cls.bases):
            return None
        return (_env_prefix(cls) + parent.target.value).upper()

    def leave_AnnAssign(self, original_node: cst.AnnAssign, updated_node: cst.AnnAssign) -> cst.AnnAssign:
        value = original_node.value
        if isinstance(value, cst.Call) and _secret_wrapper(value):
            value = value.args[0].value
        if (self.names is not None and isinstance(value, cst.SimpleString) and value.raw_value in self.names
                and original_node.value is not None
                and self._settings_field(original_node.value, original_node) is not None):
            return updated_node.with_changes(value=None, equal=cst.MaybeSentinel.DEFAULT)
        return updated_node

    def leave_Param(self, original_node: cst.Param, updated_node: cst.Param) -> cst.Param:
        """A parameter whose default became ``None`` (read at call time) gets an annotation that admits ``None``:
        ``token: str = None`` would be a type error for mypy and pydantic."""
        ann = updated_node.annotation
        fn = self._enclosing_def(original_node) if ann is not None else None
        if ann is None or fn is None or original_node.name.value not in {
                p for p, _ in self._param_reads.get(id(fn), [])}:
            return updated_node
        text = cst.Module([]).code_for_node(ann.annotation)
        if re.search(r"\b(None|Optional|Any|object)\b", text):
            return updated_node
        old = ann.annotation
        if isinstance(old, cst.SimpleString):  # a string annotation stays one
            new: cst.BaseExpression = cst.SimpleString(f"{old.prefix}{old.quote}{old.raw_value} | None{old.quote}")
        else:
            new = cst.BinaryOperation(old, cst.BitOr(), cst.Name("None"))
        return updated_node.with_changes(annotation=ann.with_changes(annotation=new))

    def leave_FunctionDef(self, original_node: cst.FunctionDef,
                          updated_node: cst.FunctionDef) -> cst.FunctionDef:
        reads = self._param_reads.pop(id(original_node), [])
        if not reads:
            return updated_node
        checks: list[cst.BaseStatement] = [
            cst.If(test=cst.Comparison(cst.Name(p), [cst.ComparisonTarget(cst.Is(), cst.Name("None"))]),
                   body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Assign([cst.AssignTarget(cst.Name(p))],
                                                                               read)])]))
            for p, read in reads]
        body = updated_node.body
        # `def f(p=…): return p` has a one-line body: it becomes a block.
        stmts: list[cst.BaseStatement] = (
            list(body.body) if isinstance(body, cst.IndentedBlock)
            else [cst.SimpleStatementLine(list(body.body))])  # type: ignore[arg-type]
        at = 1 if stmts and isinstance(stmts[0], cst.SimpleStatementLine) and stmts[0].body and isinstance(
            stmts[0].body[0], cst.Expr) and isinstance(stmts[0].body[0].value, cst.SimpleString) else 0
        new_body = cst.IndentedBlock([*stmts[:at], *checks, *stmts[at:]]) if not isinstance(
            body, cst.IndentedBlock) else body.with_changes(body=[*stmts[:at], *checks, *stmts[at:]])
        return updated_node.with_changes(body=new_body)

    def _in_pattern(self, node: cst.CSTNode) -> bool:
        cur: cst.CSTNode | None = node
        while cur is not None and not isinstance(cur, (cst.BaseStatement, cst.MatchCase)):
            if isinstance(cur, cst.MatchPattern):
                return True
            cur = self._parent(cur)
        return False

    def _hits(self, text: str) -> list[str]:
        if self._rx is None:
            return []
        return list(dict.fromkeys(m.group(0) for m in self._rx.finditer(text)))

    def _enclosing_class(self, node: cst.CSTNode) -> str | None:
        cur: cst.CSTNode | None = node
        while cur is not None:
            cur = self._parent(cur)
            if isinstance(cur, cst.ClassDef):
                return cur.name.value
        return None

    def _enclosing_function(self, node: cst.CSTNode) -> str | None:
        cur: cst.CSTNode | None = node
        while cur is not None:
            if isinstance(cur, cst.FunctionDef):
                return cur.name.value
            cur = self._parent(cur)
        return None

    def _target_name(self, target: cst.BaseExpression) -> str | None:
        if isinstance(target, cst.Name):
            return target.value
        if isinstance(target, cst.Attribute):
            return target.attr.value
        if isinstance(target, cst.Subscript) and len(target.slice) == 1:
            s = target.slice[0].slice
            if isinstance(s, cst.Index):
                return string_value(s.value)
        return None

    def _dict_scope(self, node: cst.CSTNode) -> str | None:
        """The name a dict literal is known by: its key in an outer dict, its variable, its keyword."""
        cur = node
        while True:
            parent = self._parent(cur)
            if parent is None:
                return None
            if isinstance(parent, cst.DictElement) and parent.value is cur:
                key = string_value(parent.key)
                if key and key.lower() != "default":
                    return key
                cur = self._parent(parent) or parent
                continue
            if isinstance(parent, (cst.Assign, cst.AnnAssign)):
                targets = parent.targets if isinstance(parent, cst.Assign) else [parent]
                return self._target_name(targets[0].target)
            if isinstance(parent, cst.Arg):
                if parent.keyword is not None:
                    return parent.keyword.value
                call = self._parent(parent)
                if isinstance(call, cst.Call):
                    name = dotted_name(call.func)
                    return name.rsplit(".", 1)[-1] if name else None
                return None
            if isinstance(parent, _PASS_THROUGH):
                cur = parent
                continue
            return None

    def _context(self, node: cst.CSTNode) -> tuple[str, str | None, str | None]:
        """(kind, hint, scope): what the code calls the value at this place."""
        cur = node
        user: str | None = None  # the literal user of a (user, password) pair the value is the password of
        while True:
            parent = self._parent(cur)
            if parent is None:
                return ("other", None, None)
            if isinstance(parent, cst.Tuple) and cur is not node:
                user = _pair_user(parent.elements, cur)
            if isinstance(parent, _PASS_THROUGH) or (isinstance(parent, cst.Attribute) and parent.value is cur) or (
                    isinstance(parent, cst.Call) and parent.func is cur):
                cur = parent  # "…".format(…): the target is further up
                continue
            if isinstance(parent, cst.Arg):
                call = self._parent(parent)
                callee = dotted_name(call.func) if isinstance(call, cst.Call) else None
                short = callee.rsplit(".", 1)[-1] if callee else None
                if short == "dict" and isinstance(call, cst.Call):
                    short = self._dict_scope(call)  # dict(password=…) is a dict literal by another name
                if parent.keyword is not None:
                    if user and parent.keyword.value == "auth":  # requests/httpx: auth=("deployer", "…")
                        return ("keyword", f"{user}_password", short)
                    built = self._parent(call) if short in _FACTORY_VERBS and call is not None else None
                    if isinstance(built, cst.Assign) and call is not None and built.value is call:
                        short = self._target_name(built.targets[0].target) or short
                    return ("keyword", parent.keyword.value, short)
                if isinstance(call, cst.Call) and short in _BASIC_AUTH_CALLS:
                    # HTTPBasicAuth("deployer", "…"), smtp.login("alerts@…", "…"): the password of that user
                    pair_user = _pair_user(call.args, parent)
                    if pair_user:
                        return ("call-arg", f"{pair_user}_password", short)
                return ("call-arg", None, short)
            if isinstance(parent, cst.DictElement):
                if parent.value is cur:
                    key = string_value(parent.key) or (dotted_name(parent.key) if parent.key else None)
                    dict_node = self._parent(parent)
                    return ("dict", key, self._dict_scope(dict_node) if dict_node is not None else None)
                return ("other", None, None)
            if isinstance(parent, cst.Assign):
                return ("assign", self._target_name(parent.targets[0].target), self._enclosing_class(parent))
            if isinstance(parent, (cst.AnnAssign, cst.AugAssign)):
                return ("assign", self._target_name(parent.target), self._enclosing_class(parent))
            if isinstance(parent, cst.Param):
                return ("assign", parent.name.value, None)
            return ("other", None, self._enclosing_function(parent))

    def _record(self, node: cst.CSTNode, kind: str, raw: str, value: str, hint: str | None, scope: str | None,
                manual: str | None = None) -> None:
        self.sites.append(Site(line=self._line(node), kind=kind, raw=raw, value=value, hint=hint, scope=scope,
                                 manual=manual))

    def _manual(self, node: cst.CSTNode, hits: list[str], why: str) -> None:
        for h in hits:
            self._record(node, "manual", h, h, None, None, manual=why)

    def _partial_sites(self, node: cst.CSTNode, text: str, hits: list[str]) -> None:
        _kind, hint, scope = self._context(node)
        for h in hits:
            before = text[: text.index(h)]
            self._record(node, "partial", h, h, _hint_before(before), hint or scope)

    # ------------------------------------------------------------------------------------------- visitors

    def visit_Call(self, node: cst.Call) -> None:
        read = env_read(node, self._bindings)
        if read is not None and read.default is not None:
            # Literal defaults of environment reads belong to FixEnvReads (it drops them rather than wrapping them).
            self._env_defaults.add(id(read.default.value))

    def leave_SimpleString(self, original_node: cst.SimpleString,
                           updated_node: cst.SimpleString) -> cst.BaseExpression:
        hits = self._hits(original_node.value)
        if not hits or id(original_node) in self._env_defaults:
            return updated_node
        parent = self._parent(original_node)
        if self._in_pattern(original_node):
            # An expression there is not a pattern: the rewritten file would not parse, and every other site in it
            # would go unfixed with it.
            self._manual(original_node, hits, "in a match-case pattern, which must stay a literal: match a guard "
                         "(`case x if x == os.environ[...]`) by hand")
            return updated_node
        prefix = original_node.prefix.lower()
        if "b" in prefix:
            content = original_node.raw_value
            if content not in hits or "\\" in content or not content.isascii():
                self._manual(original_node, hits, "inside a bytes literal: move it by hand (read os.environb)")
                return updated_node
            # b"secret" == os.environ["NAME"].encode() for an ASCII value without escapes.
            kind, hint, scope = self._context(original_node)
            self._record(original_node, kind, content, content, hint, scope)
            if self.names is not None and content in self.names:
                q = original_node.quote[0]
                os_name = self.os_name(original_node)
                return cst.parse_expression(f"{os_name}.environ[{q}{self.names[content]}{q}].encode()").with_changes(
                    lpar=updated_node.lpar, rpar=updated_node.rpar)
            return updated_node
        if is_docstring(original_node, parent):
            self._manual(original_node, hits, "in a docstring: remove the value from the documentation")
            return updated_node
        content = original_node.raw_value
        if content in hits and not isinstance(parent, cst.ConcatenatedString):
            value = original_node.evaluated_value
            assert isinstance(value, str)
            field_var = self._settings_field(original_node, parent)
            if field_var is not None:
                # pydantic-settings reads the field from the environment itself: the idiomatic fix drops the
                # default (leave_AnnAssign), and the variable must be the one the settings class reads.
                self.sites.append(Site(line=self._line(original_node), kind="settings-field", raw=content,
                                       value=value, hint=field_var, env_key=field_var))
                return updated_node
            kind, hint, scope = self._context(original_node)
            self._record(original_node, kind, content, value, hint, scope)
            if self.names is not None and content in self.names:
                quote = original_node.quote[0]
                if isinstance(parent, cst.Param) and parent.default is original_node:
                    # A default is evaluated at import: read the environment when the function is called instead,
                    # so importing the module without the variable still works (the original failure point).
                    fn = self._enclosing_def(parent)
                    if fn is not None:
                        self._param_reads.setdefault(id(fn), []).append(
                            (parent.name.value, env_expr(self.names[content], quote, self.os_name(original_node))))
                        return cst.Name("None").with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)
                return env_expr(self.names[content], quote, self.os_name(original_node)).with_changes(
                    lpar=updated_node.lpar, rpar=updated_node.rpar)
            return updated_node
        field_var = None if isinstance(parent, cst.ConcatenatedString) else self._settings_field(original_node, parent)
        if field_var is not None and "\\" not in content:
            # A secret inside a settings field's default (a URL): the whole value moves under the field's variable.
            value = original_node.evaluated_value
            assert isinstance(value, str)
            self.sites.append(Site(line=self._line(original_node), kind="settings-field", raw=content, value=value,
                                   hint=field_var, env_key=field_var))
            return updated_node
        if "\\" in content and "r" not in prefix:
            # Source text and runtime value differ around escapes; splitting there could change the string.
            self._manual(original_node, hits, "inside a string with escape sequences: split it by hand")
            return updated_node
        self._partial_sites(original_node, content, hits)
        if self.names is None or any(h not in self.names for h in hits):
            return updated_node
        return self._split_simple(original_node, updated_node, parent, hits)

    def _split_simple(self, node: cst.SimpleString, updated: cst.SimpleString, parent: cst.CSTNode | None,
                      hits: list[str]) -> cst.BaseExpression:
        assert self.names is not None and self._rx is not None
        content, quote, prefix = node.raw_value, node.quote, node.prefix
        pieces = self._rx.split(content)
        found = self._rx.findall(content)
        template = (isinstance(parent, cst.Attribute) and parent.value is node) or (
            isinstance(parent, cst.BinaryOperation) and parent.left is node
            and isinstance(parent.operator, cst.Modulo))
        inner_q = "'" if quote[0] == '"' else '"'
        os_name = self.os_name(node)
        if template:
            # "…{}".format(x) / "…%s" % x: the literal is a template, so keep every piece a plain literal and join.
            parts: list[str] = []
            for i, piece in enumerate(pieces):
                if piece:
                    parts.append(f"{prefix}{quote}{piece}{quote}")
                if i < len(found):
                    parts.append(f"{os_name}.environ[{inner_q}{self.names[found[i]]}{inner_q}]")
            expr = cst.parse_expression("(" + " + ".join(parts) + ")")
            return expr.with_changes(lpar=[cst.LeftParen(), *updated.lpar], rpar=[*updated.rpar, cst.RightParen()]) \
                if updated.lpar else expr
        fprefix = "".join(c for c in prefix if c.lower() != "u") + "f"
        body = ""
        for i, piece in enumerate(pieces):
            body += piece.replace("{", "{{").replace("}", "}}")
            if i < len(found):
                body += "{" + os_name + ".environ[" + inner_q + self.names[found[i]] + inner_q + "]}"
        return cst.parse_expression(f"{fprefix}{quote}{body}{quote}").with_changes(
            lpar=updated.lpar, rpar=updated.rpar)

    def leave_FormattedString(self, original_node: cst.FormattedString,
                              updated_node: cst.FormattedString) -> cst.BaseExpression:
        texts = [p for p in original_node.parts if isinstance(p, cst.FormattedStringText)]
        hits = [h for t in texts for h in self._hits(t.value)]
        if not hits:
            return updated_node
        if "b" in original_node.start.lower():
            self._manual(original_node, hits, "bytes literal: move it by hand")
            return updated_node
        if any(c in h for h in hits for c in "{}\\"):
            self._manual(original_node, hits, "inside an f-string next to braces or escapes: split it by hand")
            return updated_node
        if len(original_node.parts) == 1 and texts[0].value in hits:
            kind, hint, scope = self._context(original_node)
            raw = texts[0].value
            self._record(original_node, kind, raw, raw, hint, scope)
            if self.names is not None and raw in self.names:
                quote = original_node.start.lstrip("fFrRbBuU")[0]
                return env_expr(self.names[raw], quote, self.os_name(original_node)).with_changes(
                    lpar=updated_node.lpar, rpar=updated_node.rpar)
            return updated_node
        kind, hint, scope = self._context(original_node)
        for t in texts:
            for h in self._hits(t.value):
                self._record(original_node, "partial", h, h, _hint_before(t.value[: t.value.index(h)]),
                             hint or scope)
        if self.names is None or any(h not in self.names for h in hits):
            return updated_node
        assert self._rx is not None
        os_name = self.os_name(original_node)
        quote = original_node.start.lstrip("fFrRbBuU")
        inner_q = "'" if quote[0] == '"' else '"'
        new_parts: list[cst.BaseFormattedStringContent] = []
        for part in updated_node.parts:
            if not isinstance(part, cst.FormattedStringText) or not self._hits(part.value):
                new_parts.append(part)
                continue
            pieces = self._rx.split(part.value)
            found = self._rx.findall(part.value)
            for i, piece in enumerate(pieces):
                if piece:
                    new_parts.append(cst.FormattedStringText(piece))
                if i < len(found):
                    new_parts.append(cst.FormattedStringExpression(
                        expression=env_expr(self.names[found[i]], inner_q, os_name)))
        return updated_node.with_changes(parts=new_parts)

    def leave_Comment(self, original_node: cst.Comment, updated_node: cst.Comment) -> cst.Comment:
        hits = self._hits(original_node.value)
        if not hits:
            return updated_node
        for h in hits:
            self._record(original_node, "comment", h, h, None, None)
        if self.names is None or any(h not in self.names for h in hits):
            return updated_node
        assert self._rx is not None
        names = self.names
        return updated_node.with_changes(
            value=self._rx.sub(lambda m: comment_marker(names[m.group(0)]), updated_node.value))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        return self.add_os_imports(updated_node)
