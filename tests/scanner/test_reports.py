"""Report formats: SARIF validates against the official schema; no format carries a value."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from scanner.api import ScanRequest, scan
from scanner.report import render
from tests import fakes as f
from tests.conftest import GitRepo, run_cli
from tests.fakes import aws_access_key_id, github_pat

SCHEMA = Path(__file__).resolve().parents[1] / "data" / "schemas" / "sarif-schema-2.1.0.json"


@pytest.fixture
def leaky(repo: GitRepo) -> tuple[GitRepo, list[str]]:
    secrets = [github_pat(), aws_access_key_id(), github_pat()]
    repo.commit("one", {"src/app.py": f"TOKEN = '{secrets[0]}'\n", "conf/x.ini": f"[a]\nid = {secrets[1]}\n"})
    repo.commit("two", {"src/other.py": f"\n\nT2 = '{secrets[2]}'\n"})
    return repo, secrets


@pytest.mark.parametrize("mode", ["files", "history"])
def test_sarif_validates_against_the_official_schema(leaky: tuple[GitRepo, list[str]], mode: str) -> None:
    repo, secrets = leaky
    res = scan(ScanRequest(root=repo.path, modes=(mode,)))
    doc = json.loads(render("sarif", res, root=str(repo.path)))
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(doc, schema)
    run = doc["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"UL001", "UL010"}
    assert len(run["results"]) == 3
    for r in run["results"]:
        assert r["partialFingerprints"]["unleakFingerprint/v1"]
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        if mode == "history":
            assert len(r["properties"]["commit"]["sha"]) == 40
    text = json.dumps(doc)
    assert not any(s in text for s in secrets)


def test_github_annotations_point_at_exact_lines(leaky: tuple[GitRepo, list[str]]) -> None:
    repo, secrets = leaky
    proc = run_cli("scan", "--format", "github", cwd=repo.path)
    assert proc.returncode == 1
    lines = [x for x in proc.stdout.splitlines() if x.startswith("::")]
    assert sorted(lines)[0].startswith("::error file=conf/x.ini,line=2,col=6,endColumn=26,title=UL010 ")
    assert any(x.startswith("::error file=src/other.py,line=3,col=7,") for x in lines)
    assert not any(s in proc.stdout + proc.stderr for s in secrets)


def test_github_escapes_hostile_paths(repo: GitRepo) -> None:
    repo.commit("x", {"we,ird:name%.txt": f"{github_pat()}\n"})
    proc = run_cli("scan", "--format", "github", cwd=repo.path)
    assert "file=we%2Cird%3Aname%25.txt,line=1" in proc.stdout


def test_github_annotations_carry_no_control_character_from_a_path_or_an_author(repo: GitRepo) -> None:
    """A file name or a commit author holding ESC or BEL (written by whoever controls the repository) must not
    reach the CI log raw, where it would drive the log viewer; a line break must not start a new workflow
    command."""
    repo.write("a\x1b[31mred\x07.py", f"TOKEN = '{github_pat()}'\n")
    repo.write("b\nc.py", f"T = '{github_pat()}'\n")
    repo.git("add", "-A")
    repo.git("-c", "user.name=x", "commit", "-q", "-m", "x", "--author", "Eve\x1b[8m <eve@example.com>")
    assert "\x1b" in repo.git("log", "-1", "--format=%an")
    for args in (("scan", "--format", "github"), ("scan", "--history", "--format", "github")):
        out = run_cli(*args, cwd=repo.path).stdout
        lines = out.splitlines()
        assert sum(x.startswith("::") for x in lines) == 2, out
        assert not any(ch != "\n" and not ch.isprintable() for ch in out), repr(out)
        assert "file=a?[31mred?.py" in out
    assert "by Eve?[8m;" in out


def test_text_groups_by_file_with_summary(leaky: tuple[GitRepo, list[str]]) -> None:
    repo, secrets = leaky
    proc = run_cli("scan", cwd=repo.path)
    out = proc.stdout
    assert out.index("conf/x.ini") < out.index("src/app.py") < out.index("src/other.py")
    assert "3 secrets in 3 files (3 high)" in out
    assert "\x1b[" not in out  # not a TTY: no colour
    assert not any(s in out for s in secrets)


def test_json_and_output_file(leaky: tuple[GitRepo, list[str]], tmp_path: Path) -> None:
    repo, secrets = leaky
    out = tmp_path / "report.json"
    proc = run_cli("scan", "--history", "--format", "json", "--output", str(out), cwd=repo.path)
    assert proc.returncode == 1
    assert proc.stdout == ""
    doc = json.loads(out.read_text())
    assert {(f["path"], f["line"], f["rule_id"]) for f in doc["findings"]} == {
        ("src/app.py", 1, "UL001"), ("conf/x.ini", 2, "UL010"), ("src/other.py", 3, "UL001")}
    f0 = doc["findings"][0]
    assert set(f0) >= {"rule_id", "title", "confidence", "path", "line", "column", "end_column", "fingerprint",
                       "preview", "commit"}
    assert not any(s in out.read_text() + proc.stderr for s in secrets)


def test_fingerprint_depends_only_on_rule_and_secret(repo: GitRepo) -> None:
    s = github_pat()
    repo.commit("a", {"a.py": f"X = '{s}'\n"})
    first = scan(ScanRequest(root=repo.path)).findings[0]
    repo.git("mv", "a.py", "b.py")
    repo.commit("moved", {"b.py": f"# moved down\n\n\nX = '{s}'\n"})
    moved = scan(ScanRequest(root=repo.path)).findings[0]
    assert (moved.path, moved.line) == ("b.py", 4)
    assert moved.fingerprint == first.fingerprint
    assert "<redacted>" in repr(moved.secret) and s not in repr(moved) and s not in str(moved.to_dict())


def test_text_report_groups_one_secret_found_in_many_places(tmp_path: Path) -> None:
    """One demo password in many places is one entry with a count, first and last place; --no-group lists each."""
    for i in range(4):
        (tmp_path / f"app{i}.py").write_text(f'engine = create_engine("oracle://scott:tiger@db{i}/x")\n')
    (tmp_path / "other.env").write_text(f"DB_PASSWORD={f.password()}\n")
    grouped = run_cli("scan", cwd=tmp_path).stdout
    assert "4 places in 4 files; first app0.py:1, last app3.py:1" in grouped
    assert "[demo-credential]" in grouped and "other.env" in grouped
    assert grouped.count("UL220") == 1 and "tiger" not in grouped
    listed = run_cli("scan", "--no-group", cwd=tmp_path).stdout
    assert listed.count("UL220") == 4 and "places in" not in listed
