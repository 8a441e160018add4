"""Planning beyond Python: notebooks, JavaScript/TypeScript and workflows go to their codemods; the plan says how to
create the Actions secrets a workflow now reads; manual steps name the variable to use. No value in the plan."""

from __future__ import annotations

import json
import sys

import pytest

from remediate.codemods import javascript
from remediate.fix import plan_fix
from remediate.plan_model import Plan
from remediate.vault import open_vault
from scanner.api import ScanRequest
from tests.conftest import GitRepo
from tests.fakes import github_pat, password, stripe_live_key, url_password


def _plan(repo: GitRepo) -> Plan:
    plan, _ = plan_fix(ScanRequest(root=repo.path), open_vault(namespace="langs", repo_path=repo.path))
    return plan


def _no_value(plan: Plan, *values: str) -> None:
    text = json.dumps(plan.to_dict()) + repr(plan)
    assert all(v not in text for v in values)


def test_workflow_plan_prints_the_gh_secret_set_step(repo: GitRepo) -> None:
    pw = password()
    repo.write(".github/workflows/ci.yml", f"on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    env:\n"
               f"      DB_PASSWORD: {pw}\n    steps:\n      - run: ./test\n")
    plan = _plan(repo)
    [secret] = plan.secrets
    assert secret.name == "DB_PASSWORD" and [p.kind for p in secret.places] == ["workflow"]
    change = next(c for c in plan.changes if c.path == ".github/workflows/ci.yml")
    assert "DB_PASSWORD: ${{ secrets.DB_PASSWORD }}\n" in change.after
    [note] = [n for n in plan.notes if "gh secret set" in n]
    assert "`gh secret set DB_PASSWORD`" in note and "${{ secrets.DB_PASSWORD }}" in note
    _no_value(plan, pw)


def test_typescript_and_notebook_share_one_name_per_value(repo: GitRepo) -> None:
    key = stripe_live_key()
    repo.write("src/pay.ts", f'export const STRIPE_SECRET_KEY = "{key}";\n')
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": "a", "metadata": {}, "outputs": [],
                     "source": ["import stripe\n", f'STRIPE_SECRET_KEY = "{key}"']}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    repo.write("explore.ipynb", json.dumps(nb, indent=1) + "\n")
    plan = _plan(repo)
    assert [s.name for s in plan.secrets] == ["STRIPE_SECRET_KEY"]
    after = {c.path: c.after for c in plan.changes}
    assert after["src/pay.ts"] == "export const STRIPE_SECRET_KEY = process.env.STRIPE_SECRET_KEY!;\n"
    assert 'STRIPE_SECRET_KEY = os.environ[\\"STRIPE_SECRET_KEY\\"]' in after["explore.ipynb"]
    assert "STRIPE_SECRET_KEY=" in after[plan.reference_file]
    _no_value(plan, key)


def test_without_the_grammar_the_manual_step_names_the_variable(repo: GitRepo,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tree_sitter_javascript", None)
    javascript._parser.cache_clear()
    try:
        tok = github_pat()
        repo.write("index.js", f'const ghToken = "{tok}";\n')
        plan = _plan(repo)
    finally:
        javascript._parser.cache_clear()
    assert plan.secrets == [] and plan.changes == []
    [step] = plan.manual
    assert step.path == "index.js" and step.line == 1
    assert "unleak secrets set GH_TOKEN" in step.reason and "process.env.GH_TOKEN by hand" in step.reason


def test_other_config_files_name_the_variable_in_the_manual_step(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write("config/settings.json", json.dumps({"github": {"token": tok}}) + "\n")
    repo.write("deploy.go", f'package main\n\nconst apiToken = "{tok}"\n')
    plan = _plan(repo)
    reasons = {m.path: m.reason for m in plan.manual}
    assert "{NAME}" not in "".join(reasons.values())
    assert "unleak secrets set " in reasons["config/settings.json"]
    assert 'os.Getenv("' in reasons["deploy.go"] and "read it with os.Getenv(\"NAME\")" not in reasons["deploy.go"]
    _no_value(plan, tok)


def test_config_file_manual_steps_name_the_variable_by_its_key(repo: GitRepo) -> None:
    """A value in a YAML/JSON file read verbatim is a manual step whose variable is named by the key and the block
    it sits in (smtp.password -> SMTP_PASSWORD; the password of queue.url -> QUEUE_PASSWORD), never a bare SECRET
    that two different values would share."""
    smtp, mq, db = password(), url_password(), password()
    repo.write("config/app.yaml", f"queue:\n  url: amqp://worker:{mq}@mq.internal:5672/jobs\nsmtp:\n"
               f'  host: smtp.internal\n  password: "{smtp}"\n')
    repo.write("config/db.json", json.dumps({"reporting": {"host": "db", "db_password": db}}, indent=2) + "\n")
    plan = _plan(repo)
    reasons = {(m.path, m.line): m.reason for m in plan.manual}
    assert "unleak secrets set QUEUE_PASSWORD" in reasons[("config/app.yaml", 2)]
    assert "unleak secrets set SMTP_PASSWORD" in reasons[("config/app.yaml", 5)]
    assert "unleak secrets set DB_PASSWORD" in reasons[("config/db.json", 4)]
    _no_value(plan, smtp, mq, db)
