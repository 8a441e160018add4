"""Functional test on the generated corpus: the exact set of (path, line, rule) unleak reports.

The corpus (tests/fakes.py ``corpus()``) has fake secrets for every rule and format and hard negatives (vendor
examples, env reads, type annotations, placeholders, references, lockfile hashes, public keys, UI strings…).
Values are generated at test time, so nothing in the repository looks like a live credential.
"""

from __future__ import annotations

import json
from pathlib import Path

from scanner.api import ScanRequest, scan
from scanner.rules import all_rules
from tests.conftest import GitRepo, run_cli
from tests.fakes import Case, corpus


def _write(root: Path, cases: list[Case]) -> None:
    for case in cases:
        p = root / case.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(case.text, encoding="utf-8")


def _expected(cases: list[Case]) -> set[tuple[str, int, str]]:
    return {(c.path, line, rule) for c in cases for line, rule in c.expected}


def test_corpus_exact_findings(tmp_path: Path) -> None:
    cases = corpus()
    _write(tmp_path, cases)
    res = scan(ScanRequest(root=tmp_path))
    got = {(x.path, x.line, x.rule_id) for x in res.findings}
    expected = _expected(cases)
    assert got - expected == set(), "false positives"
    assert expected - got == set(), "missed secrets"


def test_corpus_covers_every_rule_and_has_decoys() -> None:
    cases = corpus()
    covered = {rule for c in cases for _, rule in c.expected}
    # detect-secrets' rules only fire where unleak has no rule of its own; they are covered in test_rules.py.
    assert covered >= {r for r in all_rules() if not r.startswith("UL95")}
    assert sum(1 for c in cases if c.format == "decoy") >= 15


def test_corpus_via_cli_history_after_deletion(repo: GitRepo) -> None:
    """Secrets committed and then deleted are still found by --history, at the lines they had; the report never
    carries a value."""
    cases = corpus()[:25]
    _write(repo.path, cases)
    repo.commit("add config")
    for case in cases:
        (repo.path / case.path).unlink()
    repo.commit("remove config")
    proc = run_cli("scan", "--history", "--format", "json", cwd=repo.path)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    got = {(x["path"], x["line"], x["rule_id"]) for x in doc["findings"]}
    assert got == _expected(cases)
    text = proc.stdout + proc.stderr
    for case in cases:
        for line, _ in case.expected:
            value_line = case.lines[line - 1]
            # The longest token on the line is the secret (or contains it): it must not appear in the report.
            longest = max(value_line.replace('"', " ").replace("'", " ").split(), key=len)
            assert longest not in text or len(longest) < 12


def test_corpus_demo_credential_is_rated_as_such(tmp_path: Path) -> None:
    cases = [c for c in corpus() if c.format == "demo"]
    _write(tmp_path, cases)
    res = scan(ScanRequest(root=tmp_path))
    assert [(x.rule_id, x.confidence.value, x.label) for x in res.findings] == [("UL220", "low", "demo-credential")]
