"""The exposure caches under ``.git/unleak/exposure-cache``: the history cache (each commit's changes, so a second
exposure asks git only for commits added since) and the blob cache (which secrets each file version holds).

Both give exactly what git gives without them, on generated histories that grow, are rewritten, are shallow and
then deepened; and both sit where a coding agent can write, so each attack below forges a file that would change
the report if it were believed (shown by believing it under the forger's key), and checks it is not believed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from scanner import git
from scanner.api import ScanRequest
from scanner.exposure import analysis
from scanner.exposure.analysis import analyze
from scanner.exposure.blobcache import BlobCache
from scanner.exposure.histcache import HistoryCache, cached_history
from scanner.report.exposure import render
from tests.conftest import GIT_ENV, GitRepo, make_repo
from tests.fakes import github_pat, stripe_live_key
from tests.scanner.exposure_history import History, build

FORGER_KEY = b"k" * 32  # a key the forger chose: not the user's


def _plain(commits: Iterable[git.RawCommit]) -> list[tuple[Any, ...]]:
    return [(rc.sha, rc.parents, rc.info, rc.timestamp, [tuple(c) for c in rc.changes]) for rc in commits]


def _raw(path: Path) -> list[tuple[Any, ...]]:
    return _plain(git.raw_history(path, ["--all"]))


def _cached(path: Path) -> list[tuple[Any, ...]]:
    got = cached_history(path, git.start_listing(path, ["--all"]))
    assert got is not None
    return _plain(got)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The commits whose changes the history cache asks git for."""
    shas: list[str] = []
    real = git.raw_changes

    def counting(repo: Path, want: list[str]) -> Any:
        shas.extend(want)
        return real(repo, want)

    monkeypatch.setattr(git, "raw_changes", counting)
    return shas


def _report(path: Path, cache: bool = True) -> dict[str, Any]:
    doc = json.loads(render(analyze(path, ScanRequest(root=path, cache=cache)), "json"))
    doc.pop("notes", None)
    return doc  # type: ignore[no-any-return]


def _git(path: Path, *args: str) -> str:
    import os

    proc = subprocess.run(["git", *args], cwd=path, env={**os.environ, **GIT_ENV}, capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


@pytest.fixture
def history(tmp_path: Path) -> History:
    return build(tmp_path / "h", steps=50)


def test_the_cached_history_is_the_raw_history_as_it_grows_and_is_rewritten(history: History,
                                                                            asked: list[str]) -> None:
    path = history.path
    want = _raw(path)
    assert _cached(path) == want
    assert len(asked) == len(want)  # nothing cached yet: every commit asked for, in one git process
    cache = path / ".git" / "unleak" / "exposure-cache" / "history"
    assert cache.is_file() and cache.stat().st_mode & 0o077 == 0
    for v in history.values:
        assert v.encode() not in cache.read_bytes()
    asked.clear()
    assert _cached(path) == want and asked == []
    # New commits on a new branch, merged back: only they are asked for.
    _git(path, "checkout", "-q", "-b", "late")
    new = []
    for i in range(2):
        (path / f"late{i}.py").write_text(f"TOKEN = '{github_pat()}'\n")
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "-m", f"late {i}")
        new.append(_git(path, "rev-parse", "HEAD"))
    _git(path, "checkout", "-q", "main")
    _git(path, "merge", "-q", "--no-ff", "-m", "merge late", "late")
    new.append(_git(path, "rev-parse", "HEAD"))
    asked.clear()
    assert _cached(path) == _raw(path)
    assert sorted(asked) == sorted(new)
    # History rewritten: main moved back, the branch deleted. Nothing new to ask; the cache keeps only what is
    # listed now.
    _git(path, "reset", "-q", "--hard", "HEAD~3")
    _git(path, "branch", "-q", "-D", "late")
    asked.clear()
    want = _raw(path)
    assert _cached(path) == want and asked == []
    assert len(HistoryCache(path / ".git", _key()).load().entries) == len(want)


def _key() -> bytes:
    from scanner.cache import mac_key

    key = mac_key()
    assert key is not None
    return key


def test_a_shallow_clone_deepened_reads_the_changes_of_its_old_boundary_again(history: History, tmp_path: Path,
                                                                             asked: list[str]) -> None:
    """A shallow boundary commit is diffed against the empty tree; deepened, against its parent. The entry of a
    commit whose first parent is not the one git lists now is read again."""
    clone = tmp_path / "shallow"
    _git(tmp_path, "clone", "-q", "--depth", "3", "--no-single-branch", f"file://{history.path}", str(clone))
    boundary = set((clone / ".git" / "shallow").read_text().split())
    before = _raw(clone)
    assert _cached(clone) == before
    _git(clone, "fetch", "-q", "--deepen", "4")
    asked.clear()
    after = _raw(clone)
    assert _cached(clone) == after
    first = {c[0]: c[1][:1] for c in before}
    changed = {c[0] for c in after if c[0] in first and c[1][:1] != first[c[0]]}
    assert changed & boundary  # old boundary commits that have a parent now
    assert set(asked) == changed | {c[0] for c in after if c[0] not in first}


def test_replacement_objects_turn_the_history_cache_off(history: History) -> None:
    """``git replace`` changes what a commit id holds; with any replacement there is no history cache."""
    path = history.path
    before = _cached(path)
    replaced = _git(path, "rev-parse", "HEAD~1")
    _git(path, "replace", replaced, _git(path, "rev-parse", "HEAD~2"))
    assert [c for c in _raw(path) if c[0] == replaced] != [c for c in before if c[0] == replaced]
    assert cached_history(path, git.start_listing(path, ["--all"])) is None
    assert _report(path) == _report(path, cache=False)


def _leaky(tmp_path: Path) -> tuple[GitRepo, str]:
    """A secret committed, copied on, and still in HEAD."""
    repo = make_repo(tmp_path / "leaky")
    token = stripe_live_key()
    repo.commit("start", {"app.py": "print('hi')\n"})
    repo.commit("leak", {"settings.py": f'STRIPE = "{token}"\n'})
    for i in range(3):
        repo.commit(f"work {i}", {"app.py": f"print({i})\n"})
    repo.commit("copy", {"backup/settings.py": f'STRIPE = "{token}"\n'})
    return repo, repo.git("rev-parse", "HEAD~4")


def test_a_forged_history_cache_is_not_believed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent rewrites the history cache so the commits that added the secret changed nothing: believed, the
    report would lose the secret's copies (shown under the forger's key); under the user's key it is ignored."""
    repo, leak = _leaky(tmp_path)
    honest = _report(repo.path)  # fills the caches
    path = repo.path / ".git" / "unleak" / "exposure-cache" / "history"
    entries = HistoryCache(repo.path / ".git", _key()).load().entries
    assert leak in entries and entries[leak][1]
    forged = {sha: (parent, ()) for sha, (parent, _) in entries.items()}
    HistoryCache(repo.path / ".git", FORGER_KEY).save(forged)
    tampered = path.read_bytes()
    assert _report(repo.path) == honest == _report(repo.path, cache=False)
    path.write_bytes(tampered)
    monkeypatch.setattr("scanner.cache.mac_key", lambda: FORGER_KEY)
    assert _report(repo.path) != honest  # the forgery works where its MAC holds: the MAC is what stops it


def test_a_truncated_or_unsigned_history_cache_is_read_again(tmp_path: Path, asked: list[str]) -> None:
    repo, _ = _leaky(tmp_path)
    want = _raw(repo.path)
    assert _cached(repo.path) == want
    path = repo.path / ".git" / "unleak" / "exposure-cache" / "history"
    whole = path.read_bytes()
    for broken in (whole[: len(whole) // 2], whole.split(b"\n", 1)[1], b"", b"\x00" * 64):
        path.write_bytes(broken)
        asked.clear()
        assert _cached(repo.path) == want
        assert len(asked) == len(want)


def test_a_forged_blob_cache_is_not_believed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent rewrites the blob cache to say no file version holds the secret: believed, the report would say
    it left HEAD (shown under the forger's key); under the user's key it is ignored."""
    repo, _ = _leaky(tmp_path)
    honest = _report(repo.path)
    assert honest["exposures"][0]["in_head"]
    real = BlobCache(repo.path / ".git", [], _key())
    lines = real.path.read_text().split("\n", 1)[1].split("\n")
    fps = lines[0].split(",")
    forged = BlobCache(repo.path / ".git", fps, FORGER_KEY)
    forged.save({line.split(" ")[0]: 0 for line in lines[1:] if line})
    tampered = real.path.read_bytes()
    assert _report(repo.path) == honest
    real.path.write_bytes(tampered)
    monkeypatch.setattr(analysis, "mac_key", lambda: FORGER_KEY)
    assert _report(repo.path)["exposures"][0]["in_head"] is False


def test_without_the_key_there_is_no_exposure_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _ = _leaky(tmp_path)
    monkeypatch.setattr("scanner.cache.mac_key", lambda: None)
    monkeypatch.setattr(analysis, "mac_key", lambda: None)
    assert _report(repo.path) == _report(repo.path, cache=False)
    assert not (repo.path / ".git" / "unleak" / "exposure-cache").exists()
