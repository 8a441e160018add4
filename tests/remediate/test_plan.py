"""Planning: names from targets, one name per value, collisions, manual steps, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable

import pytest

from remediate.codemods.sites import Site
from remediate.fix import plan_fix
from remediate.naming import choose_name, suggest_name, upper_snake
from remediate.plan_model import Plan
from remediate.vault import open_vault
from scanner.api import ScanRequest
from tests.conftest import GitRepo, run_cli
from tests.fakes import (
    github_pat,
    gitlab_pat,
    openai_key,
    password,
    sendgrid_key,
    slack_bot_token,
    stripe_live_key,
    stripe_restricted_key,
    stripe_webhook_secret,
)
from tests.fakes_op import FakeOp


@pytest.mark.parametrize(("text", "expected"), [
    ("apiKey", "API_KEY"), ("db-password", "DB_PASSWORD"), ("STRIPE_KEY", "STRIPE_KEY"), ("x.y z", "X_Y_Z"),
    ("3scale", "_3SCALE"), ("__", ""), ("dbPasswordV2", "DB_PASSWORD_V2"),
])
def test_upper_snake(text: str, expected: str) -> None:
    assert upper_snake(text) == expected


@pytest.mark.parametrize(("site", "expected"), [
    (Site(1, "assign", hint="STRIPE_KEY"), "STRIPE_KEY"),
    (Site(1, "assign", hint="password", scope="Database"), "DB_PASSWORD"),
    (Site(1, "assign", hint="password", scope="Mailer"), "MAILER_PASSWORD"),
    (Site(1, "keyword", hint="api_key", scope="OpenAI"), "OPENAI_API_KEY"),
    (Site(1, "keyword", hint="api_key", scope="StripeClient"), "STRIPE_API_KEY"),
    (Site(1, "keyword", hint="password", scope="connect"), "DB_PASSWORD"),
    (Site(1, "keyword", hint="password", scope="login"), "PASSWORD"),
    (Site(1, "keyword", hint="webhook_secret", scope="OpenAI"), "WEBHOOK_SECRET"),
    (Site(1, "dict", hint="password", scope="redis"), "REDIS_PASSWORD"),
    (Site(1, "partial", hint="password", scope="DATABASE_URL"), "DATABASE_PASSWORD"),
    (Site(1, "partial", hint=None, scope="SENTRY_DSN"), "SENTRY_SECRET"),
    (Site(1, "env-default", hint="db_pass", env_key="db_pass"), "db_pass"),
    (Site(1, "dotenv", hint="API_TOKEN", env_key="API_TOKEN"), "API_TOKEN"),
    (Site(1, "call-arg", scope="connect"), ""),
    (Site(1, "other", scope="get_api_token"), "API_TOKEN"),
    (Site(1, "other", scope="render"), ""),
    (Site(1, "assign", hint="api_key", scope="Settings"), "API_KEY"),
    (Site(1, "assign", hint="api_key", scope="BaseSettings"), "API_KEY"),
    (Site(1, "assign", hint="token", scope="SlackClient"), "SLACK_TOKEN"),
])
def test_suggest_name(site: Site, expected: str) -> None:
    assert suggest_name(site) == expected


# Seen on real-world code (bench/fix_realworld.py): the value's provider names it when the code only says
# "a secret" -- also when the finding's rule knows no provider (an Authorization header, a call argument) -- and a
# conventional one-word name gives way to the provider's unless the code spells it so (a TOKEN constant); Stripe's
# key kinds keep their own names.
@pytest.mark.parametrize(("sites", "rule_id", "make", "expected"), [
    ([Site(1, "partial", hint="token", scope="Authorization")], "UL225", github_pat, "GITHUB_TOKEN"),
    ([Site(1, "partial", hint="token", scope="Authorization")], "UL225", sendgrid_key, "SENDGRID_API_KEY"),
    ([Site(1, "assign", hint="PRIVATE_TOKEN"), Site(9, "assign", hint="token")], "UL005",
     gitlab_pat, "GITLAB_TOKEN"),
    ([Site(1, "assign", hint="token")], "UL001", github_pat, "GITHUB_TOKEN"),
    ([Site(1, "assign", hint="TOKEN")], "UL001", github_pat, "TOKEN"),  # a constant the code spells so: kept
    ([Site(1, "call-arg", scope="StripeClient")], "UL020", stripe_restricted_key, "STRIPE_RESTRICTED_KEY"),
    ([Site(1, "assign", hint="STRIPE_WEBHOOK_SECRET")], "UL022", stripe_webhook_secret, "STRIPE_WEBHOOK_SECRET"),
    # a name that says whose credential it is still wins; conventional names stay where no provider is known
    ([Site(1, "assign", hint="PAYMENTS_KEY")], "UL020", stripe_live_key, "PAYMENTS_KEY"),
    ([Site(1, "assign", hint="PASSWORD")], "UL900", password, "PASSWORD"),
    ([Site(1, "dict", hint="SECRET_KEY", scope="config")], "UL231", lambda: "Q" + password(39), "SECRET_KEY"),
])
def test_choose_name(sites: list[Site], rule_id: str, make: Callable[[], str], expected: str) -> None:
    assert choose_name(sites, rule_id, make()) == expected


def _plan(repo: GitRepo) -> Plan:
    vault = open_vault(namespace="app", repo_path=repo.path)
    plan, _ = plan_fix(ScanRequest(root=repo.path), vault)
    return plan


def test_same_value_in_several_places_is_one_entry_named_by_the_env_key(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write(".env", f"GITHUB_TOKEN={tok}\n")
    repo.write("app/settings.py", f'GH = "{tok}"\nclient = Github(token="{tok}")\n')
    plan = _plan(repo)
    assert [s.name for s in plan.secrets] == ["GITHUB_TOKEN"]
    assert sorted((p.path, p.kind) for p in plan.secrets[0].places) == [
        (".env", "dotenv"), ("app/settings.py", "assign"), ("app/settings.py", "keyword")]
    after = {c.path: c.after for c in plan.changes}
    assert 'GH = os.environ["GITHUB_TOKEN"]' in after["app/settings.py"]
    assert tok not in "".join(after.values())


def test_different_values_never_share_a_name(repo: GitRepo) -> None:
    a, b = stripe_live_key(), stripe_live_key()
    repo.write("one.py", f'STRIPE_KEY = "{a}"\n')
    repo.write("two.py", f'STRIPE_KEY = "{b}"\n')
    plan = _plan(repo)
    names = sorted(s.name for s in plan.secrets)
    assert names == ["STRIPE_KEY", "STRIPE_KEY_2"]


def test_name_taken_in_the_vault_by_another_value_is_not_reused(repo: GitRepo) -> None:
    vault = open_vault(namespace="app", repo_path=repo.path)
    vault.put("STRIPE_KEY", stripe_live_key())
    same = stripe_live_key()
    vault.put("OTHER", same)
    repo.write("one.py", f'STRIPE_KEY = "{stripe_live_key()}"\nOTHER = "{same}"\n')
    plan = _plan(repo)
    got = {s.name: s.in_vault for s in plan.secrets}
    assert got == {"STRIPE_KEY_2": False, "OTHER": True}


def test_unsupported_files_become_manual_steps_never_silence(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write("config/app.yaml", f"github:\n  token: {tok}\n")
    repo.write("blob.py", f'KEY = b"{tok}\\n"\n')
    plan = _plan(repo)
    manual = sorted((m.path, m.line) for m in plan.manual)
    assert manual == [("blob.py", 1), ("config/app.yaml", 2)]
    assert plan.changes == []
    assert all(tok not in str(m.to_dict()) for m in plan.manual)


def test_env_default_secret_found_by_name_and_reference_file_entry(repo: GitRepo) -> None:
    pw = password(20)
    repo.write("db.py", f'import os\nPW = os.getenv("DB_PASSWORD", "{pw}")\nPORT = os.getenv("PORT", "5432")\n')
    plan = _plan(repo)
    assert [s.name for s in plan.secrets] == ["DB_PASSWORD"]
    ref = next(c for c in plan.changes if c.reference_file)
    assert ref.path == ".env.unleak" and ref.before is None
    assert "DB_PASSWORD=unleak://app/DB_PASSWORD" in ref.after
    code = next(c for c in plan.changes if c.path == "db.py")
    assert 'PW = os.environ["DB_PASSWORD"]' in code.after and 'os.getenv("PORT", "5432")' in code.after


def test_conflicting_env_default_is_manual(repo: GitRepo) -> None:
    env_value, default = password(20), password(20)
    repo.write(".env", f"DB_PASSWORD={env_value}\n")
    repo.write("db.py", f'import os\nPW = os.getenv("DB_PASSWORD", "{default}")\n')
    plan = _plan(repo)
    assert [m.path for m in plan.manual] == ["db.py"]
    assert "DB_PASSWORD is already defined with another value at .env:1, which this fix moves too" in \
        plan.manual[0].reason


def test_planning_writes_nothing(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write("a.py", f'T = "{tok}"\n')
    _plan(repo)
    assert (repo.path / "a.py").read_text() == f'T = "{tok}"\n'
    assert not (repo.path / ".env.unleak").exists()
    assert open_vault(namespace="app", repo_path=repo.path).names() == []


def test_code_name_avoids_a_reference_file_key_holding_something_else(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write(".env", "DEPLOY_TOKEN=not-a-secret\n")
    repo.write("a.py", f'DEPLOY_TOKEN = "{tok}"\n')
    plan = _plan(repo)
    assert [s.name for s in plan.secrets] == ["DEPLOY_TOKEN_2"]
    ref = next(c for c in plan.changes if c.reference_file)
    assert ref.path == ".env.unleak" and "DEPLOY_TOKEN_2=unleak://app/DEPLOY_TOKEN_2" in ref.after
    # The .env key is the program's own setting: not a reference file's to change.
    assert ".env" not in {c.path for c in plan.changes}


def test_remediate_imports_neither_unleak_nor_click() -> None:
    import subprocess
    import sys

    code = ("import sys, remediate.fix, remediate.plan, remediate.patch, remediate.dotenv, remediate.configfiles, "
            "remediate.codemods; bad = [m for m in sys.modules if m.split('.')[0] in ('unleak', 'click')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_known_secret_as_default_of_a_plainly_named_variable(repo: GitRepo) -> None:
    key = stripe_live_key()
    repo.write("pay.py", f'import os\nKEY = os.getenv("STRIPE", "{key}")\nK2 = os.getenv(name, "{key}")\n')
    plan = _plan(repo)
    assert [(s.name, [p.kind for p in s.places]) for s in plan.secrets] == [
        ("STRIPE", ["env-default"])]
    assert [(m.path, m.line) for m in plan.manual] == [("pay.py", 3)]
    code = next(c for c in plan.changes if c.path == "pay.py")
    assert 'KEY = os.environ["STRIPE"]' in code.after


def test_ignored_reference_file_holding_a_moved_value_gets_the_reference(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write(".gitignore", ".env.unleak\n")
    repo.write(".env.unleak", f"DEBUG=1\nGH={tok}\n")  # not scanned (ignored), but it is the reference file
    repo.write("a.py", f'DEPLOY_TOKEN = "{tok}"\n')
    plan = _plan(repo)
    ref = next(c for c in plan.changes if c.reference_file)
    assert ref.after == "DEBUG=1\nGH=unleak://app/DEPLOY_TOKEN\n\n" + \
        "# Secret references written by `unleak fix`: safe to commit; `unleak run` resolves them.\n" + \
        "DEPLOY_TOKEN=unleak://app/DEPLOY_TOKEN\n"
    assert any(".env.unleak is ignored by git" in n for n in plan.notes)


def test_an_ignored_dotenv_holding_a_moved_value_loses_it_to_the_reference_file(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write(".gitignore", ".env\n")
    repo.write(".env", f"DEBUG=1\nGH={tok}\n")  # not scanned (ignored); the program's loader reads it
    repo.write("a.py", f'DEPLOY_TOKEN = "{tok}"\n')
    plan = _plan(repo)
    env = next(c for c in plan.changes if c.path == ".env")
    assert env.after == "DEBUG=1\n# GH: moved into the vault by `unleak fix`; its reference is in .env.unleak\n"
    ref = plan.changes[-1]
    assert ref.path == ".env.unleak" and ref.reference_file
    assert "GH=unleak://app/DEPLOY_TOKEN\n" in ref.after and "DEPLOY_TOKEN=unleak://app/DEPLOY_TOKEN\n" in ref.after


def test_references_left_in_dotenv_move_to_the_reference_file(repo: GitRepo) -> None:
    """References written into .env before .env.unleak existed: a loader would set them as values."""
    repo.write(".env", "DEBUG=1\nexport OLD=unleak://app/OLD\nQUOTED='unleak://app/Q'\n")
    plan = _plan(repo)
    assert [c.path for c in plan.changes] == [".env", ".env.unleak"]
    env, ref = plan.changes
    assert "unleak://" not in env.after and env.after.startswith("DEBUG=1\n# OLD: moved")
    assert "OLD=unleak://app/OLD\n" in ref.after and "QUOTED=unleak://app/Q\n" in ref.after


def test_a_mode_dotenv_gets_a_reference_file_of_its_own(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write(".env.production", f"# prod\nGH_TOKEN={tok}\nDEBUG=0\n")
    plan = _plan(repo)
    assert [c.path for c in plan.changes] == [".env.production", ".env.production.unleak"]
    prod, ref = plan.changes
    assert prod.after == ("# prod\n# GH_TOKEN: moved into the vault by `unleak fix`; its reference is in "
                          ".env.production.unleak\nDEBUG=0\n")
    assert ref.reference_file and ref.after.endswith("GH_TOKEN=unleak://app/GH_TOKEN\n")
    assert any("unleak run --env-file .env.production.unleak" in n for n in plan.notes)


def test_a_reference_file_that_loaders_read_is_named_in_a_note(repo: GitRepo) -> None:
    repo.write("a.py", f'DEPLOY_TOKEN = "{github_pat()}"\n')
    plan, _ = plan_fix(ScanRequest(root=repo.path), open_vault(namespace="app", repo_path=repo.path),
                       reference_file=".env")
    assert plan.changes[-1].path == ".env"
    assert any(".env is read by dotenv loaders" in n for n in plan.notes)


def test_a_provider_value_nothing_names_takes_the_rule_variable_name(repo: GitRepo) -> None:
    """A provider rule declares the variable its service documents; a value passed bare gets that name."""
    from tests.fakes import from_shape

    repo.write("deploy.py", f'import netlify\nnetlify.deploy("{from_shape("nfp_{b62:36}")}")\n')
    plan = _plan(repo)
    assert [s.name for s in plan.secrets] == ["NETLIFY_AUTH_TOKEN"]
    assert plan.secrets[0].rule_ids == ["UL354"]


def test_settings_field_keeps_the_variable_its_class_reads(repo: GitRepo) -> None:
    key = stripe_live_key()
    repo.write("app/config.py", "from pydantic_settings import BaseSettings, SettingsConfigDict\n\n\n"
               "class Settings(BaseSettings):\n    model_config = SettingsConfigDict(env_prefix='SHOP_')\n"
               f"    stripe_api_key: str = '{key}'\n")
    plan = _plan(repo)
    assert [s.name for s in plan.secrets] == ["SHOP_STRIPE_API_KEY"]
    assert plan.reference_entries == {"SHOP_STRIPE_API_KEY": "unleak://app/SHOP_STRIPE_API_KEY"}
    code = next(c for c in plan.changes if c.path == "app/config.py")
    assert "    stripe_api_key: str\n" in code.after and key not in code.after


def test_a_secret_inside_a_settings_field_default_moves_the_whole_value(repo: GitRepo) -> None:
    """Splitting the URL would read os.environ in the class body (failing at import); the field reads its variable
    itself once its default is gone, as pydantic-settings intends."""
    from tests.fakes import url_password

    pw = url_password()
    url = f"postgresql://app:{pw}@db.internal:5432/shop"
    repo.write("app/config.py", "from pydantic_settings import BaseSettings\n\n\n"
               f"class Settings(BaseSettings):\n    database_url: str = '{url}'\n    debug: bool = False\n")
    plan = _plan(repo)
    assert [(s.name, s.value) for s in plan.secrets] == [("DATABASE_URL", url)]
    assert plan.manual == []
    code = next(c for c in plan.changes if c.path == "app/config.py")
    assert code.after.endswith("    database_url: str\n    debug: bool = False\n") and "environ" not in code.after


@pytest.mark.parametrize(("code", "make", "expected"), [
    ('X = "{v}"\n', stripe_live_key, "STRIPE_SECRET_KEY"),
    ('API_KEY = "{v}"\n', stripe_live_key, "STRIPE_SECRET_KEY"),
    ('KEY = "{v}"\n', github_pat, "GITHUB_TOKEN"),
    ('TOKEN_3 = "{v}"\n', github_pat, "GITHUB_TOKEN"),
    ('_2 = "{v}"\n', github_pat, "GITHUB_TOKEN"),
    ('client = WebClient(token="{v}")\n', slack_bot_token, "SLACK_BOT_TOKEN"),
    ('client = OpenAI(api_key="{v}")\n', openai_key, "OPENAI_API_KEY"),
    ('openai.api_key = "{v}"\n', openai_key, "OPENAI_API_KEY"),
    ('DATABASES = {{"default": {{"ENGINE": "x", "PASSWORD": "{v}"}}}}\n', password, "DATABASE_PASSWORD"),
    # The code's own name wins when it says whose credential it is, and a variable the code reads is kept.
    ('STRIPE_KEY = "{v}"\n', stripe_live_key, "STRIPE_KEY"),
    ('import os\nK = os.getenv("PAYMENTS_KEY", "{v}")\n', stripe_live_key, "PAYMENTS_KEY"),
])
def test_names_a_reviewer_accepts(repo: GitRepo, code: str, make: Callable[[], str], expected: str) -> None:
    repo.write("app.py", code.format(v=make()))
    assert [s.name for s in _plan(repo).secrets] == [expected]


def test_user_renames_from_flag_and_config(repo: GitRepo) -> None:
    repo.write("app.py", f'X = "{stripe_live_key()}"\nT = "{github_pat()}"\n')
    repo.write(".unleak.toml", '[fix.names]\nSTRIPE_SECRET_KEY = "PAYMENTS_STRIPE_KEY"\n')
    repo.commit("app")
    out = run_cli("fix", "--json", "--name", "GITHUB_TOKEN=CI_GITHUB_TOKEN", cwd=repo.path)
    assert out.returncode == 1, out.stderr
    names = sorted(s["name"] for s in json.loads(out.stdout)["plan"]["secrets"])
    assert names == ["CI_GITHUB_TOKEN", "PAYMENTS_STRIPE_KEY"]
    bad = run_cli("fix", "--name", "GITHUB_TOKEN", cwd=repo.path)
    assert bad.returncode == 2 and "OLD=NEW" in bad.stderr


def test_a_suffixed_name_the_plan_shows_can_be_renamed(repo: GitRepo) -> None:
    """Renames are given by the names the plan shows, which may carry a suffix (DEPLOY_TOKEN_2)."""
    repo.write(".env", "DEPLOY_TOKEN=not-a-secret\n")
    repo.write("a.py", f'DEPLOY_TOKEN = "{github_pat()}"\n')
    assert [s.name for s in _plan(repo).secrets] == ["DEPLOY_TOKEN_2"]
    plan, _ = plan_fix(ScanRequest(root=repo.path), open_vault(namespace="app", repo_path=repo.path),
                       names={"DEPLOY_TOKEN_2": "CI_DEPLOY_TOKEN"})
    assert [s.name for s in plan.secrets] == ["CI_DEPLOY_TOKEN"]


def test_foreign_1password_item_title_is_avoided_at_plan_time(repo: GitRepo, fake_op: FakeOp) -> None:
    """An item titled like the planned name that unleak did not create would fail at apply: planning avoids it."""
    subprocess.run(["op", "item", "create", "--vault", "dev", "--title", "GITHUB_TOKEN", "--category", "LOGIN"],
                   check=True, capture_output=True, env={**os.environ, **fake_op.env()})
    repo.write("app.py", f'T = "{github_pat()}"\n')
    vault = open_vault("op", namespace="app", repo_path=repo.path, op_vault="dev")
    plan, _ = plan_fix(ScanRequest(root=repo.path), vault)
    assert [s.name for s in plan.secrets] == ["GITHUB_TOKEN_2"]


def test_findings_below_the_confidence_asked_for_are_named_one_by_one(repo: GitRepo) -> None:
    """Left alone is never left unmentioned: each place is in the note (the first ten) and in --json."""
    import random

    for i in range(12):
        # Every hex digit twice, shuffled: an entropy of 4 bits a character. A plain token_hex(16) falls under
        # detect-secrets' hex limit (3.0) about once in 8,000 draws, and that place then has no finding at all.
        key = "".join(random.sample("0123456789abcdef" * 2, 32))
        repo.write(f"conf/c{i:02d}.json", f'{{\n  "pagerduty": {{"routing_key": "{key}"}}\n}}\n')
    r = run_cli("fix", "--json", cwd=repo.path)
    plan = json.loads(r.stdout)["plan"]
    assert [(x["path"], x["line"], x["confidence"]) for x in plan["left_alone"]] == [
        (f"conf/c{i:02d}.json", 2, "low") for i in range(12)]
    note = next(n for n in plan["notes"] if "below medium confidence left alone" in n)
    assert "conf/c09.json:2" in note and "conf/c10.json" not in note and "and 2 more" in note


def test_a_conflict_names_the_file_that_defines_the_variable(repo: GitRepo) -> None:
    repo.write(".env.unleak", "DB_PASSWORD=unleak://app/SOMETHING_ELSE\n")
    repo.write("db.py", f'import os\nPW = os.getenv("DB_PASSWORD", "{password(20)}")\n')
    plan = _plan(repo)
    assert [m.path for m in plan.manual] == ["db.py"]
    assert "DB_PASSWORD is already defined with another value in .env.unleak:" in plan.manual[0].reason
