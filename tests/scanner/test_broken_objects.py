"""History scans over repositories with objects git cannot read: missing or corrupt, loose or packed, a partial
clone whose promisor remote is gone. What cannot be read is skipped and reported (commit and path); every other
finding is exactly what a scan of the healthy repository reports; the exit code only changes with --strict."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zlib
from pathlib import Path

import jsonschema
import pytest

from scanner import parallel
from scanner.api import ScanRequest, scan
from scanner.finding import Finding
from tests.conftest import GitRepo, run_cli
from tests.fakes import aws_access_key_id, github_pat, slack_bot_token, stripe_live_key

SARIF_SCHEMA = Path(__file__).resolve().parents[1] / "data" / "schemas" / "sarif-schema-2.1.0.json"
Key = tuple[str, str, str, str]


def _keys(findings: list[Finding]) -> set[Key]:
    return {(f.commit.sha if f.commit else "", f.path, f.rule_id, f.fingerprint) for f in findings}


def _story(repo: GitRepo) -> dict[str, str]:
    """c1 a.py ─ c2 victim.txt + b.py ─ c3 c.py ─ c4 victim.txt changed + d.py; returns shas and the victim blob."""
    shas = {"c1": repo.commit("one", {"a.py": f"A = '{github_pat()}'\n"})}
    shas["c2"] = repo.commit("two", {"victim.txt": f"V = '{stripe_live_key()}'\n", "b.py": f"B = '{github_pat()}'\n"})
    shas["victim"] = repo.git("rev-parse", "HEAD:victim.txt")
    shas["c3"] = repo.commit("three", {"c.py": f"C = '{slack_bot_token()}'\n"})
    shas["c4"] = repo.commit("four", {"victim.txt": f"V = 'x'\nW = '{aws_access_key_id()}'\n",
                                       "d.py": f"D = '{github_pat()}'\n"})
    shas["c5"] = repo.commit("five", {"e.py": f"E = '{stripe_live_key()}'\n"})
    return shas


def _git(repo: GitRepo, *args: str, stdin: bytes = b"") -> str:
    """git with an explicit stdin (repack's pack-objects reads revisions from a non-terminal stdin)."""
    proc = subprocess.run(["git", *args], cwd=repo.path, input=stdin, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return proc.stdout.decode("utf-8", "replace")


def _loose(repo: GitRepo, oid: str) -> Path:
    return repo.path / ".git" / "objects" / oid[:2] / oid[2:]


def _pack(repo: GitRepo, without: str = "", window: int = 10) -> None:
    """Every object (but ``without``) into one pack, loose copies removed: packed storage, built without `git repack`
    (whose own pack-objects run reads revisions from stdin)."""
    every = _git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split()
    packdir = repo.path / ".git" / "objects" / "pack"
    _git(repo, "pack-objects", "-q", f"--window={window}", str(packdir / "pack"),
         stdin="".join(o + "\n" for o in every if o != without).encode())
    _git(repo, "prune-packed")
    if without:
        _loose(repo, without).unlink()


def _drop_from_pack(repo: GitRepo, oid: str) -> None:
    _pack(repo, without=oid)


def _corrupt_in_pack(repo: GitRepo, oid: str) -> None:
    """Flip bytes inside ``oid``'s compressed data in the pack (its CRC and zlib stream then fail)."""
    _pack(repo, window=0)  # no deltas: the blob's own bytes are in the pack
    packdir = repo.path / ".git" / "objects" / "pack"
    idx = next(packdir.glob("*.idx"))
    rows = _git(repo, "verify-pack", "-v", str(idx)).splitlines()
    row = next(r.split() for r in rows if r.startswith(oid))
    size_in_pack, offset = int(row[3]), int(row[4])
    pack = idx.with_suffix(".pack")
    pack.chmod(0o644)
    data = bytearray(pack.read_bytes())
    mid = offset + size_in_pack // 2
    data[mid:mid + 4] = bytes(b ^ 0xFF for b in data[mid:mid + 4])
    pack.write_bytes(bytes(data))


def _corrupt_loose(repo: GitRepo, oid: str) -> None:
    p = _loose(repo, oid)
    p.chmod(0o644)
    p.write_bytes(zlib.compress(b"blob 5\0") + b"garbage")


def _damage(repo: GitRepo, how: str, oid: str) -> None:
    if how == "missing-loose":
        _loose(repo, oid).unlink()
    elif how == "corrupt-loose":
        _corrupt_loose(repo, oid)
    elif how == "missing-packed":
        _drop_from_pack(repo, oid)
    elif how == "corrupt-packed":
        _corrupt_in_pack(repo, oid)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("how", ["missing-loose", "corrupt-loose", "missing-packed", "corrupt-packed"])
def test_an_unreadable_blob_costs_only_its_own_file(repo: GitRepo, how: str, workers: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # With two workers, a block per commit: the git processes started before the workers fork (their head start)
    # and those a worker starts itself both meet the damaged commits.
    monkeypatch.setattr(parallel, "BLOCK", 1 if workers > 1 else parallel.BLOCK)
    shas = _story(repo)
    healthy = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    assert len(healthy.findings) == 7 and not healthy.skipped
    _damage(repo, how, shas["victim"])
    damaged = scan(ScanRequest(root=repo.path, modes=("history",), workers=workers))
    # c2 added the blob; c4 changed it (its diff needs the old blob too): victim.txt is skipped in both, and only it
    assert {(s.commit, s.path) for s in damaged.skipped} == {(shas["c2"], "victim.txt"),
                                                             (shas["c4"], "victim.txt")}, damaged.skipped
    lost = {k for k in _keys(healthy.findings) if (k[0], k[1]) in {(shas["c2"], "victim.txt"),
                                                                   (shas["c4"], "victim.txt")}}
    assert len(lost) == 2
    assert _keys(damaged.findings) == _keys(healthy.findings) - lost
    assert damaged.stats.commits == healthy.stats.commits == 5
    for s in damaged.skipped:
        assert s.reason and "V = " not in s.reason


def test_skipped_commits_are_not_cached_and_are_scanned_once_repaired(repo: GitRepo, tmp_path: Path) -> None:
    shas = _story(repo)
    healthy = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    saved = tmp_path / "victim"
    shutil.copy2(_loose(repo, shas["victim"]), saved)
    _loose(repo, shas["victim"]).unlink()
    assert len(scan(ScanRequest(root=repo.path, modes=("history",))).skipped) == 2
    shutil.copy2(saved, _loose(repo, shas["victim"]))  # the object comes back (fetched again, restored)
    again = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert not again.skipped and _keys(again.findings) == _keys(healthy.findings)


def test_cli_reports_skips_in_text_json_and_sarif_and_strict_exits_2(repo: GitRepo) -> None:
    shas = _story(repo)
    _loose(repo, shas["victim"]).unlink()
    text = run_cli("scan", "--history", cwd=repo.path)
    assert text.returncode == 1, text.stderr  # findings decide the exit code, not the skip
    assert "warning: 2 unreadable git object(s) in 2 commit(s) were skipped" in text.stderr
    assert f"{shas['c2'][:12]} victim.txt" in text.stderr and "2 unreadable in git" in text.stdout
    doc = json.loads(run_cli("scan", "--history", "--format", "json", cwd=repo.path).stdout)
    assert doc["skipped"] == 2 and {o["path"] for o in doc["skipped_objects"]} == {"victim.txt"}
    sarif = json.loads(run_cli("scan", "--history", "--format", "sarif", cwd=repo.path).stdout)
    jsonschema.validate(sarif, json.loads(SARIF_SCHEMA.read_text()))
    assert sarif["runs"][0]["properties"]["skipped"] == 2
    strict = run_cli("scan", "--history", "--strict", "--format", "json", cwd=repo.path)
    assert strict.returncode == 2 and json.loads(strict.stdout)["skipped"] == 2


def test_an_unreadable_tree_skips_its_commit_and_the_rest_is_scanned(repo: GitRepo) -> None:
    shas = _story(repo)
    healthy = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    tree = repo.git("rev-parse", f"{shas['c3']}^{{tree}}")
    _loose(repo, tree).unlink()
    damaged = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    whole = {s.commit for s in damaged.skipped if not s.path}
    assert shas["c3"] in whole and whole <= {shas["c3"], shas["c4"]}
    assert _keys(damaged.findings) == {k for k in _keys(healthy.findings) if k[0] not in whole}
    assert {k[0] for k in _keys(damaged.findings)} >= {shas["c1"], shas["c2"], shas["c5"]}


def test_a_partial_clone_whose_promisor_is_gone_scans_what_it_has(repo: GitRepo, tmp_path: Path) -> None:
    shas = _story(repo)
    healthy = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    server = tmp_path / "server.git"
    repo.git("clone", "-q", "--bare", str(repo.path), str(server))
    repo.git("-C", str(server), "config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "partial"
    repo.git("clone", "-q", "--filter=blob:none", "--no-checkout", f"file://{server}", str(clone))
    # Fetch only the blobs of HEAD's tree; every older blob stays a promisor object, then the promisor goes.
    repo.git("-C", str(clone), "checkout", "-q", "main")
    shutil.rmtree(server)
    damaged = scan(ScanRequest(root=clone, modes=("history",), cache=False))
    assert damaged.skipped
    assert _keys(damaged.findings) <= _keys(healthy.findings)
    # c5's only file is in HEAD's tree and its parent's version is nothing: it was read
    assert any(k[0] == shas["c5"] for k in _keys(damaged.findings))


def test_a_missing_commit_object_skips_what_only_it_reaches(repo: GitRepo) -> None:
    shas = _story(repo)
    repo.git("checkout", "-q", "-b", "side", shas["c1"])
    side = repo.commit("side", {"s.py": f"S = '{github_pat()}'\n"})
    repo.git("checkout", "-q", "main")
    healthy = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    _loose(repo, shas["c5"]).unlink()  # main's tip: its history cannot be walked from there
    damaged = scan(ScanRequest(root=repo.path, modes=("history",), cache=False))
    assert damaged.skipped
    assert any(k[0] == side for k in _keys(damaged.findings))
    assert _keys(damaged.findings) <= _keys(healthy.findings)
    assert os.environ.get("GIT_DIR") is None
