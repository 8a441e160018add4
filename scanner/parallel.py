"""The fast path for commit scans (``--history``, ``--range``): cache, dedupe, worker processes.

1. ``git rev-list`` gives the commits in ``git log`` order; commits already in the scanned-commit cache
   (:mod:`scanner.cache`) are not read again, their stored findings are reported.
2. The rest is cut into blocks of :data:`BLOCK` consecutive commits. Worker processes (forked, so they inherit the
   compiled engine) take the next block whenever they are free, so a block of huge commits never leaves a core
   idle. Each worker hands the blocks it takes to ONE ``git diff-tree --stdin -p --cc -U0`` process
   (:mod:`scanner.git.blocks`) and scans what it streams: git's diffing and the engine's Python run on every core,
   no git process is started twice, and no process ever holds more than one commit's patch. A worker sends each
   block's results as soon as it is done. Those git processes are started here, one per worker, and handed the
   first blocks before the engine is built and the workers fork (:class:`scanner.git.HeadStart`): git diffs on
   the other core while this one builds.
3. Inside a worker, a file diff whose added text (and path) was already scanned — a cherry-pick, a backport, the
   same commit on two rewritten branches — is not scanned again: its findings are replayed with the new commit
   and line numbers.
4. The parent takes block results in block order, so findings come out in exactly the order the plain path yields
   them, and the progress bar and the cache advance while the scan runs.

The plain path (``ScanRequest(plain=True)``) is the reference: one process, no gates, no cache, no dedupe. A test
proves both return the same findings on a corpus.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scanner import git, sources
from scanner.chunk import Chunk
from scanner.engine import Engine
from scanner.errors import GitError, UnleakError
from scanner.finding import CommitInfo, Finding, Skipped
from scanner.result import Explanation, Rescan, ScanResult, Stats
from scanner.words import plural
from scanner.workerproc import default_workers, end_with, gc_paused

# Below this many commits worker processes cost more than they save.
MIN_PARALLEL_COMMITS = 400
# Commits per block. A worker takes the next block when it is free: smaller blocks even out the end of a scan (the
# last block taken is the last to finish), larger ones cost fewer messages. 100 and 500 measured alike on
# trufflehog's history (within noise).
BLOCK = 250
_DEDUPE_MAX = 400_000  # entries (~100 bytes each for chunks without findings)

# Per commit: its info, findings, drop counters, binary files skipped, what could not be read and, when something
# could not be read (the commit is then not cached, and every rescan reads it again), what it added to the counters.
CommitOut = tuple[CommitInfo, list[Finding], Counter[str], int, list[Skipped], dict[str, int] | None]
BatchOut = tuple[list[CommitOut], Stats, list[Explanation]]


@dataclass
class _Worker:
    engine: Engine
    top: Path
    exclude: sources.PathFilter
    explain: bool
    dedupe: bool
    seen: dict[bytes, tuple[list[tuple[int, Finding]], Counter[str]]]
    archive_depth: int = 0
    max_size: int = sources.DEFAULT_MAX_FILE_SIZE
    head_start: git.HeadStart | None = None  # git processes handed the first blocks before the workers forked


_STATE: _Worker | None = None  # set in the parent before forking; each worker inherits its own copy


class ScanWorkerError(UnleakError):
    """A worker process ended without reporting (killed, out of memory)."""

    exit_code = 3


def _scan_chunk(w: _Worker, chunk: Chunk, dropped: Counter[str], explain: list[Explanation] | None
                ) -> list[Finding]:
    if explain is not None or not w.dedupe:
        return w.engine.scan_chunk(chunk, explain, dropped)
    h = hashlib.blake2b(chunk.path.encode("utf-8", "surrogatepass"), digest_size=16)
    h.update(b"\0")
    h.update(chunk.text.encode("utf-8", "surrogatepass"))
    key = h.digest()
    hit = w.seen.get(key)
    if hit is None:
        local: Counter[str] = Counter()
        pairs = w.engine.scan_chunk_indexed(chunk, None, local)
        if len(w.seen) < _DEDUPE_MAX:
            w.seen[key] = (pairs, local)
        dropped.update(local)
        return [f for _, f in pairs]
    pairs, local = hit
    dropped.update(local)
    return [replace(f, line=chunk.file_line(i), commit=chunk.commit, source=chunk.source) for i, f in pairs]


def _scan_blocks(take: Callable[[], git.Block | None], worker: int = -1) -> Iterator[tuple[int, BatchOut]]:
    """The results of each block ``take`` gives, with its index, from one git process over all of them; in forked
    worker number ``worker`` (0, 1, …), first those of the blocks the head start handed its git process."""
    w = _STATE
    assert w is not None
    start = w.head_start.adopt(worker) if w.head_start is not None and worker >= 0 else None
    total = Stats()  # commit_groups counts into it; each block reports its own share
    skipped: list[Skipped] = []  # commit_groups adds a commit's unreadable objects before yielding it
    taken: dict[int, list[str]] = {}

    def taking() -> git.Block | None:
        block = take()
        if block is not None:
            taken[block[0]] = block[1]
        return block

    for index, shas in start[1] if start is not None else ():
        taken[index] = shas

    before = mark = total.to_dict()
    out: list[CommitOut] = []
    explain: list[Explanation] | None = [] if w.explain else None
    for index, info, chunks, binary in sources.commit_groups(w.top, taking, total, w.exclude, skipped=skipped,
                                                             archive_depth=w.archive_depth, max_size=w.max_size,
                                                             start=start):
        block = taken[index]
        if len(out) >= len(block) or info.sha != block[len(out)]:
            # git left a commit out or reordered: blocks would be misattributed
            want = block[len(out)] if len(out) < len(block) else "nothing"
            raise GitError(f"git returned commit {info.sha[:12]} where {want[:12]} was expected")
        dropped: Counter[str] = Counter()
        found: list[Finding] = []
        for chunk in chunks:
            total.chunks += 1
            found.extend(_scan_chunk(w, chunk, dropped, explain))
        now = total.to_dict()
        out.append((info, found, dropped, binary, skipped[:], {k: v - mark[k] for k, v in now.items()} if skipped
                    else None))
        mark = now
        skipped.clear()
        if len(out) == len(block):
            now = total.to_dict()
            yield index, (out, Stats(**{k: v - before[k] for k, v in now.items()}), explain or [])
            del taken[index]
            before, out = now, []
            explain = [] if w.explain else None
    if out or taken:
        raise GitError("git returned fewer commits than were asked for")


Scan = Callable[[Callable[[], tuple[int, Any] | None], int], Iterator[tuple[int, Any]]]


def _worker(counter: Any, blocks: list[Any], queue: Any, scan: Scan = _scan_blocks, number: int = 0,
            parent: int = 0) -> None:
    """Worker ``number`` of the scan process ``parent``: takes the next block not yet taken (``counter``, shared by
    all workers) whenever it is free, and puts each block's results onto ``queue`` as ("block", block index, out),
    then ("done", 0, None); an error as ("error", 0, exception) — an UnleakError as it is, anything else by type name
    only (a message could carry a value)."""
    if parent:
        end_with(parent)
    gc.disable()  # see gc_paused; this process ends with the scan

    def take() -> tuple[int, Any] | None:
        if parent and os.getppid() != parent:  # no parent-death signal here, and the scan process is gone
            os._exit(1)
        with counter.get_lock():
            i = counter.value
            if i >= len(blocks):
                return None
            counter.value = i + 1
        return i, blocks[i]

    try:
        for i, out in scan(take, number):
            queue.put(("block", i, out))
        queue.put(("done", 0, None))
    except BaseException as exc:  # reported to the parent, which raises it
        err = exc if isinstance(exc, UnleakError) else RuntimeError(f"scan worker failed ({type(exc).__name__})")
        queue.put(("error", 0, err))


def in_turn(blocks: list[Any]) -> Callable[[], tuple[int, Any] | None]:
    """``take`` for one process: every block, in order."""
    it = enumerate(blocks)
    return lambda: next(it, None)


def _blocks(shas: list[str]) -> list[list[str]]:
    return [shas[i:i + BLOCK] for i in range(0, len(shas), BLOCK)]


def _run_workers(blocks: list[Any], workers: int, take: Callable[[Any], None], scan: Scan = _scan_blocks,
                 meanwhile: Callable[[], None] | None = None, first: int = 0,
                 forked: Callable[[], None] | None = None) -> bool:
    """Scan ``blocks`` in ``workers`` forked processes, each taking the next block whenever it is free (from block
    ``first`` on: the ones before were handed out already), calling ``take`` on the results in block order,
    ``forked`` once every worker is forked, and ``meanwhile`` here once they are started. False when processes
    cannot be made here (no fork, no semaphores; ``forked`` and ``meanwhile`` not called): scan in-process."""
    import multiprocessing
    import queue as queue_mod

    try:
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        counter = ctx.Value("q", first)
    except (OSError, ValueError, ImportError):
        return False
    with contextlib.suppress(ImportError):
        import ctypes  # noqa: F401 - for end_with's prctl in every worker, loaded once here
    procs = [ctx.Process(target=_worker, args=(counter, blocks, results, scan, k, os.getpid()), daemon=True)
             for k in range(workers)]
    try:
        for proc in procs:
            proc.start()
    except OSError:
        for proc in procs:
            if proc.pid is not None:
                proc.kill()
        return False
    if forked is not None:
        forked()
    pending: dict[int, BatchOut] = {}
    following = 0
    try:
        if meanwhile is not None:
            meanwhile()
        while following < len(blocks):
            try:
                kind, index, payload = results.get(timeout=0.5)
            except queue_mod.Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise ScanWorkerError(f"a scan worker process died (exit code {dead[0]})") from None
                if all(p.exitcode is not None for p in procs):
                    raise ScanWorkerError("the scan workers ended without reporting every block") from None
                continue
            if kind == "error":
                raise payload
            if kind == "block":
                pending[index] = payload
                while following in pending:
                    take(pending.pop(following))
                    following += 1
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
            proc.join()
        results.close()
    return True


# Per commit, what its message gave: findings, drop counters, explanations, and the bytes of the message scanned.
MessageOut = tuple[list[Finding], Counter[str], list[Explanation], int]


def scan_commits(engine: Engine, result: ScanResult, top: Path, revs: list[str], exclude: sources.PathFilter, *,
                 workers: int, cache_options: dict[str, Any] | None, explain: bool,
                 progress: Callable[[Chunk], None] | None = None,
                 messages: Callable[[list[str]], dict[str, MessageOut] | None] | None = None,
                 archive_depth: int = 0, max_size: int = sources.DEFAULT_MAX_FILE_SIZE) -> Any:
    """Scan every commit of ``revs`` into ``result``: the findings in its files in ``git log`` order, then those in
    its commit messages, in the same order. ``messages`` scans the messages of the commits it is given (those not
    in the cache); it runs here while the worker processes scan the files (or first, in one process), and what it
    finds is cached with each commit, so a rescan reads no message again (when git cannot list the messages,
    ``messages`` returns None and no commit is cached). Returns the scan cache (a
    :class:`scanner.cache.ScanCache`, None without one), for the caller to cache tag messages in."""
    global _STATE
    from scanner import cache as cache_mod
    from scanner.filters import active_filters

    shas = git.rev_list(top, revs, skipped=result.skipped)
    stats_before, notes_before = result.stats.to_dict(), len(result.notes)
    cache = None
    if cache_options is not None:
        key = cache_mod.ruleset_key(engine.rules.values(), [(f.name, f.drop) for f in active_filters()
                                                              if f.name not in engine.options.ignore_filters],
                                    cache_options)
        cache = cache_mod.ScanCache(git.common_git_dir(top), key).load()
    # --explain reads a cached commit again only when its record did not keep the reasons of what it dropped.
    todo = [s for s in shas if cache is None or s not in cache.done
            or (explain and s in cache.records and not cache.records[s][1].explains())]
    if workers <= 0:
        workers = default_workers() if len(todo) >= MIN_PARALLEL_COMMITS else 1
    blocks = _blocks(todo)
    workers = max(1, min(workers, len(blocks)))
    head_start = None
    if blocks and workers > 1:
        # git diffs the first blocks on the other core while the engine is built here.
        with contextlib.suppress(GitError):
            head_start = git.HeadStart(top, blocks, workers)
        engine.warm()  # compiled and loaded once here, inherited by every worker

    fresh: dict[str, tuple[CommitInfo, list[Finding]]] = {}
    said: dict[str, MessageOut] = {}  # the messages of the commits scanned now
    unsaid: list[bool] = []  # non-empty when the messages could not be read: nothing is cached then
    lost_commits: list[str] = []  # scanned, but not cached: some object of theirs could not be read
    lost_spent: Counter[str] = Counter()  # what those added to the counters besides commits and binary files
    _STATE = _Worker(engine, top, exclude, explain, dedupe=True, seen={}, archive_depth=archive_depth,
                     max_size=max_size, head_start=head_start)

    def meanwhile() -> None:
        if messages is not None:
            got = messages(todo)
            if got is None:
                unsaid.append(True)
            else:
                said.update(got)

    def take(batch: BatchOut) -> None:
        commits, stats, expl = batch
        for k, v in stats.to_dict().items():
            setattr(result.stats, k, getattr(result.stats, k) + v)
        result.explanations.extend(expl)
        why: dict[str, list[Explanation]] = {}
        for e in expl:
            why.setdefault(e.commit, []).append(e)
        entries = []
        for info, found, dropped, binary, lost, spent in commits:
            result.dropped.update(dropped)
            if found:
                fresh[info.sha] = (info, found)
            msg_found, msg_dropped, msg_why, msg_bytes = said.get(info.sha) or ([], Counter(), [], 0)
            result.dropped.update(msg_dropped)
            result.explanations.extend(msg_why)
            if lost:
                # Not cached: once the objects are back (fetched, repaired), a rescan reads the commit again.
                result.skipped.extend(lost)
                lost_commits.append(info.sha)
                lost_spent.update({k: v for k, v in (spent or {}).items() if k not in ("commits", "binary_skipped")})
                lost_spent["bytes"] += msg_bytes
            elif cache is not None and not unsaid:
                entries.append((info, cache_mod.record_of(
                    [*found, *msg_found], dropped + msg_dropped, binary,
                    [*why.get(info.sha, []), *msg_why] if explain else None)))
            if progress is not None:
                progress(Chunk(path="", text="", source="commit", commit=info))
        if cache is not None:
            cache.add(entries)

    try:
        if workers <= 1 or not _run_workers(blocks, workers, take, meanwhile=meanwhile,
                                            first=head_start.taken if head_start is not None else 0,
                                            forked=head_start.let_go if head_start is not None else None):
            if head_start is not None:  # no processes here after all: its blocks are read again below
                head_start.close()
                _STATE.head_start = None
            meanwhile()  # first: take() caches each commit with what its message gave
            with gc_paused():
                for _, out in _scan_blocks(in_turn(blocks)):  # one process (or no fork here): same results
                    take(out)
    finally:
        _STATE = None
        if head_start is not None:
            head_start.close()  # reaps the git processes (their workers have let go of them)

    scanned = set(todo)
    cached_commits = 0
    in_messages: list[Finding] = []
    for sha in shas:
        got = fresh.get(sha)
        if got is not None:
            result.findings.extend(got[1])
        if sha in said:
            in_messages.extend(said[sha][0])
        if cache is None or sha in scanned:
            continue
        cached_commits += 1
        result.stats.commits += 1
        rec = cache.records.get(sha)
        if rec is not None:
            info, r = rec
            for f in cache_mod.findings_of(r, info):
                (in_messages if f.source == "commit-message" else result.findings).append(f)
            if explain:
                result.explanations.extend(cache_mod.explanations_of(r, info))
            result.dropped.update(r.dropped)
            result.stats.binary_skipped += r.binary
    result.findings.extend(in_messages)
    notes_now = len(result.notes)
    # Every commit from the cache, except those that cannot be cached because an object of theirs is unreadable
    # (the same objects, the same result): the report is what the cache, the refs and the object store say (see
    # unleak.replay, whose key covers all three). Tag messages not yet cached turn it off again (scanner.api).
    result.replayable = cache is not None and not unsaid and len(lost_commits) == len(todo)
    if cached_commits:
        result.notes.append(_cached_note(cached_commits))
    lost = set(lost_commits)
    if (len(lost) < len(todo) and cache is not None and not unsaid and not explain and notes_now == notes_before
            and all(s in cache.done or s in lost for s in shas)):
        # Every commit is in the cache now but those an object of which is unreadable: a rescan adds the commits and
        # their binary files to the counters, and reads those again (their files and messages, as here).
        now = result.stats.to_dict()
        delta = {k: stats_before[k] - v + lost_spent[k] for k, v in now.items() if k != "binary_skipped"}
        delta["commits"] += len(shas)
        cached = len(shas) - len(lost)
        result.rescan = Rescan(delta, notes_now, _cached_note(cached) if cached else None,
                               replaces=bool(cached_commits))
    return cache


def _cached_note(n: int) -> str:
    were = "was" if n == 1 else "were"
    return f"{plural(n, 'commit')} already scanned with these rules {were} read from the cache (.git/unleak/scan-cache)"


# ------------------------------------------------------------------------------------------------- files scans

# Below this many files one process is faster than forking (and a pre-commit run on a few files never pays for
# workers or for compiling the hyperscan prefilter).
MIN_PARALLEL_FILES = 200
FILE_BLOCK = 16  # files per block: small blocks deal large and small files out evenly
FileBlockOut = tuple[list[Finding], Stats, Counter[str], list[str]]


@dataclass
class _FileWorker:
    engine: Engine
    max_size: int
    archive_depth: int
    exclude: sources.PathFilter | None


_FILE_STATE: _FileWorker | None = None  # set in the parent before forking


def _scan_file_blocks(take: Callable[[], tuple[int, list[tuple[Path, str]]] | None], worker: int = -1
                      ) -> Iterator[tuple[int, FileBlockOut]]:
    """The findings, stats, drop counters and names of the files scanned of each block ``take`` gives, with its
    index, reading its files here."""
    w = _FILE_STATE
    assert w is not None
    while (taken := take()) is not None:
        index, block = taken
        stats = Stats()
        dropped: Counter[str] = Counter()
        found: list[Finding] = []
        names: list[str] = []
        for full, shown in block:
            chunks = sources.file_chunks(full, shown, stats, w.max_size, w.archive_depth, w.exclude)
            for chunk in chunks:
                stats.chunks += 1
                found.extend(w.engine.scan_chunk(chunk, None, dropped))
            if chunks:
                names.append(shown)
        yield index, (found, stats, dropped, names)


def scan_files(engine: Engine, result: ScanResult, files: list[tuple[Path, str]], *, workers: int, max_size: int,
               progress: Callable[[Chunk], None] | None = None, archive_depth: int = 0,
               exclude: sources.PathFilter | None = None) -> bool:
    """Read and scan ``files`` in worker processes, results in the order one process gives. False (nothing done)
    when there are too few files to be worth it or processes cannot be made here: the caller scans in-process."""
    global _FILE_STATE
    if workers <= 0:
        workers = default_workers() if len(files) >= MIN_PARALLEL_FILES else 1
    blocks = [files[i:i + FILE_BLOCK] for i in range(0, len(files), FILE_BLOCK)]
    workers = min(workers, len(blocks))
    if workers <= 1:
        return False
    engine.use_accelerator()
    engine.warm()  # compiled and loaded once here, inherited by every worker

    def take(out: FileBlockOut) -> None:
        found, stats, dropped, names = out
        for k, v in stats.to_dict().items():
            setattr(result.stats, k, getattr(result.stats, k) + v)
        result.dropped.update(dropped)
        result.findings.extend(found)
        if progress is not None:
            for name in names:
                progress(Chunk(path=name, text="", source="file"))

    _FILE_STATE = _FileWorker(engine, max_size, archive_depth, exclude)
    try:
        return _run_workers(blocks, workers, take, scan=_scan_file_blocks)
    finally:
        _FILE_STATE = None
