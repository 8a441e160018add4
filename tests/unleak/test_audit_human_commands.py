"""A human's scan, fix and run are in the audit log too (names only), and the chain still verifies."""

from __future__ import annotations

import json

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import password

pytestmark = pytest.mark.usefixtures("human_runs")


def test_scan_fix_run_are_audited_without_values(repo: GitRepo) -> None:
    pw = password(20)
    repo.commit("init", {".env": f"DB_PASSWORD={pw}\n"})
    assert run_cli("scan", cwd=repo.path).returncode == 1
    assert run_cli("fix", "--apply", cwd=repo.path).returncode == 0
    assert run_cli("run", "--", "python", "-c", "print(1)", cwd=repo.path).returncode == 0
    proc = run_cli("audit", "--json", cwd=repo.path)
    assert proc.returncode == 0, proc.stderr
    recs = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    actions = [r["action"] for r in recs]
    assert actions[:4] == ["scan", "fix", "run.start", "run.end"], actions
    assert recs[1]["secrets"] == ["DB_PASSWORD"] and recs[3]["result"] == "exit 0"
    assert recs[2]["process"]["argv"][:2] == ["python", "-c"]
    assert pw not in proc.stdout
    assert run_cli("audit", "verify", cwd=repo.path).returncode == 0
