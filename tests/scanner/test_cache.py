"""The scanned-commit cache: keyed by the rule set and options, append-only, robust to torn writes, value-free."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from scanner.api import ScanRequest, scan
from scanner.cache import ScanCache, ruleset_key
from scanner.filters import active_filters
from scanner.finding import CommitInfo
from scanner.rules import all_rules, custom_rule
from tests import fakes
from tests.conftest import run_cli


def _key(rules: Any = None, **opts: Any) -> str:
    options = {"disabled": [], "min_confidence": "low", "exclude": []}
    options.update(opts)
    return ruleset_key((rules or all_rules()).values(), [(f.name, f.drop) for f in active_filters()], options)


def test_key_is_stable_and_changes_with_rules_and_options() -> None:
    base = _key()
    assert base == _key()
    assert _key(disabled=["UL900"]) != base
    assert _key(min_confidence="high") != base
    assert _key(exclude=["vendor/**"]) != base
    rules = dict(all_rules())
    rid = next(iter(rules))
    rules[rid] = replace(rules[rid], keywords=(*rules[rid].keywords, "zzz-new-keyword"))
    assert _key(rules) != base
    extra = custom_rule("test", {"id": "acme-token", "regex": "acme_[a-z0-9]{20}", "keywords": ["acme_"]})
    assert _key({**all_rules(), extra.id: extra}) != base


@pytest.mark.parametrize("change", [
    {"disabled": frozenset({"UL001"})},
    {"exclude": ("*.py",)},
])
def test_changed_options_do_not_reuse_the_cache(repo: Any, change: dict[str, Any]) -> None:
    repo.commit("c", {"a.py": f'T = "{fakes.github_pat()}"\n'})
    first = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert len(first.findings) == 1
    other = scan(ScanRequest(root=repo.path, modes=("history",), **change))
    assert "UL001" not in {f.rule_id for f in other.findings}
    assert not any("from the cache" in n for n in other.notes)
    # and the first configuration's cache entry was replaced, not mixed in
    assert len(list((repo.path / ".git" / "unleak" / "scan-cache").iterdir())) == 1


def test_torn_records_are_ignored_and_rescanned(repo: Any, tmp_path: Path) -> None:
    sha = repo.commit("c", {"a.py": f'T = "{fakes.github_pat()}"\n'})
    first = scan(ScanRequest(root=repo.path, modes=("history",)))
    (cdir,) = (repo.path / ".git" / "unleak" / "scan-cache").iterdir()
    # A crash in the middle of the append: the commit's line is cut short.
    data = (cdir / "commits").read_text()
    (cdir / "commits").write_text(data[: len(data) // 2])
    again = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert [f.fingerprint for f in again.findings] == [f.fingerprint for f in first.findings]
    assert again.stats.chunks == 1  # scanned again, not trusted
    third = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert third.stats.chunks == 0 and sha in (cdir / "commits").read_text()
    assert [f.fingerprint for f in third.findings] == [f.fingerprint for f in first.findings]


def test_cache_add_and_load_round_trip(tmp_path: Path) -> None:
    from scanner.cache import CommitRecord

    k1, k2 = "1" * 24, "2" * 24  # keys are 24 hex digits (ruleset_key)
    c = ScanCache(tmp_path, k1)
    info = CommitInfo("a" * 40, "A", "a@example.org", "2024-01-01T00:00:00+00:00")
    clean = CommitInfo("b" * 40, "B", "b@example.org", "2024-01-01T00:00:00+00:00")
    c.add([(info, CommitRecord([], {"placeholder": 2}, 1)), (clean, CommitRecord())])
    loaded = ScanCache(tmp_path, k1).load()
    assert loaded.done == {info.sha, clean.sha}
    assert loaded.records[info.sha][1].dropped == {"placeholder": 2}
    assert clean.sha not in loaded.records
    # A new key prunes the old key's directory on first write, and nothing that is not a key's directory.
    (tmp_path / "unleak" / "scan-cache" / "notes").mkdir()
    ScanCache(tmp_path, k2).add([(info, CommitRecord())])
    assert sorted(p.name for p in (tmp_path / "unleak" / "scan-cache").iterdir()) == [k2, "notes"]


def test_unwritable_cache_still_scans(repo: Any) -> None:
    repo.commit("c", {"a.py": f'T = "{fakes.github_pat()}"\n'})
    (repo.path / ".git" / "unleak").write_text("not a directory")  # mkdir fails: no cache, same result
    res = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert len(res.findings) == 1


@pytest.mark.parametrize("forged", ["bare id", "record", "copied MAC"])
def test_a_line_an_agent_appends_does_not_hide_a_commit(repo: Any, forged: str) -> None:
    """The scan cache sits in the repository, where a coding agent can write. Appending "this commit was scanned
    and held nothing" for the commit that adds a secret hid it from every later history and range scan. Lines
    carry a MAC under a key the agent's confined processes cannot read; a forged line is ignored."""
    import json

    repo.commit("base", {"a.py": "x = 1\n"})
    scan(ScanRequest(root=repo.path, modes=("history",)))
    sha = repo.commit("add", {"b.py": f'TOKEN = "{fakes.github_pat()}"\n'})
    (commits,) = (repo.path / ".git" / "unleak" / "scan-cache").glob("*/commits")
    good = commits.read_bytes().strip().split(b"\n")[-1]
    if forged == "bare id":
        line = sha.encode()
    elif forged == "record":
        line = json.dumps({"commit": {"sha": sha, "author": "a", "email": "e", "date": "d"}, "findings": []}).encode()
    else:  # a valid line's MAC on another commit's id
        line = sha.encode() + b"\t" + good.rpartition(b"\t")[2]
    with commits.open("ab") as fh:
        fh.write(b"\n" + line + b"\n")
    for mode, kw in (("history", {}), ("range", {"range": "HEAD~1..HEAD"})):
        res = scan(ScanRequest(root=repo.path, modes=(mode,), **kw))
        assert [f.rule_id for f in res.findings if f.commit and f.commit.sha == sha], (mode, forged)


def test_the_key_is_where_a_confined_agent_cannot_read_it(repo: Any, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner import cache, hscache
    from unleak import confine

    repo.commit("c", {"a.py": f'TOKEN = "{fakes.github_pat()}"\n'})
    scan(ScanRequest(root=repo.path, modes=("history",)))
    key = hscache.data_dir() / cache.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    assert any(key.is_relative_to(d) for d in confine.unleak_dirs())
    # Without the key (as inside the sandbox) there is no cache, and the scan is still right.
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    again = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert len(again.findings) == 1 and again.stats.chunks > 0
    assert not any("from the cache" in n for n in again.notes)


def test_a_short_key_left_behind_is_not_used(repo: Any) -> None:
    """A key file that is not 32 bytes (a crash long ago, a hand edit) means no cache, never a weak MAC."""
    from scanner import cache, hscache

    key = hscache.data_dir() / cache.KEY_FILE
    hscache.private_dirs(key.parent)
    key.write_bytes(b"short")
    repo.commit("c", {"a.py": f'TOKEN = "{fakes.github_pat()}"\n'})
    scan(ScanRequest(root=repo.path, modes=("history",)))
    again = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert len(again.findings) == 1 and again.stats.chunks > 0
    assert not list((repo.path / ".git" / "unleak" / "scan-cache").glob("*/commits"))


def test_history_is_scanned_when_head_is_an_unborn_branch(repo: Any) -> None:
    """``git switch --orphan`` leaves HEAD unborn while the branches hold the whole history: --history read
    nothing and said "no secrets found"."""
    repo.commit("c", {"a.py": f'T = "{fakes.github_pat()}"\n'})
    repo.git("symbolic-ref", "HEAD", "refs/heads/new-orphan")
    for cache in (False, True):
        res = scan(ScanRequest(root=repo.path, modes=("history",), cache=cache))
        assert len(res.findings) == 1
    r = run_cli("exposure", "--format", "json", cwd=repo.path)
    assert r.returncode == 1 and len(json.loads(r.stdout)["exposures"]) == 1


@pytest.mark.parametrize("key_len", [0, 1, 32, 63, 64, 65, 200])
def test_the_cache_mac_is_hmac_sha256(key_len: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The MAC of a cache line is exactly hmac.new(key, prefix + message, sha256), whatever the key's length (over
    SHA-256's 64-byte block it is hashed first), however many lines it has signed before."""
    import hashlib
    import hmac
    import os

    key = os.urandom(key_len)
    monkeypatch.setattr("scanner.cache.mac_key", lambda: key)
    cache = ScanCache(tmp_path, "3" * 24)
    prefix = cache.key.encode() + b"\0"
    for size in (0, 1, 40, 55, 56, 64, 1000):
        msg = os.urandom(size)
        assert cache._mac(msg) == hmac.new(key, prefix + msg, hashlib.sha256).hexdigest()[:32].encode()


def test_a_record_signed_by_another_key_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.cache import CommitRecord

    info = CommitInfo("a" * 40, "A", "a@example.org", "2024-01-01T00:00:00+00:00")
    ScanCache(tmp_path, "1" * 24).add([(info, CommitRecord())])
    assert info.sha in ScanCache(tmp_path, "1" * 24).load().done
    # The same line under another rule set's key: the MAC covers the key, so it is not taken.
    other = tmp_path / "unleak" / "scan-cache" / ("2" * 24)
    other.mkdir(mode=0o700)
    (other / "commits").write_bytes((tmp_path / "unleak" / "scan-cache" / ("1" * 24) / "commits").read_bytes())
    assert not ScanCache(tmp_path, "2" * 24).load().done
    monkeypatch.setattr("scanner.cache.mac_key", lambda: b"another user's key")
    assert not ScanCache(tmp_path, "1" * 24).load().done
