"""Before/after tables for the Python codemods, including no-change and skip cases.

Secrets are generated per test; templates say S1/S2 where a secret goes (``.replace``, not ``format``, so braces in
the code under test stay literal). Where the rewrite must keep a string equal (secrets inside larger strings), the
test executes the code before and after and compares.
"""

from __future__ import annotations

import os

import pytest

from remediate.codemods import analyze, rewrite
from tests.fakes import ALNUM, _rand


def _secret() -> str:
    return "Sx" + _rand(ALNUM, 22)  # letters and digits only: safe inside any literal


S1, S2 = "S1_PLACE", "S2_PLACE"


def fill(template: str, s1: str, s2: str) -> str:
    return template.replace(S1, s1).replace(S2, s2)


# (id, before, after, names S-slot -> variable)
LITERAL_CASES = [
    ("module-assign",
     'import os\n\nSTRIPE_KEY = "S1_PLACE"  # live key\n',
     'import os\n\nSTRIPE_KEY = os.environ["STRIPE_KEY"]  # live key\n',
     {S1: "STRIPE_KEY"}),
    ("adds-import-once",
     '"""Settings."""\nA = "S1_PLACE"\nB = "S2_PLACE"\n',
     '"""Settings."""\nimport os\n\nA = os.environ["A"]\nB = os.environ["B"]\n',
     {S1: "A", S2: "B"}),
    ("class-and-function",
     "class Cfg:\n    password = 'S1_PLACE'\n\n\ndef f():\n    token = \"S2_PLACE\"\n    return token\n",
     "import os\n\nclass Cfg:\n    password = os.environ['CFG_PASSWORD']\n\n\ndef f():\n"
     "    token = os.environ[\"TOKEN\"]\n    return token\n",
     {S1: "CFG_PASSWORD", S2: "TOKEN"}),
    ("keyword-arg",
     'import os\nclient = OpenAI(api_key="S1_PLACE", timeout=3)\n',
     'import os\nclient = OpenAI(api_key=os.environ["OPENAI_API_KEY"], timeout=3)\n',
     {S1: "OPENAI_API_KEY"}),
    ("dict-and-call-values",
     'import os\nDB = {"password": "S1_PLACE", "host": "db"}\nconn = connect(host="db", password="S2_PLACE")\n',
     'import os\nDB = {"password": os.environ["DB_PASSWORD"], "host": "db"}\n'
     'conn = connect(host="db", password=os.environ["CONNECT_PASSWORD"])\n',
     {S1: "DB_PASSWORD", S2: "CONNECT_PASSWORD"}),
    ("same-secret-twice-one-name",
     'import os\nA = "S1_PLACE"\nB = {"k": "S1_PLACE"}\n',
     'import os\nA = os.environ["A"]\nB = {"k": os.environ["A"]}\n',
     {S1: "A"}),
    ("comment-gets-marker",
     'import os\n# old key: S1_PLACE\nKEY = "S1_PLACE"\n',
     'import os\n# old key: <unleak:KEY>\nKEY = os.environ["KEY"]\n',
     {S1: "KEY"}),
    ("parenthesised-kept",
     'import os\nKEY = (\n    "S1_PLACE"\n)\n',
     'import os\nKEY = (\n    os.environ["KEY"]\n)\n',
     {S1: "KEY"}),
    ("annotated-and-param-default",
     'import os\nAPI_KEY: str = "S1_PLACE"\n\n\ndef login(user, password="S2_PLACE"):\n    return user\n',
     'import os\nAPI_KEY: str = os.environ["API_KEY"]\n\n\ndef login(user, password=None):\n'
     '    if password is None:\n        password = os.environ["PASSWORD"]\n    return user\n',
     {S1: "API_KEY", S2: "PASSWORD"}),
    # The default becomes None: an annotation that did not admit None says so now (mypy, pydantic, IDEs).
    ("annotated-param-default-admits-none",
     'import os\n\n\ndef tag(project: int, token: str = "S1_PLACE", key: "str" = "S2_PLACE") -> str:\n'
     '    return token\n',
     'import os\n\n\ndef tag(project: int, token: str | None = None, key: "str | None" = None) -> str:\n'
     '    if token is None:\n        token = os.environ["TOKEN"]\n    if key is None:\n'
     '        key = os.environ["KEY"]\n    return token\n',
     {S1: "TOKEN", S2: "KEY"}),
    ("optional-param-default-kept",
     'import os\nfrom typing import Optional\n\n\ndef tag(token: Optional[str] = "S1_PLACE"):\n    return token\n',
     'import os\nfrom typing import Optional\n\n\ndef tag(token: Optional[str] = None):\n'
     '    if token is None:\n        token = os.environ["TOKEN"]\n    return token\n',
     {S1: "TOKEN"}),
    ("bytes-literal",
     "import os\nKEY = b'S1_PLACE'\n",
     "import os\nKEY = os.environ['KEY'].encode()\n",
     {S1: "KEY"}),
    ("no-change-without-secret",
     'import os\nNAME = "hello"\n',
     'import os\nNAME = "hello"\n',
     {S1: "X"}),
    ("no-change-unplanned-secret",
     'KEY = "S1_PLACE"\n',
     'KEY = "S1_PLACE"\n',
     {}),
    # `os` shadowed where the secret sits: the read goes through a name that reaches the module (scope analysis).
    ("os-parameter",
     'import os\n\n\ndef build(os):\n    return {"token": "S1_PLACE", "os": os}\n',
     'import os\nimport os as _os\n\n\ndef build(os):\n    return {"token": _os.environ["TOKEN"], "os": os}\n',
     {S1: "TOKEN"}),
    ("os-local-reuses-alias",
     'import os as _os\n\n\ndef f():\n    os = "linux"\n    return os, "S1_PLACE"\n',
     'import os as _os\n\n\ndef f():\n    os = "linux"\n    return os, _os.environ["TOKEN"]\n',
     {S1: "TOKEN"}),
    ("os-shadowed-in-one-function-only",
     'import os\n\nA = "S1_PLACE"\n\n\ndef g(os=None):\n    return "S2_PLACE"\n',
     'import os\nimport os as _os\n\nA = os.environ["A"]\n\n\ndef g(os=None):\n    return _os.environ["B"]\n',
     {S1: "A", S2: "B"}),
    ("os-module-variable",
     'os = "linux"\nKEY = f"S1_PLACE"\n',
     'import os as _os\n\nos = "linux"\nKEY = _os.environ["KEY"]\n',
     {S1: "KEY"}),
]


@pytest.mark.parametrize(("before", "after", "names"), [c[1:] for c in LITERAL_CASES],
                         ids=[c[0] for c in LITERAL_CASES])
def test_literal_rewrites(before: str, after: str, names: dict[str, str]) -> None:
    s1, s2 = _secret(), _secret()
    slot = {S1: s1, S2: s2}
    code = fill(before, s1, s2)
    out = rewrite(code, [s1, s2], names={slot[k]: v for k, v in names.items()})
    assert out.ok, out.error
    assert out.code == fill(after, s1, s2)
    if names:
        assert s1 not in (out.code or "")


# Secrets inside larger strings: the rewritten expression must build the same string.
PARTIAL_CASES = [
    ("url", 'URL = "postgres://app:S1_PLACE@db:5432/shop"\n',
     "import os\n\nURL = f\"postgres://app:{os.environ['DB_PASSWORD']}@db:5432/shop\"\n"),
    ("braces-escaped", 'T = "{literal} key=S1_PLACE }"\n',
     "import os\n\nT = f\"{{literal}} key={os.environ['DB_PASSWORD']} }}\"\n"),
    ("single-quotes", "U = 'https://x.test/?token=S1_PLACE&a=1'\n",
     "import os\n\nU = f'https://x.test/?token={os.environ[\"DB_PASSWORD\"]}&a=1'\n"),
    ("format-template", 'U = "mysql://u:S1_PLACE@{}/db".format("h")\n',
     "import os\n\nU = (\"mysql://u:\" + os.environ['DB_PASSWORD'] + \"@{}/db\").format(\"h\")\n"),
    ("percent-template", 'U = "mysql://u:S1_PLACE@%s/db" % "h"\n',
     "import os\n\nU = (\"mysql://u:\" + os.environ['DB_PASSWORD'] + \"@%s/db\") % \"h\"\n"),
    ("inside-fstring", 'h = "db"\nU = f"redis://:S1_PLACE@{h}:6379"\n',
     "import os\n\nh = \"db\"\nU = f\"redis://:{os.environ['DB_PASSWORD']}@{h}:6379\"\n"),
    ("raw-string", 'U = r"C:\\dir S1_PLACE"\n',
     "import os\n\nU = rf\"C:\\dir {os.environ['DB_PASSWORD']}\"\n"),
    ("implicit-concat", 'U = ("postgres://u:S1_PLACE"\n     "@db/x")\n',
     "import os\n\nU = (f\"postgres://u:{os.environ['DB_PASSWORD']}\"\n     \"@db/x\")\n"),
]


@pytest.mark.parametrize(("before", "after"), [c[1:] for c in PARTIAL_CASES], ids=[c[0] for c in PARTIAL_CASES])
def test_secret_inside_larger_literal(before: str, after: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s1 = _secret()
    code = fill(before, s1, "")
    out = rewrite(code, [s1], names={s1: "DB_PASSWORD"})
    assert out.ok, out.error
    assert out.code == fill(after, s1, "")
    assert s1 not in (out.code or "")
    original: dict[str, object] = {}
    exec(compile(code, "<before>", "exec"), original)
    monkeypatch.setenv("DB_PASSWORD", s1)
    rewritten: dict[str, object] = {}
    exec(compile(out.code or "", "<after>", "exec"), rewritten)
    for k, v in original.items():
        if not k.startswith("__"):
            assert rewritten[k] == v, k


SKIP_CASES = [
    ("bytes-inside-larger", 'KEY = b"x-S1_PLACE"\n', "bytes literal"),
    ("docstring", 'def f():\n    """Use S1_PLACE."""\n', "docstring"),
    ("escapes-in-larger-string", 'U = "a\\tb S1_PLACE"\n', "escape sequences"),
    ("match-case-pattern", 'match cmd:\n    case "S1_PLACE":\n        pass\n', "match-case pattern"),
]


def test_one_unrewritable_site_leaves_the_others_rewritten() -> None:
    """A literal in a `case` pattern cannot become an expression; the other secrets in the file still move, and
    the case is a manual step with its real reason (not "the rewritten file would not parse" for all of them)."""
    s1, s2 = _secret(), _secret()
    src = f'TOKEN = "{s2}"\n\n\ndef route(cmd):\n    match cmd:\n        case "{s1}":\n            return 1\n'
    out = rewrite(src, [s1, s2], names={s1: "ADMIN_TOKEN", s2: "TOKEN"})
    assert out.ok, out.error
    assert out.code is not None and 'TOKEN = os.environ["TOKEN"]' in out.code and s2 not in out.code
    assert f'case "{s1}":' in out.code
    manual = [s for s in out.sites if s.kind == "manual"]
    assert [m.raw for m in manual] == [s1] and "match-case pattern" in (manual[0].manual or "")


@pytest.mark.parametrize(("code", "why"), [c[1:] for c in SKIP_CASES], ids=[c[0] for c in SKIP_CASES])
def test_skip_cases_are_reported_not_rewritten(code: str, why: str) -> None:
    s1 = _secret()
    src = fill(code, s1, "")
    out = rewrite(src, [s1], names={s1: "KEY"})
    assert out.ok
    assert out.code == src
    manual = [s for s in out.sites if s.kind == "manual"]
    assert manual and why in (manual[0].manual or "")


def test_unparsable_file_is_a_failure_result_not_an_exception() -> None:
    s1 = _secret()
    out = rewrite(f'KEY = "{s1}"\ndef broken(:\n', [s1], names={s1: "KEY"})
    assert not out.ok
    assert out.code is None
    assert "syntax error" in (out.error or "")
    assert s1 not in (out.error or "")


def test_analyze_reports_hints_and_changes_nothing() -> None:
    s1, s2, s3 = _secret(), _secret(), _secret()
    code = (f'KEY = "{s1}"\nc = OpenAI(api_key="{s2}")\nD = {{"default": {{"PASSWORD": "{s3}"}}}}\n'
            f"class Cfg:\n    token = '{s1}'\n")
    out = analyze(code, [s1, s2, s3])
    assert out.code == code
    got = {(s.kind, s.hint, s.scope) for s in out.sites}
    assert got == {("assign", "KEY", None), ("keyword", "api_key", "OpenAI"), ("dict", "PASSWORD", "D"),
                   ("assign", "token", "Cfg")}
    calls = analyze(f'REDIS = dict(host="r", password="{s1}")\n', [s1])
    assert [(s.kind, s.hint, s.scope) for s in calls.sites] == [("keyword", "password", "REDIS")]
    assert all(s1 not in repr(s) and s2 not in repr(s) for s in out.sites)


# ------------------------------------------------------------------------------------ environment reads

# (id, before, after, default-names S-slot -> env var, dotenv keys, flip)
ENV_CASES = [
    ("getenv-default", 'import os\npw = os.getenv("DB_PASSWORD", "S1_PLACE")\n',
     'import os\npw = os.environ["DB_PASSWORD"]\n', {S1: "DB_PASSWORD"}, (), False),
    ("environ-get-default", "import os\npw = os.environ.get('API_TOKEN', 'S1_PLACE')\n",
     "import os\npw = os.environ['API_TOKEN']\n", {S1: "API_TOKEN"}, (), False),
    ("bare-getenv-adds-import", 'from os import getenv\npw = getenv("DB_PASSWORD", default="S1_PLACE")\n',
     'import os\nfrom os import getenv\npw = os.environ["DB_PASSWORD"]\n', {S1: "DB_PASSWORD"}, (), False),
    ("decouple-default", 'from decouple import config\nK = config("SECRET_KEY", default="S1_PLACE", cast=str)\n',
     'from decouple import config\nK = config("SECRET_KEY", cast=str)\n', {S1: "SECRET_KEY"}, (), False),
    ("decouple-last-default", 'from decouple import config\nK = config("SECRET_KEY", "S1_PLACE")\n',
     'from decouple import config\nK = config("SECRET_KEY")\n', {S1: "SECRET_KEY"}, (), False),
    ("django-environ-default",
     'import environ\nenv = environ.Env()\nK = env("API_TOKEN", default="S1_PLACE")\n'
     'P = env.str("DB_PASSWORD", "S2_PLACE")\n',
     'import environ\nenv = environ.Env()\nK = env("API_TOKEN")\nP = env.str("DB_PASSWORD")\n',
     {S1: "API_TOKEN", S2: "DB_PASSWORD"}, (), False),
    ("dotenv-values-subscript",
     'from dotenv import dotenv_values\nA = dotenv_values(".env")["API_TOKEN"]\ncfg = dotenv_values()\n'
     'B = cfg["DB_PASSWORD"]\nC = cfg.get("API_TOKEN")\nD = cfg["DEBUG"]\n',
     'import os\n\nfrom dotenv import dotenv_values\nA = os.environ["API_TOKEN"]\ncfg = dotenv_values()\n'
     'B = os.environ["DB_PASSWORD"]\nC = os.environ.get("API_TOKEN")\nD = cfg["DEBUG"]\n',
     {}, ("API_TOKEN", "DB_PASSWORD"), False),
    ("load-dotenv-override",
     "from dotenv import load_dotenv\nload_dotenv(override=True)\nimport environ\nenviron.Env.read_env('.env', "
     "overwrite=True)\n",
     "from dotenv import load_dotenv\nload_dotenv(override=False)\nimport environ\nenviron.Env.read_env('.env', "
     "overwrite=False)\n", {}, (), True),
    ("no-change-non-secret-default", 'import os\nport = os.getenv("PORT", "8000")\n',
     'import os\nport = os.getenv("PORT", "8000")\n', {S1: "PORT"}, (), False),
    ("no-change-unplanned", 'import os\npw = os.getenv("DB_PASSWORD", "S1_PLACE")\nload_dotenv(override=True)\n',
     'import os\npw = os.getenv("DB_PASSWORD", "S1_PLACE")\nload_dotenv(override=True)\n', {}, (), False),
]


@pytest.mark.parametrize(("before", "after", "defaults", "keys", "flip"), [c[1:] for c in ENV_CASES],
                         ids=[c[0] for c in ENV_CASES])
def test_env_read_rewrites(before: str, after: str, defaults: dict[str, str], keys: tuple[str, ...],
                           flip: bool) -> None:
    s1, s2 = _secret(), _secret()
    slot = {S1: s1, S2: s2}
    code = fill(before, s1, s2)
    out = rewrite(code, [s1, s2], names={}, default_names={slot[k]: v for k, v in defaults.items()},
                  dotenv_keys=keys, flip_override=flip)
    assert out.ok, out.error
    assert out.code == fill(after, s1, s2)


def test_env_default_sites_name_the_variable() -> None:
    s1 = _secret()
    out = analyze(f'import os\na = os.getenv("DB_PASSWORD", "{s1}")\nb = os.getenv("PORT", "8000")\n'
                  'c = os.getenv(name, "x" * 3)\n', [])
    env = [s for s in out.sites if s.kind == "env-default"]
    assert [(s.env_key, s.value == s1) for s in env] == [("DB_PASSWORD", True)]


def test_rewritten_env_read_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    s1 = _secret()
    out = rewrite(f'import os\npw = os.getenv("DB_PASSWORD", "{s1}")\n', [s1], names={},
                  default_names={s1: "DB_PASSWORD"})
    monkeypatch.setenv("DB_PASSWORD", s1)
    ns: dict[str, object] = {}
    exec(out.code or "", ns)
    assert ns["pw"] == s1
    monkeypatch.delenv("DB_PASSWORD")
    with pytest.raises(KeyError):
        exec(out.code or "", {})
    assert "DB_PASSWORD" not in os.environ


def test_whole_literal_with_escapes_moves_the_runtime_value() -> None:
    body = _secret()
    code = f'PASSWORD = "{body}\\\\x\\"y"\n'  # source: "<body>\\x\"y"  runtime: <body>\x"y
    raw = code.split('"', 1)[1].rsplit('"', 1)[0]
    out = rewrite(code, [raw], names={raw: "PASSWORD"})
    [site] = out.sites
    assert site.raw == raw and site.value == body + '\\x"y'
    assert out.code == 'import os\n\nPASSWORD = os.environ["PASSWORD"]\n'


def test_defaults_and_settings_fields_read_the_environment_at_use_not_at_import(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A parameter default that read os.environ[...] would fail at import when the variable is unset; it reads at
    call time instead. A pydantic-settings field loses its default: the settings class reads the variable (with
    its env_prefix) itself."""
    s1, s2 = _secret(), _secret()
    src = (f'def connect(host, password="{s1}"):\n    """Connect."""\n    return host, password\n\n\n'
           f'def one(token="{s2}"): return token\n')
    out = rewrite(src, [s1, s2], names={s1: "DB_PASSWORD", s2: "API_TOKEN"})
    assert out.ok and out.code is not None and s1 not in out.code and s2 not in out.code
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    ns: dict[str, object] = {}
    exec(compile(out.code, "m.py", "exec"), ns)  # importing works without the variables
    monkeypatch.setenv("DB_PASSWORD", s1)
    monkeypatch.setenv("API_TOKEN", s2)
    assert ns["connect"]("db") == ("db", s1)  # type: ignore[operator]
    assert ns["connect"]("db", "given") == ("db", "given")  # type: ignore[operator]
    assert ns["one"]() == s2  # type: ignore[operator]
    assert ns["connect"].__doc__ == "Connect."  # type: ignore[attr-defined]

    settings = ("from pydantic_settings import BaseSettings, SettingsConfigDict\n\n\nclass Settings(BaseSettings):\n"
                f'    model_config = SettingsConfigDict(env_prefix="APP_")\n    api_key: str = "{s1}"\n')
    sites = analyze(settings, [s1]).sites
    assert [(s.kind, s.env_key) for s in sites] == [("settings-field", "APP_API_KEY")]
    out = rewrite(settings, [s1], names={s1: "APP_API_KEY"})
    assert out.ok and out.code is not None
    assert "    api_key: str\n" in out.code and s1 not in out.code and "os.environ" not in out.code


def test_settings_field_wrapped_in_secretstr_drops_its_default() -> None:
    """`token: SecretStr = SecretStr("…")` is a pydantic-settings field too: the settings class reads (and wraps)
    the variable itself, so the default goes; reading os.environ in the class body would fail at import."""
    s1 = _secret()
    src = ("from pydantic import SecretStr\nfrom pydantic_settings import BaseSettings\n\n\n"
           f'class Settings(BaseSettings):\n    github_token: SecretStr = SecretStr("{s1}")\n    debug: bool = False\n')
    sites = analyze(src, [s1]).sites
    assert [(s.kind, s.env_key) for s in sites] == [("settings-field", "GITHUB_TOKEN")]
    out = rewrite(src, [s1], names={s1: "GITHUB_TOKEN"})
    assert out.ok and out.code is not None
    assert "    github_token: SecretStr\n    debug: bool = False\n" in out.code
    assert s1 not in out.code and "os.environ" not in out.code


@pytest.mark.parametrize(("line", "hint"), [
    ('requests.post(URL, auth=("deployer", "S1_PLACE"))', "deployer_password"),
    ('requests.get(URL, auth=HTTPBasicAuth("ci-bot", "S1_PLACE"))', "ci-bot_password"),
    ('smtp.login("alerts@shop.internal", "S1_PLACE")', "alerts_password"),
    ('client = Client(auth=(user, "S1_PLACE"))', "auth"),  # no literal user: the keyword, as before
])
def test_basic_auth_pair_is_named_by_its_user(line: str, hint: str) -> None:
    """A (user, password) pair names the password by its user: DEPLOYER_PASSWORD, not AUTH."""
    s1 = _secret()
    [site] = analyze(line.replace("S1_PLACE", s1) + "\n", [s1]).sites
    assert site.hint == hint


def test_factory_call_keyword_is_scoped_by_the_variable_it_builds() -> None:
    """`reporting_url = URL.create(password="…")`: the callee's verb says nothing (CREATE_PASSWORD); the variable the
    call builds does (REPORTING_PASSWORD)."""
    from remediate.naming import suggest_name

    s1 = _secret()
    code = f'reporting_url = URL.create("postgresql", username="reporter", password="{s1}", host="replica")\n'
    [site] = analyze(code, [s1]).sites
    assert (site.kind, site.hint, site.scope) == ("keyword", "password", "reporting_url")
    assert suggest_name(site) == "REPORTING_PASSWORD"
