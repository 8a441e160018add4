"""Rotation comes first (issue 15, defect 4): a value that was committed is still leaked after it moves into the
vault. The plan and the result say, per secret, whether history holds it (since which commit, on which refs) and
where to revoke it, and point to `unleak exposure` / `unleak purge`."""

from __future__ import annotations

import json

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, stripe_live_key


def test_plan_says_which_moved_secrets_are_in_history_and_where_to_revoke(repo: GitRepo) -> None:
    committed, fresh = github_pat(), stripe_live_key()
    sha = repo.commit("config", {"app.py": f'GITHUB_TOKEN = "{committed}"\n'})
    repo.git("branch", "release")
    repo.write("billing.py", f'STRIPE_KEY = "{fresh}"\n')  # not committed yet

    out = run_cli("fix", "--json", cwd=repo.path)
    assert out.returncode == 1, out.stderr
    plan = json.loads(out.stdout)["plan"]
    hist = {s["name"]: s["history"] for s in plan["secrets"]}
    assert hist["GITHUB_TOKEN"]["committed"] is True
    assert sha.startswith(hist["GITHUB_TOKEN"]["first_commit"])
    assert set(hist["GITHUB_TOKEN"]["refs"]) >= {"main", "release"}
    assert "github.com" in hist["GITHUB_TOKEN"]["revoke"]
    assert hist["STRIPE_KEY"]["committed"] is False and "stripe" in hist["STRIPE_KEY"]["revoke"].lower()
    note = next(n for n in plan["notes"] if "git history" in n)
    assert "GITHUB_TOKEN" in note and "STRIPE_KEY" not in note
    assert "unleak exposure" in note and "unleak purge" in note

    text = run_cli("fix", cwd=repo.path)
    assert f"committed since {sha[:12]}" in text.stdout and "revoke:" in text.stdout
    assert committed not in text.stdout + text.stderr
