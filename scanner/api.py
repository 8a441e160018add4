"""One entry point for every front end (CLI, MCP server, hooks, the GitHub Action): a request in, a result out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner import archives, git, sources, transcripts
from scanner.baseline import Baseline
from scanner.chunk import Chunk
from scanner.engine import Engine, EngineOptions
from scanner.errors import GitError, UsageError
from scanner.finding import Confidence, Finding
from scanner.result import Explanation, ScanResult, Stats
from scanner.rules import Rule
from scanner.rules.base import STOPPED, USER_PATTERN_SECONDS, restart_user_patterns
from scanner.words import plural

if TYPE_CHECKING:
    from scanner.parallel import MessageOut

# Baseline files hold fingerprints and hashes of known findings, never values; scanning them only finds hashes.
DEFAULT_EXCLUDES = (".unleak-baseline.json", "**/.unleak-baseline.json", ".secrets.baseline", "**/.secrets.baseline")

@dataclass(frozen=True)
class ScanRequest:
    root: Path
    modes: tuple[str, ...] = ("files",)
    paths: tuple[str, ...] = ()
    range: str | None = None
    diff: str | None = None
    exclude: tuple[str, ...] = ()
    disabled: frozenset[str] = frozenset()
    extra_rules: tuple[Rule, ...] = ()
    min_confidence: Confidence = Confidence.LOW
    explain: bool = False
    max_file_size: int = sources.DEFAULT_MAX_FILE_SIZE
    # Files and changes scans: archives (zip, jar, whl, tar, .gz…) nested this deep are read member by member; 0: no
    # archive is opened (scanner.archives).
    archive_depth: int = archives.DEFAULT_DEPTH
    baseline: Baseline | None = None
    text: str | None = None  # scan this text instead (hooks and MCP check content before it is written)
    text_path: str = "<stdin>"
    workers: int = 0  # 0: decide by size (commit scans use every core from a few hundred commits on)
    cache: bool = True  # commit scans: reuse .git/unleak/scan-cache and add to it
    # The reference path: one process, no prefilter gates, no cache, no dedupe. Slow; tests prove the fast path
    # returns the same findings.
    plain: bool = False
    # History mode over these revisions instead of every ref (``--all``): the commits a fleet scan unit owns, or
    # (``--no-walk`` + ids) the few commits whose values exposure reads back.
    revs: tuple[str, ...] = ()
    ignore_filters: frozenset[str] = frozenset()  # filter names not applied (hooks: "allow-comment")
    # Note a shallow clone in commit modes. Off for a caller that completes the history it names itself and
    # reports its own coverage (the Action deepens a shallow checkout per pull request).
    shallow_note: bool = True
    # Annotated tag messages too: by default only in a history scan of every ref (no ``revs``). Exposure asks for
    # them with ``revs`` when a value it needs back was found in one.
    tag_messages: bool | None = None
    # A file named in ``paths`` is scanned even when git ignores it (`unleak scan .env`: the user named it). Off for
    # an agent's request, which sees what git lists and nothing more.
    named_ignored: bool = False

    def wants_tags(self, mode: str) -> bool:
        return mode == "history" and (self.tag_messages if self.tag_messages is not None else not self.revs)


def _chunks(req: ScanRequest, stats: Stats, notes: list[str], modes: tuple[str, ...] | None = None,
            with_text: bool = True) -> Iterator[Chunk]:
    exclude = sources.PathFilter((*req.exclude, *DEFAULT_EXCLUDES))
    parts: list[Iterator[Chunk]] = []
    if req.text is not None and with_text:
        parts.append(iter([Chunk(path=req.text_path, text=req.text, source="text")]))
    for mode in req.modes if modes is None else modes:
        if mode == "files":
            parts.append(sources.working_tree(list(req.paths), req.root, stats, exclude, req.max_file_size,
                                              req.archive_depth, named_ignored=req.named_ignored))
        elif mode == "staged":
            parts.append(sources.staged(req.root, stats, exclude, req.paths, req.archive_depth, req.max_file_size))
        elif mode == "changes":
            parts.append(sources.changes(req.root, stats, exclude, req.max_file_size, req.archive_depth))
        elif mode in ("range", "history"):
            top, revs = _commit_revs(req, mode, notes)
            parts.append(sources.commits(top, revs, stats, exclude, archive_depth=req.archive_depth,
                                         max_size=req.max_file_size))
        elif mode == "diff":
            if req.diff is None:
                raise UsageError("--diff needs a file name or - for stdin")
            parts.append(sources.unified_diff(req.diff, stats, exclude))
        elif mode == "agent-logs":
            parts.append(transcripts.agent_logs(list(req.paths), stats))
        else:
            raise UsageError(f"unknown scan mode {mode!r}")
    return chain.from_iterable(parts)


def _commit_revs(req: ScanRequest, mode: str, notes: list[str]) -> tuple[Path, list[str]]:
    """The repository and ``git log`` revisions of a ``range``/``history`` mode; notes a shallow clone."""
    top = git.require_repo(req.root, f"--{mode}", bare=True)
    if req.shallow_note and git.is_shallow(top):
        notes.append("shallow clone: commits before the shallow boundary were not scanned "
                     "(git fetch --unshallow to scan all history)")
    if mode == "range":
        return top, sources.parse_range(top, req.range or "")
    return top, list(req.revs) if req.revs else ["--all"]


def scan(req: ScanRequest, progress: Callable[[Chunk], None] | None = None) -> ScanResult:
    restart_user_patterns()
    commit_scan = any(m in ("range", "history") for m in req.modes)
    engine = Engine(EngineOptions(disabled=req.disabled, extra_rules=req.extra_rules,
                                  min_confidence=req.min_confidence, explain=req.explain, gates=not req.plain,
                                  hyperscan=commit_scan and not req.plain, ignore_filters=req.ignore_filters))
    result = ScanResult()
    if req.plain:
        result = engine.scan(_chunks(req, result.stats, result.notes), result, progress)
        for mode in req.modes:
            if mode in ("range", "history"):
                top, revs = _commit_revs(req, mode, [])
                _scan_messages(req, engine, result, top, revs, mode, result.findings, result.explanations)
    else:
        _scan_fast(req, engine, result, progress)
    _report_stopped(result)
    result.all_findings = list(result.findings)
    if req.baseline is not None:
        result.findings = [f for f in result.all_findings if not req.baseline.contains(f)]
        result.baselined = len(result.all_findings) - len(result.findings)
    return result


def _report_stopped(result: ScanResult) -> None:
    """Configured patterns stopped for running out of time (rules.base.UserPattern): out of the drop counts, into a
    note each and ``result.stopped`` (so `--strict` fails the scan), naming the pattern, never text."""
    for key in sorted(k for k in result.dropped if k.startswith(STOPPED)):
        n = result.dropped.pop(key)
        what = key[len(STOPPED):]
        why = (f"{what} was stopped after one search ran past its time limit ({USER_PATTERN_SECONDS:g} s, plus 1 s "
               f"per million characters), as a pattern that backtracks does: {plural(n, 'search', 'searches')} of "
               "it cut short or not made. Rewrite it without nested or overlapping repetition")
        result.notes.append(why)
        result.stopped.append(what)


def _scan_fast(req: ScanRequest, engine: Engine, result: ScanResult,
               progress: Callable[[Chunk], None] | None) -> None:
    """Modes in order; commit modes through :mod:`scanner.parallel` (cache, workers, dedupe), large files scans
    through its worker processes too."""
    from scanner import parallel

    result.rules.update(engine.rules)
    if req.text is not None:
        engine.scan(iter([Chunk(path=req.text_path, text=req.text, source="text")]), result, progress)
    exclude = sources.PathFilter((*req.exclude, *DEFAULT_EXCLUDES))
    for mode in req.modes:
        if mode == "files" and not req.explain:
            files = list(sources.working_tree_files(list(req.paths), req.root, result.stats, exclude,
                                                    named_ignored=req.named_ignored))
            result.rules.update(engine.rules)
            if not parallel.scan_files(engine, result, files, workers=req.workers, max_size=req.max_file_size,
                                       progress=progress, archive_depth=req.archive_depth, exclude=exclude):
                engine.scan((c for full, shown in files
                             for c in sources.file_chunks(full, shown, result.stats, req.max_file_size,
                                                          req.archive_depth, exclude)),
                            result, progress)
            continue
        if mode not in ("range", "history"):
            engine.scan(_chunks(req, result.stats, result.notes, (mode,), with_text=False), result, progress)
            continue
        top, revs = _commit_revs(req, mode, result.notes)
        result.rules.update(engine.rules)
        if mode == "history" and not git.has_commits(top):
            continue  # as sources.commits: nothing committed yet
        options = {"disabled": sorted(req.disabled), "min_confidence": req.min_confidence.value,
                   "exclude": list(exclude.globs), "archive_depth": req.archive_depth, "max_size": req.max_file_size}
        # Commit messages are scanned (and cached) with their commits; tag messages after them.
        cache = parallel.scan_commits(engine, result, top, revs, exclude, workers=req.workers,
                                      cache_options=options if req.cache else None, explain=req.explain,
                                      progress=progress, archive_depth=req.archive_depth,
                                      max_size=req.max_file_size,
                                      messages=partial(_scan_commit_messages, req, engine, result, top))
        if req.wants_tags(mode):
            _scan_tag_messages(req, engine, result, top, cache)


def _scan_messages(req: ScanRequest, engine: Engine, result: ScanResult, top: Path, revs: list[str],
                   mode: str, found: list[Finding], why: list[Explanation]) -> None:
    """Commit and, for the whole history, tag messages into ``found`` (and ``why``): one git call and short texts,
    not counted as chunks or progress (those count the walk of the commits' files). The plain path."""
    if mode == "history" and not git.has_commits(top):
        return
    for chunk in sources.messages(top, revs, result.stats, tags=req.wants_tags(mode), notes=result.notes):
        found.extend(engine.scan_chunk(chunk, why if req.explain else None, result.dropped))


def _scan_tag_messages(req: ScanRequest, engine: Engine, result: ScanResult, top: Path, cache: Any) -> None:
    """Annotated tag messages into ``result``, each tag object scanned once: a tag object never changes, so what
    its message gave is cached under its id beside the commits (a rescan then imports no detector for them)."""
    from scanner import cache as cache_mod

    entries = []  # the caller scans a history only when it has a HEAD
    for chunk in sources.messages(top, [], result.stats, tags=True, notes=result.notes, commits=[]):
        info = chunk.commit
        assert info is not None
        rec = cache.records.get(info.sha) if cache is not None else None
        if cache is not None and info.sha in cache.done and (not req.explain or rec is None or rec[1].explains()):
            if rec is not None:
                result.findings.extend(cache_mod.findings_of(rec[1], rec[0]))
                result.dropped.update(rec[1].dropped)
                if req.explain:
                    result.explanations.extend(cache_mod.explanations_of(rec[1], rec[0]))
            continue
        why: list[Explanation] = []
        dropped: Counter[str] = Counter()
        found = engine.scan_chunk(chunk, why if req.explain else None, dropped)
        result.findings.extend(found)
        result.dropped.update(dropped)
        result.explanations.extend(why)
        entries.append((info, cache_mod.record_of(found, dropped, 0, why if req.explain else None)))
        result.replayable = False
    if cache is not None:
        cache.add(entries)
    if cache is None or any(info.sha not in cache.done for info, _ in entries):
        result.rescan = None  # a rescan would scan this tag's message again


def _scan_commit_messages(req: ScanRequest, engine: Engine, result: ScanResult, top: Path, shas: list[str]
                          ) -> dict[str, MessageOut] | None:
    """The messages of the commits ``shas`` (one git call), scanned: per commit, findings, drops, explanations and
    the bytes scanned.
    None when git could not list them (said in the notes): those commits must then not be cached as scanned."""
    out: dict[str, tuple[list[Finding], Counter[str], list[Explanation]]] = {}
    size: Counter[str] = Counter()
    try:
        for chunk in sources.messages(top, [], result.stats, tags=False, notes=result.notes, commits=shas,
                                      strict=True):
            assert chunk.commit is not None
            found, dropped, why = out.setdefault(chunk.commit.sha, ([], Counter(), []))
            found.extend(engine.scan_chunk(chunk, why if req.explain else None, dropped))
            size[chunk.commit.sha] += len(chunk.text)
    except GitError:
        return None
    return {sha: (*got, size[sha]) for sha, got in out.items()}


def scan_text(text: str, path: str = "<stdin>", root: Path | None = None, *,
              disabled: frozenset[str] = frozenset(), ignore_filters: frozenset[str] = frozenset()) -> ScanResult:
    """Secrets in ``text`` that is not (yet) a file: content an agent is about to write, a command, a suggested
    change. ``path`` names it (it selects path-restricted rules); ``root`` only places the scan, the repository's
    configuration is the caller's to apply. Built-in rules, one process, no baseline."""
    return scan(ScanRequest(root=root or Path.cwd(), modes=(), text=text, text_path=path, workers=1,
                            disabled=disabled, ignore_filters=ignore_filters))
