"""Commits read in blocks taken one at a time (``scanner.git.blocks``) and shared out among worker processes as
they become free: the same text ``git log -p`` gives, what cannot be read skipped as before, history read from the
repository's objects only (never from the work tree), and a slow block never holding up the others."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from scanner import git, parallel
from scanner.api import ScanRequest, scan
from scanner.git import blocks
from scanner.git.history import _DIFF_OPTS, LOG_FORMAT
from tests.conftest import GitRepo
from tests.fakes import github_pat, stripe_live_key
from tests.scanner import speed_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("blocks") / "repo"
    speed_corpus.build(path, commits=90, seed=11)  # merges (one evil), renames, deletions, binaries, CRLF
    return path


def _git_bytes(path: Path, args: list[str], stdin: bytes) -> bytes:
    proc = subprocess.run(["git", "-c", "core.quotePath=false", *args], cwd=path, input=stdin,
                          capture_output=True, check=True)
    return proc.stdout


def test_diff_tree_prints_what_git_log_prints(corpus: Path) -> None:
    shas = git.rev_list(corpus, ["--all"])
    data = "".join(s + "\n" for s in shas).encode()
    log = _git_bytes(corpus, ["log", "--no-walk=unsorted", "--stdin", "-p", "--cc", *_DIFF_OPTS, LOG_FORMAT, "--"],
                     data)
    tree = _git_bytes(corpus, blocks.ARGS, data)
    assert log.count(b"\x01unleak\x01") == len(shas)  # every commit, the empty-diff ones too
    assert tree == log


@pytest.mark.parametrize("size", [1, 4, 1000])
def test_blocks_give_every_commit_once_in_order_with_its_block(corpus: Path, size: int) -> None:
    shas = git.rev_list(corpus, ["--all"])
    cut = [shas[i:i + size] for i in range(0, len(shas), size)]
    got = list(blocks.taken_added_texts(corpus, parallel.in_turn(cut)))
    assert [(i, info.sha) for i, info, _ in got] == [(i, s) for i, b in enumerate(cut) for s in b]
    whole = [(info, files) for info, files in git.commit_added_texts(corpus, shas)]
    assert [(info, files) for _, info, files in got] == whole


def test_a_commit_git_cannot_find_is_skipped_and_the_block_goes_on(repo: GitRepo) -> None:
    one = repo.commit("one", {"a.py": f"A = '{github_pat()}'\n"})
    two = repo.commit("two", {"b.py": f"B = '{github_pat()}'\n"})
    ghost = "1234567890" * 4  # diff-tree prints nothing at all for it
    skipped: list[Any] = []
    got = list(blocks.taken_added_texts(repo.path, parallel.in_turn([[two, ghost, one], [one]]), skipped))
    assert [(i, info.sha) for i, info, _ in got] == [(0, two), (0, ghost), (0, one), (1, one)]
    assert [s.commit for s in skipped] == [ghost]
    assert [f.path for f in got[0][2]] == ["b.py"] and [f.path for f in got[2][2]] == ["a.py"]
    with pytest.raises(git.GitError, match="could not read commit"):
        list(blocks.taken_added_texts(repo.path, parallel.in_turn([[two, ghost]])))


@pytest.mark.parametrize("workers", [1, 2])
def test_history_is_read_from_objects_not_from_the_work_tree(repo: GitRepo, workers: int) -> None:
    """With rename detection diff-tree reads the index, and where an entry looks current it takes the work tree's
    file instead of the blob. A blob missing from the repository must be reported skipped even though the work
    tree holds the same file."""
    repo.commit("one", {"keep.py": f"K = '{github_pat()}'\n"})
    repo.commit("two", {"lost.py": f"L = '{stripe_live_key()}'\n"})
    oid = repo.git("rev-parse", "HEAD:lost.py")
    (repo.path / ".git" / "objects" / oid[:2] / oid[2:]).unlink()
    repo.git("status")  # the index's stat data current: the work tree file would be taken as the blob
    res = scan(ScanRequest(root=repo.path, modes=("history",), workers=workers, cache=False))
    assert [f.path for f in res.findings] == ["keep.py"]
    assert [s.path for s in res.skipped] == ["lost.py"]


def test_a_worker_busy_with_a_slow_block_leaves_the_rest_to_the_others(tmp_path: Path) -> None:
    """Blocks go to whichever worker is free: while one worker is held on block 0 until every other block has been
    taken, the other takes them all (blocks dealt in advance would leave half of them waiting on block 0)."""
    import os

    count = 9
    flag = tmp_path / "taken"

    def scan_blocks(take: Any, worker: int) -> Any:
        while (got := take()) is not None:
            index, _ = got
            if index == 0:
                deadline = time.monotonic() + 60
                while not flag.exists() and time.monotonic() < deadline:
                    time.sleep(0.01)
            elif index == count - 1:
                flag.touch()
            yield index, (os.getpid(), flag.exists())

    results: list[tuple[int, bool]] = []
    assert parallel._run_workers([[] for _ in range(count)], 2, results.append, scan=scan_blocks)
    assert len(results) == count
    held = results[0][0]
    assert results[0][1], "block 0 was released only by a timeout: the other worker did not take the rest"
    assert all(pid != held for pid, _ in results[1:])
