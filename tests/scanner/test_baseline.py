"""Baselines: content-keyed, stable, detect-secrets import, stale entries, malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.baseline import load
from scanner.errors import ConfigError
from scanner.finding import sha1_hex
from tests.conftest import GitRepo, run_cli
from tests.fakes import aws_access_key_id, github_pat


def test_create_then_scan_is_clean_and_new_secret_fails(repo: GitRepo) -> None:
    s1 = github_pat()
    repo.commit("a", {"a.py": f"A = '{s1}'\n"})
    proc = run_cli("baseline", "create", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    text = (repo.path / ".unleak-baseline.json").read_text()
    assert s1 not in text and "line" not in text and "generated" not in text
    assert run_cli("scan", cwd=repo.path).returncode == 0
    repo.write("b.py", f"B = '{github_pat()}'\n")
    proc = run_cli("scan", cwd=repo.path)
    assert proc.returncode == 1 and "b.py" in proc.stdout and "a.py" not in proc.stdout
    assert "1 in baseline" in proc.stdout


def test_baseline_survives_moved_lines_and_does_not_churn(repo: GitRepo) -> None:
    s1 = github_pat()
    repo.commit("a", {"a.py": f"A = '{s1}'\n"})
    run_cli("baseline", "create", cwd=repo.path)
    before = (repo.path / ".unleak-baseline.json").read_bytes()
    repo.write("a.py", f"# comment\n\n\nA = '{s1}'\n")
    assert run_cli("scan", cwd=repo.path).returncode == 0
    assert run_cli("baseline", "update", cwd=repo.path).returncode == 0
    assert (repo.path / ".unleak-baseline.json").read_bytes() == before


def test_stale_entries_are_reported_and_dropped(repo: GitRepo) -> None:
    repo.commit("a", {"a.py": f"A = '{github_pat()}'\n", "b.py": f"B = '{github_pat()}'\n"})
    run_cli("baseline", "create", cwd=repo.path)
    repo.write("b.py", "B = None\n")
    audit = run_cli("baseline", "audit", "--json", cwd=repo.path)
    rows = json.loads(audit.stdout)
    assert {r["path"]: r["present"] for r in rows} == {"a.py": True, "b.py": False}
    assert audit.returncode == 1
    proc = run_cli("baseline", "update", cwd=repo.path)
    assert "1 stale removed" in proc.stderr
    assert [e["path"] for e in json.loads((repo.path / ".unleak-baseline.json").read_text())["entries"]] == ["a.py"]


def test_audit_marks_status(repo: GitRepo) -> None:
    repo.commit("a", {"a.py": f"A = '{github_pat()}'\n"})
    run_cli("baseline", "create", cwd=repo.path)
    fp = json.loads((repo.path / ".unleak-baseline.json").read_text())["entries"][0]["fingerprint"]
    proc = run_cli("baseline", "audit", "--mark", f"{fp[:8]}=false-positive", cwd=repo.path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((repo.path / ".unleak-baseline.json").read_text())["entries"][0]["status"] == "false-positive"


def test_detect_secrets_baseline_is_honoured(repo: GitRepo) -> None:
    s1, s2 = aws_access_key_id(), github_pat()
    repo.commit("a", {"cfg.txt": f"{s1}\n{s2}\n"})
    ds = {
        "version": "1.5.0", "plugins_used": [{"name": "AWSKeyDetector"}], "filters_used": [],
        "results": {"cfg.txt": [{"type": "AWS Access Key", "filename": "cfg.txt", "hashed_secret": sha1_hex(s1),
                                 "is_verified": False, "line_number": 1}]},
        "generated_at": "2024-01-01T00:00:00Z",
    }
    (repo.path / ".secrets.baseline").write_text(json.dumps(ds))
    proc = run_cli("scan", "--baseline", ".secrets.baseline", "--format", "json", cwd=repo.path)
    doc = json.loads(proc.stdout)
    assert [f["rule_id"] for f in doc["findings"]] == ["UL001"] and doc["baselined"] == 1
    # and it migrates into an unleak baseline without re-auditing
    assert run_cli("baseline", "create", "--from-detect-secrets", ".secrets.baseline", cwd=repo.path).returncode == 0
    b = load(repo.path / ".unleak-baseline.json")
    assert len(b.imported) == 1 and len(b.entries) == 2


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "top level must be a JSON object"),
        ('{"version": 7, "entries": []}', "unsupported 'version'"),
        ('{"version": 1, "entries": [{"path": "a"}]}', "'rule_id' must be a non-empty string"),
        ('{"version": 1, "entries": [{"path": "a", "rule_id": "UL001", "fingerprint": "x", "status": "meh"}]}',
         "'status' must be one of"),
    ],
)
def test_malformed_baseline_exits_2_naming_the_problem(repo: GitRepo, content: str, needle: str) -> None:
    repo.commit("a", {"a.py": "x = 1\n"})
    (repo.path / "b.json").write_text(content)
    proc = run_cli("scan", "--baseline", "b.json", cwd=repo.path)
    assert proc.returncode == 2
    assert needle in proc.stderr and "b.json" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(ConfigError):
        load(repo.path / "b.json")


def test_missing_baseline_file(tmp_path: Path) -> None:
    proc = run_cli("scan", "--baseline", "nope.json", cwd=tmp_path)
    assert proc.returncode == 2 and "does not exist" in proc.stderr


def test_baseline_in_a_new_directory(repo: GitRepo) -> None:
    repo.commit("a", {"a.py": f"A = '{github_pat()}'\n"})
    proc = run_cli("baseline", "create", "--file", "ci/known.json", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    assert run_cli("scan", "--baseline", "ci/known.json", cwd=repo.path).returncode == 0
