"""Bare and mirror clones (a server-side repository, a CI cache): history, range, exposure and purge-plan read
history only, so they work without a work tree; the scan cache lives under the git directory."""

from __future__ import annotations

import json
from pathlib import Path

from scanner.api import ScanRequest, scan
from scanner.exposure.analysis import analyze
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, stripe_live_key


def _mirror(repo: GitRepo, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo.commit("one", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    base = repo.git("rev-parse", "HEAD")
    repo.commit("two", {"pay.py": f"KEY = '{stripe_live_key()}'\n"})
    repo.commit("three", {"app.py": "import os\nTOKEN = os.environ['TOKEN']\n"})
    mirror = tmp_path / "mirror.git"
    repo.git("clone", "-q", "--mirror", str(repo.path), str(mirror))
    return mirror, {"base": base}


def _keys(findings: list) -> set[tuple[str, str, str, str | None]]:  # type: ignore[type-arg]
    return {(f.path, f.rule_id, f.fingerprint, f.commit.sha if f.commit else None) for f in findings}


def test_history_and_range_in_a_mirror_clone_equal_the_working_clone(repo: GitRepo, tmp_path: Path) -> None:
    mirror, revs = _mirror(repo, tmp_path)
    healthy = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    bare = scan(ScanRequest(root=mirror, modes=("history",)))
    assert len(healthy.findings) == 2 and _keys(bare.findings) == _keys(healthy.findings)
    assert (mirror / "unleak" / "scan-cache").is_dir()  # the cache goes under the git directory
    again = scan(ScanRequest(root=mirror, modes=("history",)))
    assert _keys(again.findings) == _keys(healthy.findings)
    ranged = scan(ScanRequest(root=mirror, modes=("range",), range=f"{revs['base']}..main"))
    assert {f.rule_id for f in ranged.findings} == {f.rule_id for f in healthy.findings} - {"UL001"}


def test_cli_history_exposure_and_purge_plan_in_a_bare_repository(repo: GitRepo, tmp_path: Path) -> None:
    mirror, _ = _mirror(repo, tmp_path)
    proc = run_cli("scan", "--history", "--format", "json", cwd=mirror)
    assert proc.returncode == 1, proc.stderr
    assert len(json.loads(proc.stdout)["findings"]) == 2
    proc = run_cli("exposure", "--json", "-C", str(mirror))
    assert proc.returncode == 1, proc.stderr
    assert len(json.loads(proc.stdout)["exposures"]) == 2
    report = analyze(mirror)
    assert {e.in_head for e in report.exposures} == {False, True}
    proc = run_cli("purge-plan", "-C", str(mirror))
    assert proc.returncode in (0, 1), proc.stderr
    assert (mirror / "unleak" / "purge-replacements.txt").is_file()
    assert "mirror.git.git" not in proc.stdout + proc.stderr


def test_commands_that_need_a_work_tree_say_so_in_a_bare_repository(repo: GitRepo, tmp_path: Path) -> None:
    mirror, _ = _mirror(repo, tmp_path)
    proc = run_cli("purge", "--execute", cwd=mirror)
    assert proc.returncode == 2
    assert "bare repository" in proc.stderr and "Traceback" not in proc.stderr
