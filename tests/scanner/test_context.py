"""Safe triage context: the secret-like name and the value's shape, never a character of the value."""

from __future__ import annotations

import json
from pathlib import Path

from scanner.chunk import Chunk
from scanner.engine import Engine
from scanner.finding import masked_context, value_shape
from tests import fakes as f
from tests.conftest import run_cli


def test_shape_keeps_length_and_classes_only() -> None:
    assert value_shape("Ab3$x") == "Aa0*a"
    assert value_shape("aaaa0000") == "<8 chars>"  # a value that is its own shape shows only its length
    assert value_shape("AAAA") == "<4 chars>"


def test_context_names_secret_names_only() -> None:
    assert masked_context("DB_PASSWORD = '", "Zq8v3!") == "DB_PASSWORD = Aa0a0*"
    # The user part of a URL is not a secret-like name, and a token there must not be shown as one.
    tok = f.github_pat()
    assert tok not in masked_context(f"https://{tok}:", "x-oauth-basic")
    assert masked_context("postgres://app:", "Zq8v3!") == "Aa0a0*"


def test_findings_carry_context_and_no_value(tmp_path: Path) -> None:
    pw, tok = f.password(), f.github_pat()
    text = f"DB_PASSWORD={pw}\nURL=https://deploy:{pw}@db.internal/x\nGH_TOKEN={tok}\n"
    found = Engine().scan_chunk(Chunk(".env", text))
    assert found and all(x.context for x in found)
    assert all(pw not in x.context and tok not in x.context for x in found)
    (tmp_path / ".env").write_text(text)
    for fmt in ("text", "json", "sarif"):
        proc = run_cli("scan", "--format", fmt, cwd=tmp_path)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1 and pw not in out and tok not in out, fmt
    doc = json.loads(run_cli("scan", "--format", "json", cwd=tmp_path).stdout)
    assert {"DB_PASSWORD = " + value_shape(pw)} <= {x.get("context") for x in doc["findings"]}


def test_masked_line_shapes_the_value_and_every_literal_in_place() -> None:
    from scanner.finding import masked_line

    pw, other = f.password(), f._rand(f.ALNUM, 24)
    line = f'    conn = connect(user="deploy", password="{pw}", api_key="{other}")  # prod db'
    got = masked_line(line, line.index(pw), line.index(pw) + len(pw))
    # Structure stays: names, calls, the comment words; the value is its shape, in place.
    assert got.startswith("    conn = connect(user=") and f'password="{value_shape(pw)}"' in got
    assert got.endswith("# prod db")
    # No other literal survives either: the user name and a second key on the line are shaped too.
    assert pw not in got and other not in got and '"deploy"' not in got
    url = f"DATABASE_URL=postgres://deploy:{pw}@db.internal/app"
    got = masked_line(url, url.index(pw), url.index(pw) + len(pw))
    assert got.startswith("DATABASE_URL=postgres:") and "deploy" not in got and "internal" not in got
    long = "x = 1; " * 100 + f'k = "{pw}"' + "; y = 2" * 100
    assert len(masked_line(long, long.index(pw), long.index(pw) + len(pw))) <= 260
    # The finding's own line only, however much text follows it.
    text = f'TOKEN = "{pw}"\nNAME = "shop"\n'
    assert masked_line(text, text.index(pw), text.index(pw) + len(pw)) == f'TOKEN = "{value_shape(pw)}"'


def test_a_long_token_that_is_not_a_word_costs_one_pass() -> None:
    # The word pattern once backtracked exponentially on a 60-character token that failed it at the end.
    from scanner.finding import _plain_word

    assert not _plain_word("a" * 59 + "1") and not _plain_word("ab_" * 19 + "1")
    assert _plain_word("DB_PASSWORD") and _plain_word("os.environ") and _plain_word("apiKey")


def test_reports_carry_the_masked_line(tmp_path: Path) -> None:
    pw, tok = f.password(), f.github_pat()
    text = f'settings = {{"db_password": "{pw}", "token": "{tok}"}}\n'
    (tmp_path / "app.py").write_text(text)
    doc = json.loads(run_cli("scan", "--format", "json", cwd=tmp_path).stdout)
    lines = {x["rule_id"]: x["line_context"] for x in doc["findings"]}
    assert lines and all(pw not in v and tok not in v for v in lines.values())
    assert any('"db_password": "' + value_shape(pw) + '"' in v for v in lines.values())
    sarif = json.loads(run_cli("scan", "--format", "sarif", cwd=tmp_path).stdout)
    regions = [r["locations"][0]["physicalLocation"]["contextRegion"] for r in sarif["runs"][0]["results"]]
    assert regions and all(r["startLine"] == 1 and pw not in r["snippet"]["text"] for r in regions)
    out = run_cli("scan", cwd=tmp_path).stdout
    assert "│ settings = " in out and pw not in out and tok not in out
