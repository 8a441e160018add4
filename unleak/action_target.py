"""The GitHub Action's choice of commits: from the event payload, which commits to scan (every commit of a pull
request, of a merge group, of a push), deepening a shallow checkout as far as needed and saying where coverage is
partial; and the scan of that target."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scanner import git
from scanner.api import ScanRequest
from scanner.errors import GitError, UsageError
from scanner.result import ScanResult
from scanner.words import plural

ZERO_SHA = "0" * 40
_PR_EVENTS = {"pull_request", "pull_request_target"}


# ------------------------------------------------------------------------------------------- what to scan


@dataclass(frozen=True)
class Target:
    """The commits to scan, as ``git log`` arguments; ``revs == []`` means there is nothing to scan (a deleted
    branch); ``revs is None`` means scan the checked-out files instead (an event with no commits of its own).

    ``kind`` names the SARIF category (``runAutomationDetails.id`` ``unleak/<kind>/``): pull-request, merge-group,
    push, history or files; uploads of different kinds never replace each other's results. ``warnings`` say where
    coverage is partial (a shallow checkout that could not be deepened, a commit the remote would not serve)."""

    revs: list[str] | None
    label: str
    pr_number: int | None = None
    base: str | None = None
    head: str | None = None
    kind: str = "files"
    warnings: tuple[str, ...] = ()

    @property
    def coverage(self) -> str:
        return "partial" if self.warnings else "full"


def _has_commit(repo: Path, sha: str) -> bool:
    try:
        git.run(["cat-file", "-e", f"{sha}^{{commit}}"], repo)
        return True
    except GitError:
        return False


def _str(d: Any, *keys: str) -> str:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d if isinstance(d, str) else ""


def _int(d: Any, key: str) -> int | None:
    v = d.get(key) if isinstance(d, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


_SHA = re.compile(r"[0-9a-f]{40}")
# Deepening steps for a shallow checkout (fetch depth from each tip), then the whole history as a last resort.
_DEPTHS = (50, 200, 1000)


class _History:
    """What the checkout has of the history, and fetching the rest from ``origin`` with the credentials
    actions/checkout persisted. A complete clone is never fetched from unless a commit is missing."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.remote = "origin" if "origin" in git.remote_names(repo) else None

    def shallow(self) -> bool:
        return git.is_shallow(self.repo)

    def have(self, sha: str) -> bool:
        return _has_commit(self.repo, sha)

    def get(self, refspecs: list[str], depth: int | None) -> bool:
        if self.remote is None:
            return False
        return git.fetch(self.repo, self.remote, refspecs, depth=depth if self.shallow() else None)

    def ensure(self, sha: str, depth: int) -> bool:
        """The commit ``sha`` and ``depth`` commits of its ancestry (in a shallow checkout)."""
        if self.have(sha):
            return True
        if _SHA.fullmatch(sha):
            self.get([sha], depth)
        return self.have(sha)

    def cut(self, revs: list[str]) -> int:
        """How many commits of ``revs`` sit on the shallow boundary (their parents are not in the checkout)."""
        boundary = git.shallow_boundary(self.repo)
        return len(boundary & set(git.rev_list(self.repo, revs))) if boundary else 0

    def connect(self, base: str, head: str, revs: list[str], refspecs: list[str], first: int) -> bool:
        """Deepen until ``base`` and ``head`` share an ancestor and no commit of ``revs`` is cut off; True when
        the range is complete."""
        depth = max(first, 2)
        steps = [depth, *(d for d in _DEPTHS if d > depth)]
        for d in steps:
            if self._complete(base, head, revs):
                return True
            if not self.shallow() or not self.get(refspecs, d):
                break
        if not self._complete(base, head, revs) and self.shallow() and self.remote is not None:
            git.fetch(self.repo, self.remote, [], unshallow=True)
        return self._complete(base, head, revs)

    def _complete(self, base: str, head: str, revs: list[str]) -> bool:
        # Any gap shows as a boundary commit inside the range; in a shallow checkout the two tips must also meet,
        # or commits of the base's history would be reported as the change's own.
        return not self.cut(revs) and (not self.shallow() or git.merge_base(self.repo, base, head) is not None)


def _partial(what: str, cut: int = 0) -> str:
    lost = f" ({plural(cut, 'commit')} at the shallow boundary)" if cut else ""
    return (f"partial coverage: {what}{lost}; check out with actions/checkout and `fetch-depth: 0` (or allow the "
            "job to fetch from origin) so every commit is scanned")


def target_for(event_name: str, payload: Mapping[str, Any], repo: Path, scan: str = "auto") -> Target:
    """Which commits the event brings, fetching what a shallow checkout lacks. Pull requests: base..head from the
    payload (every commit, so a secret added and removed inside the pull request is still found). Pushes:
    before..after; a new branch (all-zeros before, or a before that a force-push made unreachable) is scanned from
    where it left the default branch. ``schedule`` and ``workflow_dispatch`` (or ``scan: history``) scan every
    commit of every ref; ``scan: files`` scans the checked-out files."""
    hist = _History(repo)
    if scan == "files":
        return Target(None, "checked-out files")
    if scan == "history" or (scan == "auto" and event_name in ("schedule", "workflow_dispatch")):
        warnings: tuple[str, ...] = ()
        if hist.shallow():
            if hist.remote is not None:
                git.fetch(repo, hist.remote, [], unshallow=True)
            if hist.shallow():
                warnings = (_partial("the checkout is shallow and could not be completed"),)
        return Target(["--all"], "the whole history" if not warnings else "the history in the checkout",
                      kind="history", warnings=warnings)
    if event_name in _PR_EVENTS or event_name == "merge_group":
        if event_name == "merge_group":
            mg = payload.get("merge_group") or {}
            base, head = _str(mg, "base_sha"), _str(mg, "head_sha")
            number, label, kind, size = None, "merge group", "merge-group", 0
            if not base or not head:
                raise UsageError("merge_group payload has no merge_group.base_sha / head_sha")
        else:
            pr = payload.get("pull_request") or {}
            base, head = _str(pr, "base", "sha"), _str(pr, "head", "sha")
            if not base or not head:
                raise UsageError(f"{event_name} payload has no pull_request.base.sha / head.sha")
            raw = pr.get("number") if isinstance(pr.get("number"), int) else payload.get("number")
            number = raw if isinstance(raw, int) else None
            label = f"pull request #{number}" if number else "pull request"
            kind, size = "pull-request", _int(pr, "commits") or 0
        return _range(hist, base, head, size, label, kind, number)
    if event_name == "push":
        before, after = _str(payload, "before"), _str(payload, "after")
        if not after or after == ZERO_SHA:
            return Target([], "deleted ref: nothing to scan", kind="push")
        ref = _str(payload, "ref")
        commits = payload.get("commits")
        size = len(commits) if isinstance(commits, list) else 0
        if before and before != ZERO_SHA and hist.ensure(before, 1) and hist.ensure(after, size + 1):
            return _range(hist, before, after, size, f"push to {ref or 'a ref'}", "push", None)
        if not hist.ensure(after, size + 1):
            return _files_instead(f"the pushed commit {after[:12]} is not in the checkout", "push")
        # A new branch (or a force-push whose old tip is gone): scan what is not on the default branch.
        default = _str(payload, "repository", "default_branch")
        tracking = f"refs/remotes/origin/{default}"
        if default and ref != f"refs/heads/{default}":
            if hist.remote is not None and (hist.shallow() or not hist.have(tracking)):
                hist.get([f"+refs/heads/{default}:{tracking}"], max(size, 1) + 1)
            for candidate in (tracking, f"refs/heads/{default}"):
                if hist.have(candidate):
                    revs = [after, "--not", candidate]
                    ok = hist.connect(candidate, after, revs, [after, f"+refs/heads/{default}:{tracking}"],
                                      max(size, 1) + 1)
                    warn = () if ok else (_partial(f"where {ref or after[:12]} left {default} is not in the "
                                                   "checkout", hist.cut(revs)),)
                    return Target(revs, f"new branch {ref or after[:12]} (since {default})", None, candidate,
                                  after, "push", warn)
        revs = [after]
        if hist.shallow() and hist.remote is not None:
            git.fetch(repo, hist.remote, [], unshallow=True)
        if hist.shallow():
            cut = hist.cut(revs)
            return Target(revs, f"new ref {ref or after[:12]} (the history in the checkout)", None, None, after,
                          "push", (_partial("the checkout is shallow", cut),))
        return Target(revs, f"new ref {ref or after[:12]} (all of its history)", None, None, after, "push")
    return Target(None, "checked-out files")


def _files_instead(why: str, kind: str) -> Target:
    return Target(None, "checked-out files (the event's commits could not be read)", kind=kind,
                  warnings=(_partial(f"{why}; scanned the checked-out files instead"),))


def _range(hist: _History, base: str, head: str, size: int, label: str, kind: str, number: int | None) -> Target:
    # actions/checkout fetches one merge commit for a pull request: fetch the head with its commits and the base.
    if not hist.ensure(head, size + 1):
        return _files_instead(f"the head commit {head[:12]} is not in the checkout and origin did not serve it",
                              kind)
    if not hist.ensure(base, 1):
        return _files_instead(f"the base commit {base[:12]} is not in the checkout and origin did not serve it",
                              kind)
    revs = [f"{base}..{head}"]
    ok = hist.connect(base, head, revs, [base, head], size + 1)
    warn = () if ok else (_partial(f"the history between {base[:12]} and {head[:12]} is not all in the checkout",
                                   hist.cut(revs)),)
    return Target(revs, label, number, base, head, kind, warn)


def scan_target(req: ScanRequest, target: Target) -> ScanResult:
    """Scan the target through :func:`scanner.api.scan`, as ``unleak scan`` would: its commits as history over
    any list of ``git log`` arguments (new branches need ``HEAD --not BASE``), or the checked-out files. The
    Action reports its own coverage of a shallow checkout (``Target.warnings``), so the generic note is off."""
    from scanner.api import scan

    if target.revs is None:
        return scan(replace(req, modes=("files",)))
    if not target.revs:  # nothing to scan (a deleted branch): an empty result with the request's rules
        return scan(replace(req, modes=()))
    return scan(replace(req, modes=("history",), revs=tuple(target.revs), shallow_note=False))
