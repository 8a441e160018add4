"""Building the exposure report: ``analyze`` runs the history scan (through its cache, so a repository scanned
before costs only the commits added since), recovers the values the cache does not hold, groups findings into
distinct secrets, walks history for presence and reachability, reads the refs and the agent logs, and turns the
bitsets into one :class:`~scanner.exposure.model.Exposure` per secret and the rotation checklist."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner import archives, git
from scanner.cache import mac_key
from scanner.chunk import Chunk
from scanner.exposure.blobcache import BlobCache
from scanner.exposure.matcher import matcher
from scanner.exposure.model import Exposure, ExposureReport, RotationItem
from scanner.exposure.presence import MAX_BLOB, Presence
from scanner.exposure.values import values_from_blobs
from scanner.finding import CommitInfo, Finding, Secret
from scanner.sources import MESSAGE_PATHS

if TYPE_CHECKING:
    from scanner.api import ScanRequest
    from scanner.baseline import Baseline
    from scanner.rules import Rule


@dataclass
class _Seen:
    rule_id: str
    title: str
    preview: str
    secret: Secret
    paths: dict[str, None] = field(default_factory=dict)
    commits: list[CommitInfo] = field(default_factory=list)


def _group(findings: Iterable[Finding], values: dict[str, Secret] | None = None) -> dict[str, _Seen]:
    """Findings by fingerprint; ``values`` supplies the secret of findings read from the cache (which have none)."""
    seen: dict[str, _Seen] = {}
    for f in findings:
        secret = f.secret if f.secret.reveal() else (values or {}).get(f.fingerprint, f.secret)
        if not secret.reveal():
            continue
        s = seen.get(f.fingerprint)
        if s is None:
            s = seen[f.fingerprint] = _Seen(f.rule_id, f.title, f.preview, secret)
        s.paths.setdefault(f.path, None)
        if f.commit is not None:
            s.commits.append(f.commit)
    return seen



def _ref_kind(name: str) -> tuple[str, str]:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag"), ("refs/remotes/", "remote")):
        if name.startswith(prefix):
            return kind, name[len(prefix):]
    return "other", name


def analyze(root: Path, request: ScanRequest | None = None, agent_logs: list[str] | None = None,
            progress: Callable[[Chunk], None] | None = None,
            phase: Callable[[str, int | None], None] | None = None) -> ExposureReport:
    """Exposure of every secret in the history of the repository at ``root``.

    ``request`` is a :class:`scanner.api.ScanRequest` carrying config (exclusions, disabled rules, baseline); its
    modes are replaced by a history scan. ``agent_logs``: None skips transcripts, [] scans the default locations.
    ``phase(name, total)`` announces each step (history scan, reading values, walking history, refs) and
    ``progress`` is called with a chunk per commit done in it.
    """
    from scanner.api import ScanRequest

    top = git.require_repo(root, "exposure", bare=True)
    req = request if request is not None else ScanRequest(root=top)
    baseline = req.baseline
    # A baseline silences known findings in the *tree*; a committed secret stays exposed whatever its baseline
    # status says (accepted, even rotated: the old value is still in history). Only false positives are left out.
    req = dataclasses.replace(req, root=top, modes=("history",), paths=(), text=None, baseline=None)
    # The history scan's commit list, walked by git on another core while the scanner is imported and built, and the
    # commit list of the presence walk, walked while the history scan runs.
    revs = list(req.revs) or ["--all"]
    git.start_rev_list(str(top), revs)
    listing = None
    if req.cache:
        with contextlib.suppress(OSError):  # no temporary file here (a sandbox): the walk reads history itself
            listing = git.start_listing(top, ["--all"])
    try:
        return _analyze(top, req, baseline, agent_logs, progress, phase, listing)
    finally:
        git.drop_rev_list(str(top), revs)
        if listing is not None:
            listing.close()


def _analyze(top: Path, req: ScanRequest, baseline: Baseline | None, agent_logs: list[str] | None,
             progress: Callable[[Chunk], None] | None, phase: Callable[[str, int | None], None] | None,
             listing: git.Background | None) -> ExposureReport:
    from scanner.api import scan

    def step(name: str, total: int | None) -> None:
        if phase is not None:
            phase(name, total)

    step("scanning history", None)
    result = scan(req, progress=progress)
    report = ExposureReport(notes=list(result.notes), findings=len(result.findings), skipped=len(result.skipped))
    if result.skipped:
        report.notes.append(f"{len(result.skipped)} git object(s) could not be read and were skipped "
                            "(`unleak scan --history` names them)")
    findings = result.findings
    # Findings read from the scan cache carry no value (it stores none); the presence check needs the values. Each
    # secret's value is cut out of the file version where it was found (line and columns), and kept only if it
    # hashes to the finding's fingerprint; the commits of any secret not recovered that way are scanned again,
    # without the cache.
    values: dict[str, Secret] = {}
    firsts: dict[str, Finding] = {}
    for f in findings:
        if f.commit is not None and not f.secret.reveal():
            firsts.setdefault(f.fingerprint, f)
    if firsts:
        step("reading values", len(firsts))
        values = values_from_blobs(top, list(firsts.values()))
        lost = [f for fp, f in firsts.items() if fp not in values and f.commit is not None]
        need = sorted({f.commit.sha for f in lost if f.source != "tag-message" and f.commit is not None})
        # A tag message's value comes back from the tag messages (its "commit" is the tag object), read beside
        # the commits (at least one: HEAD's) that are scanned again.
        tags = any(f.source == "tag-message" for f in lost)
        revs = need or ([head] if tags and (head := git.head_sha(top)) else [])
        if revs:
            again = scan(dataclasses.replace(req, revs=("--no-walk", *revs), cache=False, tag_messages=tags),
                         progress=progress)
            values.update((f.fingerprint, f.secret) for f in again.findings
                          if f.secret.reveal() and f.fingerprint not in values)
    if baseline is not None:
        kept = [f for f in findings if not _false_positive(baseline, f)]
        if len(kept) != len(findings):
            report.notes.append(f"{len(findings) - len(kept)} finding(s) marked false-positive in the baseline "
                                "were left out")
        findings = kept
    seen = _group(findings, values)
    fps = list(seen)
    raw_values = [seen[fp].secret.reveal().encode("utf-8") for fp in fps]
    step("walking history", (result.stats.commits or None) if raw_values else None)
    blob_cache = BlobCache(git.common_git_dir(top), fps, mac_key()).load() if req.cache and raw_values else None
    # A secret in an archive's member (history reads archives as a tree scan does) is held by the archive's file
    # versions: the walk opens those, and looks inside them.
    in_archives = any(f.source == archives.SOURCE for f in findings)
    pres = Presence(top, raw_values, added={(f.commit.sha, archives.split(f.path)[0] if f.source == archives.SOURCE
                                             else f.path) for f in findings if f.commit is not None},
                     unreadable={(s.commit, s.path) for s in result.skipped}, progress=progress, phase=phase,
                     known=blob_cache.known if blob_cache is not None else None, listing=listing,
                     archive_depth=req.archive_depth if in_archives else 0)
    if blob_cache is not None and not pres.error:
        blob_cache.save(pres.answers())
    if pres.error:
        report.notes.append(f"the walk of history stopped early ({pres.error}); presence and refs are partial")
    report.commits_scanned = len(pres.order) or git.count_commits(top, ["--all"])
    step("reading refs", None)

    head = git.head_sha(top)
    head_bits = pres.present.get(head, 0) if head else 0
    refs = [(name, sha) for name, sha in git.ref_targets(top, ("refs/",)) if sha in pres.reach]

    in_logs: dict[str, dict[str, None]] = {fp: {} for fp in fps}
    if agent_logs is not None:
        report.agent_logs_scanned = True
        _match_agent_logs(req, agent_logs, seen, in_logs)

    def commit_of(sha: str) -> CommitInfo:
        return pres.info[sha].info

    # One pass over the commits whose trees hold any secret: per secret, how many, the earliest and the latest (by
    # commit time, then history order).
    held = [0] * len(fps)
    first_of: list[tuple[int, int, str] | None] = [None] * len(fps)
    last_of: list[tuple[int, int, str] | None] = [None] * len(fps)
    # Few distinct bitsets (one per change of what the trees hold): first, last and count per bitset, then per bit.
    groups: dict[int, list[Any]] = {}
    for sha, bits in pres.present.items():
        if not bits:
            continue
        key = (pres.info[sha].timestamp, pres.order[sha], sha)
        g = groups.get(bits)
        if g is None:
            groups[bits] = [key, key, 1]
        else:
            if key < g[0]:
                g[0] = key
            if key > g[1]:
                g[1] = key
            g[2] += 1
    for bits, (lo, hi, count) in groups.items():
        while bits:
            low = bits & -bits
            i = low.bit_length() - 1
            bits ^= low
            held[i] += count
            f0, l0 = first_of[i], last_of[i]
            if f0 is None or lo < f0:
                first_of[i] = lo
            if l0 is None or hi > l0:
                last_of[i] = hi
    for i, fp in enumerate(fps):
        s = seen[fp]
        bit = 1 << i
        f0, l0 = first_of[i], last_of[i]
        if f0 is not None and l0 is not None:
            first_ci, last_ci = commit_of(f0[2]), commit_of(l0[2])
        elif s.commits:
            # Not found byte for byte in any blob (a file too large to open, or bytes that are not UTF-8 around
            # it): fall back to the commits whose added lines held it.
            first_ci, last_ci = s.commits[0], s.commits[-1]
            if not all(p in MESSAGE_PATHS.values() for p in s.paths):  # only in messages: nothing to explain
                report.notes.append(f"{s.preview}: not found in any file version byte for byte (larger than "
                                    f"{MAX_BLOB // (1024 * 1024)} MB, or not UTF-8); first/last are the commits that "
                                    "added it")
        else:
            continue
        kinds: dict[str, list[str]] = {"branch": [], "tag": [], "remote": [], "other": []}
        tips: list[str] = []
        for name, sha in refs:
            kind, short = _ref_kind(name)
            if pres.reach[sha] & bit:
                kinds[kind].append(short)
            if pres.present.get(sha, 0) & bit:
                tips.append(short if kind != "other" else name)
        report.exposures.append(Exposure(
            fingerprint=fp, rule_id=s.rule_id, title=s.title, preview=s.preview, paths=tuple(s.paths),
            first=first_ci, last=last_ci, commits=held[i], in_head=bool(head_bits & bit),
            branches=tuple(kinds["branch"]), tags=tuple(kinds["tag"]), remote_refs=tuple(kinds["remote"]),
            other_refs=tuple(kinds["other"]), tips=tuple(tips), agent_logs=tuple(in_logs[fp]), secret=s.secret,
        ))
    # Oldest exposure first; by commit time and history order (ISO dates in mixed time zones do not sort as text).
    def age(e: Exposure) -> tuple[int, int, str]:
        rc = pres.info.get(e.first.sha)
        return (rc.timestamp, pres.order[rc.sha], e.fingerprint) if rc else (0, 0, e.fingerprint)

    report.exposures.sort(key=age)
    report.rotation = _rotation(report.exposures, result.rules)
    return report



def _false_positive(baseline: Baseline, f: Finding) -> bool:
    entry = baseline.entries.get(f.key)
    if entry is not None and entry.status == "false-positive":
        return True
    imported = baseline.imported.get((f.path, f.sha1))
    return imported is not None and imported.status == "false-positive"


def _match_agent_logs(req: ScanRequest, paths: list[str], seen: dict[str, _Seen],
                      out: dict[str, dict[str, None]]) -> None:
    """Transcripts are scanned with the same rules (fingerprint match) and searched for the literal values: a
    value pasted into a prompt or echoed by a tool may sit where no rule's context fires (escaped JSON, a log)."""
    from scanner.api import scan

    fps = list(seen)
    match = matcher([seen[fp].secret.reveal().encode("utf-8") for fp in fps])

    def look(chunk: Chunk) -> None:
        bits = match(chunk.text.encode("utf-8"))
        for i, fp in enumerate(fps):
            if bits >> i & 1:
                out[fp].setdefault(chunk.path, None)

    logs = scan(dataclasses.replace(req, modes=("agent-logs",), paths=tuple(paths), baseline=None), progress=look)
    for f in logs.findings:
        if f.fingerprint in out:
            out[f.fingerprint].setdefault(f.path, None)


def _rotation(exposures: list[Exposure], rules: dict[str, Rule]) -> list[RotationItem]:
    by_rule: dict[str, list[Exposure]] = {}
    for e in exposures:
        by_rule.setdefault(e.rule_id, []).append(e)
    items = []
    for rule_id, group in sorted(by_rule.items()):
        rule = rules.get(rule_id)
        revoke = rule.revoke if rule is not None else ""
        items.append(RotationItem(rule_id=rule_id, title=group[0].title, revoke=revoke,
                                  fingerprints=tuple(e.fingerprint for e in group),
                                  previews=tuple(e.preview for e in group)))
    return items
