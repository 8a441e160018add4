"""No copy of a moved value is left behind unmentioned (issue 15, defect 2).

The scanner flags places that look like secrets; the same value also sits in fallbacks (``read() or "…"``), test
files, notes and encoded blobs. After ``fix --apply`` every form of every moved value still in the tree must be a
manual step of the plan, and the patch shown for review must not show any of them, context lines included.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from scanner.forms import encoded_forms
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, url_password


def _left(root: Path, values: list[str]) -> set[tuple[str, int]]:
    """(path, line) of every form of every value still in a tracked or untracked-not-ignored file."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.split()
    forms = {form for v in values for form in encoded_forms(v)}
    out = set()
    for rel in files:
        for i, line in enumerate((root / rel).read_bytes().decode("latin-1").splitlines(), 1):
            if any(form in line for form in forms):
                out.add((rel, i))
    return out


def test_every_copy_of_a_moved_value_is_rewritten_or_listed(repo: GitRepo) -> None:
    token, key, redis_pw, hmac_key = github_pat(), url_password(32), url_password(24), url_password(28)
    repo.write("app/settings.py", "import os\n\n"
               f"SECRET_KEY = os.environ.get('SECRET_KEY') or '{key}'\n"
               f'GITHUB_TOKEN = "{token}"\n'
               f'CACHE_URL = f"redis://:{redis_pw}@{{os.environ.get(\'REDIS_HOST\', \'localhost\')}}:6379/0"\n'
               f'HMAC_KEY = b"{hmac_key}"\n'
               "DEBUG = False\n")
    # Copies in places no rule flags: a test's expected value, notes, an encoded blob, a JSON fixture.
    repo.write("tests/test_settings.py", f'EXPECTED = "{token}"\n\n\ndef test_it():\n    assert EXPECTED\n')
    repo.write("NOTES.md", f"staging uses {key} until the rotation\n")
    repo.write("deploy/secret.yaml", f"data:\n  blob: {base64.b64encode(token.encode()).decode()}\n")
    repo.write("fixtures/user.json", json.dumps({"note": f"cache at redis://:{redis_pw}@cache"}) + "\n")
    repo.commit("app")
    values = [token, key, redis_pw, hmac_key]

    plan = run_cli("fix", "--json", cwd=repo.path)
    assert plan.returncode == 1, plan.stderr
    payload = json.loads(plan.stdout)
    shown = plan.stdout + plan.stderr
    assert not any(form in shown for v in values for form in encoded_forms(v)), "a value shows in the plan"
    moved = {s["name"] for s in payload["plan"]["secrets"]}
    assert len(moved) == 4, moved

    applied = run_cli("fix", "--apply", cwd=repo.path)
    assert applied.returncode in (0, 1), applied.stderr
    assert not any(form in applied.stdout + applied.stderr for v in values for form in encoded_forms(v))
    listed = {(m["path"], m["line"]) for m in payload["plan"]["manual"]}
    left = _left(repo.path, values)
    assert left, "the notes, the encoded blob and the fixture keep their copies (they cannot be rewritten)"
    assert left <= listed, f"copies left without a manual step: {sorted(left - listed)}"
    settings = (repo.path / "app/settings.py").read_text()
    assert not any(v in settings for v in values)
    assert 'EXPECTED = os.environ["GITHUB_TOKEN"]' in (repo.path / "tests/test_settings.py").read_text()
