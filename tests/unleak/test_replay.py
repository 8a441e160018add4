"""`unleak scan --history` run again with nothing changed replays the previous report (unleak.replay): byte for
byte the same output, without importing the scanner; any change to what the report depends on (a commit, an object,
the config, a baseline the config names, the command line) scans instead, and a record unleak did not sign is
never replayed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GitRepo, run_cli
from tests.fakes import github_pat
from unleak import replay

SCAN = ("scan", "--history", "--format", "json", "--no-baseline")


def _params(*extra: str) -> dict[str, object]:
    """The command as the CLI parses it (run from the repository: the tests chdir there)."""
    from unleak.fastpath import parse

    got = parse([*SCAN, *extra])
    assert got is not None
    return got


def _imports_scanner(repo: GitRepo, *args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "unleak", *args], cwd=repo.path,
                          capture_output=True, text=True, timeout=120)
    return proc, "scanner.api" in proc.stderr


def _record(repo: GitRepo, *args: str) -> subprocess.CompletedProcess[str]:
    """A first scan (fills the cache) and a rescan (every commit from the cache: records its report)."""
    run_cli(*args, cwd=repo.path)
    return run_cli(*args, cwd=repo.path)


def test_an_unchanged_rescan_is_replayed_byte_for_byte_without_the_scanner(repo: GitRepo, canary: str) -> None:
    repo.commit("add", {"app.py": f"TOKEN = '{canary}'\n"})
    first = run_cli(*SCAN, cwd=repo.path)
    second = run_cli(*SCAN, cwd=repo.path)
    assert first.returncode == second.returncode == 1
    assert [f["rule_id"] for f in json.loads(second.stdout)["findings"]] == ["UL001"]
    third, imported = _imports_scanner(repo, *SCAN)
    assert not imported, "the rescan was not replayed"
    assert third.returncode == 1 and third.stdout == second.stdout
    # Invariant 1: the record holds what the report showed, never the value.
    record = repo.path / ".git" / "unleak" / "scan-cache" / replay.NAME
    assert record.is_file() and canary not in record.read_text(encoding="utf-8")
    # The first run scanned commits anew and recorded the report a rescan gives: its note says where they came from.
    assert "read from the cache" in " ".join(json.loads(third.stdout)["notes"])


def _history_with_everything(repo: GitRepo, lose: bool = False) -> None:
    repo.commit("one", {"app.py": f"TOKEN = '{github_pat()}'\n", "logo.png": "\x00PNG\x00binary\n"})
    repo.commit(f"two: rotate {github_pat()}", {"b.py": "b = 2\n", "lost.py": f"KEY = '{github_pat()}'\n"})
    repo.git("tag", "-a", "v1", "-m", f"release {github_pat()}")
    repo.commit("three", {"c.py": f"OTHER = '{github_pat()}'\n"})
    if lose:  # a missing object: commit "two" is never cached, and every rescan reads it again
        blob = repo.git("rev-parse", "HEAD:lost.py").strip()
        (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
        (repo.path / "lost.py").unlink()  # (so that no later `git add` writes the object again)


@pytest.mark.parametrize("lose", [False, True], ids=["whole", "unreadable-object"])
@pytest.mark.parametrize("args", [SCAN, ("scan", "--history", "--format", "sarif", "--no-baseline", "-o", "r.sarif"),
                                  ("scan", "--history", "--no-baseline")], ids=["json", "sarif-output", "text"])
def test_the_first_rescan_is_replayed_as_the_rescan_it_stands_for(repo: GitRepo, args: tuple[str, ...],
                                                                  lose: bool) -> None:
    """A first scan (every commit read anew) and one after a new commit (some read anew, some from the cache) each
    record the report a rescan gives: the next run is replayed, and what it writes is byte for byte what a real
    rescan from the cache writes (its record removed), files, counters, notes, stderr and exit code alike; with an
    unreadable object too (its commit is read again by every rescan, warning included)."""
    _history_with_everything(repo, lose)
    record = repo.path / ".git" / "unleak" / "scan-cache" / replay.NAME
    out = repo.path / "r.sarif"

    def written(proc: subprocess.CompletedProcess[str]) -> tuple[str, str, int, str]:
        err = "".join(ln for ln in proc.stderr.splitlines(keepends=True) if not ln.startswith("import time:"))
        return proc.stdout, err, proc.returncode, out.read_text(encoding="utf-8") if out.exists() else ""

    for step in range(2):
        if step:
            repo.commit("four", {"d.py": f"MORE = '{github_pat()}'\n"})
        first = run_cli(*args, cwd=repo.path)
        assert first.returncode == 1 and record.is_file()
        replayed, imported = _imports_scanner(repo, *args)
        assert not imported, "the first rescan was not replayed"
        replayed_out = written(replayed)
        record.unlink()
        rescan, imported = _imports_scanner(repo, *args)
        assert imported
        assert replayed_out == written(rescan)
        assert ("unreadable git object" in replayed_out[1]) is lose
    assert "3 commits already scanned" not in replayed_out[0] + replayed_out[3]


def test_a_new_commit_or_object_is_scanned_not_replayed(repo: GitRepo) -> None:
    repo.commit("add", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    _record(repo, *SCAN)
    repo.commit("more", {"b.py": f"OTHER = '{github_pat()}'\n"})
    got, imported = _imports_scanner(repo, *SCAN)
    assert imported and len(json.loads(got.stdout)["findings"]) == 2
    _record(repo, *SCAN)
    # An object written without a ref moving (git add) changes the object store: scanned again.
    (repo.path / "c.py").write_text("x = 1\n", encoding="utf-8")
    repo.git("add", "c.py")
    assert _imports_scanner(repo, *SCAN)[1]


def test_a_lost_object_is_reported_not_replayed(repo: GitRepo) -> None:
    repo.commit("one", {"a.py": "a = 1\n"})
    repo.commit("two", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    _record(repo, *SCAN)
    blob = repo.git("rev-parse", "HEAD:app.py").strip()
    obj = repo.path / ".git" / "objects" / blob[:2] / blob[2:]
    obj.unlink()
    got, imported = _imports_scanner(repo, *SCAN)
    assert imported  # scanned (the cache still answers for that commit: its finding stays)
    assert [f["rule_id"] for f in json.loads(got.stdout)["findings"]] == ["UL001"]


def test_a_history_with_an_unreadable_object_is_replayed_with_its_warning(repo: GitRepo) -> None:
    """A commit with a missing object is never cached, so every rescan reads it again; with the same objects the
    result is the same, warning included, and that is replayed until the object store changes."""
    repo.commit("one", {"app.py": f"TOKEN = '{github_pat()}'\n", "lost.py": "a = 1\n"})
    blob = repo.git("rev-parse", "HEAD:lost.py").strip()
    (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    second = _record(repo, *SCAN)
    assert json.loads(second.stdout)["skipped"] == 1 and "unreadable git object" in second.stderr
    third, imported = _imports_scanner(repo, *SCAN)
    assert not imported
    assert (third.stdout, third.returncode) == (second.stdout, second.returncode)
    assert second.stderr in third.stderr


def test_the_config_and_the_baseline_it_names_are_inputs(repo: GitRepo) -> None:
    repo.commit("add", {"app.py": f"TOKEN = '{github_pat()}'\n", ".unleak.toml": 'baseline = "known.json"\n'})
    (repo.path / "known.json").write_text('{"version": 1, "findings": []}\n', encoding="utf-8")
    args = ("scan", "--history", "--format", "json")
    base = _record(repo, *args)
    assert not _imports_scanner(repo, *args)[1]
    # The baseline the config names changes: every finding is now known.
    assert json.loads(base.stdout)["findings"]
    (repo.path / "known.json").write_text('{"version": 1, "findings": []}\n\n', encoding="utf-8")
    assert _imports_scanner(repo, *args)[1]
    _record(repo, *args)
    (repo.path / ".unleak.toml").write_text('baseline = "known.json"\ndisable = ["UL001"]\n', encoding="utf-8")
    got, imported = _imports_scanner(repo, *args)
    assert imported and "UL001" not in {f["rule_id"] for f in json.loads(got.stdout)["findings"]}


def test_another_command_line_is_another_record(repo: GitRepo) -> None:
    repo.commit("add", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    _record(repo, *SCAN)
    got, imported = _imports_scanner(repo, "scan", "--history", "--format", "sarif", "--no-baseline")
    assert imported and json.loads(got.stdout)["version"] == "2.1.0"
    assert not replay.eligible({"history": True, "paths": ("a.py",)})
    assert not replay.eligible({"history": True, "explain": True})
    assert not replay.eligible({"staged": True})


def test_an_output_file_is_written_again(repo: GitRepo) -> None:
    repo.commit("add", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    args = (*SCAN, "-o", "report.json")
    second = _record(repo, *args)
    report = repo.path / "report.json"
    want = report.read_text(encoding="utf-8")
    report.unlink()
    got, imported = _imports_scanner(repo, *args)
    assert not imported and got.returncode == 1
    assert report.read_text(encoding="utf-8") == want
    assert second.stderr.strip() in got.stderr  # the summary line


def test_a_record_unleak_did_not_sign_is_not_replayed(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a coding agent can do in the repository: rewrite the record to say "nothing found", with a MAC it
    cannot compute (it cannot read unleak's key)."""
    repo.commit("add", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    _record(repo, *SCAN)
    monkeypatch.chdir(repo.path)
    params = _params()
    key = replay.lookup_key(params)
    assert key is not None
    assert replay.load(key) is not None
    record = repo.path / ".git" / "unleak" / "scan-cache" / replay.NAME
    payload, mac = record.read_bytes().rstrip(b"\n").rsplit(b"\n", 1)
    forged = json.loads(payload)
    forged.update(stdout='{"findings": []}\n', code=0)
    record.write_bytes(json.dumps(forged, separators=(",", ":")).encode() + b"\n" + mac + b"\n")
    assert replay.load(key) is None
    got = run_cli(*SCAN, cwd=repo.path)
    assert got.returncode == 1 and json.loads(got.stdout)["findings"]


def test_git_environment_that_moves_the_repository_turns_replay_off(repo: GitRepo,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("add", {"app.py": "x = 1\n"})
    _record(repo, *SCAN)
    monkeypatch.chdir(repo.path)
    params = _params()
    assert replay.lookup_key(params) is not None
    monkeypatch.setenv("GIT_DIR", str(repo.path / ".git"))
    assert replay.lookup_key(params) is None
    monkeypatch.delenv("GIT_DIR")
    # git's configuration and the variables unleak reads are inputs too.
    key = replay.lookup_key(params)
    repo.git("config", "diff.noprefix", "true")
    assert replay.lookup_key(params) != key
    key = replay.lookup_key(params)
    monkeypatch.setenv("UNLEAK_WORKERS", "1")
    assert replay.lookup_key(params) != key
    (repo.path / ".gitleaks.toml").write_text("[extend]\nuseDefault = true\n", encoding="utf-8")
    assert replay.lookup_key(params) is None
    # A bare repository: not replayed (its layout is not looked for here).
    bare = repo.path.parent / "bare.git"
    repo.git("clone", "-q", "--bare", str(repo.path), str(bare))
    monkeypatch.chdir(bare)
    assert replay.lookup_key(params) is None


def test_unleaks_own_code_is_an_input(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("add", {"app.py": "x = 1\n"})
    monkeypatch.chdir(repo.path)
    params = _params()
    before = replay.lookup_key(params)
    import scanner.engine

    path = scanner.engine.__file__
    st = os.stat(path)
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert replay.lookup_key(params) != before
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert replay.lookup_key(params) == before


def test_gitleaks_config_names_match() -> None:
    from unleak import gitleaks

    assert replay._GITLEAKS_NAMES == gitleaks.CONFIG_NAMES


def test_a_record_path_an_agent_turns_into_a_link_is_neither_read_nor_written_through(repo: GitRepo,
                                                                                     tmp_path: Path) -> None:
    """The record sits where an agent can write: a symbolic link planted there, to a report it wrote or to a file
    of the user's, is not replayed and is replaced, never written through."""
    repo.commit("add", {"app.py": f"TOKEN = '{github_pat()}'\n"})
    second = _record(repo, *SCAN)
    record = repo.path / ".git" / "unleak" / "scan-cache" / replay.NAME
    victim = tmp_path / "users-file.txt"
    signed = record.read_bytes()
    victim.write_bytes(signed)  # a signed record, even: read through a link it does not count
    record.unlink()
    record.symlink_to(victim)
    got, imported = _imports_scanner(repo, *SCAN)
    assert imported and got.stdout == second.stdout
    assert victim.read_bytes() == signed and not record.is_symlink()  # replaced, not written through
