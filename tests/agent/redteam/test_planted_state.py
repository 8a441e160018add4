"""Red team: what the agent plants in the repository (symbolic links under ``.git/unleak`` and in the work tree, a
``.git`` file, git config naming programs, custom rules, ``${VAR}`` in reference files, FIFOs where unleak reads)
must not make unleak — the MCP server, or the human's own commands — write, delete or read anything outside the
repository, run a program with access to the vault, answer with a value, or hang. Each test is the attack; each
failed on the code before it."""

from __future__ import annotations

import ast
import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import GitRepo, make_repo, run_cli
from tests.fakes import github_pat

pytest.importorskip("mcp")

from tests.agent.redteam.runtools import mcp_calls


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A directory of the user's outside the repository."""
    d = tmp_path / "home-of-user"
    for sub in ("projects/app", "Documents"):
        (d / sub).mkdir(parents=True)
        (d / sub / "important.txt").write_text("precious\n")
    (d / ".bashrc").write_text("# the user's shell start-up\n")
    return d


def _history(repo: GitRepo) -> None:
    repo.commit("one", {"README.md": "hello\n"})
    repo.commit("two", {"b.txt": "two\n"})


@pytest.mark.parametrize("link", [".git/unleak", ".git/unleak/scan-cache", ".git/unleak/exposure-cache"])
def test_a_linked_state_directory_is_not_written_through(repo: GitRepo, victim: Path, link: str) -> None:
    """The scan cache pruned "other keys" (every directory) wherever .git/unleak/scan-cache pointed, and the
    caches were written into whatever directory a link named."""
    _history(repo)
    repo.commit("leak", {"c.py": f'TOKEN = "{github_pat()}"\n'})
    (repo.path / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, repo.path / link)
    before = _tree(victim)
    assert run_cli("scan", "--history", cwd=repo.path).returncode == 1
    assert run_cli("exposure", cwd=repo.path).returncode == 1
    mcp_calls(repo.path, [("scan", {"mode": "range", "range": "HEAD~2..HEAD"})])
    assert _tree(victim) == before and sorted(p.name for p in victim.iterdir()) == [".bashrc", "Documents",
                                                                                       "projects"]


def test_a_linked_cache_file_is_not_appended_to(repo: GitRepo, victim: Path) -> None:
    """A link in place of the scan cache's file: each scan appended a line (with a path the agent chose) to the
    user's ~/.bashrc."""
    _history(repo)
    assert run_cli("scan", "--history", cwd=repo.path).returncode in (0, 1)
    (commits,) = (repo.path / ".git" / "unleak" / "scan-cache").glob("*/commits")
    commits.unlink()
    os.symlink(victim / ".bashrc", commits)
    repo.commit("three", {"$(touch PWNED).py": f'TOKEN = "{github_pat()}"\n'})
    before = (victim / ".bashrc").read_text()
    assert run_cli("scan", "--history", cwd=repo.path).returncode == 1
    assert (victim / ".bashrc").read_text() == before


@pytest.mark.parametrize("name", ["verify-cache.json", "purge-replacements.txt"])
def test_a_linked_state_file_is_replaced_not_written_through(repo: GitRepo, victim: Path, name: str) -> None:
    from scanner.fileio import state_dir, write_state_file

    _history(repo)
    home = state_dir(repo.path / ".git", "unleak")
    assert home is not None
    os.symlink(victim / ".bashrc", home / name)
    write_state_file(home / name, b"secret-bearing state\n")
    assert (victim / ".bashrc").read_text() == "# the user's shell start-up\n"
    assert not (home / name).is_symlink() and (home / name).stat().st_mode & 0o077 == 0


def test_a_directory_turned_into_a_link_is_neither_scanned_nor_rewritten(repo: GitRepo, tmp_path: Path) -> None:
    """``sub/settings.py`` is committed, then ``sub`` becomes a link to another project: git still lists the file,
    and scan reported the other project's token while fix rewrote the other project's file."""
    other = tmp_path / "other-project"
    other.mkdir()
    theirs = f'GITHUB_TOKEN = "{github_pat()}"\n'
    (other / "settings.py").write_text(theirs)
    repo.commit("init", {"sub/settings.py": "DEBUG = True\n", "README.md": "x\n"})
    import shutil

    shutil.rmtree(repo.path / "sub")
    os.symlink(other, repo.path / "sub")
    scan = json.loads(run_cli("scan", "--format", "json", cwd=repo.path).stdout)
    assert not [f for f in scan["findings"] if f["path"].startswith("sub/")]
    run_cli("fix", "--apply", cwd=repo.path)
    answers = mcp_calls(repo.path, [("scan", {}), ("fix", {"apply": True})])
    assert "sub/settings.py" not in json.dumps(answers[0])
    assert (other / "settings.py").read_text() == theirs


def test_a_git_file_naming_another_repository_is_refused(tmp_path: Path) -> None:
    """``.git`` replaced by ``gitdir: /other/.git``: the server served the other repository's history."""
    other = make_repo(tmp_path / "other")
    other.commit("secret", {"c.py": f'TOKEN = "{github_pat()}"\n'})
    work = tmp_path / "work"
    work.mkdir()
    (work / ".git").write_text(f"gitdir: {other.path / '.git'}\n")
    refused = run_cli("mcp", cwd=work, input="")
    assert refused.returncode == 2 and "another repository" in refused.stderr, refused.stderr
    assert not (other.path / ".git" / "unleak").exists()


def test_git_config_programs_run_away_from_the_vault(repo: GitRepo) -> None:
    """core.fsmonitor names a program of the agent's; git runs it during an MCP scan. It ran with the server's
    access and read the vault key; now every git the server starts is confined away from unleak's directories."""
    from unleak import confine
    from unleak.userenv import data_dir

    if not confine.available():
        pytest.skip("Landlock is not available here")
    assert run_cli("secrets", "set", "PROD_TOKEN", input=github_pat() + "\n", cwd=repo.path).returncode == 0
    keys = [p for p in data_dir().rglob("*") if p.is_file()]
    assert keys
    loot = repo.path / "loot.txt"
    probe = repo.path / ".git" / "probe.py"
    probe.write_text(textwrap.dedent(f"""
        import sys
        got = []
        for p in {[str(k) for k in keys]!r}:
            try:
                got.append(len(open(p, "rb").read()))
            except OSError as exc:
                got.append(type(exc).__name__)
        open({str(loot)!r}, "w").write(repr(got))
    """))
    hook = repo.path / ".git" / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\n{sys.executable} {probe}\nexit 0\n")
    hook.chmod(0o755)
    repo.commit("init", {"app.py": "print(1)\n"})
    repo.git("config", "core.fsmonitor", str(hook))
    (repo.path / "app.py").write_text("print(2)\n")
    mcp_calls(repo.path, [("scan", {"mode": "changes"})])
    assert loot.exists()  # the program did run (git's business), but could open none of unleak's files
    assert all(isinstance(x, str) for x in ast.literal_eval(loot.read_text())), loot.read_text()


def test_the_edit_hook_reads_no_file_outside_the_project(repo: GitRepo, tmp_path: Path) -> None:
    """An Edit of a file outside the project: old_string is the line's start plus a guessed character, new_string
    the start plus a few characters. Only a right guess leaves a whole key behind in the edited text, so the hook's
    verdict told a right guess from a wrong one: the file (the vault key) read a character at a time."""
    from unleak.agent.hook_writes import write_hits

    secret = github_pat()[4:]  # 36 characters of a random key
    secret_file = tmp_path / "elsewhere" / "credentials"
    secret_file.parent.mkdir()
    secret_file.write_text(f"aws_secret_access_key = {secret}\n")
    repo.commit("init", {"README.md": "x\n"})

    def verdict(guess: str) -> int:
        edit = {"file_path": str(secret_file), "old_string": f"aws_secret_access_key = {guess}",
                "new_string": "aws_secret_access_key = Qz8kL2v"}
        return len(write_hits("Edit", edit, repo.path))

    wrong = "A" if secret[0] != "A" else "B"
    assert verdict(secret[0]) == verdict(wrong)


def test_list_secrets_answers_carry_no_environment_value(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    token = github_pat()
    monkeypatch.setenv("SERVER_SIDE_TOKEN", token)
    repo.commit("init", {".env": "LEAK=unleak://x/${SERVER_SIDE_TOKEN}\n", "README.md": "x\n"})
    answers = mcp_calls(repo.path, [("list_secrets", {})])
    assert token not in json.dumps(answers)


def test_a_linked_default_reference_file_is_refused(repo: GitRepo, tmp_path: Path) -> None:
    """``.env.unleak`` linked to another project's ``.env``: an MCP run injected that project's values."""
    other = tmp_path / "other-project"
    other.mkdir()
    (other / ".env").write_text(f"GITHUB_TOKEN={github_pat()}\n")
    repo.commit("init", {"show.py": "import os\nprint(len(os.environ.get('GITHUB_TOKEN', '')))\n"})
    os.symlink(other / ".env", repo.path / ".env.unleak")
    assert run_cli("grant", "--secrets", "*", "--command", "*", "--ttl", "10m", cwd=repo.path).returncode == 0
    (answer,) = mcp_calls(repo.path, [("run", {"argv": [sys.executable, "show.py"]})])
    assert answer["_is_error"] or answer.get("status") in ("refused", "approval_required"), answer
    assert "40" not in str(answer.get("stdout", ""))


def test_custom_rules_in_the_repository_do_not_shape_answers_to_the_agent(repo: GitRepo) -> None:
    """A custom rule matching the first k characters of a value (the built-in rules on that span disabled) made
    the fingerprint in each answer a check of a guess at them. The agent's answers use the built-in rules only."""
    from scanner.finding import fingerprint

    token = github_pat()
    repo.commit("init", {"app.py": f'GITHUB_TOKEN = "{token}"\n'})
    (repo.path / ".unleak.toml").write_text(
        'disable = ["UL001", "UL900", "UL950", "UL951", "UL952"]\n'
        '[[rules]]\nid = "pfx"\nregex = \'\'\'(?<=GITHUB_TOKEN = ")[A-Za-z0-9_]{5}\'\'\'\n')
    human = json.loads(run_cli("scan", "--format", "json", cwd=repo.path).stdout)
    assert fingerprint("pfx", token[:5]) in json.dumps(human)  # the human's own scan runs the rule
    probed = json.dumps(mcp_calls(repo.path, [("scan", {}), ("check_diff", {"diff": _diff(token)})]))
    assert fingerprint("pfx", token[:5]) not in probed and '"pfx"' not in probed


def _diff(token: str) -> str:
    return ("diff --git a/new.py b/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n"
            f'+GITHUB_TOKEN = "{token}"\n')


def test_the_mcp_command_written_for_an_agent_ignores_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m unleak`` started in the repository imported the repository's own ``unleak/`` package."""
    from unleak.agent import setup

    monkeypatch.setattr(setup.shutil, "which", lambda name: None)
    assert setup.unleak_command()[:2] == [sys.executable, "-P"]


def test_a_baseline_link_out_of_the_repository_is_not_written_through(repo: GitRepo, victim: Path) -> None:
    """``.unleak-baseline.json`` planted as a (dangling) link to ``~/.bash_login``: the human's `unleak baseline
    create` created the user's login script."""
    repo.commit("init", {"app.py": f'TOKEN = "{github_pat()}"\n'})
    os.symlink(victim / ".bash_login", repo.path / ".unleak-baseline.json")
    r = run_cli("baseline", "create", cwd=repo.path)
    assert r.returncode == 2 and "outside" in r.stderr, r.stderr
    assert not (victim / ".bash_login").exists()
    inside = repo.path / "baselines" / "known.json"
    inside.parent.mkdir()
    (repo.path / ".unleak-baseline.json").unlink()
    os.symlink(inside, repo.path / ".unleak-baseline.json")  # a link inside the repository is written through
    assert run_cli("baseline", "create", cwd=repo.path).returncode == 0 and inside.is_file()


@pytest.mark.parametrize("planted", [".git/hooks/pre-commit", ".claude/settings.json"])
def test_installers_do_not_write_through_a_link_out_of_the_repository(repo: GitRepo, victim: Path,
                                                                      planted: str) -> None:
    """A planted link at the hook's or the settings' path: `install-hook --force` replaced the user's file with
    the hook script (mode 0755), `hook install claude-code` merged its entries into a file outside."""
    repo.commit("init", {"README.md": "x\n"})
    link = repo.path / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    target = victim / (".bashrc" if "hooks" in planted else "settings.json")
    if not target.exists():
        target.write_text("{}\n")
    os.symlink(target, link)
    before = target.read_text()
    args = ["install-hook", "--force"] if "hooks" in planted else ["hook", "install", "claude-code"]
    r = run_cli(*args, cwd=repo.path)
    assert r.returncode == 2 and "symbolic link" in r.stderr, r.stderr
    assert target.read_text() == before and target.stat().st_mode & 0o111 == 0


def test_the_edit_hook_reads_none_of_unleaks_files_inside_the_project(isolated_home: Path) -> None:
    """A project that holds unleak's data directory (a dotfiles repository at $HOME): the hook still never reads a
    file there to judge an edit, so its verdict cannot tell a right guess at the file's content from a wrong one."""
    from unleak.agent.hook_writes import write_hits
    from unleak.userenv import data_dir

    (isolated_home / ".git").mkdir()
    secret = github_pat()[4:]
    kept = data_dir() / "planted-key.txt"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(f"aws_secret_access_key = {secret}\n")

    def verdict(guess: str) -> int:
        edit = {"file_path": str(kept), "old_string": f"aws_secret_access_key = {guess}",
                "new_string": "aws_secret_access_key = Qz8kL2v"}
        return len(write_hits("Edit", edit, isolated_home))

    assert verdict(secret[0]) == verdict("A" if secret[0] != "A" else "B")


# A FIFO that unleak opened would wait for a writer forever: the subprocess timeout turns that into a failure.
NO_WAIT = 60


@pytest.mark.parametrize("where", [".gitleaksignore", ".unleak-baseline.json", ".unleak.toml"])
def test_a_fifo_planted_where_a_config_is_read_does_not_hang_a_scan(repo: GitRepo, where: str) -> None:
    """A FIFO at .gitleaksignore: the history scan's replay key opened it to hash it, and waited."""
    _history(repo)
    repo.commit("leak", {"c.py": f'TOKEN = "{github_pat()}"\n'})
    os.mkfifo(repo.path / where)
    for args in (("scan",), ("scan", "--history"), ("scan", "--history")):
        assert run_cli(*args, cwd=repo.path, timeout=NO_WAIT).returncode == 1, (where, args)


def test_a_fifo_named_by_a_gitleaks_extend_path_is_a_config_error(repo: GitRepo) -> None:
    repo.write(".gitleaks.toml", '[extend]\npath = "base.toml"\n')
    os.mkfifo(repo.path / "base.toml")
    proc = run_cli("scan", cwd=repo.path, timeout=NO_WAIT)
    assert proc.returncode == 2
    assert "base.toml: cannot be read" in proc.stderr and "not a regular file" in proc.stderr


@pytest.mark.parametrize("state", ["replay", "commits"])
def test_a_fifo_planted_in_place_of_a_cache_file_does_not_hang_a_history_scan(repo: GitRepo, state: str) -> None:
    _history(repo)
    repo.commit("leak", {"c.py": f'TOKEN = "{github_pat()}"\n'})
    assert run_cli("scan", "--history", cwd=repo.path).returncode == 1
    cache = repo.path / ".git" / "unleak" / "scan-cache"
    (cache / "replay").unlink()  # so that the commits file is read, for "commits"
    target = cache / "replay" if state == "replay" else next(cache.glob("*/commits"))
    target.unlink(missing_ok=True)
    os.mkfifo(target)
    assert run_cli("scan", "--history", cwd=repo.path, timeout=NO_WAIT).returncode == 1


def test_a_fifo_planted_as_a_fix_journal_does_not_hang_fix(repo: GitRepo) -> None:
    from remediate.staging import JOURNAL, PREFIX

    repo.commit("leak", {"settings.py": f'TOKEN = "{github_pat()}"\n'})
    d = repo.path / ".git" / "unleak" / f"{PREFIX}planted"
    d.mkdir(parents=True)
    os.mkfifo(d / JOURNAL)
    proc = run_cli("fix", cwd=repo.path, timeout=NO_WAIT)
    assert proc.returncode in (0, 1), proc.stderr
