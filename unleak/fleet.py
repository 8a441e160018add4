"""Scan an organisation's repositories on Ray: one task per repository, very large histories split into commit
blocks, results merged by fingerprint.

What crosses the network (between the driver and Ray workers, through Ray's object store): target URLs without
their credentials, commit ids, and *redacted* finding records (rule, path, line, fingerprint, preview, commit) —
never a value. A task clones or updates its repository in a per-node cache (``$XDG_CACHE_HOME/unleak/fleet``), so a
nightly rescan fetches and reads only new commits (the repository's own scan cache does the rest).

Ray is an optional extra (``pip install 'unleak[fleet]'``) imported only here, when a fleet scan runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scanner.errors import UnleakError, UsageError

FAULT_ENV = "UNLEAK_FLEET_FAULT_DIR"  # tests: a task pauses once so that its worker can be killed mid-task


@dataclass(frozen=True)
class Target:
    url: str  # what to clone: a URL, or a local repository's absolute path (may carry credentials)
    name: str  # shown everywhere: the URL without credentials, or the path


@dataclass
class RepoResult:
    name: str
    ok: bool = True
    error: str = ""
    commits: int = 0
    units: int = 0
    seconds: float = 0.0
    findings: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def display_name(url: str) -> str:
    """A target's name with any ``user:password@`` removed."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))
    return url


def read_targets(items: list[str]) -> list[Target]:
    """Targets from arguments: a local repository, a clone URL, or a file listing them one a line (``#`` comments)."""
    out: dict[str, Target] = {}
    for item in items:
        p = Path(item)
        if p.is_file():
            try:
                lines = p.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"{item}: cannot read the target list ({type(exc).__name__})") from None
            entries = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
            for t in read_targets(entries):
                out.setdefault(t.url, t)
            continue
        if p.is_dir():
            url = str(p.resolve())
            out.setdefault(url, Target(url, url))
        elif "://" in item or (":" in item and "@" in item.split(":", 1)[0]):
            out.setdefault(item, Target(item, display_name(item)))
        else:
            raise UsageError(f"{item}: not a repository directory, a clone URL or a file listing targets")
    return list(out.values())


def default_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "unleak" / "fleet"


def _clone_dir(cache_root: Path, url: str) -> Path:
    from scanner import git

    bare, _ = git.split_credentials(url)
    return cache_root / hashlib.sha256(bare.encode()).hexdigest()[:20]


def _pause_for_fault_test(name: str) -> None:
    fault_dir = os.environ.get(FAULT_ENV)
    if not fault_dir:
        return
    marker = Path(fault_dir) / (hashlib.sha256(name.encode()).hexdigest()[:12] + ".pid")
    if marker.exists():
        return  # the retry runs through
    marker.write_text(str(os.getpid()))
    time.sleep(120)


def prepare_unit(url: str, name: str, cache_root: str | None) -> dict[str, Any]:
    """Clone or update the repository on this node; its ref tips and commit count (the plan for its scan)."""
    from scanner import git

    try:
        repo = git.clone_or_update(url, _clone_dir(Path(cache_root) if cache_root else default_cache_root(), url))
        tips = git.ref_tips(repo)
        return {"ok": True, "tips": tips, "commits": len(git.rev_list(repo, tips)) if tips else 0}
    except UnleakError as exc:
        return {"ok": False, "error": str(exc)}


def scan_unit(url: str, name: str, cache_root: str | None, tips: list[str], block: tuple[int, int] | None
              ) -> dict[str, Any]:
    """Scan the commits reachable from ``tips`` (or the ``block`` = (start, stop) slice of them, in ``git log``
    order) with the same engine and scan cache as ``unleak scan --history``. Returns redacted records only."""
    from scanner import git
    from scanner.api import ScanRequest, scan
    from scanner.errors import UnleakError as Err

    _pause_for_fault_test(f"{name}:{block}")
    started = time.monotonic()
    try:
        repo = _clone_dir(Path(cache_root) if cache_root else default_cache_root(), url)
        missing = [t for t in tips if git.run(["cat-file", "-t", t], repo, check=False).strip() != "commit"] \
            if repo.is_dir() else tips
        if missing:
            git.clone_or_update(url, repo)  # this node's clone is older than the plan (or absent)
        revs: list[str] = list(tips)
        if block is not None:
            shas = git.rev_list(repo, tips)[block[0]:block[1]]
            if not shas:
                return {"ok": True, "findings": [], "commits": 0, "notes": [], "seconds": 0.0}
            revs = ["--no-walk=unsorted", *shas]
        result = scan(ScanRequest(root=repo, modes=("history",), revs=tuple(revs), workers=1))
    except Err as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "findings": [f.to_dict() for f in result.findings], "commits": result.stats.commits,
            "notes": list(result.notes), "seconds": time.monotonic() - started}


@dataclass(frozen=True)
class FleetOptions:
    address: str | None = None  # a running Ray cluster; None: a local Ray for this run
    workers: int = 0  # local Ray's CPUs (0: all)
    cache_root: str | None = None
    split_commits: int = 50_000  # a history larger than this is split into blocks
    block_commits: int = 10_000
    timeout: float = 3600.0  # per unit
    retries: int = 3  # a unit whose worker process or node dies is run again


ProgressFn = Callable[[str, int, int], None]  # (event, repositories done, commits done)


def run(targets: list[Target], opts: FleetOptions, progress: ProgressFn | None = None) -> list[RepoResult]:
    """Scan every target on Ray; one failure never stops the others. Results in target order."""
    try:
        import ray
    except ImportError:
        raise UsageError("fleet scans need Ray: pip install 'unleak[fleet]'") from None

    # Ray's driver prints worker deaths and retries on stdout; a fleet report (JSON on stdout) must stay clean.
    with contextlib.redirect_stdout(sys.stderr):
        return _with_ray(ray, targets, opts, progress)


def _with_ray(ray: Any, targets: list[Target], opts: FleetOptions, progress: ProgressFn | None) -> list[RepoResult]:
    started_here = not ray.is_initialized()
    if started_here:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
                              "configure_logging": False}
        if opts.address:
            ray.init(address=opts.address, **kw)
        else:
            # "local": always a Ray of this run's own. Without it, ray.init() attaches to whatever cluster
            # `ray start` last left on this machine (someone else's, with other auth), and repositories' contents
            # would be scanned there.
            ray.init(address="local", num_cpus=opts.workers or None, **kw)
    try:
        return _run(ray, targets, opts, progress or (lambda *_: None))
    finally:
        if started_here:
            ray.shutdown()


def _run(ray: Any, targets: list[Target], opts: FleetOptions, progress: ProgressFn) -> list[RepoResult]:
    prepare = ray.remote(max_retries=opts.retries)(prepare_unit)
    scan_task = ray.remote(max_retries=opts.retries)(scan_unit)
    results = {t.url: RepoResult(t.name) for t in targets}
    owner: dict[Any, tuple[str, str]] = {}  # ref → (target url, "prepare" | "scan")
    deadline: dict[Any, float] = {}
    pending_units: dict[str, int] = {}
    started: dict[str, float] = {}
    for t in targets:
        ref = prepare.remote(t.url, t.name, opts.cache_root)
        owner[ref] = (t.url, "prepare")
        deadline[ref] = time.monotonic() + opts.timeout
        started[t.url] = time.monotonic()
    done_repos = done_commits = 0
    by_url = {t.url: t for t in targets}

    def finish(url: str) -> None:
        nonlocal done_repos
        done_repos += 1
        results[url].seconds = time.monotonic() - started[url]
        progress("repository", done_repos, done_commits)

    while owner:
        ready, _ = ray.wait(list(owner), num_returns=1, timeout=1.0)
        now = time.monotonic()
        for ref in [r for r in owner if r not in ready and deadline[r] < now]:
            url, _kind = owner.pop(ref)
            ray.cancel(ref, force=True)
            res = results[url]
            if res.ok:
                res.ok, res.error = False, f"timed out after {opts.timeout:.0f} s"
            pending_units[url] = pending_units.get(url, 1) - 1
            if pending_units[url] <= 0:
                finish(url)
        for ref in ready:
            url, kind = owner.pop(ref)
            res = results[url]
            try:
                out = ray.get(ref)
            except Exception as exc:  # the task failed past its retries (a node lost for good, an OOM kill)
                out = {"ok": False, "error": f"scan task failed ({type(exc).__name__})"}
            if kind == "prepare":
                if not out["ok"]:
                    res.ok, res.error = False, out["error"]
                    finish(url)
                    continue
                res.commits = out["commits"]
                units: list[tuple[int, int] | None] = [None]
                if out["commits"] > opts.split_commits:
                    units = [(i, i + opts.block_commits) for i in range(0, out["commits"], opts.block_commits)]
                res.units = len(units)
                pending_units[url] = len(units)
                target = by_url[url]
                for block in units:
                    sref = scan_task.remote(target.url, target.name, opts.cache_root, out["tips"], block)
                    owner[sref] = (url, "scan")
                    deadline[sref] = time.monotonic() + opts.timeout
                continue
            pending_units[url] -= 1
            if out["ok"]:
                res.findings.extend(out["findings"])
                res.notes.extend(n for n in out["notes"] if n not in res.notes)
                done_commits += int(out["commits"])
            elif res.ok:
                res.ok, res.error = False, out["error"]
            progress("commits", done_repos, done_commits)
            if pending_units[url] == 0:
                finish(url)
    return [results[t.url] for t in targets]


def merge(results: list[RepoResult]) -> list[dict[str, Any]]:
    """One entry per distinct secret (fingerprint) across every repository: where, how often, first and last seen."""
    by_fp: dict[str, dict[str, Any]] = {}
    for res in results:
        for f in res.findings:
            e = by_fp.setdefault(f["fingerprint"], {"fingerprint": f["fingerprint"], "rule_id": f["rule_id"],
                                                   "title": f["title"], "preview": f["preview"],
                                                   "confidence": f["confidence"], "repositories": {}})
            r = e["repositories"].setdefault(res.name, {"places": 0, "paths": set(), "first": None, "last": None})
            r["places"] += 1
            r["paths"].add(f["path"])
            date = (f.get("commit") or {}).get("date")
            if date:
                r["first"] = min(filter(None, (r["first"], date)))
                r["last"] = max(filter(None, (r["last"], date)))
    out = []
    for e in by_fp.values():
        repos = e["repositories"]
        for r in repos.values():
            r["paths"] = sorted(r["paths"])
        firsts = [r["first"] for r in repos.values() if r["first"]]
        e["repository_count"] = len(repos)
        e["first_seen"] = min(firsts) if firsts else None
        e["places"] = sum(r["places"] for r in repos.values())
        e["repositories"] = dict(sorted(repos.items()))
        out.append(e)
    out.sort(key=lambda e: (-e["repository_count"], -e["places"], e["fingerprint"]))
    return out

