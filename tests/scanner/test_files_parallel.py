"""Files scans in worker processes give exactly what one process gives: the same findings in the same order, the
same counts (files, bytes, binary, too large, links) and the same drop counters, on a generated tree with secrets,
binaries (caught by their first bytes, or not: a NUL after the sniffed head), archives, a too-large file, links, a
minified line, Latin-1 text and nested directories; in a git work tree (tracked files) and in a plain directory."""

from __future__ import annotations

import os
import random
import zipfile
from pathlib import Path

import pytest

from scanner import parallel
from scanner.api import ScanRequest, scan
from scanner.engine import Engine, EngineOptions, ScanResult
from scanner.sources import PathFilter, working_tree_files
from tests.conftest import GitRepo
from tests.fakes import aws_access_key_id, github_pat, password, private_key_pem, slack_bot_token, stripe_live_key


def _tree(root: Path, seed: int = 4) -> None:
    rng = random.Random(seed)
    makers = (github_pat, stripe_live_key, slack_bot_token, aws_access_key_id)
    for i in range(parallel.MIN_PARALLEL_FILES + 60):
        d = root / f"pkg{i % 7}" / f"sub{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        kind = rng.randrange(10)
        if kind == 0:
            text = f'API_TOKEN = "{rng.choice(makers)()}"\nx = {i}\n'
        elif kind == 1:
            text = f'db:\n  password: "{password()}"\n  user: app{i}\n'
        elif kind == 2:
            text = "var a=1;" * 3000 + f'var k="{github_pat()}";\n'  # a minified bundle
        elif kind == 3:
            (d / f"blob{i}.bin").write_bytes(b"\x89PNG\0\0" + os.urandom(3000))
            continue
        elif kind == 4:
            (d / f"late{i}.dat").write_bytes(b"a" * 9000 + b"\0" + f'T = "{github_pat()}"\n'.encode())
            continue
        elif kind == 5:
            (d / f"latin{i}.py").write_bytes(b"# caf\xe9\nK = '" + stripe_live_key().encode() + b"'\n")
            continue
        elif kind == 6:  # an archive: its members are scanned like files
            with zipfile.ZipFile(d / f"bundle{i}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("conf/app.env", f"TOKEN={github_pat()}\n")
                zf.writestr("logo.png", b"\x89PNG\0\0" + os.urandom(200))
            continue
        else:
            text = f"def f{i}():\n    return {i}\n" * rng.randrange(1, 40)
        (d / f"m{i}.py").write_text(text, encoding="utf-8")
    (root / "id_rsa").write_text(private_key_pem() + "\n", encoding="utf-8")
    (root / "huge.txt").write_text("x = 1\n" * 400_000, encoding="utf-8")  # above the 1 MB limit used here
    (root / "link.py").symlink_to(root / "pkg0" / "sub0")


def _scan(root: Path, **kw: object) -> tuple[list[dict[str, object]], dict[str, int], dict[str, int]]:
    r = scan(ScanRequest(root=root, modes=("files",), max_file_size=1024 * 1024, **kw))  # type: ignore[arg-type]
    return [f.to_dict() for f in r.findings], r.stats.to_dict(), dict(r.dropped)


@pytest.mark.parametrize("in_git", [True, False])
def test_parallel_files_scan_equals_one_process(tmp_path: Path, in_git: bool) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    _tree(root)
    if in_git:
        repo = GitRepo(root)
        repo.git("init", "-q", "-b", "main")
        repo.commit("tree")
    one = _scan(root, workers=1)
    two = _scan(root, workers=2)
    plain = _scan(root, plain=True)
    assert two == one
    assert two[0] == plain[0] and two[1] == plain[1]
    findings, stats, _ = two
    assert len(findings) > 40 and stats["binary_skipped"] > 10 and stats["too_large"] == 1
    assert any("late" in str(f["path"]) for f in findings)  # a NUL after the sniffed head: still text
    members = [f for f in findings if f["source"] == "archive"]
    assert members and all(str(f["path"]).endswith(".zip!/conf/app.env") for f in members)
    assert stats["archive_members"] == len(members)  # the png beside each is binary: not a member scanned


def test_scan_files_really_uses_workers(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    _tree(root)
    stats = ScanResult().stats
    files = list(working_tree_files([], root, stats, PathFilter()))
    engine = Engine(EngineOptions())
    result = ScanResult()
    assert parallel.scan_files(engine, result, files, workers=2, max_size=1024 * 1024)
    assert engine.accelerator() is not None  # the prefilter was compiled for the workers
    assert result.stats.files > parallel.MIN_PARALLEL_FILES // 2 and result.findings
    few = ScanResult()
    assert not parallel.scan_files(engine, few, files[:10], workers=0, max_size=1024 * 1024)
    assert few.findings == [] and few.stats.files == 0
