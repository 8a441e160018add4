"""The fast path for commit scans (``--history``, ``--range``): cache, dedupe, worker processes.

1. ``git rev-list`` gives the commits in ``git log`` order; commits already in the scanned-commit cache
   (:mod:`scanner.cache`) are not read again, their stored findings are reported.
2. The rest is cut into contiguous batches. Each worker process (forked, so it inherits the compiled engine) runs one
   ``git log --no-walk --stdin -p --cc -U0`` per batch and scans what it streams: git's diffing and the engine's
   Python both run on every core, and no process ever holds more than one commit's patch.
3. Inside a worker, a file diff whose added text (and path) was already scanned — a cherry-pick, a backport, the
   same commit on two rewritten branches — is not scanned again: its findings are replayed with the new commit
   and line numbers.
4. The parent takes batch results in order, so findings come out in exactly the order the plain path yields them.

The plain path (``ScanRequest(plain=True)``) is the reference: one process, no gates, no cache, no dedupe. A test
proves both return the same findings on a corpus.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scanner import git, sources
from scanner.chunk import Chunk
from scanner.engine import Engine, Explanation, ScanResult, Stats
from scanner.finding import CommitInfo, Finding

# Below this many commits a worker pool costs more than it saves.
MIN_PARALLEL_COMMITS = 400
_DEDUPE_MAX = 400_000  # entries (~100 bytes each for chunks without findings)

BatchOut = tuple[list[tuple[CommitInfo, list[Finding], Counter[str], int]], Stats, list[Explanation]]


@dataclass
class _Worker:
    engine: Engine
    top: Path
    exclude: sources.PathFilter
    explain: bool
    dedupe: bool
    seen: dict[bytes, tuple[list[tuple[int, Finding]], Counter[str]]]


_STATE: _Worker | None = None  # set in the parent before forking; each worker inherits its own copy


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


def _scan_batch(shas: list[str]) -> BatchOut:
    w = _STATE
    assert w is not None
    stats = Stats()
    explain: list[Explanation] | None = [] if w.explain else None
    out: list[tuple[CommitInfo, list[Finding], Counter[str], int]] = []
    for info, chunks, binary in sources.commit_groups(w.top, shas, stats, w.exclude):
        dropped: Counter[str] = Counter()
        found: list[Finding] = []
        for chunk in chunks:
            stats.chunks += 1
            found.extend(_scan_chunk(w, chunk, dropped, explain))
        out.append((info, found, dropped, binary))
    return out, stats, explain or []


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _batches(shas: list[str], workers: int) -> list[list[str]]:
    if not shas:
        return []
    # Few large batches: every batch is a fresh git process that must warm its delta-base cache again.
    size = max(64, min(6000, len(shas) // (workers * 3) or 1))
    return [shas[i:i + size] for i in range(0, len(shas), size)]


def scan_commits(engine: Engine, result: ScanResult, top: Path, revs: list[str], exclude: sources.PathFilter, *,
                 workers: int, cache_options: dict[str, Any] | None, explain: bool,
                 progress: Callable[[Chunk], None] | None = None) -> None:
    """Scan every commit of ``revs`` into ``result`` (findings in ``git log`` order)."""
    global _STATE
    from scanner import cache as cache_mod
    from scanner.filters import active_filters

    shas = git.rev_list(top, revs)
    cache = None
    if cache_options is not None and not explain:
        key = cache_mod.ruleset_key(engine.rules.values(), [(f.name, f.drop) for f in active_filters()],
                                    cache_options)
        cache = cache_mod.ScanCache(git.common_git_dir(top), key).load()
    todo = [s for s in shas if cache is None or s not in cache.done]
    if workers <= 0:
        workers = default_workers() if len(todo) >= MIN_PARALLEL_COMMITS else 1
    workers = max(1, min(workers, len(_batches(todo, workers)) or 1))

    fresh: dict[str, tuple[CommitInfo, list[Finding]]] = {}
    _STATE = _Worker(engine, top, exclude, explain, dedupe=True, seen={})

    def take(batch: BatchOut) -> None:
        commits, stats, expl = batch
        for k, v in stats.to_dict().items():
            setattr(result.stats, k, getattr(result.stats, k) + v)
        result.explanations.extend(expl)
        entries = []
        for info, found, dropped, binary in commits:
            result.dropped.update(dropped)
            if found:
                fresh[info.sha] = (info, found)
            if cache is not None:
                entries.append((info, cache_mod.record_of(found, dropped, binary)))
            if progress is not None:
                progress(Chunk(path="", text="", source="commit", commit=info))
        if cache is not None:
            cache.add(entries)

    try:
        batches = _batches(todo, workers)
        pool = None
        if workers > 1:
            import multiprocessing

            try:
                pool = multiprocessing.get_context("fork").Pool(workers)
            except (OSError, ValueError, ImportError):
                pool = None  # no fork or no semaphores (some sandboxes): scan in this process, same result
        if pool is None:
            for b in batches:
                take(_scan_batch(b))
        else:
            with pool:
                for out in pool.imap(_scan_batch, batches):
                    take(out)
    finally:
        _STATE = None

    scanned = set(todo)
    cached_commits = 0
    for sha in shas:
        got = fresh.get(sha)
        if got is not None:
            result.findings.extend(got[1])
            continue
        if cache is None or sha in scanned:
            continue
        cached_commits += 1
        result.stats.commits += 1
        rec = cache.records.get(sha)
        if rec is not None:
            info, r = rec
            result.findings.extend(cache_mod.findings_of(r, info))
            result.dropped.update(r.dropped)
            result.stats.binary_skipped += r.binary
    if cached_commits:
        result.notes.append(f"{cached_commits} commits already scanned with these rules were read from the cache "
                            "(.git/unleak/scan-cache)")
