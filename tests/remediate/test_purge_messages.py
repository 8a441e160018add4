"""A secret that only a commit message, an annotated tag's message or a git note holds: history scans report it
(with a message source), exposure lists it, and purge replaces it and proves the result. Real git, real
git-filter-repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from remediate import purge
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat

needs_filter_repo = pytest.mark.skipif(purge.find_filter_repo() is None, reason="git-filter-repo not installed")


def _story(repo: GitRepo) -> dict[str, str]:
    values = {"commit": github_pat(), "tag": github_pat()}
    repo.commit("init", {"app.py": "print('hello')\n"})
    repo.commit(f"debugging the deploy\n\nused token {values['commit']} for the run\n",
                {"app.py": "print('hello, world')\n"})
    repo.git("tag", "-a", "v1", "-m", f"release v1\n\nsigned off with {values['tag']}\n")
    repo.commit("more", {"README": "docs\n"})
    return values


def _all_objects(repo: Path) -> bytes:
    ids = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"], cwd=repo,
                         capture_output=True, check=True).stdout
    return subprocess.run(["git", "cat-file", "--batch"], cwd=repo, input=ids, capture_output=True,
                          check=True).stdout


def test_history_scan_reports_secrets_in_commit_and_tag_messages(repo: GitRepo) -> None:
    values = _story(repo)
    proc = run_cli("scan", "--history", "--format", "json", cwd=repo.path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    by_source = {f["source"]: f for f in findings}
    assert {"commit-message", "tag-message"} <= set(by_source), findings
    assert by_source["commit-message"]["path"] == "COMMIT_EDITMSG"
    assert by_source["commit-message"]["commit"]["sha"] == repo.git("rev-parse", "HEAD~1")
    assert by_source["tag-message"]["commit"]["sha"] == repo.git("rev-parse", "v1")
    for v in values.values():
        assert v not in proc.stdout + proc.stderr
    exposure = json.loads(run_cli("exposure", "--json", cwd=repo.path).stdout)
    assert len(exposure["exposures"]) == 2
    assert all(e["paths"] in (["COMMIT_EDITMSG"], ["TAG_EDITMSG"]) for e in exposure["exposures"])


@needs_filter_repo
def test_purge_replaces_secrets_only_in_messages(repo: GitRepo, tmp_path: Path) -> None:
    values = _story(repo)
    proc = run_cli("purge", "--execute", "--workdir", str(tmp_path / "work"), cwd=repo.path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "PROOF FAILED" not in out
    mirror = tmp_path / "work" / "repo.git"
    data = _all_objects(mirror)
    assert all(v.encode() not in data for v in values.values())
    assert b"UNLEAK-REDACTED-" in data
    for v in values.values():
        assert v not in out


@needs_filter_repo
def test_purge_proof_holds_with_git_notes(repo: GitRepo, tmp_path: Path) -> None:
    """A note holding the value is rewritten with the rest, and a note holding none does not fail the proof."""
    value = github_pat()
    repo.commit("init", {"config.py": f'TOKEN = "{value}"\n'})
    repo.git("notes", "add", "-m", "reviewed: fine")
    repo.commit("drop token", {"config.py": "import os\nTOKEN = os.environ['TOKEN']\n"})
    repo.git("notes", "add", "-m", f"the old token was {value}")
    proc = run_cli("purge", "--execute", "--workdir", str(tmp_path / "work"), cwd=repo.path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "PROOF FAILED" not in out
    mirror = tmp_path / "work" / "repo.git"
    assert value.encode() not in _all_objects(mirror)
    assert value not in out
