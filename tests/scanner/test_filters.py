"""Each false-positive filter with near misses: a candidate it must drop and a close one it must keep."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from scanner.chunk import Chunk
from scanner.engine import Engine, EngineOptions
from scanner.filters import BUILTIN_DEMOTIONS, BUILTIN_FILTERS, Context, active_filters
from scanner.finding import Confidence
from scanner.result import Explanation
from scanner.rules import all_rules
from tests import fakes as f
from tests.conftest import run_cli

GENERIC = all_rules()["UL900"]
URL_RULE = all_rules()["UL220"]


def _ctx(value: str, line: str, path: str = "config.yaml", rule_id: str = "UL900", prev: str = "") -> Context:
    return Context(rule=all_rules()[rule_id], value=value, line=line, prev_line=prev, path=path)


def _filter(name: str) -> Callable[[Context], bool]:
    return next(x for x in active_filters() if x.name == name).drop


# (filter, drop case, keep case): each case is (value, line, path[, rule id]). The table lives in tests/data (made-up
# values that look like secrets on purpose, so the repository's own scan excludes that directory).
_TABLE = json.loads((Path(__file__).parent.parent / "data" / "filter_near_misses.json").read_text())["rows"]
NEAR_MISSES = [(r["filter"], tuple(r["drop"]), tuple(r["keep"]), r.get("prev", ""), r.get("keep_prev", ""))
               for r in _TABLE]
S = "Zq8vN3xL" + "p2Rt7YwK4mHs"  # split so the source holds no secret-shaped literal


@pytest.mark.parametrize(("name", "drop", "keep", "prev", "keep_prev"), NEAR_MISSES,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(NEAR_MISSES)])
def test_filter_drops_and_keeps_near_miss(name: str, drop: tuple[str, ...], keep: tuple[str, ...], prev: str,
                                          keep_prev: str) -> None:
    pred = _filter(name)
    assert pred(_ctx(*drop[:3], rule_id=drop[3] if len(drop) > 3 else "UL900", prev=prev))
    assert not pred(_ctx(*keep[:3], rule_id=keep[3] if len(keep) > 3 else "UL900", prev=keep_prev or prev))


def test_invalid_checksum_filter() -> None:
    pred = _filter("invalid-checksum")
    bad, good = f.github_bad_checksum(), f.github_pat()
    assert pred(_ctx(bad, f'token = "{bad}"', "a.py"))
    assert not pred(_ctx(good, f'token = "{good}"', "a.py"))


def test_allow_nextline_comment() -> None:
    pred = _filter("allow-comment")
    assert pred(_ctx(S, f"password = {S}", "a.ini", prev="# pragma: allowlist nextline secret"))
    assert not pred(_ctx(S, f"password = {S}", "a.ini", prev="# allowlist nextline"))


def test_every_filter_is_named_and_documented_in_one_line() -> None:
    names = [x.name for x in BUILTIN_FILTERS]
    assert len(names) == len(set(names))
    for flt in BUILTIN_FILTERS:
        doc = (flt.drop.__doc__ or "").strip()
        assert doc and "\n" not in doc, flt.name
        assert flt.doc and "\n" not in flt.doc


# The public names: they appear in --explain, in the dropped counts of every report and in rules' skip_filters,
# so the registry must keep them whatever the functions are called.
PUBLIC_FILTERS = (
    "config-allowlist", "allow-comment", "reference", "example-key", "placeholder", "env-read", "lockfile-hash",
    "git-sha", "password-hash", "uuid", "checksum", "public-material", "data-uri", "notebook-media", "ui-string",
    "type-annotation", "code-expression", "name-as-value", "path-or-url", "metadata-name", "encoded-text", "slug",
    "fake-jwt", "non-secret-name", "short-hex", "identifier-words", "regex-source", "key-header-only",
    "plain-words", "short-token", "not-basic-credential", "key-body-fragment", "prose", "invalid-checksum",
    "unnamed-hex", "character-set", "number-or-version",
)


def test_the_registry_names_each_predicate_after_its_function_and_documents_it_with_its_docstring() -> None:
    assert tuple(x.name for x in BUILTIN_FILTERS) == PUBLIC_FILTERS
    assert tuple(d.name for d in BUILTIN_DEMOTIONS) == ("demo-credential", "test-fixture", "weak-password")
    for name, pred, doc in [*((x.name, x.drop, x.doc) for x in BUILTIN_FILTERS),
                            *((d.name, d.applies, d.doc) for d in BUILTIN_DEMOTIONS)]:
        assert pred.__name__.replace("_", "-") == name
        assert doc == (pred.__doc__ or "").strip()


def test_the_registry_refuses_a_predicate_without_a_docstring_or_a_second_one_of_a_name() -> None:
    from scanner.filters.base import _describe, drop_filter

    def undocumented(ctx: Context) -> bool:
        return False

    with pytest.raises(ValueError, match="no docstring"):
        _describe(undocumented)

    def placeholder(ctx: Context) -> bool:
        """A second filter named placeholder."""
        return False

    with pytest.raises(ValueError, match="duplicate filter placeholder"):
        drop_filter(placeholder)


def test_name_based_filters_do_not_touch_provider_tokens() -> None:
    """A provider token assigned in code is still found even though code/UI/type filters exist."""
    engine = Engine()
    tok = f.github_pat()
    found = engine.scan_chunk(Chunk("tests/test_x.py", f"token = {tok}\n"))
    assert [x.rule_id for x in found] == ["UL001"]


def test_explain_names_the_filter_and_never_the_value() -> None:
    engine = Engine(EngineOptions(explain=True))
    explain: list[Explanation] = []
    engine.scan_chunk(Chunk("a.yaml", "password: ${DB_PASSWORD}\nkey: AKIAIOSFODNN7EXAMPLE\n"), explain)
    assert {(e.line, e.filter) for e in explain} >= {(1, "placeholder"), (2, "example-key")}


def test_cli_explain_and_min_confidence(tmp_path: Path) -> None:
    pw = f.password()
    (tmp_path / "app.env").write_text(f"DB_PASSWORD={pw}\nAPI_TOKEN=${{API_TOKEN}}\nGH={f.github_pat()}\n")
    proc = run_cli("scan", "--explain", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    assert pw not in proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert {x["rule_id"] for x in doc["findings"]} == {"UL900", "UL001"}
    assert "placeholder" in proc.stdout + proc.stderr
    proc = run_cli("scan", "--min-confidence", "high", "--format", "json", cwd=tmp_path)
    assert {x["rule_id"] for x in json.loads(proc.stdout)["findings"]} == {"UL001"}


_DEMOTIONS = json.loads((Path(__file__).parent.parent / "data" / "filter_near_misses.json").read_text())["demotions"]


@pytest.mark.parametrize("row", _DEMOTIONS, ids=[f"{r['demotion']}-{i}" for i, r in enumerate(_DEMOTIONS)])
def test_demotion_lowers_and_keeps_near_miss(row: dict[str, list[str] | str]) -> None:
    """A demotion keeps the candidate (it is no filter) and applies to one case but not to its near miss."""
    demote, keep = row["demote"], row["keep"]
    assert isinstance(demote, list) and isinstance(keep, list)
    pred = next(d for d in BUILTIN_DEMOTIONS if d.name == row["demotion"]).applies
    assert pred(_ctx(*demote[:3], rule_id=demote[3] if len(demote) > 3 else "UL900"))
    assert not pred(_ctx(*keep[:3], rule_id=keep[3] if len(keep) > 3 else "UL900"))
    ctx = _ctx(*demote[:3], rule_id=demote[3] if len(demote) > 3 else "UL900")
    assert not any(flt.drop(ctx) for flt in active_filters()), "a demoted case must not also be dropped"


def test_test_fixture_credential_is_reported_low_not_dropped() -> None:
    engine = Engine()
    text = 'DB_PASSWORD = "hunterx1"\n'
    [low] = engine.scan_chunk(Chunk("tests/test_login.py", text))
    [med] = engine.scan_chunk(Chunk("src/login.py", text))
    assert (low.confidence.value, low.label) == ("low", "test-fixture")
    assert low.fingerprint == med.fingerprint and "hunterx1" not in json.dumps(low.to_dict())
    assert Engine(EngineOptions(min_confidence=Confidence.MEDIUM)).scan_chunk(Chunk("tests/t.py", text)) == []


def test_a_weak_word_in_a_credential_store_is_a_weak_password_and_a_template_there_is_not() -> None:
    # .pgpass, .msmtprc and DBeaver's data sources hold the password a client logs in with: `password` there is in
    # use. The same word in a .env or a settings file stands in for a value.
    engine = Engine()
    for path, text, rule in ((".pgpass", "localhost:5432:app:root:password\n", "UL201"),
                             (".msmtprc", 'account default\npassword "secret"\n', "UL214"),
                             ("dbeaver-data-sources.xml", '<connection user="app" password="admin"/>\n', "UL215")):
        found = [x for x in engine.scan_chunk(Chunk(path, text)) if x.rule_id == rule]
        assert [(x.confidence.value, x.label) for x in found] == [("low", "weak-password")], path
    assert engine.scan_chunk(Chunk(".pgpass", "localhost:5432:app:root:<password>\n")) == []
    assert engine.scan_chunk(Chunk(".env", "DB_PASSWORD=password\n")) == []


def test_a_weak_word_in_a_deployed_configuration_is_a_weak_password_and_in_its_template_is_not() -> None:
    engine = Engine()
    live = ((".env", "DB_PASSWORD=admin\n"), ("deploy/.env.production", "REDIS_PASSWORD=default\n"),
            ("public_html/wp-config.php", "define( 'DB_PASSWORD', 'admin' );\n"))
    for path, text in live:
        found = engine.scan_chunk(Chunk(path, text))
        assert [x.confidence.value for x in found] == ["low"], path
    template = ((".env.example", "DB_PASSWORD=admin\n"),
                ("wp-config-sample.php", "define( 'DB_PASSWORD', 'admin' );\n"),
                (".env", "DB_PASSWORD=password\n"), (".env", "APP_SECRET=secret\n"),
                ("settings.py", 'PASSWORD = "admin"\n'))
    for path, text in template:
        assert engine.scan_chunk(Chunk(path, text)) == [], path


def test_private_key_is_judged_by_its_body_not_a_word_beside_the_header() -> None:
    """A generated key with a word after its BEGIN line is a key; a header over a dummy body is a placeholder."""
    key = f.private_key_pem()
    body = "".join(f._rand(f.B64, 64) + "\n" for _ in range(8))
    real = f"-----BEGIN RSA PRIVATE KEY----- fake\n{body}-----END RSA PRIVATE KEY-----"
    dummy = "-----BEGIN RSA PRIVATE KEY----- fake\n" + "xxxx\n" * 20 + "-----END RSA PRIVATE KEY-----"
    pred = _filter("placeholder")
    assert not pred(_ctx(real, real.split("\n")[0], "Keys.kt", "UL100"))
    assert pred(_ctx(dummy, dummy.split("\n")[0], "Keys.kt", "UL100"))
    assert not pred(_ctx(key, key.split("\n")[0], "id_rsa", "UL100"))


def test_format_strings_comparisons_and_numbered_names_are_not_secrets_but_look_alikes_are() -> None:
    engine = Engine()

    def found(path: str, text: str) -> list[str]:
        return [x.rule_id for x in engine.scan_chunk(Chunk(path, text))]

    # dropped: a printf format, a comparison in a doc sample, an attribute chain, numbered identifiers, a short label
    assert found("lib/proxy.py", "storage_key = '_AssociationProxy_%s_%s' % (a, b)\n") == []
    assert found("lib/db.py", 'dsn_password = "pw_%(user)s_x"\n') == []
    assert found("doc/tutorial.txt", "    ...     users.c.password==addresses.c.email_address)\n") == []
    assert found("doc/sql.txt", "    users.update(values={users.c.password:users.c.user_name}).execute()\n") == []
    assert found("tests/test_log.py", 'conn.execution_options(logging_token="my_name_2")\n') == []
    assert found("doc/api.rst", '    identity_token="test_schema_2",\n') == []
    assert found("tests/test_rooms.py", 'blue1 = Room(token="Blue-1", color=blue)\n') == []
    # kept: a URL escape is not a format, a password word with digits is a (weak) password, a long token stays
    assert found("app/db.py", 'DB_PASSWORD = "p%2Fs4Xq9%dLm7"\n') != []
    assert found("app/db.py", 'DB_PASSWORD = "summer_2"\n') != []
    assert found("app/api.py", 'API_TOKEN = "Blue-1x7Qp9Lm2Zr8Kd4Wt6"\n') != []


def test_a_variable_spliced_into_a_url_is_code_and_a_key_starting_with_a_plus_is_not() -> None:
    engine = Engine()
    spliced = 'req, _ := http.NewRequest("GET", base+"/v1/cities?apikey="+resMatch+"&q=x", nil)\n'
    assert engine.scan_chunk(Chunk("pkg/detectors/weather/weather.go", spliced)) == []
    literal = 'URL = "https://api.example.net/v1?apikey=+Xq7Lm2Zr8Kd4Wt6Pb9"\n'
    assert engine.scan_chunk(Chunk("app/weather.py", literal)) != []


def test_a_private_key_under_any_label_is_found_and_a_public_key_or_certificate_is_not() -> None:
    """Labels beyond the standard ones (ECDSA, ED25519, written by some tools and in JSON with escaped newlines) are
    keys too; the END line must name the same label, and PUBLIC KEY or CERTIFICATE blocks are not secrets."""
    engine = Engine()
    body = "".join(f._rand(f.B64, 64) + "\n" for _ in range(6))
    for label in ("ECDSA ", "ED25519 ", "SSH2 ENCRYPTED ", "ANY ", ""):
        pem = f"-----BEGIN {label}PRIVATE KEY-----\n{body}-----END {label}PRIVATE KEY-----\n"
        assert [x.rule_id for x in engine.scan_chunk(Chunk("keys/k.pem", pem))] == ["UL100"], label
        escaped = '{"privateKey": "' + pem.replace("\n", "\\n") + '"}\n'
        assert "UL100" in [x.rule_id for x in engine.scan_chunk(Chunk("svc.json", escaped))], label
    for block in ("PUBLIC KEY", "CERTIFICATE", "RSA PUBLIC KEY"):
        text = f"-----BEGIN {block}-----\n{body}-----END {block}-----\n"
        assert [x.rule_id for x in engine.scan_chunk(Chunk("keys/k.pem", text))] == [], block
    mismatched = f"-----BEGIN ECDSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\n"
    assert "UL100" not in [x.rule_id for x in engine.scan_chunk(Chunk("keys/k.pem", mismatched))]


@pytest.mark.parametrize("name", ["_UI_NAME", "_REPEATED_NAME"])
def test_a_name_searched_at_the_end_of_a_line_is_found_in_its_last_characters(name: str) -> None:
    """ui-string and name-as-value search the name before a value in the last characters of what precedes it
    (a match is at most that long); on long generated prefixes that finds what a search of the whole prefix finds."""
    import random

    from scanner.filters import code

    rx, most = getattr(code, name), getattr(code, name + "_MAX")
    rnd = random.Random(most)
    parts = ["a", "Z", "_", ".", "-", "9", " ", "  ", "=", ":", "=>", ":=", '"', "'", "]", "\\", "`", "x" * 30,
             "label", "placeholder"]
    # The longest match each can have: the window must hold it whole.
    longest = {"_UI_NAME": "a" * 81 + '"]' + " " * 4 + "=>" + " " * 8 + '\\"',
               "_REPEATED_NAME": "a" * 80 + '"]' + " " * 8 + ":=" + " " * 8 + '\\"'}[name]
    assert len(longest) == most
    m = rx.search("#" * 40 + longest, 40 + len(longest) - most)
    assert m is not None and m.group(1).startswith("a" * 80)
    found = 0
    for _ in range(6000):
        before = "".join(rnd.choice(parts) for _ in range(rnd.randrange(0, 60)))
        whole = rx.search(before)
        tail = rx.search(before, max(0, len(before) - most))
        assert (whole and (whole.span(), whole.group(1))) == (tail and (tail.span(), tail.group(1))), before
        found += whole is not None and whole.start() > 0 and len(before) > most
    assert found > 200  # long prefixes with a match at their end


def test_holds_any_finds_what_a_case_insensitive_alternation_finds() -> None:
    """``holds_any`` stands in for ``re.search("(?i)a|b|…")`` over lines; on generated text, with the non-ASCII
    letters Python's case-insensitive matching equates with ASCII ones ('İ', 'ı', 'ſ', Kelvin 'K'), they agree."""
    import random
    import re

    from scanner.filters.base import holds_any

    words = ("secure", "encrypted", "ciphertext", "sealed")
    rx = re.compile("|".join(words), re.IGNORECASE)
    rnd = random.Random(4)
    alphabet = "secureSECUREncryptdhalıİſ\u212a é_-x"
    agree = 0
    for _ in range(20000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 24)))
        text += rnd.choice(["", "ſecure", "ENCRYPTED", "cıphertext", "seaLed", "secur", "key"])
        assert holds_any(text, words) == (rx.search(text) is not None), text
        agree += holds_any(text, words)
    assert agree > 1000
