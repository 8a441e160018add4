"""Order and safety of ``fix`` (invariant 2) and what it prints (invariant 1).

Failures are injected at each step — a vault that reads back a different value, a file write that fails half-way,
a confirmation scan that still finds the value — and every time the files must be exactly as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from remediate.fix import FixError, apply_fix, plan_fix
from remediate.plan_model import Plan
from remediate.vault import SecretEntry, Vault, default_namespace, open_vault
from scanner.api import ScanRequest
from scanner.fileio import atomic_write_bytes
from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat, password, stripe_live_key


def _write_app(repo: GitRepo) -> dict[str, str]:
    vals = {"stripe": stripe_live_key(), "gh": github_pat(), "pw": password(20)}
    repo.write("app/settings.py", f'STRIPE_KEY = "{vals["stripe"]}"\n')
    repo.write("app/client.py", f'import os\nc = Github(token="{vals["gh"]}")\n'
                                f'pw = os.getenv("DB_PASSWORD", "{vals["pw"]}")\n')
    repo.write(".env", "# config\nDEBUG=1\n")
    return vals


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def _plan(repo: GitRepo, vault: Vault) -> Plan:
    plan, _ = plan_fix(ScanRequest(root=repo.path), vault)
    return plan


class ReadsBackWrong:
    """A vault whose read-back returns something else than what was stored (a failing disk, say)."""

    def __init__(self, inner: Vault) -> None:
        self.inner = inner
        self.scheme = inner.scheme
        self.namespace = inner.namespace

    def reference_for(self, name: str) -> str:
        return self.inner.reference_for(name)

    def put(self, name: str, value: str, *, overwrite: bool = True) -> str:
        return self.inner.put(name, value, overwrite=overwrite)

    def get(self, reference: str) -> str:
        return self.inner.get(reference) + "-corrupted"

    def names(self) -> list[SecretEntry]:
        return self.inner.names()

    def delete(self, name: str) -> None:
        self.inner.delete(name)


def test_apply_happy_path_then_second_run_does_nothing(repo: GitRepo) -> None:
    vals = _write_app(repo)
    vault = open_vault(namespace="app", repo_path=repo.path)
    plan = _plan(repo, vault)
    result = apply_fix(plan, vault)
    assert result.confirmed
    assert result.written[-1] == ".env.unleak"  # the reference file last
    assert sorted(e.name for e in vault.names()) == ["DB_PASSWORD", "GITHUB_TOKEN", "STRIPE_KEY"]
    for name, key in (("STRIPE_KEY", "stripe"), ("GITHUB_TOKEN", "gh"), ("DB_PASSWORD", "pw")):
        assert vault.get(vault.reference_for(name)) == vals[key]
    snap = _snapshot(repo.path)
    assert not any(v.encode() in b for v in vals.values() for b in snap.values())
    again = _plan(repo, vault)
    assert again.empty and not again.manual
    assert _snapshot(repo.path) == snap


def test_read_back_mismatch_changes_no_file_and_removes_new_entries(repo: GitRepo) -> None:
    _write_app(repo)
    inner = open_vault(namespace="app", repo_path=repo.path)
    before = _snapshot(repo.path)
    bad = ReadsBackWrong(inner)
    plan = _plan(repo, bad)
    with pytest.raises(FixError, match=r"did not read back equal.*No file was changed") as exc:
        apply_fix(plan, bad)
    assert _snapshot(repo.path) == before
    assert inner.names() == []
    assert all(s.value not in str(exc.value) for s in plan.secrets)


@pytest.mark.parametrize(("failure", "raised", "match"), [
    (PermissionError(13, "Permission denied"), FixError, "no file had been written yet, nothing changed"),
    (KeyboardInterrupt(), KeyboardInterrupt, None),  # Ctrl-C: nothing was replaced and the interrupt propagates
], ids=["write-error", "interrupt"])
def test_failure_half_way_through_the_staged_writes_changes_nothing(repo: GitRepo, failure: BaseException,
                                                                 raised: type[BaseException], match: str | None
                                                                 ) -> None:
    _write_app(repo)
    vault = open_vault(namespace="app", repo_path=repo.path)
    before = _snapshot(repo.path)
    plan = _plan(repo, vault)
    assert len(plan.changes) == 3
    writes: list[str] = []

    def fail_second(path: Path, data: bytes) -> None:
        writes.append(path.name)
        if len(writes) == 2:
            raise failure
        atomic_write_bytes(path, data)

    with pytest.raises(raised, match=match):
        apply_fix(plan, vault, write=fail_second)
    assert _snapshot(repo.path) == before
    assert vault.names() == []


@pytest.mark.parametrize(("failing_check", "match"), [
    # the staged contents are checked before any file is replaced
    (1, r"reference file \.env\.unleak would still hold.*no file had been written yet, nothing changed"),
    # the files re-read after the renames: all three are put back
    (2, r"after writing, a moved value is still found in \.env\.unleak; the 3 file\(s\) already written were restored, "
        r"nothing changed"),
], ids=["staged", "written"])
def test_confirmation_failure_restores_files(repo: GitRepo, failing_check: int, match: str) -> None:
    _write_app(repo)
    vault = open_vault(namespace="app", repo_path=repo.path)
    before = _snapshot(repo.path)
    plan = _plan(repo, vault)
    seen: list[str] = []

    def still_there(plan: Plan, path: str, text: str) -> bool:
        seen.append(path)
        return path != ".env.unleak" or seen.count(".env.unleak") != failing_check

    with pytest.raises(FixError, match=match):
        apply_fix(plan, vault, confirm=still_there)
    assert _snapshot(repo.path) == before
    assert vault.names() == []
    assert not list((repo.path / ".git" / "unleak").iterdir())


def test_file_changed_since_plan_is_refused(repo: GitRepo) -> None:
    _write_app(repo)
    vault = open_vault(namespace="app", repo_path=repo.path)
    plan = _plan(repo, vault)
    repo.write("app/settings.py", "# edited meanwhile\n")
    with pytest.raises(FixError, match="changed since the plan"):
        apply_fix(plan, vault)
    assert vault.names() == []


# ------------------------------------------------------------------------------------------------ the CLI


def _all_files_text(root: Path) -> str:
    return "\n".join(b.decode("utf-8", "replace") for b in _snapshot(root).values())


def test_canary_never_leaves_through_fix_output(repo: GitRepo, canary: str) -> None:
    pw = password(22)
    left = github_pat()  # in a bytes literal: a manual step, on a context line of the patch
    repo.write("svc.py", f'TOKEN = "{canary}"\nURL = "https://x.test/?access_token={canary}"\n'
                         f'# old token {canary}\nRAW = b"{left}\\n"\nDB = {{"password": "{pw}"}}\n')
    repo.write(".env", f"GITHUB_TOKEN={canary}\n")
    repo.write("deploy/values.yaml", f"github:\n  token: {canary}\n")
    outputs: list[str] = []
    for args in (("fix",), ("fix", "--json"), ("fix", "--apply"), ("fix",), ("fix", "--json", "--apply")):
        r = run_cli(*args, cwd=repo.path)
        outputs += [r.stdout, r.stderr]
        assert r.returncode in (0, 1), r.stderr
    for out in outputs:
        assert canary not in out and pw not in out and left not in out
    assert "[REDACTED:GITHUB_TOKEN]" in outputs[0]
    doc = json.loads(outputs[2])
    assert canary not in json.dumps(doc)
    assert "[REDACTED:" in doc["patch"]
    # Files written by fix hold no value; the YAML file is a manual step, still listed on the second run.
    for rel in ("svc.py", ".env"):
        assert canary not in (repo.path / rel).read_text() and pw not in (repo.path / rel).read_text()
    assert "manual step: deploy/values.yaml:2" in outputs[6] and "svc.py:6  UL001" in outputs[6]
    assert left in (repo.path / "svc.py").read_text()  # left for the manual step, not half-fixed
    assert "in the vault as GITHUB_TOKEN after this fix" in outputs[0]
    assert "<unleak:GITHUB_TOKEN>" in (repo.path / "svc.py").read_text()


@pytest.mark.usefixtures("human_runs")
def test_verify_reports_the_commands_result(repo: GitRepo) -> None:
    tok = github_pat()
    repo.write("a.py", f'import os\nDEPLOY_TOKEN = "{tok}"\n')
    check = ('python -c "import os,hashlib,sys; '
             f"sys.exit(0 if hashlib.sha256(os.environ['DEPLOY_TOKEN'].encode()).hexdigest()=='{_sha(tok)}' else 7)\"")
    ok = run_cli("fix", "--apply", "--verify", check, cwd=repo.path)
    assert ok.returncode == 0, ok.stderr
    assert "verify passed" in ok.stderr and tok not in ok.stderr + ok.stdout
    repo.write("b.py", f'import os\nSECOND_TOKEN = "{github_pat()}"\n')  # something to move, so verify runs
    bad = run_cli("fix", "--apply", "--json", "--verify", "exit 5", cwd=repo.path)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["verify"] == {"command": "exit 5", "exit_code": 5, "passed": False}


def _sha(v: str) -> str:
    import hashlib

    return hashlib.sha256(v.encode()).hexdigest()


@pytest.mark.parametrize(("args", "code", "message"), [
    (("fix", "--verify", "true"), 2, "add --apply"),
    (("fix", "--env-file", "/elsewhere/.env"), 2, "must be inside"),
    (("fix", "--backend", "op", "--apply"), 2, "1Password CLI"),
    (("fix", "/"), 2, "is outside"),
    (("fix", "no/such/file.py"), 2, "no such file"),
])
def test_bad_usage_is_a_clear_error_and_changes_nothing(repo: GitRepo, args: tuple[str, ...], code: int,
                                                         message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no `op` on PATH
    tok = github_pat()
    repo.write("a.py", f'DEPLOY_TOKEN = "{tok}"\n')
    before = _snapshot(repo.path)
    r = run_cli(*args, cwd=repo.path)
    assert r.returncode == code, r.stdout + r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr and tok not in r.stderr + r.stdout
    assert _snapshot(repo.path) == before


def test_symlinked_reference_file_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    tok = github_pat()
    repo.write("a.py", f'DEPLOY_TOKEN = "{tok}"\n')
    real = tmp_path / "shared.env"
    real.write_text("X=1\n")
    (repo.path / ".env.unleak").symlink_to(real)
    r = run_cli("fix", "--apply", cwd=repo.path)
    assert r.returncode == 2 and "symbolic link" in r.stderr
    assert (repo.path / ".env.unleak").is_symlink() and real.read_text() == "X=1\n"
    assert tok in (repo.path / "a.py").read_text()


def test_fix_moves_a_named_dotenv_that_git_ignores(repo: GitRepo) -> None:
    # the local .env git ignores is where a developer's values sit, and what an agent in the project can read:
    # `unleak fix .env` moves them, as `unleak scan .env` reports them; `unleak fix` alone keeps git's view
    tok = github_pat()
    repo.commit("init", {".gitignore": ".env\n", "README.md": "x\n"})
    repo.write(".env", f"DEBUG=1\nGH_TOKEN={tok}\n")
    whole = run_cli("fix", cwd=repo.path)
    assert whole.returncode == 0 and "nothing to fix" in whole.stdout + whole.stderr
    r = run_cli("fix", ".env", "--apply", cwd=repo.path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert tok not in r.stdout + r.stderr
    assert (repo.path / ".env").read_text() == \
        "DEBUG=1\n# GH_TOKEN: moved into the vault by `unleak fix`; its reference is in .env.unleak\n"
    assert "GH_TOKEN=unleak://" in (repo.path / ".env.unleak").read_text()
    listed = run_cli("secrets", "list", cwd=repo.path)
    assert "GH_TOKEN" in listed.stdout and tok not in listed.stdout + listed.stderr


def test_json_shape(repo: GitRepo) -> None:
    repo.write("a.py", f'DEPLOY_TOKEN = "{github_pat()}"\n')
    r = run_cli("fix", "--json", cwd=repo.path)
    doc: dict[str, Any] = json.loads(r.stdout)
    assert set(doc) == {"plan", "patch", "applied", "uncommitted"}
    assert [s["name"] for s in doc["plan"]["secrets"]] == ["DEPLOY_TOKEN"]
    assert doc["plan"]["files"] == [{"path": "a.py", "created": False, "reference_file": False},
                                    {"path": ".env.unleak", "created": True, "reference_file": True}]
    ns = default_namespace(repo.path)  # the repository's own (registered at the first write)
    assert doc["plan"]["reference_entries"] == {"DEPLOY_TOKEN": f"unleak://{ns}/DEPLOY_TOKEN"}


def test_one_unparsable_file_does_not_stop_the_others(repo: GitRepo) -> None:
    good, bad = github_pat(), github_pat()
    repo.write("good.py", f'DEPLOY_TOKEN = "{good}"\n')
    repo.write("bad.py", f'DEPLOY_TOKEN = "{bad}"\ndef broken(:\n')
    vault = open_vault(namespace="app", repo_path=repo.path)
    plan = _plan(repo, vault)
    assert [(m.path, "syntax error" in m.reason) for m in plan.manual] == [("bad.py", True)]
    assert [c.path for c in plan.changes] == ["good.py", ".env.unleak"]
    apply_fix(plan, vault)
    assert good not in (repo.path / "good.py").read_text()
    assert bad in (repo.path / "bad.py").read_text()  # untouched, and listed as a manual step


def test_fix_with_1password_backend_keeps_values_off_argv(repo: GitRepo, fake_op: Any) -> None:
    tok = github_pat()
    repo.write("a.py", f'import os\nGH_TOKEN = "{tok}"\n')
    r = run_cli("fix", "--apply", "--backend", "op", "--op-vault", "dev", cwd=repo.path)
    assert r.returncode == 0, r.stderr
    assert (repo.path / ".env.unleak").read_text().endswith("GH_TOKEN=op://dev/GH_TOKEN/credential\n")
    assert 'GH_TOKEN = os.environ["GH_TOKEN"]' in (repo.path / "a.py").read_text()
    assert all(tok not in "\0".join(argv) for argv in fake_op.argvs())
    assert tok not in r.stdout + r.stderr


def test_outside_git_the_directory_is_the_project(tmp_path: Path) -> None:
    work = tmp_path / "plain"
    work.mkdir()
    tok = github_pat()
    (work / "app.py").write_text(f'DEPLOY_TOKEN = "{tok}"\n')
    r = run_cli("fix", "--apply", cwd=work)
    assert r.returncode == 0, r.stderr
    assert (work / "app.py").read_text() == 'import os\n\nDEPLOY_TOKEN = os.environ["DEPLOY_TOKEN"]\n'
    assert (work / ".env.unleak").read_text().endswith(
        f"DEPLOY_TOKEN=unleak://{default_namespace(work)}/DEPLOY_TOKEN\n")
    again = run_cli("fix", cwd=work)
    assert again.returncode == 0 and again.stdout == ""


def test_bad_input_files_are_manual_steps_or_fixed_never_a_crash(repo: GitRepo) -> None:
    latin, big = github_pat(), github_pat()
    (repo.path / "latin.py").write_bytes(b"# caf\xe9\nTOKEN = \"" + latin.encode() + b"\"\n")
    repo.write("big.py", f'T = "{big}"\n# ' + "a" * 1_000_000 + "\n")
    (repo.path / "blob.bin").write_bytes(b"\x00\x01" + latin.encode() + b"\x00")
    r = run_cli("fix", "--apply", cwd=repo.path)
    assert r.returncode == 1, r.stderr  # applied, one manual step left
    assert "manual step: latin.py:2" in r.stdout and "UTF-8" in r.stdout
    assert big not in (repo.path / "big.py").read_text()
    assert "Traceback" not in r.stderr and latin not in r.stdout + r.stderr


def test_paths_limit_the_fix(repo: GitRepo) -> None:
    a, b = github_pat(), github_pat()
    repo.write("src/a.py", f'A_TOKEN = "{a}"\n')
    repo.write("other/b.py", f'B_TOKEN = "{b}"\n')
    r = run_cli("fix", "src", "--apply", cwd=repo.path)
    assert r.returncode == 0, r.stderr
    assert a not in (repo.path / "src/a.py").read_text()
    assert (repo.path / "other/b.py").read_text() == f'B_TOKEN = "{b}"\n'
    rest = run_cli("fix", "--json", cwd=repo.path)
    assert [s["name"] for s in json.loads(rest.stdout)["plan"]["secrets"]] == ["B_TOKEN"]


@pytest.mark.usefixtures("human_runs")
def test_without_unleak_run_a_dotenv_program_misses_the_variable_instead_of_reading_a_reference(
        repo: GitRepo) -> None:
    """The program loads .env itself (python-dotenv); after the fix, started bare it must fail on a missing variable,
    never run with a reference string as its secret; under `unleak run` it gets the value."""
    import subprocess
    import sys

    tok = github_pat()
    repo.write(".env", f"DEBUG=1\nGH_TOKEN={tok}\n")
    repo.write("app.py", "import hashlib, os\nfrom dotenv import load_dotenv\nload_dotenv()\n"
                         "print(os.environ['DEBUG'], hashlib.sha256(os.environ['GH_TOKEN'].encode()).hexdigest())\n")
    repo.commit("init")
    r = run_cli("fix", "--apply", cwd=repo.path)
    assert r.returncode == 0, r.stderr
    assert "unleak://" not in (repo.path / ".env").read_text() and tok not in (repo.path / ".env").read_text()
    bare = subprocess.run([sys.executable, "app.py"], cwd=repo.path, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "DEBUG")})
    assert bare.returncode != 0 and "KeyError: 'GH_TOKEN'" in bare.stderr
    under = run_cli("run", "--", sys.executable, "app.py", cwd=repo.path)
    assert under.returncode == 0, under.stderr
    assert under.stdout.split() == ["1", _sha(tok)]
