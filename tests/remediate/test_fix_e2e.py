"""End to end, through the real CLI: a sample application with planted secrets is fixed, and keeps working.

Before: the scan finds every planted value and the app's own tests pass. After ``unleak fix --apply``: no planted
value is left anywhere in the tree, the scan is clean, the vault holds one entry per value, the app's tests pass
under ``unleak run``, and a second ``fix`` does nothing. Every channel the user reads is checked for the values.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.remediate.sample_app import write_sample_app

pytestmark = pytest.mark.usefixtures("human_runs")

APP_ENV = {"PYTHONDONTWRITEBYTECODE": "1"}  # no .pyc copies of the planted values in the tree


def _app_tests(cwd: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKEN", "SLACK_BOT_TOKEN", "DEBUG")}
    return subprocess.run([*prefix, sys.executable, "-m", "pytest", "-q", "tests"], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**env, **APP_ENV})


def _grep(root: Path, values: list[str]) -> subprocess.CompletedProcess[str]:
    """``grep -rlF`` for the values over the tree (not .git); patterns from a file, not grep's command line."""
    patterns = root.parent / "planted.txt"
    patterns.write_text("\n".join(values) + "\n")
    out = subprocess.run(["grep", "-rlF", "--exclude-dir=.git", "-f", str(patterns), "."], cwd=root,
                         capture_output=True, text=True)
    patterns.unlink()
    return subprocess.CompletedProcess(out.args, out.returncode, "\n".join(sorted(out.stdout.split())), out.stderr)


def _tree_text(root: Path) -> str:
    out = []
    for p in sorted(root.rglob("*")):
        if ".git" in p.relative_to(root).parts or not p.is_file():
            continue
        out.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


@pytest.mark.slow
def test_fix_sample_app_end_to_end(repo: GitRepo) -> None:
    planted = write_sample_app(repo.path)
    values = planted.values()

    # Before: the scan finds every planted value; the app works.
    before = run_cli("scan", "--format", "json", cwd=repo.path)
    assert before.returncode == 1, before.stderr
    assert json.loads(before.stdout)
    # N: the distinct values the scan finds (one value can match two rules, e.g. a password in a dict and a URL).
    from scanner.api import ScanRequest, scan
    from scanner.finding import Confidence

    findings = [f for f in scan(ScanRequest(root=repo.path)).findings if f.confidence.rank >= Confidence.MEDIUM.rank]
    found_values = {f.secret.reveal() for f in findings}
    assert found_values == set(values), "the scan must find exactly the planted values"
    n = len(found_values)
    ok = _app_tests(repo.path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert _grep(repo.path, values).stdout.split() == ["./.env", "./shopapp/client.py", "./shopapp/dotenv_config.py",
                                                       "./shopapp/settings.py"]

    # The plan and the patch, for review: nothing written yet, no value shown.
    review = run_cli("fix", cwd=repo.path)
    assert review.returncode == 1, review.stderr
    assert "[REDACTED:" in review.stdout and "--- a/shopapp/settings.py" in review.stdout
    as_json = run_cli("fix", "--json", cwd=repo.path)
    doc = json.loads(as_json.stdout)
    assert len(doc["plan"]["secrets"]) == n and doc["applied"] is False
    assert all(v in _tree_text(repo.path) for v in values)

    # Apply, and verify with the app's own tests under `unleak run`.
    applied = run_cli("fix", "--apply", "--verify", f"{sys.executable} -m pytest -q tests", cwd=repo.path,
                      env=APP_ENV)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "verify passed" in applied.stderr

    channels = [before.stdout, before.stderr, review.stdout, review.stderr, as_json.stdout, as_json.stderr,
                applied.stdout, applied.stderr]
    tree = _tree_text(repo.path)
    for v in values:
        assert v not in tree, "a planted value is still in the tree"
        assert all(v not in c for c in channels), "a planted value reached an output channel"

    # …and by grep, as a user would check.
    grep = _grep(repo.path, values)
    assert grep.returncode == 1 and grep.stdout == "", f"planted values found by grep in: {grep.stdout}"

    after = run_cli("scan", cwd=repo.path)
    assert after.returncode == 0, after.stdout
    names = run_cli("secrets", "list", "--json", cwd=repo.path)
    entries = json.loads(names.stdout)["secrets"]
    assert len(entries) == n
    # .env keeps its settings; its secrets' bindings became comments (a loader must not read references), their
    # references went to .env.unleak, which only `unleak run` reads.
    env_text = (repo.path / ".env").read_text()
    assert env_text.startswith("# local configuration\nDEBUG=1\n# SLACK_BOT_TOKEN: moved into the vault")
    assert "unleak://" not in env_text and "# API_TOKEN: moved" in env_text and "# the API token" in env_text
    refs_text = (repo.path / ".env.unleak").read_text()
    assert "SLACK_BOT_TOKEN=unleak://" in refs_text and "API_TOKEN=unleak://" in refs_text

    # The app: broken without its secrets, working under `unleak run`.
    bare = _app_tests(repo.path)
    assert bare.returncode != 0
    under_run = _app_tests(repo.path, sys.executable, "-m", "unleak", "run", "--")
    assert under_run.returncode == 0, under_run.stdout + under_run.stderr
    assert all(v not in under_run.stdout + under_run.stderr for v in values)

    # A second fix does nothing.
    again = run_cli("fix", cwd=repo.path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout == ""
    assert "nothing to fix" in again.stderr
    assert _tree_text(repo.path) == tree
