"""`unleak fleet scan` on a real local Ray (2 CPUs): the union of single-repository scans, split histories, merge by
fingerprint, failures reported, a worker killed mid-task and retried. Each Ray start costs 10-30 s, so the fleet
runs are few and each checks many things."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from scanner.api import ScanRequest, scan
from tests import fakes
from tests.conftest import GitRepo, run_cli

pytest.importorskip("ray")


def _repo(path: Path) -> GitRepo:
    path.mkdir(parents=True)
    r = GitRepo(path)
    r.git("init", "-q", "-b", "main")
    r.git("config", "commit.gpgsign", "false")
    return r


def _key(f: dict) -> tuple[str, str, int, str]:
    return (f["fingerprint"], f["path"], f["line"], (f.get("commit") or {}).get("sha", ""))


def _single(path: Path) -> set[tuple[str, str, int, str]]:
    return {_key(f.to_dict()) for f in scan(ScanRequest(root=path, modes=("history",), cache=False)).findings}


def _make_fleet(base: Path, n: int) -> tuple[list[Path], str]:
    shared = fakes.github_pat()  # one token copied into every third repository
    repos = []
    for i in range(n):
        r = _repo(base / f"repo{i:02d}")
        r.commit("one", {"app/config.py": f'STRIPE = "{fakes.stripe_live_key()}"\n' if i % 2 else "x = 1\n"})
        if i % 3 == 0:
            r.commit("two", {"deploy/.env": f"GITHUB_TOKEN={shared}\n"})
        r.commit("three", {"deploy/.env": "GITHUB_TOKEN=\n"})  # deleted again: history still holds it
        if i == 1:
            r.git("tag", "-a", "v1", "-m", "release")
            r.git("checkout", "-q", "-b", "side", "HEAD~1")
            r.commit("side", {"side.yml": f"password: {fakes.password()}\n"})
            r.git("checkout", "-q", "main")
        repos.append(r.path)
    return repos, shared


def test_fleet_is_the_union_of_single_scans(tmp_path: Path) -> None:
    repos, _shared = _make_fleet(tmp_path / "fleet", 12)  # 4 hold the shared token
    big = _repo(tmp_path / "big")
    for i in range(45):  # split into blocks of 8 commits (threshold 20)
        big.commit(f"c{i}", {f"f{i % 5}.env": f"API_KEY_{i}={fakes.openai_key()}\n" if i % 4 == 0 else f"n={i}\n"})
    listing = tmp_path / "targets.txt"
    listing.write_text("# the organisation\n" + "\n".join(str(p) for p in repos[4:]) + "\n\n")
    dead = "https://deploy:hunter2-Secret-Pw@127.0.0.1:9/org/gone.git"  # nothing listens: the clone fails
    out = tmp_path / "report"
    r = run_cli("fleet", "scan", *map(str, repos[:4]), str(listing), str(big.path), "file:///nonexistent/x.git", dead,
                "--workers", "2", "--split-commits", "20", "--block-commits", "8", "--format", "json",
                "-o", str(out), "--cache-dir", str(tmp_path / "cache"), timeout=600)
    assert r.returncode == 1, r.stderr
    assert "hunter2" not in r.stdout + r.stderr + "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    doc = json.loads(r.stdout)
    by_name = {x["name"]: x for x in doc["repositories"]}
    assert len(by_name) == 15
    for p in [*repos, big.path]:
        got = {_key(f) for f in doc["findings"][str(p)]}
        assert got == _single(p), p
        assert by_name[str(p)]["ok"]
    assert by_name[str(big.path)]["units"] == 6 and by_name[str(big.path)]["commits"] == 45
    failed = {x["name"]: x["error"] for x in doc["repositories"] if not x["ok"]}
    assert set(failed) == {"file:///nonexistent/x.git", "https://127.0.0.1:9/org/gone.git"}
    assert all("clone" in e for e in failed.values())
    # Merged by fingerprint: the shared token is one secret in the four repositories that hold it.
    spread = [s for s in doc["secrets"] if s["repository_count"] > 1]
    assert len(spread) == 1 and spread[0]["repository_count"] == 4 and spread[0]["rule_id"] == "UL001"
    assert set(spread[0]["repositories"]) == {str(repos[i]) for i in range(0, 12, 3)}
    assert len(doc["secrets"]) == len({f["fingerprint"] for fs in doc["findings"].values() for f in fs})
    # One SARIF file per repository, and a page that needs no network.
    assert len(list((out / "sarif").glob("*.sarif"))) == 15
    page = (out / "index.html").read_text()
    assert not re.search(r"(?:src|href)\s*=|url\(|@import", page)  # no external asset of any kind
    assert page.count("<tr>") >= 15 + len(doc["secrets"])

    # A second run reuses the clones and each repository's scan cache: nothing new, the same answer.
    r2 = run_cli("fleet", "scan", *map(str, repos[:3]), "--workers", "2", "--format", "json", "-o", str(out),
                 "--cache-dir", str(tmp_path / "cache"), timeout=600)
    doc2 = json.loads(r2.stdout)
    for p in repos[:3]:
        assert {_key(f) for f in doc2["findings"][str(p)]} == _single(p)
        notes = next(x for x in doc2["repositories"] if x["name"] == str(p))["notes"]
        assert any("read from the cache" in n for n in notes), notes


def test_a_worker_killed_mid_task_is_retried(tmp_path: Path) -> None:
    repos, _ = _make_fleet(tmp_path / "fleet", 3)
    fault = tmp_path / "fault"
    fault.mkdir()
    killed: list[int] = []

    def killer() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(killed) < 3:
            for marker in fault.glob("*.pid"):
                pid = int(marker.read_text() or 0)
                if pid and pid not in killed:
                    time.sleep(0.5)
                    os.kill(pid, signal.SIGKILL)  # the Ray worker process running the task
                    killed.append(pid)
            time.sleep(0.2)

    t = threading.Thread(target=killer, daemon=True)
    t.start()
    r = run_cli("fleet", "scan", *map(str, repos), "--workers", "2", "--format", "json", "-o", str(tmp_path / "o"),
                "--cache-dir", str(tmp_path / "cache"), env={"UNLEAK_FLEET_FAULT_DIR": str(fault)}, timeout=600)
    t.join(timeout=5)
    assert len(killed) == 3, (killed, r.stderr)
    assert r.returncode == 1 and r.stdout.startswith("{"), r.stdout[:1500]
    doc = json.loads(r.stdout)
    assert all(x["ok"] for x in doc["repositories"]), doc["repositories"]
    for p in repos:
        assert {_key(f) for f in doc["findings"][str(p)]} == _single(p)


def test_targets(tmp_path: Path) -> None:
    from scanner.errors import UsageError
    from unleak.fleet import read_targets

    (tmp_path / "r").mkdir()
    lst = tmp_path / "list.txt"
    lst.write_text(f"# comment\n{tmp_path / 'r'}\nhttps://tok:s3cr3t@git.example.com/o/a.git\n\ngit@host:o/b.git\n")
    got = read_targets([str(lst), str(tmp_path / "r")])
    assert [t.name for t in got] == [str(tmp_path / "r"), "https://git.example.com/o/a.git", "git@host:o/b.git"]
    with pytest.raises(UsageError):
        read_targets([str(tmp_path / "missing")])


def test_credentials_in_a_clone_url_never_reach_argv_or_the_clone_config(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    from scanner import git

    origin = _repo(tmp_path / "origin")
    origin.commit("x", {"a.txt": "a\n"})
    seen: list[tuple[list[str], dict[str, str]]] = []
    real = subprocess.run

    def spy(args: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
        env = kw.get("env")
        seen.append((list(args), dict(env) if isinstance(env, dict) else {}))
        return real(args, **kw)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(subprocess, "run", spy)
    url = "https://ci-bot:TopSecretPw1@127.0.0.1:9/o/r.git"
    with pytest.raises(git.GitError) as exc:
        git.clone_or_update(url, tmp_path / "clone")
    assert "TopSecretPw1" not in str(exc.value)
    assert seen and all("TopSecretPw1" not in " ".join(a) for a, _ in seen)
    assert any(e.get("GIT_CONFIG_KEY_0") == "http.extraHeader" for _, e in seen)
    dest = git.clone_or_update(str(origin.path), tmp_path / "clone2")
    assert git.ref_tips(dest) == [origin.git("rev-parse", "HEAD")]  # a plain local clone works


def test_a_task_past_its_timeout_is_cancelled_and_reported(tmp_path: Path) -> None:
    repos, _ = _make_fleet(tmp_path / "fleet", 1)
    fault = tmp_path / "fault"
    fault.mkdir()  # the task pauses for 120 s and nobody kills it
    r = run_cli("fleet", "scan", str(repos[0]), "--workers", "1", "--timeout", "3", "--format", "json",
                "-o", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "cache"),
                env={"UNLEAK_FLEET_FAULT_DIR": str(fault)}, timeout=300)
    assert r.returncode == 2, r.stderr
    repo = json.loads(r.stdout)["repositories"][0]
    assert not repo["ok"] and repo["error"] == "timed out after 3 s"


def test_text_summary_names_spread_secrets_and_failures() -> None:
    from unleak.fleet import RepoResult, merge
    from unleak.fleet_report import text_summary

    f = {"fingerprint": "ab" * 10, "rule_id": "UL001", "title": "GitHub token", "preview": "gh*_…[abababab]",
         "confidence": "high", "path": "a.env", "commit": {"date": "2024-01-02T00:00:00Z"}}
    results = [RepoResult("one", commits=3, findings=[f]), RepoResult("two", commits=2, findings=[f, f]),
               RepoResult("three", ok=False, error="git clone of x failed: fatal: nope\x1b[31m")]
    text = text_summary(results, merge(results))
    assert "3 repositories (1 failed), 5 commits, 3 findings of 1 distinct secrets" in text
    assert "UL001  gh*_…[abababab]  in 2 repositories, 3 places, first seen 2024-01-02" in text
    assert "three: git clone of x failed: fatal: nope?[31m" in text  # no terminal control from a git message
