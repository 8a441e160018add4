"""Before/after tables for the JavaScript/TypeScript rewrite (tree-sitter grammars), including no-change, manual
and grammar-missing cases. Templates say S1/S2 where a generated secret goes."""

from __future__ import annotations

import sys

import pytest

from remediate.codemods import javascript
from tests.fakes import ALNUM, _rand


def _secret() -> str:
    return "Sx" + _rand(ALNUM, 22)


S1, S2 = "S1_PLACE", "S2_PLACE"


def fill(template: str, s1: str, s2: str) -> str:
    return template.replace(S1, s1).replace(S2, s2)


# (id, path, before, after, names S-slot -> variable)
CASES = [
    ("const-let-var", "a.js",
     'const KEY = "S1_PLACE";\nlet token = \'S2_PLACE\';\nvar n = 1;\n',
     "const KEY = process.env.KEY;\nlet token = process.env.TOKEN;\nvar n = 1;\n",
     {S1: "KEY", S2: "TOKEN"}),
    ("export-const-ts", "config.ts",
     'export const STRIPE_KEY: string = "S1_PLACE"; // live\n',
     "export const STRIPE_KEY: string = process.env.STRIPE_KEY!; // live\n",
     {S1: "STRIPE_KEY"}),
    ("object-properties", "db.js",
     'module.exports = {\n  db: { host: "db", password: "S1_PLACE" },\n  "apiKey": "S2_PLACE",\n};\n',
     'module.exports = {\n  db: { host: "db", password: process.env.DB_PASSWORD },\n'
     '  "apiKey": process.env.API_KEY,\n};\n',
     {S1: "DB_PASSWORD", S2: "API_KEY"}),
    ("default-params", "client.ts",
     'export function connect(url: string, token = "S1_PLACE", { key = "S2_PLACE" } = {}) {}\n',
     "export function connect(url: string, token = process.env.TOKEN!, { key = process.env.KEY! } = {}) {}\n",
     {S1: "TOKEN", S2: "KEY"}),
    ("call-arg-and-class-field", "stripe.ts",
     'const stripe = new Stripe("S1_PLACE", { apiVersion: "2024-06-20" });\n'
     'class Slack {\n  private token = "S2_PLACE";\n}\n',
     'const stripe = new Stripe(process.env.STRIPE_SECRET_KEY!, { apiVersion: "2024-06-20" });\n'
     "class Slack {\n  private token = process.env.SLACK_TOKEN!;\n}\n",
     {S1: "STRIPE_SECRET_KEY", S2: "SLACK_TOKEN"}),
    ("tsx-attribute", "App.tsx",
     'export const App = () => <Map apiKey="S1_PLACE" zoom={3} />;\n',
     "export const App = () => <Map apiKey={process.env.MAPS_API_KEY!} zoom={3} />;\n",
     {S1: "MAPS_API_KEY"}),
    ("jsx-attribute", "App.jsx",
     'export const App = () => <Map apiKey="S1_PLACE" />;\n',
     "export const App = () => <Map apiKey={process.env.MAPS_API_KEY} />;\n",
     {S1: "MAPS_API_KEY"}),
    ("module-typescript", "cfg.mts",
     'export const token: string = "S1_PLACE";\n',
     "export const token: string = process.env.TOKEN!;\n",
     {S1: "TOKEN"}),
    ("inside-a-larger-string", "h.mjs",
     'const headers = { Authorization: "Bearer S1_PLACE" };\n',
     "const headers = { Authorization: `Bearer ${process.env.API_TOKEN}` };\n",
     {S1: "API_TOKEN"}),
    ("comment-and-same-value-twice", "b.cjs",
     '// old key: S1_PLACE\nconst A = "S1_PLACE";\nconst B = { k: "S1_PLACE" };\n',
     "// old key: <unleak:A>\nconst A = process.env.A;\nconst B = { k: process.env.A };\n",
     {S1: "A"}),
    ("conditions-and-returns", "c.ts",
     'if (token === "S1_PLACE") {}\nconst f = () => "S2_PLACE";\nswitch (k) { case "S1_PLACE": break; }\n',
     "if (token === process.env.T!) {}\nconst f = () => process.env.U!;\n"
     "switch (k) { case process.env.T!: break; }\n",
     {S1: "T", S2: "U"}),
    ("ts-type-assertions", "t.ts",
     'const k = ("S1_PLACE" as string) satisfies string;\n',
     "const k = (process.env.K! as string) satisfies string;\n",
     {S1: "K"}),
]


@pytest.mark.parametrize(("case_id", "path", "before", "after", "names"), CASES, ids=[c[0] for c in CASES])
def test_rewrite(case_id: str, path: str, before: str, after: str, names: dict[str, str]) -> None:
    s1, s2 = _secret(), _secret()
    src, want = fill(before, s1, s2), fill(after, s1, s2)
    real = {fill(k, s1, s2): v for k, v in names.items()}
    sites = javascript.analyze(path, src, list(real))
    assert sites and all(s.kind != "manual" for s in sites), [s.manual for s in sites]
    new, error = javascript.rewrite(path, src, real)
    assert error is None and new == want
    # A second fix: nothing left to find, nothing changes.
    assert javascript.analyze(path, new, list(real)) == []
    assert javascript.rewrite(path, new, real) == (new, None)


@pytest.mark.parametrize(("path", "code", "hint", "scope"), [
    ("a.js", 'const apiKey = "S1_PLACE";', "apiKey", None),
    ("a.js", 'this.password = "S1_PLACE";', "password", None),
    ("a.ts", 'const cfg = { redis: { password: "S1_PLACE" } };', "password", "redis"),
    ("a.ts", 'connect({ password: "S1_PLACE" });', "password", "connect"),
    ("a.ts", 'new OpenAI("S1_PLACE");', None, "OpenAI"),
    ("a.js", 'module.exports = { password: "S1_PLACE" };', "password", None),
    ("a.ts", 'class Mailer { password = "S1_PLACE"; }', "password", "Mailer"),
])
def test_hints_name_the_value(path: str, code: str, hint: str | None, scope: str | None) -> None:
    s1 = _secret()
    [site] = javascript.analyze(path, fill(code, s1, ""), [s1])
    assert (site.hint, site.scope) == (hint, scope)


@pytest.mark.parametrize(("path", "code", "reason"), [
    ("a.ts", "const url = `https://x/?k=S1_PLACE&u=${user}`;", "template literal"),
    ("a.ts", 'enum Keys { Stripe = "S1_PLACE" }', "enum member"),
    ("a.ts", 'type K = "S1_PLACE";', "literal type"),
    ("a.js", 'import x from "S1_PLACE";', "import path"),
    ("a.js", 'const o = { "S1_PLACE": 1 };', "object key"),
    ("a.ts", 'declare module "S1_PLACE" {}', "where it is not a value"),
    ("a.ts", 'class A { "S1_PLACE" = 1; }', "class field's name"),
    ("a.ts", 'let u: "S1_PLACE" | "b";', "literal type"),
    ("a.js", 'const s = "S1_PLACE\\n";', "escape sequences"),
    ("a.js", 'const s = "S1_PLACE";\nif (', "does not parse as JavaScript (syntax error at line 2"),
])
def test_places_that_cannot_read_the_environment_are_manual(path: str, code: str, reason: str) -> None:
    s1 = _secret()
    src = fill(code, s1, "")
    sites = javascript.analyze(path, src, [s1])
    assert [s.kind for s in sites] == ["manual"] and reason in (sites[0].manual or "")
    assert javascript.rewrite(path, src, {s1: "X"}) == (src, None)  # untouched


def test_no_secret_no_change() -> None:
    src = 'const KEY = "not-it";\n'
    assert javascript.analyze("a.js", src, [_secret()]) == []
    assert javascript.rewrite("a.js", src, {}) == (src, None)


def test_without_the_grammar_a_manual_step_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    s1 = _secret()
    # The grammar package is not installed: importing it fails as it would then.
    monkeypatch.setitem(sys.modules, "tree_sitter_typescript", None)
    javascript._parser.cache_clear()
    try:
        src = f'export const STRIPE_KEY = "{s1}";\n'
        [site] = javascript.analyze("config.ts", src, [s1])
        assert site.kind == "manual" and site.hint == "STRIPE_KEY" and site.line == 1
        assert "pip install 'unleak[javascript]'" in (site.manual or "")
        assert "process.env.{NAME}!" in (site.manual or "")  # the planner puts the chosen name there
        assert javascript.rewrite("config.ts", src, {s1: "STRIPE_KEY"})[0] is None
        # JavaScript's own grammar is a separate package and still works.
        assert javascript.analyze("a.js", src, [s1])[0].kind == "assign"
    finally:
        javascript._parser.cache_clear()
