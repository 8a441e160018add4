"""The `unlikely` tier: weak words and demo passwords that usually stand in for a credential (dropped by default) are
reported when a scan asks for that tier, labelled with the filter that would drop them; templates and
self-declared placeholders never are. Near misses both ways, the default left unchanged, and the tier end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.chunk import Chunk
from scanner.engine import Engine, EngineOptions
from scanner.finding import Confidence, Finding
from tests import fakes
from tests.conftest import GitRepo, run_cli

UNLIKELY = EngineOptions(min_confidence=Confidence.UNLIKELY)


def _found(path: str, line: str, options: EngineOptions) -> list[Finding]:
    return Engine(options).scan_chunk(Chunk(path, line + "\n"))


@pytest.mark.parametrize(("path", "line"), [
    ("tests/test_db.py", 'e = create_engine("postgresql://foo:bar@localhost/test")'),
    ("tests/test_db.py", "mysql_password = 'secret'"),
    ("test/orm/test_basic.py", "a.password = 'admin'"),
    ("tests/test_connect.py", 'db = connect(user="x", password="secured_password")'),
    ("tests/test_utils.py", "url = 'http://user:pass@complex.url.com/path?query=yes'"),
    ("tests/test_requests.py", '    auth = ("user", "pass")'),
    ("tests/models/test_url.py", '"password": "password",'),
    ("tests/models/whatwg.json", '    "password": "%F0%9F%92%A9",'),  # a low-entropy test vector
    ("pkg/detectors/phrase/phrase_test.go", '\t"github_secret": "abc123def4567890abcdef1234567890abcdef12"'),  # typed
    ("pkg/detectors/heroku/heroku_test.go", '\tsecret = "bAf8bA7d-7088-07ce-3f87-7ec21653297d"'),  # a UUID key
])
def test_a_stand_in_password_is_dropped_by_default_and_reported_when_asked(path: str, line: str) -> None:
    assert _found(path, line, EngineOptions()) == []
    assert _found(path, line, EngineOptions(min_confidence=Confidence.LOW)) == []
    found = _found(path, line, UNLIKELY)
    assert found, line
    assert all(f.confidence is Confidence.UNLIKELY for f in found)
    assert {f.label for f in found} <= {"placeholder", "low-entropy", "character-set", "uuid"}


@pytest.mark.parametrize(("path", "line"), [
    ("tests/test_db.py", 'p = {"password": "${DB_PASSWORD}"}'),  # a template
    ("tests/test_db.py", 'p = {"password": "{{ db_password }}"}'),
    ("tests/test_db.py", 'p = {"password": "changeme"}'),  # self-declared placeholders
    ("tests/test_db.py", 'p = {"password": "your-password-here"}'),
    ("tests/test_db.py", 'p = {"password": "xxxxxxxx"}'),
    ("tests/test_db.py", 'p = {"password": "<password>"}'),
    ("tests/settings.py", 'DATABASES = {"PASSWORD": "DB_PASSWORD"}'),  # an environment variable's name
    ("tests/config.yml", "password: null"),  # not a value of any kind
    ("tests/config.yml", "auth: basic"),
    ("tests/config.yml", "password: required"),
    ("tests/test_url.py", 'msg = "user:%s@%s" % (u, h)'),  # a format string
    ("tests/test_requests.py", "    httpbin_password = password"),  # code: a variable, an attribute
    ("test/orm/inheritance/basic.py", "        self.password = password"),
    ("examples/minitwit/test_minitwit.py", "        'password':     password,"),
    ("examples/flaskr/test_flaskr.py", "        password=password"),
    ("test/zblog/mappers.py", "    'crypt_password':tables.users.c.password,"),
    ("tests/test_api.py", 'client = Client(token="aaaaaaaa")'),  # low entropy, but not under a password name
    ("src/login.py", 'login(user="ann", password="aaaaaaaa")'),  # not test code
    ("tests/test_login.py", "login(user=ann, password=aaaaaaaa)"),  # not quoted: names
    ("pkg/util/chars_test.go", '\t_TOKEN_CHARS = "A-Za-z0-9_-"'),  # an alphabet, in a test too
    ("pkg/detectors/heroku/heroku_test.go", '\trequestID = "bAf8bA7d-7088-07ce-3f87-7ec21653297d"'),  # an id
    ("tests/test_payments.py", 'idempotency_key = "bAf8bA7d-7088-07ce-3f87-7ec21653297d"'),
    ("pkg/detectors/phrase/phrase.go", '\t"github_secret": "abc123def4567890abcdef1234567890abcdef12"'),  # not a test
    # Outside test code the same words show a syntax.
    ("doc/build/changelog/migration_21.rst", '    engine = create_engine("mssql+x://user:password@hostname/db")'),
    ("README.rst", "    docker run -e MYSQL_USER='scott' -e MYSQL_PASSWORD='secret' mysql"),
])
def test_what_is_no_value_at_all_is_not_reported_even_at_unlikely(path: str, line: str) -> None:
    assert _found(path, line, UNLIKELY) == []


def test_the_tier_only_adds_findings_below_the_default() -> None:
    """On the generated corpus, every default finding is found identically at `unlikely`, which adds nothing else
    there (it holds no stand-ins outside its decoys' templates)."""
    for case in fakes.corpus():
        text = "\n".join(case.lines) + "\n"
        default = Engine().scan_chunk(Chunk(case.path, text))
        wide = Engine(UNLIKELY).scan_chunk(Chunk(case.path, text))
        assert [f for f in wide if f.confidence is not Confidence.UNLIKELY] == default, case.path


def test_unlikely_end_to_end_in_text_json_sarif_and_a_cached_history(repo: GitRepo) -> None:
    token = fakes.github_pat()
    repo.commit("tests", {"tests/test_db.py": "mysql_password = 'secret'\n", "deploy/.env": f"GITHUB_TOKEN={token}\n"})
    # The default is unchanged: only the token.
    res = run_cli("scan", "--history", "--format", "json", cwd=repo.path)
    assert res.returncode == 1, res.stderr
    assert [f["rule_id"] for f in json.loads(res.stdout)["findings"]] == ["UL001"]
    # The history cache is per tier: the same repository, asked for unlikely, reports the stand-in too.
    res = run_cli("scan", "--history", "--format", "json", "--min-confidence", "unlikely", cwd=repo.path)
    doc = json.loads(res.stdout)
    got = {(f["path"], f["confidence"], f.get("label", "")) for f in doc["findings"]}
    assert got == {("deploy/.env", "high", ""), ("tests/test_db.py", "unlikely", "placeholder")}, got
    assert token not in res.stdout + res.stderr
    text = run_cli("scan", "--min-confidence", "unlikely", cwd=repo.path)
    assert "unlikely" in text.stdout and "[placeholder]" in text.stdout and "secret'" not in text.stdout
    sarif = json.loads(run_cli("scan", "--min-confidence", "unlikely", "--format", "sarif", cwd=repo.path).stdout)
    levels = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r["level"]
              for r in sarif["runs"][0]["results"]}
    assert levels == {"deploy/.env": "error", "tests/test_db.py": "note"}
    annotations = run_cli("scan", "--min-confidence", "unlikely", "--format", "github", cwd=repo.path).stdout
    assert any(a.startswith("::notice") and "tests/test_db.py" in a for a in annotations.splitlines()), annotations


def test_a_config_file_can_ask_for_the_tier(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_db.py").write_text("mysql_password = 'secret'\n")
    assert run_cli("scan", str(tmp_path), cwd=tmp_path).returncode == 0
    (tmp_path / ".unleak.toml").write_text('min-confidence = "unlikely"\n')
    res = run_cli("scan", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 1 and "unlikely" in res.stdout, res.stdout + res.stderr
    bad = run_cli("scan", "--min-confidence", "maybe", cwd=tmp_path)
    assert bad.returncode == 2 and "unlikely" in bad.stderr


def test_an_agent_can_ask_for_the_tier_over_mcp(repo: GitRepo) -> None:
    """The MCP `scan` tool takes the same tier; its answer names the label and never the value."""
    from tests.agent.redteam.runtools import mcp_calls

    repo.commit("tests", {"tests/test_db.py": "mysql_password = 'secret'\n"})
    default, wide = mcp_calls(repo.path, [("scan", {}), ("scan", {"min_confidence": "unlikely"})])
    assert default["findings"] == []
    assert [(f["path"], f["confidence"]) for f in wide["findings"]] == [("tests/test_db.py", "unlikely")]
    assert "'secret'" not in json.dumps(wide)
