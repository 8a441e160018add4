"""--explain in history mode: each dropped candidate names its commit, and the scan cache answers it too."""

from __future__ import annotations

from pathlib import Path

from scanner.api import ScanRequest, scan
from tests.conftest import GitRepo, run_cli


def _explained(root: Path) -> tuple[list[tuple[str, str, int, str, str]], list[str]]:
    res = scan(ScanRequest(root=root, modes=("history",), explain=True, workers=1))
    return sorted((e.rule_id, e.path, e.line, e.filter, e.commit) for e in res.explanations), res.notes


def test_history_explain_names_the_commit_and_uses_the_cache(repo: GitRepo) -> None:
    first = repo.commit("config", {"config.yaml": "db:\n  password: changeme\n"})
    second = repo.commit("more", {"settings.py": 'API_TOKEN = "${API_TOKEN}"\n'})
    # A plain history scan fills the cache without reasons; --explain reads those commits again and keeps them.
    scan(ScanRequest(root=repo.path, modes=("history",), workers=1))
    got, _ = _explained(repo.path)
    assert ("UL900", "config.yaml", 2, "placeholder", first) in got
    assert any(e[1] == "settings.py" and e[4] == second for e in got)
    again, notes = _explained(repo.path)
    assert again == got
    assert any("read from the cache" in n for n in notes)
    out = run_cli("scan", "--history", "--explain", cwd=repo.path).stdout
    assert f"config.yaml:2 (commit {first[:10]})  placeholder" in out
