"""JavaScript and TypeScript: secret string literals -> ``process.env.NAME``, edited by byte range.

The source is parsed with tree-sitter (the ``tree-sitter-javascript`` and ``tree-sitter-typescript`` grammars from
PyPI, installed with the ``javascript`` extra and imported only when such a file is fixed). Only the bytes of each
literal change, so formatting and comments stay as they were; the result is parsed again and refused if the
grammar finds an error it did not find before.

* a literal that is the whole value (``const``/``let``/``var``, ``export const``, object properties, class fields,
  default parameters, call arguments, JSX attributes) becomes ``process.env.NAME`` (``{process.env.NAME}`` as a JSX
  attribute). In TypeScript it is ``process.env.NAME!``: the variable is typed ``string | undefined``, and without
  the assertion a strict ``tsc`` rejects the code where a ``string`` is expected;
* a secret inside a larger plain string (``"Bearer sk_…"``) makes that string a template literal;
* a secret quoted in a comment gets the same ``<unleak:NAME>`` marker as in Python;
* everything else (template literals, enum members, type positions, object keys, imports, strings with escapes) is
  a manual step that says why.

Without the grammars every secret is a manual step that names the variable to read, never a crash.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from remediate.codemods.literals import _hint_before, comment_marker
from remediate.codemods.sites import Site

if TYPE_CHECKING:
    from tree_sitter import Node, Parser

_JS = {".js", ".mjs", ".cjs", ".jsx"}
_TS = {".ts", ".mts", ".cts"}
_TSX = {".tsx"}
_KEY_BEFORE = re.compile(r"""([A-Za-z_$][\w$]*)["']?\s*[:=]\s*["'`]?$""")

# Nodes a literal passes through on its way to what names it (`(…)`, `x as string`, `a || "…"`, arrays…).
_PASS = {"parenthesized_expression", "as_expression", "satisfies_expression", "non_null_expression",
         "binary_expression", "ternary_expression", "array", "type_assertion", "spread_element",
         "sequence_expression", "await_expression"}
# Parents under which a string literal is not a value (a name, a module path, a type), so no read can stand there.
_NOT_VALUE = {"import_require_clause", "ambient_declaration", "module", "internal_module", "import_attribute",
              "export_specifier", "import_specifier", "namespace_export", "method_definition", "property_signature",
              "method_signature", "abstract_method_signature", "enum_body", "index_signature", "nested_identifier",
              "template_literal_type", "predefined_type", "type_arguments", "union_type", "intersection_type"}
_NOT_EXPR_REASON = {
    "enum_assignment": "an enum member needs a constant value: turn the enum member into a constant read from "
                       "process.env.{NAME} by hand",
    "literal_type": "a string literal type is not a value: remove the secret from the type by hand",
    "import_statement": "an import path cannot read the environment: move it by hand",
    "export_statement": "an export path cannot read the environment: move it by hand",
}


def handles(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in _JS | _TS | _TSX


def _typescript(path: str) -> bool:
    return PurePosixPath(path).suffix.lower() in _TS | _TSX


def env_read(path: str, name: str) -> str:
    """How this file reads the variable ``name``."""
    return f"process.env.{name}" + ("!" if _typescript(path) else "")


@functools.cache
def _parser(suffix: str) -> Parser | None:
    """The tree-sitter parser for a file suffix; None when the grammar is not installed."""
    try:
        from tree_sitter import Language, Parser

        if suffix in _JS:
            import tree_sitter_javascript as js

            return Parser(Language(js.language()))
        import tree_sitter_typescript as ts

        return Parser(Language(ts.language_tsx() if suffix in _TSX else ts.language_typescript()))
    except (ImportError, ValueError, OSError):
        return None  # not installed, or a grammar this tree-sitter cannot load (ABI version)


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _unquote(node: Node) -> str:
    t = _text(node)
    return t[1:-1] if node.type == "string" and len(t) >= 2 else t


def _is_literal(node: Node) -> bool:
    # TypeScript's `string` type keyword is also a node of type "string"; a literal starts with its quote.
    return node.type == "string" and node.text is not None and node.text[:1] in (b'"', b"'")


def _callee(call: Node) -> str | None:
    target = call.child_by_field_name("function") or call.child_by_field_name("constructor")
    if target is None:
        return None
    if target.type == "member_expression":
        target = target.child_by_field_name("property")
    return _text(target) or None


def _enclosing(node: Node, types: tuple[str, ...]) -> Node | None:
    cur = node.parent
    while cur is not None and cur.type not in types:
        cur = cur.parent
    return cur


def _object_scope(obj: Node) -> str | None:
    """What an object literal is known by: its key in an outer object, its variable, the call it is passed to."""
    cur = obj
    while cur.parent is not None:
        parent = cur.parent
        if parent.type in _PASS:
            cur = parent
            continue
        if parent.type == "pair":
            return _unquote(parent.child_by_field_name("key") or parent) or None
        if parent.type == "variable_declarator":
            return _text(parent.child_by_field_name("name")) or None
        if parent.type == "arguments" and parent.parent is not None:
            return _callee(parent.parent)
        if parent.type == "assignment_expression":
            left = parent.child_by_field_name("left")
            if left is not None and left.type == "member_expression":
                left = left.child_by_field_name("property")
            # `module.exports = {…}` / `exports.default`: says nothing about whose secret it is
            return None if _text(left) in ("exports", "default") else _text(left) or None
        return None
    return None


def _context(node: Node) -> tuple[str, str | None, str | None, str | None]:
    """(kind, hint, scope, manual reason) for a literal: what the code calls its value here."""
    cur = node
    while cur.parent is not None:
        parent = cur.parent
        t = parent.type
        if t in _NOT_EXPR_REASON:
            return ("manual", None, None, _NOT_EXPR_REASON[t])
        if t in _NOT_VALUE:
            return ("manual", None, None, f"in a {t.replace('_', ' ')}, where it is not a value that could be read "
                    "from the environment: move it by hand")
        if t in _PASS:
            cur = parent
            continue
        if t == "variable_declarator" and parent.child_by_field_name("value") == cur:
            return ("assign", _text(parent.child_by_field_name("name")) or None, None, None)
        if t in ("assignment_expression", "augmented_assignment_expression") and \
                parent.child_by_field_name("right") == cur:
            left = parent.child_by_field_name("left")
            if left is not None and left.type == "member_expression":
                left = left.child_by_field_name("property")
            return ("assign", _text(left) or None, None, None)
        if t == "pair":
            if parent.child_by_field_name("value") != cur:
                return ("manual", None, None, "an object key: move it by hand")
            obj = parent.parent
            return ("dict", _unquote(parent.child_by_field_name("key") or parent) or None,
                    _object_scope(obj) if obj is not None else None, None)
        if t in ("assignment_pattern", "object_assignment_pattern"):
            return ("assign", _text(parent.child_by_field_name("left")) or None, None, None)
        if t in ("required_parameter", "optional_parameter"):
            if parent.child_by_field_name("value") != cur:
                return ("manual", None, None, "in a parameter's type: move it by hand")
            return ("assign", _text(parent.child_by_field_name("pattern")) or None, None, None)
        if t in ("public_field_definition", "field_definition"):
            prop = parent.child_by_field_name("name") or parent.child_by_field_name("property")
            if prop == cur:
                return ("manual", None, None, "a class field's name: move it by hand")
            cls = _enclosing(parent, ("class_declaration", "class", "abstract_class_declaration"))
            name = cls.child_by_field_name("name") if cls is not None else None
            return ("assign", _text(prop) or None, _text(name) or None, None)
        if t == "arguments":
            return ("call-arg", None, _callee(parent.parent) if parent.parent is not None else None, None)
        if t == "jsx_attribute":
            attr = parent.children[0] if parent.children else None
            return ("keyword", _text(attr) or None, None, None)
        fn = _enclosing(parent, ("function_declaration", "method_definition", "function_expression"))
        fname = fn.child_by_field_name("name") if fn is not None else None
        return ("other", None, _text(fname) or None, None)
    return ("other", None, None, None)


def _escapes(node: Node) -> bool:
    return any(c.type == "escape_sequence" for c in node.children)


class _Scan:
    """One pass over the tree: the sites of each secret and the byte edits that would move them."""

    def __init__(self, path: str, source: bytes, raws: Collection[str], names: Mapping[str, str] | None) -> None:
        self.path, self.source, self.names = path, source, names
        self.raws = sorted({r for r in raws if r}, key=len, reverse=True)
        self.rx = re.compile("|".join(re.escape(r) for r in self.raws)) if self.raws else None
        self.sites: list[Site] = []
        self.edits: list[tuple[int, int, bytes]] = []

    def hits(self, text: str) -> list[str]:
        return list(dict.fromkeys(m.group(0) for m in self.rx.finditer(text))) if self.rx else []

    def site(self, node: Node, kind: str, raw: str, hint: str | None = None, scope: str | None = None,
             manual: str | None = None) -> None:
        self.sites.append(Site(line=node.start_point[0] + 1, kind=kind, raw=raw, value=raw, hint=hint, scope=scope,
                               manual=manual))

    def walk(self, root: Node) -> None:
        stack = [root]
        while stack:
            node = stack.pop()
            if _is_literal(node):
                self.literal(node)
            elif node.type == "template_string":
                hits = self.hits(_text(node))
                for h in hits:
                    self.site(node, "manual", h, manual="inside a template literal: read process.env.{NAME} in a "
                              "${…} substitution by hand")
                if hits:
                    continue
            elif node.type == "comment":
                self.comment(node)
            elif node.type in ("jsx_text", "regex", "html_comment"):
                for h in self.hits(_text(node)):
                    self.site(node, "manual", h, manual=f"in {node.type.replace('_', ' ')}: move it by hand")
            stack.extend(reversed(node.children))

    def literal(self, node: Node) -> None:
        content = _unquote(node)
        hits = self.hits(content)
        if not hits:
            return
        kind, hint, scope, why = _context(node)
        if why is not None:
            for h in hits:
                self.site(node, "manual", h, manual=why)
            return
        if _escapes(node):
            for h in hits:
                self.site(node, "manual", h, manual="inside a string with escape sequences: split it by hand")
            return
        if content in hits:
            self.site(node, kind, content, hint, scope)
            if self.names is not None and content in self.names:
                expr = env_read(self.path, self.names[content])
                parent = node.parent
                if parent is not None and parent.type == "jsx_attribute":
                    expr = "{" + expr + "}"
                self.edits.append((node.start_byte, node.end_byte, expr.encode()))
            return
        if "`" in content or "${" in content:
            for h in hits:
                self.site(node, "manual", h, manual="inside a string with backticks or ${: split it by hand")
            return
        for h in hits:
            self.site(node, "partial", h, _hint_before(content[: content.index(h)]), hint or scope)
        if self.names is None or any(h not in self.names for h in hits):
            return
        assert self.rx is not None
        names = self.names
        body = self.rx.sub(lambda m: "${process.env." + names[m.group(0)] + "}", content)
        self.edits.append((node.start_byte, node.end_byte, ("`" + body + "`").encode()))

    def comment(self, node: Node) -> None:
        text = _text(node)
        hits = self.hits(text)
        for h in hits:
            self.site(node, "comment", h)
        if not hits or self.names is None or any(h not in self.names for h in hits):
            return
        assert self.rx is not None
        names = self.names
        new = self.rx.sub(lambda m: comment_marker(names[m.group(0)]), text)
        self.edits.append((node.start_byte, node.end_byte, new.encode()))


def _no_grammar(path: str, text: str, raws: Collection[str]) -> list[Site]:
    """Manual sites naming the variable to read (from the name the code gives the value) when tree-sitter's
    grammar for this file is not installed."""
    sites = []
    lines = text.splitlines()
    for raw in raws:
        for n, line in enumerate(lines, 1):
            if raw not in line:
                continue
            m = _KEY_BEFORE.search(line[: line.index(raw)])
            hint = m.group(1) if m else None
            sites.append(Site(line=n, kind="manual", raw=raw, value=raw, hint=hint, manual=(
                "the JavaScript/TypeScript grammar is not installed (pip install 'unleak[javascript]' to rewrite it "
                f"automatically): store the value with `unleak secrets set {{NAME}}` and read it with "
                f"{env_read(path, '{NAME}')} by hand")))
    return sites


def analyze(path: str, text: str, raws: Collection[str]) -> list[Site]:
    """Where each secret sits in the file and what the code calls it there; nothing is rewritten."""
    return _analyze(path, text, raws, None)[0]


def _analyze(path: str, text: str, raws: Collection[str], names: Mapping[str, str] | None
             ) -> tuple[list[Site], _Scan | None]:
    parser = _parser(PurePosixPath(path).suffix.lower())
    if parser is None:
        return _no_grammar(path, text, raws), None
    source = text.encode("utf-8")
    tree = parser.parse(source)
    scan = _Scan(path, source, raws, names)
    scan.walk(tree.root_node)
    if tree.root_node.has_error:
        # As for Python: a file that does not parse is not rewritten (error recovery could misplace an edit).
        line = _first_error(tree.root_node)
        why = (f"the file does not parse as {'TypeScript' if _typescript(path) else 'JavaScript'} (syntax error at "
               f"line {line}, or syntax the grammar does not know): move it by hand to {env_read(path, '{NAME}')}")
        scan.sites = [replace(s, kind="manual", manual=why) for s in scan.sites if s.kind != "manual"] + [
            s for s in scan.sites if s.kind == "manual"]
        scan.edits = []
    return scan.sites, scan


def _first_error(root: Node) -> int:
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            return int(node.start_point[0]) + 1
        stack.extend(reversed([c for c in node.children if c.has_error or c.is_missing]))
    return int(root.start_point[0]) + 1


def rewrite(path: str, text: str, names: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(new text, None), or (None, why) when the rewrite is refused. ``names``: raw secret -> variable."""
    _, scan = _analyze(path, text, list(names), names)
    if scan is None:
        return None, "the JavaScript/TypeScript grammar is not installed"
    out = scan.source
    for start, end, new in sorted(scan.edits, reverse=True):
        out = out[:start] + new + out[end:]
    if out == scan.source:
        return text, None
    parser = _parser(PurePosixPath(path).suffix.lower())
    assert parser is not None
    if parser.parse(out).root_node.has_error:
        return None, "the rewritten file would not parse; fix it by hand"
    return out.decode("utf-8"), None
