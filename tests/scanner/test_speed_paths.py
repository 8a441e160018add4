"""The fast history path (gates, hunk-level parsing, worker processes, dedupe, cache) returns exactly what the plain
reference path returns: same findings, same order, same drop counts, same statistics."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scanner import git, parallel, sources
from scanner.api import ScanRequest, scan
from scanner.engine import Engine
from scanner.errors import GitError
from scanner.result import ScanResult, Stats
from tests import fakes
from tests.procs import processes
from tests.scanner import speed_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("corpus") / "repo"
    named = speed_corpus.build(path)
    return path, named


def _key(res: ScanResult) -> list[tuple[Any, ...]]:
    return [(f.commit.sha if f.commit else None, f.path, f.line, f.column, f.end_column, f.rule_id, f.fingerprint,
             f.preview, f.source, f.confidence, f.sha1) for f in res.findings]


def _plain(root: Path, mode: str = "history", **kw: Any) -> ScanResult:
    return scan(ScanRequest(root=root, modes=(mode,), plain=True, **kw))


@pytest.mark.parametrize("kw", [
    {"workers": 1, "cache": False},
    {"workers": 1, "cache": False, "block": 7},
    {"workers": 2, "cache": False, "block": 16},
    {"workers": 3, "cache": False, "block": 5},
    {"workers": 2, "cache": True, "block": 16},
    {"workers": 0, "cache": True},
])
def test_fast_path_equals_plain_path(corpus: tuple[Path, dict[str, str]], kw: dict[str, Any],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = corpus
    subprocess.run(["rm", "-rf", str(root / ".git" / "unleak")], check=True)
    kw = dict(kw)
    # Small blocks so that a ~150-commit corpus is dealt over several workers (the forked workers inherit it).
    monkeypatch.setattr(parallel, "BLOCK", kw.pop("block", parallel.BLOCK))
    plain = _plain(root)
    fast = scan(ScanRequest(root=root, modes=("history",), **kw))
    assert plain.findings, "the corpus must produce findings, or the comparison proves nothing"
    assert _key(fast) == _key(plain)
    assert fast.dropped == plain.dropped
    assert fast.stats.to_dict() == plain.stats.to_dict()
    # The corpus exercises what the fast path special-cases: detect-secrets rules behind the gate, an evil merge
    # and a cherry-pick replayed from the dedupe table.
    rules = Counter(f.rule_id for f in fast.findings)
    assert rules["UL950"] and rules["UL952"]
    _, named = corpus
    shas = {f.commit.sha for f in fast.findings if f.commit}
    assert {named["evil"], named["pick-a"], named["pick-b"]} <= shas


def test_gates_off_and_on_agree_per_chunk(corpus: tuple[Path, dict[str, str]]) -> None:
    from scanner.engine import Engine, EngineOptions

    root, _ = corpus
    chunks = list(sources.commits(root, ["--all"], Stats(), sources.PathFilter()))
    on, off = Engine(EngineOptions(gates=True)), Engine(EngineOptions(gates=False))
    for chunk in chunks:
        d_on: Counter[str] = Counter()
        d_off: Counter[str] = Counter()
        assert on.scan_chunk(chunk, None, d_on) == off.scan_chunk(chunk, None, d_off), chunk.path
        assert d_on == d_off


def test_hunk_parser_gives_the_same_chunks_as_the_line_parser(corpus: tuple[Path, dict[str, str]]) -> None:
    root, _ = corpus
    s1, s2 = Stats(), Stats()
    plain = [(c.commit.sha if c.commit else "", c.path, c.text, c.line_numbers)
             for c in sources.commits(root, ["--all"], s1, sources.PathFilter())]
    shas = git.rev_list(root, ["--all"])
    blocks = [shas[i:i + 7] for i in range(0, len(shas), 7)]  # several blocks in flight in one git process
    fast = [(c.commit.sha if c.commit else "", c.path, c.text, c.line_numbers)
            for _, _, cs, _ in sources.commit_groups(root, parallel.in_turn(blocks), s2, sources.PathFilter())
            for c in cs]
    assert fast == plain
    assert s1 == s2


def test_explain_and_exclude_agree(corpus: tuple[Path, dict[str, str]]) -> None:
    root, _ = corpus
    kw: dict[str, Any] = {"explain": True, "exclude": ("src/mod_1*/**",)}
    plain = _plain(root, **kw)
    fast = scan(ScanRequest(root=root, modes=("history",), workers=2, **kw))
    assert _key(fast) == _key(plain)
    assert sorted(map(repr, fast.explanations)) == sorted(map(repr, plain.explanations))


def test_range_mode_agrees(repo: Any) -> None:
    base = repo.commit("base", {"a.py": "x = 1\n"})
    for i in range(5):
        repo.commit(f"c{i}", {f"f{i}.py": f'TOKEN = "{fakes.github_pat()}"\n'})
    fast = scan(ScanRequest(root=repo.path, modes=("range",), range=f"{base}..HEAD", workers=2))
    plain = _plain(repo.path, "range", range=f"{base}..HEAD")
    assert len(fast.findings) == 5
    assert _key(fast) == _key(plain)


def test_rescan_reads_only_new_commits_and_reports_old_findings(repo: Any) -> None:
    for i in range(4):
        repo.commit(f"c{i}", {f"f{i}.py": f'TOKEN = "{fakes.github_pat()}"\nx = {i}\n'})
    first = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert len(first.findings) == 4
    cache_dirs = list((repo.path / ".git" / "unleak" / "scan-cache").iterdir())
    assert len(cache_dirs) == 1
    again = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert _key(again) == _key(first)
    assert again.stats.chunks == 0  # nothing was read from git
    assert any("from the cache" in n for n in again.notes)
    # New commits, one on a new branch: only they are scanned; everything is reported, in git log order.
    repo.commit("c4", {"g.py": f'KEY = "{fakes.aws_access_key_id()}"\n'})
    repo.git("checkout", "-q", "-b", "side")
    repo.commit("c5", {"h.py": f'SLACK = "{fakes.slack_bot_token()}"\n'})
    third = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert third.stats.chunks == 2
    assert _key(third) == _key(_plain(repo.path))
    assert len(third.findings) == 6


def test_cached_findings_never_carry_values(repo: Any) -> None:
    secret = fakes.github_pat()
    repo.commit("c", {"f.py": f'TOKEN = "{secret}"\n'})
    scan(ScanRequest(root=repo.path, modes=("history",)))
    cached = scan(ScanRequest(root=repo.path, modes=("history",)))
    assert cached.findings and all(f.secret.reveal() == "" for f in cached.findings)
    for p in (repo.path / ".git" / "unleak").rglob("*"):
        if p.is_file():
            assert secret not in p.read_text(errors="replace")


def test_a_git_failure_in_a_worker_reaches_the_caller(corpus: tuple[Path, dict[str, str]],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.errors import GitError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise GitError("git log failed: bad object (simulated)")
        yield  # pragma: no cover

    root, _ = corpus
    monkeypatch.setattr(sources, "commit_groups", broken)  # inherited by the forked workers
    monkeypatch.setattr(parallel, "BLOCK", 16)
    with pytest.raises(GitError, match="simulated"):
        scan(ScanRequest(root=root, modes=("history",), workers=2, cache=False))


def test_a_worker_that_dies_is_reported_not_waited_for(corpus: tuple[Path, dict[str, str]],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    real = sources.commit_groups

    def dying(repo: Path, take: Any, *args: Any, **kwargs: Any) -> Any:
        for n, item in enumerate(real(repo, take, *args, **kwargs)):
            if n == 3 and os.getpid() != parent:
                os._exit(9)  # killed mid-block, as the OOM killer would
            yield item

    parent = os.getpid()
    root, _ = corpus
    monkeypatch.setattr(sources, "commit_groups", dying)
    monkeypatch.setattr(parallel, "BLOCK", 16)
    with pytest.raises(parallel.ScanWorkerError, match="exit code 9"):
        scan(ScanRequest(root=root, modes=("history",), workers=2, cache=False))


def test_a_commit_git_leaves_out_is_an_error_not_a_shifted_block(corpus: tuple[Path, dict[str, str]],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner.errors import GitError

    real = sources.commit_groups

    def skipping(repo: Path, shas: list[str], *args: Any, **kwargs: Any) -> Any:
        for n, item in enumerate(real(repo, shas, *args, **kwargs)):
            if n != 5:
                yield item

    root, _ = corpus
    monkeypatch.setattr(sources, "commit_groups", skipping)
    monkeypatch.setattr(parallel, "BLOCK", 16)
    with pytest.raises(GitError, match="was expected"):
        scan(ScanRequest(root=root, modes=("history",), workers=1, cache=False))


def test_the_collector_is_paused_only_while_scanning(corpus: tuple[Path, dict[str, str]],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    seen: list[bool] = []
    real = sources.commit_groups

    def watching(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        yield from real(*args, **kwargs)

    root, _ = corpus
    monkeypatch.setattr(sources, "commit_groups", watching)
    assert gc.isenabled()
    scan(ScanRequest(root=root, modes=("history",), workers=1, cache=False))
    assert seen == [False] and gc.isenabled()


def test_a_rescan_with_nothing_new_compiles_no_prefilter(corpus: tuple[Path, dict[str, str]],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from scanner import engine

    built: list[int] = []
    real = engine.Hyperscan

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(1)
        return real(*args, **kwargs)

    root, _ = corpus
    subprocess.run(["rm", "-rf", str(root / ".git" / "unleak")], check=True)
    monkeypatch.setattr(engine, "Hyperscan", counting)
    first = scan(ScanRequest(root=root, modes=("history",), workers=1))
    assert built == [1]
    again = scan(ScanRequest(root=root, modes=("history",), workers=1))
    assert built == [1] and _key(again) == _key(first)


@pytest.mark.parametrize("workers", [1, 2])
def test_commit_messages_are_scanned_with_their_commits_and_cached(repo: Any, workers: int,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A value pasted into a commit message is found by the fast path as by the plain path, reported after the
    findings in files, and cached with its commit: a rescan reads no message again, and a new commit's message
    is read alone. Tag messages are read each time (a tag can be added without a commit)."""
    monkeypatch.setattr(parallel, "BLOCK", 2)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_COMMITS", 1)
    for i in range(5):
        repo.commit(f"deploy {i}\n\ntoken used: {fakes.github_pat()}" if i % 2 else f"c{i}",
                    {f"f{i}.py": f'TOKEN = "{fakes.github_pat()}"\n'})
    repo.git("tag", "-a", "v1", "-m", f"release\n\nslack: {fakes.slack_bot_token()}")
    read: list[list[str] | None] = []
    real = git.commit_messages

    def spy(top: Path, revs: list[str], shas: list[str] | None = None) -> Any:
        read.append(None if shas is None else list(shas))
        return real(top, revs, shas)

    monkeypatch.setattr(git, "commit_messages", spy)
    first = scan(ScanRequest(root=repo.path, modes=("history",), workers=workers))
    plain = _plain(repo.path)
    assert _key(first) == _key(plain)
    assert first.dropped == plain.dropped
    sources_seen = [f.source for f in first.findings]
    assert sources_seen.count("commit-message") == 2 and sources_seen.count("tag-message") == 1
    assert sources_seen == sorted(sources_seen, key=["commit", "commit-message", "tag-message"].index)
    read.clear()
    scanned: list[str] = []
    real_scan = Engine.scan_chunk

    def counting(self: Engine, chunk: Any, *a: Any, **k: Any) -> Any:
        scanned.append(chunk.source)
        return real_scan(self, chunk, *a, **k)

    monkeypatch.setattr(Engine, "scan_chunk", counting)
    again = scan(ScanRequest(root=repo.path, modes=("history",), workers=workers))
    assert _key(again) == _key(first)
    assert all(not shas for shas in read)  # no commit message read again
    assert scanned == []  # and no tag message scanned again
    new = repo.commit(f"rotate\n\nold one was {fakes.github_pat()}", {"g.py": "x = 1\n"})
    read.clear()
    third = scan(ScanRequest(root=repo.path, modes=("history",), workers=workers))
    assert [shas for shas in read if shas] == [[new]]
    assert "tag-message" not in scanned
    assert _key(third) == _key(_plain(repo.path))
    assert [f.source for f in third.findings].count("commit-message") == 3


def test_commits_whose_messages_could_not_be_read_are_not_cached(repo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache holds each commit with what its message gave: when git cannot list the messages, caching the
    commits would lose a secret in a message for good, so none is cached and the next scan reads them again."""
    from scanner.errors import GitError

    repo.commit(f"deploy\n\ntoken used: {fakes.github_pat()}", {"f.py": f'TOKEN = "{fakes.github_pat()}"\n'})
    real = git.commit_messages

    def failing(top: Path, revs: list[str], shas: list[str] | None = None) -> Any:
        if shas:
            raise GitError("git log failed: fatal: bad object")
        return real(top, revs, shas)

    monkeypatch.setattr(git, "commit_messages", failing)
    first = scan(ScanRequest(root=repo.path, modes=("history",), workers=1))
    assert [f.source for f in first.findings] == ["commit"]
    assert any("messages were not scanned" in n for n in first.notes)
    monkeypatch.setattr(git, "commit_messages", real)
    again = scan(ScanRequest(root=repo.path, modes=("history",), workers=1))
    assert again.stats.chunks > 0  # read again, not from the cache
    assert sorted(f.source for f in again.findings) == ["commit", "commit-message"]


def test_sections_with_no_newline_markers_take_the_hunk_parser_and_give_what_the_line_parser_gives(repo: Any) -> None:
    """"\\ No newline at end of file" after a removed line, an added line, or both, in one hunk or several: the hunk
    parser takes these sections (they were a tenth of a small history's parsing CPU in the line parser) and must
    give the line parser's text and line numbers."""
    from scanner.git.parse import _parse_section, _section_fallback

    files = {"a.txt": "one\ntwo", "b.txt": "x\ny\nz\n", "c.txt": "keep\nlast", "d.txt": "only"}
    repo.commit("one", files)
    repo.commit("two", {"a.txt": "one\ntwo\nthree", "b.txt": "x\nY\nz", "c.txt": "keep\nlast\n",
                        "d.txt": "only\r\nmore\r\nend", "e.txt": "new"})
    repo.commit("three", {"a.txt": "ONE\ntwo\nthree\n", "d.txt": "x"})
    out = subprocess.run(["git", "log", "-p", "-U0", "--format=", "--no-color", "--no-renames"], cwd=repo.path,
                         capture_output=True, check=True).stdout
    marks = taken = 0
    starts = [i for i in range(len(out)) if out.startswith(b"diff --git ", i)]
    for a, b in zip(starts, [*starts[1:], len(out)], strict=True):
        section = out[a:b]
        marks += b"\n\\" in section
        fast = _parse_section(out, a, b)
        if fast is None:
            continue
        taken += b"\n\\" in section
        want = [fp for fp in _section_fallback(section)]
        assert (fast.text, fast.line_numbers) == ("\n".join(body for fp in want for _, body in fp.added),
                                                 tuple(n for fp in want for n, _ in fp.added)), section
    assert marks >= 6 and taken == marks


def _count_git_calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The arguments of every git command scanner.git.history runs from now on (appended as they run)."""
    from scanner.git import history

    calls: list[list[str]] = []
    real_call = history._call

    def counting(args: list[str], cwd: Any, stdin: bytes | None = None) -> Any:
        calls.append(args)
        return real_call(args, cwd, stdin)

    monkeypatch.setattr(history, "_call", counting)
    return calls


def test_a_rev_list_started_early_is_taken_only_for_its_own_repository_and_revisions(
        repo: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The console script starts ``git rev-list --all`` before it imports the scanner; rev_list takes that result
    for the same work tree and revisions (git is not run again), and otherwise runs git itself."""

    repo.commit("one", {"a.py": "x = 1\n"})
    repo.commit("two", {"b.py": "y = 2\n"})
    want = git.rev_list(repo.path, ["--all"])
    calls = _count_git_calls(monkeypatch)
    git.start_rev_list(str(repo.path), ["--all"])
    assert git.rev_list(repo.path, ["--all"]) == want and calls == []
    # Another revision list, or a repository that is not the one started for: git runs as always.
    git.start_rev_list(str(repo.path), ["--all"])
    assert git.rev_list(repo.path, ["HEAD~1"]) == want[1:] and len(calls) == 1
    assert git.rev_list(repo.path, ["--all"]) == want and len(calls) == 1  # (the one started above)
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    git.start_rev_list(str(other), ["--all"])  # never taken for another repository
    assert git.rev_list(repo.path, ["--all"]) == want and len(calls) == 2
    assert git.rev_list(other, ["--all"]) == [] and len(calls) == 2
    git.start_rev_list(str(repo.path), ["no-such-ref"])
    with pytest.raises(GitError):
        git.rev_list(repo.path, ["no-such-ref"])  # a failed early walk is no answer: git runs again and says why
    assert len(calls) == 3


def test_the_console_script_walks_history_once(repo: Any, tmp_path: Path) -> None:
    """``unleak scan --history`` starts its ``git rev-list --all`` before anything else runs git, and uses it: git
    walks history once."""
    from tests.conftest import run_cli

    repo.commit("one", {"a.py": "x = 1\n"})
    trace = tmp_path / "trace"
    proc = run_cli("scan", "--history", "--no-baseline", cwd=repo.path, env={"GIT_TRACE": str(trace)})
    assert proc.returncode == 0, proc.stderr
    runs = [ln.split("built-in: ", 1)[1] for ln in trace.read_text().splitlines() if "built-in: " in ln]
    assert [i for i, ln in enumerate(runs) if ln.startswith("git rev-list --all")] == [0], runs


def test_exposure_walks_the_scan_list_early_and_leaves_nothing_behind(repo: Any, monkeypatch: Any) -> None:
    """``analyze`` starts the history scan's ``git rev-list`` before it imports and builds the scan, the scan takes
    it (git is not asked again), and nothing started is left for a later call of the same process to take (an MCP
    server, a test run) once a commit moved history on."""
    from scanner.exposure.analysis import analyze
    from scanner.git import history

    repo.commit("one", {"a.py": f'T = "{fakes.github_pat()}"\n'})
    calls = _count_git_calls(monkeypatch)
    assert len(analyze(repo.path).exposures) == 1
    assert not [c for c in calls if c[:1] == ["rev-list"] and "--all" in c], calls  # the early walk was taken
    assert not history._EARLY
    # A scan that never lists commits (the plain path) leaves the early walk untaken: it is dropped all the same.
    analyze(repo.path, ScanRequest(root=repo.path, plain=True))
    assert not history._EARLY
    repo.commit("two", {"b.py": "y = 2\n"})
    assert len(git.rev_list(repo.path, ["--all"])) == 2


def _children() -> list[str]:
    """The commands of this process's child processes (running or not yet reaped)."""
    import os

    return [p.name for p in processes().values() if p.ppid == os.getpid()]


def test_the_head_start_diffs_the_first_blocks_and_leaves_no_process(corpus: tuple[Path, dict[str, str]],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The git processes started before the workers fork are handed the first blocks (each block read once, by
    one process), the workers take the rest, the findings are the plain path's, and every git process started
    here is reaped once the scan is done."""
    root, _ = corpus
    monkeypatch.setattr(parallel, "BLOCK", 16)
    made: list[git.HeadStart] = []
    real = git.HeadStart

    def recording(*args: Any) -> Any:
        made.append(real(*args))
        return made[-1]

    monkeypatch.setattr(git, "HeadStart", recording)
    before = _children()
    fast = scan(ScanRequest(root=root, modes=("history",), workers=2, cache=False))
    plain = _plain(root)
    assert _key(fast) == _key(plain) and fast.stats.to_dict() == plain.stats.to_dict()
    assert len(made) == 1 and made[0].taken == 4 and not made[0].readers  # closed: reaped
    assert _children() == before
