"""The GitHub Action's logic (``action.yml`` is a thin shim that calls ``unleak action github``).

From the event payload it decides which commits to scan (every commit of a pull request, or of a push), scans them,
and produces what a workflow consumes: workflow-command annotations, a SARIF file for code scanning, a Markdown
table in the job summary, step outputs, and, when asked, one pull-request review whose comments are GitHub
suggestion blocks carrying the lines `unleak fix` would write.

Nothing here prints or exits (the CLI does); nothing it returns, writes or posts contains a secret value: findings are
redacted records, and every suggestion body is checked for the values before it leaves.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from scanner import git, sources
from scanner.api import ScanRequest
from scanner.engine import Engine, EngineOptions, ScanResult
from scanner.errors import ConfigError, GitError, UnleakError, UsageError
from scanner.finding import Confidence, Finding
from scanner.words import plural

ZERO_SHA = "0" * 40
FAIL_ON = ("high", "medium", "low", "none")
REVIEW_MARKER = "<!-- unleak:suggested-fixes -->"
_PR_EVENTS = {"pull_request", "pull_request_target"}


# ------------------------------------------------------------------------------------------------ settings

SCAN_MODES = ("auto", "files", "history")
# GitHub code scanning keeps the top 5,000 results of a run (by severity) and drops the rest.
MAX_SARIF_RESULTS = 5000


@dataclass(frozen=True)
class Settings:
    """The action's inputs and the runner's environment (inputs arrive through ``env:``, never interpolated into a
    script, so a crafted input cannot inject shell)."""

    workspace: Path
    event_name: str
    event_path: Path | None
    output_path: Path | None
    summary_path: Path | None
    fail_on: str = "high"
    sarif_file: str = ""
    suggest_fixes: bool = False
    token: str = field(default="", repr=False)
    api_url: str = "https://api.github.com"
    repository: str = ""
    scan: str = "auto"
    runner_temp: Path | None = None
    verify: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def path(name: str) -> Path | None:
            v = env.get(name, "")
            return Path(v) if v else None

        fail_on = (env.get("UNLEAK_FAIL_ON") or "high").strip().lower()
        if fail_on not in FAIL_ON:
            raise UsageError(f"input fail-on: {fail_on!r} is not one of {', '.join(FAIL_ON)}")
        suggest = (env.get("UNLEAK_SUGGEST_FIXES") or "false").strip().lower()
        if suggest not in ("true", "false", "yes", "no", "1", "0", ""):
            raise UsageError(f"input suggest-fixes: {suggest!r} is not true or false")
        verify = (env.get("UNLEAK_VERIFY") or "false").strip().lower()
        if verify not in ("true", "false", "yes", "no", "1", "0", ""):
            raise UsageError(f"input verify: {verify!r} is not true or false")
        scan = (env.get("UNLEAK_SCAN") or "auto").strip().lower()
        if scan not in SCAN_MODES:
            raise UsageError(f"input scan: {scan!r} is not one of {', '.join(SCAN_MODES)}")
        return cls(
            workspace=Path(env.get("GITHUB_WORKSPACE") or ".").resolve(),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event_path=path("GITHUB_EVENT_PATH"),
            output_path=path("GITHUB_OUTPUT"),
            summary_path=path("GITHUB_STEP_SUMMARY"),
            fail_on=fail_on,
            sarif_file=(env.get("UNLEAK_SARIF_FILE") or "").strip(),
            suggest_fixes=suggest in ("true", "yes", "1"),
            token=env.get("UNLEAK_GITHUB_TOKEN", ""),
            api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            repository=env.get("GITHUB_REPOSITORY", ""),
            scan=scan,
            runner_temp=path("RUNNER_TEMP"),
            verify=verify in ("true", "yes", "1"),
        )

    def payload(self) -> dict[str, Any]:
        if self.event_path is None or not self.event_path.is_file():
            return {}
        try:
            data = json.loads(self.event_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"GITHUB_EVENT_PATH {self.event_path}: not a JSON event payload ({exc})") from None
        return data if isinstance(data, dict) else {}

    def sarif_path(self) -> Path:
        """Where the SARIF report goes: the input (relative to the workspace), else the runner's temporary
        directory, so a later scan or an auto-commit step never sees the report inside the checkout."""
        if self.sarif_file:
            p = Path(self.sarif_file)
            return p if p.is_absolute() else self.workspace / p
        return (self.runner_temp or Path(tempfile.gettempdir())) / "unleak.sarif"


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
    lost = f" ({_plural(cut, 'commit')} at the shallow boundary)" if cut else ""
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
    """Scan the target's commits with the request's rules, filters and baseline (as ``scanner.api.scan`` does for
    a range, but with any list of ``git log`` arguments: new branches need ``HEAD --not BASE``)."""
    if target.revs is None:
        from scanner.api import scan

        return scan(replace(req, modes=("files",)))
    engine = Engine(EngineOptions(disabled=req.disabled, extra_rules=req.extra_rules,
                                  min_confidence=req.min_confidence, explain=req.explain))
    result = ScanResult()
    if target.revs:
        top = git.require_repo(req.root, "the action")
        chunks = sources.commits(top, target.revs, result.stats, sources.PathFilter(req.exclude))
        result = engine.scan(chunks, result)
    result.all_findings = list(result.findings)
    if req.baseline is not None:
        kept = [f for f in result.findings if not req.baseline.contains(f)]
        result.baselined = len(result.findings) - len(kept)
        result.findings = kept
    return result


def failing(findings: Iterable[Finding], fail_on: str) -> list[Finding]:
    if fail_on == "none":
        return []
    floor = Confidence.parse(fail_on).rank
    return [f for f in findings if f.confidence.rank >= floor]


# --------------------------------------------------------------------------------------- summary, outputs


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def at_head(repo: Path, head: str | None, findings: Sequence[Finding]) -> dict[tuple[str, str], bool]:
    """(path, fingerprint) -> is the value still in that file at the head commit. Compared in memory only."""
    out: dict[tuple[str, str], bool] = {}
    if not head:
        return out
    cache: dict[str, str] = {}
    for f in findings:
        if f.commit is None:
            continue
        if f.path not in cache:
            try:
                cache[f.path] = git.run(["show", f"{head}:{f.path}"], repo)
            except GitError:
                cache[f.path] = ""
        value = f.secret.reveal()
        out[(f.path, f.fingerprint)] = bool(value) and value in cache[f.path]
    return out


_plural = plural


def summary_markdown(result: ScanResult, target: Target, fail_on: str, failed: bool,
                     present: Mapping[tuple[str, str], bool], limit: int = 200,
                     warnings: Sequence[str] = ()) -> str:
    n = len(result.findings)
    icon = "❌" if failed else ("⚠️" if n or warnings else "✅")
    lines = [f"## {icon} unleak: {_plural(n, 'secret')} in {target.label}", ""]
    s = result.stats
    scope = _plural(s.commits, "commit") if target.revs is not None else _plural(s.files, "file")
    known = f"; {_plural(result.baselined, 'known finding')} in the baseline" if result.baselined else ""
    lines.append(f"Scanned {scope}; fail-on: `{fail_on}`{known}; coverage: {target.coverage}.")
    lines.append("")
    for w in warnings:
        lines += [f"> [!WARNING]\n> {w}", ""]
    if n:
        verified = bool(result.verifications)
        lines += ["| Rule | File | Line | Commit | Preview | At head |" + (" Verified |" if verified else ""),
                  "|---|---|---|---|---|---|" + ("---|" if verified else "")]
        for f in result.findings[:limit]:
            commit = f"`{f.commit.sha[:12]}`" if f.commit else "working tree"
            here = present.get((f.path, f.fingerprint))
            state = "—" if here is None else ("yes" if here else "removed, still in history")
            verdict = result.verifications.get(f.fingerprint)
            extra = (f" {_cell(verdict.short()) if verdict is not None else '—'} |") if verified else ""
            lines.append(f"| {f.rule_id} {_cell(f.title)} | `{_cell(f.path)}` | {f.line} | {commit} | "
                         f"`{_cell(f.preview)}` | {state} |{extra}")
        if n > limit:
            lines.append(f"\n…and {n - limit} more (see the SARIF file or the annotations).")
        lines.append("")
        if any(v is False for v in present.values()):
            lines.append("A secret removed by a later commit is still in the branch's history: anyone with the "
                         "repository can read it. Rotate it, then squash or rewrite the history before merging.")
        lines.append("Move secrets into the vault with `unleak fix`, then rotate any that were pushed.")
    for note in result.notes:
        lines.append(f"\n> {note}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------- SARIF


def _line_of(text: str, value: str) -> tuple[int, int] | None:
    """(1-based line, 1-based column in code points) of the value's first occurrence in ``text``."""
    i = text.find(value) if value else -1
    if i < 0:
        return None
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1


def sarif_document(result: ScanResult, target: Target, repo: Path, analysed: str | None,
                   max_results: int = MAX_SARIF_RESULTS) -> tuple[dict[str, Any], list[str]]:
    """The SARIF run for code scanning, and warnings about it.

    Its category (``runAutomationDetails.id``) is ``unleak/<kind>/``: an upload replaces only earlier uploads of the
    same ref and category, so pull-request, push and scheduled history uploads never close each other's alerts.
    A finding from an earlier commit is placed where its value is in the analysed commit (the checkout's HEAD,
    which code scanning displays); a value that is no longer there is reported on the file's first line with a
    message that says it lives in the history only, rather than on a line that now holds something else.
    """
    from scanner.report.sarif import document

    doc = document(result, root=str(repo))
    run = doc["runs"][0]
    run["automationDetails"] = {"id": f"unleak/{target.kind}/"}
    warnings: list[str] = []
    cache: dict[str, str | None] = {}
    results: list[dict[str, Any]] = run["results"]
    for res, f in zip(results, result.findings, strict=True):
        if f.commit is None or not analysed:
            continue
        if f.path not in cache:
            try:
                cache[f.path] = git.run(["show", f"{analysed}:{f.path}"], repo)
            except GitError:
                cache[f.path] = None
        text = cache[f.path]
        value = f.secret.reveal()
        where = _line_of(text, value) if text is not None else None
        region: dict[str, Any]
        if where is not None:
            line, col = where
            region = {"startLine": line, "startColumn": col, "endColumn": col + len(value)}
        else:
            region = {"startLine": 1}
            res["message"]["text"] += "; no longer in this file at the analysed commit, still in the git history"
            res["properties"]["historyOnly"] = True
        res["locations"][0]["physicalLocation"]["region"] = region
    if len(results) > max_results:
        order = {"error": 0, "warning": 1, "note": 2}
        kept = sorted(results, key=lambda r: order.get(str(r.get("level")), 3))[:max_results]
        run["results"] = kept
        warnings.append(f"the SARIF file holds the {max_results} most severe of {len(results)} findings "
                        "(GitHub code scanning keeps no more per run); the summary and annotations count all")
    return doc, warnings


def workflow_command(level: str, text: str) -> str:
    """``::notice title=unleak::text`` (or warning/error), escaped as the runner's command parser expects."""
    from scanner.report.github import _data

    return f"::{level} title=unleak::{_data(text)}"


def write_outputs(path: Path | None, values: Mapping[str, str]) -> None:
    """Append ``name=value`` lines to $GITHUB_OUTPUT (values here are single-line by construction)."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as fh:
        for k, v in values.items():
            if "\n" in v:
                raise ValueError(f"output {k} must be a single line")
            fh.write(f"{k}={v}\n")


def append_summary(path: Path | None, text: str) -> None:
    if path is not None:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)


# ------------------------------------------------------------------------------------ suggested fixes


@dataclass(frozen=True)
class Suggestion:
    path: str
    start_line: int  # first line replaced (1-based, at the head commit)
    end_line: int  # last line replaced
    new_lines: tuple[str, ...]
    note: str = ""

    def body(self) -> str:
        text = "\n".join(self.new_lines)
        lead = self.note or "unleak: read this secret from the environment instead of the source."
        return f"{lead}\n\n```suggestion\n{text}\n```\n"

    def comment(self) -> dict[str, Any]:
        c: dict[str, Any] = {"path": self.path, "line": self.end_line, "side": "RIGHT", "body": self.body()}
        if self.start_line != self.end_line:
            c = {"path": self.path, "start_line": self.start_line, "start_side": "RIGHT", "line": self.end_line,
                 "side": "RIGHT", "body": self.body()}
        return c


class PlanOnlyVault:
    """A vault that only names things: `unleak fix` plans references against it, and nothing is ever stored (the
    action must not hold values; the developer runs `unleak fix --apply` locally)."""

    scheme = "unleak"

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def reference_for(self, name: str) -> str:
        from remediate.vault.refs import format_reference

        return format_reference(self.scheme, self.namespace, name)

    def put(self, name: str, value: str, *, overwrite: bool = True) -> str:
        raise UnleakError("the action plans fixes only; nothing is stored in a vault")

    def get(self, reference: str) -> str:
        raise UnleakError("the action never reads secret values")

    def names(self) -> list[Any]:
        return []

    def delete(self, name: str) -> None:
        raise UnleakError("the action plans fixes only")


def commentable_lines(repo: Path, base: str, head: str) -> dict[str, set[int]]:
    """Right-side lines a review comment may target: the lines of the pull request's diff hunks (GitHub's diff is
    against the merge base, with three lines of context)."""
    out: dict[str, set[int]] = {}
    current: str | None = None
    text = git.run(["diff", "--no-color", "--no-ext-diff", "-U3", "--no-renames", f"{base}...{head}"], repo)
    for line in text.splitlines():
        if line.startswith("+++ "):
            target = line[4:].strip()
            current = target[2:] if target.startswith("b/") else None
        elif line.startswith("@@") and current is not None:
            m = re.match(r"@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", line)
            if m:
                start, count = int(m.group(1)), int(m.group(2) or "1")
                out.setdefault(current, set()).update(range(start, start + count))
    return out


def _hunks(before: str, after: str) -> list[tuple[int, int, list[str], bool]]:
    """(first old line 1-based, last old line, new lines, is an insertion) per changed region; an insertion is
    attached to a neighbouring line (a suggestion must replace at least one line)."""
    import difflib

    a, b = before.splitlines(), after.splitlines()
    out: list[tuple[int, int, list[str], bool]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i2 > i1:
            out.append((i1 + 1, i2, b[j1:j2], False))
        elif i1 > 0:  # pure insert after old line i1: rewrite that line as itself plus the new lines
            out.append((i1, i1, [a[i1 - 1], *b[j1:j2]], True))
        elif a:  # insert at the very top: rewrite line 1 as the new lines plus itself
            out.append((1, 1, [*b[j1:j2], a[0]], True))
    return out


@dataclass
class FixSuggestions:
    suggestions: list[Suggestion] = field(default_factory=lambda: [])
    notes: list[str] = field(default_factory=lambda: [])


def plan_suggestions(req: ScanRequest, repo: Path, base: str, head: str, namespace: str) -> FixSuggestions:
    """What `unleak fix` would change in the head commit's files, as review suggestions on lines of the diff.

    The head versions of the files that still hold secrets are copied to a temporary directory, scanned there, and
    planned with `remediate.plan.build` against a vault that stores nothing. Every suggestion is checked against
    the planned values (and re-scanned) before it is returned, so no body can carry a secret.
    """
    from remediate.plan import build
    from unleak.agent.hooks import scan_text

    out = FixSuggestions()
    names = [p for p in git.run(["diff", "--name-only", "--no-renames", "--diff-filter=AM", f"{base}...{head}"],
                                repo).splitlines() if p]
    with tempfile.TemporaryDirectory(prefix="unleak-suggest-") as tmp:
        root = Path(tmp)
        written: list[str] = []
        for rel in names:
            try:
                data = git.run(["show", f"{head}:{rel}"], repo)
            except GitError:
                continue
            dest = root / PurePosixPath(rel)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(data, encoding="utf-8")
            written.append(rel)
        if not written:
            return out
        from scanner.api import scan

        result = scan(replace(req, root=root, modes=("files",), paths=tuple(written), workers=1))
        if not result.findings:
            return out
        py = [p for p in written if p.endswith((".py", ".pyi"))]
        envs = [p for p in written if PurePosixPath(p).name.startswith(".env") or p.endswith(".env")]
        plan = build(root, result.findings, PlanOnlyVault(namespace), python_files=py, dotenv_files=envs)
        values = [v for v in plan.redactions() if v] + [f.secret.reveal() for f in result.findings]
        allowed = commentable_lines(repo, base, head)

        def safe(lines: Sequence[str]) -> bool:
            text = "\n".join(lines)
            return not any(v and v in text for v in values) and not scan_text(text, "<suggestion>")

        for change in plan.changes:
            if change.before is None:  # a new file (the reference file): GitHub cannot suggest creating one
                if change.reference_file:
                    entries = ", ".join(f"`{k}={v}`" for k, v in sorted(plan.reference_entries.items()))
                    out.notes.append(f"Add the references to `{change.path}` (safe to commit): {entries}")
                continue
            for first, last, new, insertion in _hunks(change.before, change.after):
                lines_ok = set(range(first, last + 1)) <= allowed.get(change.path, set())
                if not safe(new):
                    out.notes.append(f"`{change.path}` line {first}: the change could not be shown without the "
                                     "value; run `unleak fix` locally")
                elif lines_ok:
                    note = "unleak: the rewritten code needs this line too." if insertion else (
                        "unleak: a reference instead of the value; `unleak fix --apply` puts the value into your "
                        "vault and `unleak run` resolves it." if _is_dotenv_path(change.path) else "")
                    out.suggestions.append(Suggestion(change.path, first, last, tuple(new), note))
                else:
                    out.notes.append(f"`{change.path}` line {first} (outside this pull request's diff): "
                                     + ("replace with " + " / ".join(f"`{x.strip()}`" for x in new)
                                        if new else "delete the line"))
        for m in plan.manual:
            out.notes.append(f"`{m.path}` line {m.line}: {m.reason}")
    return out


# ------------------------------------------------------------------------------------------- the review


@dataclass(frozen=True)
class ReviewResult:
    posted: bool
    message: str
    comments: int = 0


def _request(method: str, url: str, token: str, body: Mapping[str, Any] | None = None) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "unleak-action",
        **({"Content-Type": "application/json"} if data is not None else {}),
    })
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read() or b"null")
        except (json.JSONDecodeError, ValueError):
            detail = None
        return exc.code, detail
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UnleakError(f"cannot reach the GitHub API at {url.split('/repos/')[0]}: {reason}") from None


def post_review(api_url: str, repository: str, pr_number: int, token: str, head: str, fixes: FixSuggestions
                ) -> ReviewResult:
    """One review per head commit (a re-run does not post it twice), event COMMENT, with suggestion comments."""
    if not fixes.suggestions and not fixes.notes:
        return ReviewResult(False, "no fix to suggest")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise UsageError(f"GITHUB_REPOSITORY {repository!r} is not owner/name")
    base = f"{api_url}/repos/{repository}/pulls/{pr_number}/reviews"
    for page in range(1, 51):  # 100 reviews a page, GitHub's maximum; a pull request rarely has a second page
        status, existing = _request("GET", f"{base}?per_page=100&page={page}", token)
        if status != 200 or not isinstance(existing, list):
            break
        for r in existing:
            if isinstance(r, dict) and r.get("commit_id") == head and REVIEW_MARKER in str(r.get("body") or ""):
                return ReviewResult(False, f"a review with suggested fixes for {head[:12]} exists already")
        if len(existing) < 100:
            break
    body_lines = [REVIEW_MARKER, "**unleak** found secrets in this pull request. The suggestions below are the "
                  "changes `unleak fix` makes; the values go into the vault on your machine "
                  "(`unleak fix --apply`), never into the review."]
    body_lines += [f"- {n}" for n in fixes.notes]
    body_lines.append("A secret that was pushed is exposed: rotate it as well.")
    payload: dict[str, Any] = {"commit_id": head, "event": "COMMENT", "body": "\n".join(body_lines),
                               "comments": [s.comment() for s in fixes.suggestions]}
    status, answer = _request("POST", base, token, payload)
    if status == 422 and payload["comments"]:
        # A line GitHub does not consider part of the diff rejects the whole review: post the suggestions as text.
        text = [f"- `{s.path}` lines {s.start_line}-{s.end_line}: " + " / ".join(f"`{x.strip()}`"
                                                                            for x in s.new_lines)
                for s in fixes.suggestions]
        payload = {**payload, "comments": [], "body": payload["body"] + "\n" + "\n".join(text)}
        status, answer = _request("POST", base, token, payload)
        if status in (200, 201):
            return ReviewResult(True, "posted the review without inline suggestions (GitHub rejected the lines)")
    if status in (200, 201):
        return ReviewResult(True, f"posted a review with {len(payload['comments'])} suggestion(s)",
                            len(payload["comments"]))
    msg = answer.get("message") if isinstance(answer, dict) else None
    hint = " (a pull request from a fork gets a read-only token: use pull_request_target with care, or skip)" \
        if status in (401, 403) else ""
    return ReviewResult(False, f"GitHub answered {status} to the review: {msg or 'no message'}{hint}")


# ------------------------------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    result: ScanResult
    target: Target
    failed: bool
    annotations: str
    # (level, text): level is a workflow command (notice, warning); the CLI prints ``::level title=unleak::text``
    messages: list[tuple[str, str]] = field(default_factory=lambda: [])


def run(settings: Settings, req: ScanRequest) -> Outcome:
    """Scan, then write everything a workflow consumes (SARIF, summary, outputs; the annotations are returned)
    before anything that talks to the network: a failed review costs a warning, never the scan's results."""
    from scanner.fileio import atomic_write_text
    from scanner.report import render

    top = git.toplevel(settings.workspace)
    repo = top or settings.workspace
    payload = settings.payload()
    target = target_for(settings.event_name, payload, repo, settings.scan) if top else \
        Target(None, "checked-out files")
    result = scan_target(replace(req, root=repo), target)
    if settings.verify:
        from unleak.scancmd import verify_findings

        result.verifications = verify_findings(result.findings, repo, budget=60.0, cache_ttl=24 * 3600.0)
    bad = failing(result.findings, settings.fail_on)
    messages: list[tuple[str, str]] = [("warning", w) for w in target.warnings]

    analysed = git.head_sha(repo) if top else None
    doc, sarif_warnings = sarif_document(_for_code_scanning(req, repo, target, result), target, repo, analysed)
    messages += [("warning", w) for w in sarif_warnings]
    sarif_path = settings.sarif_path()
    sarif_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sarif_path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    present = at_head(repo, target.head, result.findings)
    write_outputs(settings.output_path, {"findings": str(len(result.findings)), "sarif-file": str(sarif_path),
                                         "failed": "true" if bad else "false", "coverage": target.coverage,
                                         "category": f"unleak/{target.kind}/"})
    append_summary(settings.summary_path, summary_markdown(
        result, target, settings.fail_on, bool(bad), present,
        warnings=[*target.warnings, *sarif_warnings]))
    annotations = render("github", result)

    if settings.suggest_fixes:
        messages.append(_review(settings, req, repo, target, result))
    if bad:
        messages.append(("notice", f"{_plural(len(bad), 'finding')} at or above fail-on={settings.fail_on}"))
    return Outcome(result, target, bool(bad), annotations, messages)


def _for_code_scanning(req: ScanRequest, repo: Path, target: Target, result: ScanResult) -> ScanResult:
    """What the SARIF upload holds. A push's upload replaces the previous push's results for the branch, so it
    carries the branch's state, the secrets in the checked-out files, as well as the pushed commits' findings:
    a secret committed by an earlier push stays an open alert until a push removes it from the files."""
    if target.kind != "push" or not target.revs:
        return result
    from scanner.api import scan

    files = scan(replace(req, root=repo, modes=("files",)))
    seen = {(f.path, f.fingerprint) for f in result.findings}
    extra = [f for f in files.findings if (f.path, f.fingerprint) not in seen]
    if not extra:
        return result
    combined = copy.copy(result)
    combined.findings = [*result.findings, *extra]
    combined.rules = {**files.rules, **result.rules}
    return combined


def _review(settings: Settings, req: ScanRequest, repo: Path, target: Target, result: ScanResult
            ) -> tuple[str, str]:
    if target.pr_number is None or not target.base or not target.head:
        return "notice", "suggest-fixes: only pull request events get a review; skipped"
    if not settings.token:
        return "warning", "suggest-fixes: no github-token input; skipped"
    if not result.findings:
        return "notice", "suggest-fixes: nothing to suggest"
    try:
        from remediate.vault import default_namespace

        namespace = default_namespace(repo) if not settings.repository else \
            _namespace(settings.repository.split("/")[-1])
        fixes = plan_suggestions(req, repo, target.base, target.head, namespace)
        review = post_review(settings.api_url, settings.repository, target.pr_number, settings.token,
                             target.head, fixes)
    except UnleakError as exc:
        return "warning", f"suggest-fixes: {exc}; the scan's results above are complete"
    except Exception as exc:  # the review is an extra: any failure in it must not cost the scan's results
        # Only the type: an unexpected error's text is not vetted for values.
        return "warning", f"suggest-fixes failed ({type(exc).__name__}); the scan's results above are complete"
    return ("notice" if review.posted or "exists already" in review.message or "no fix" in review.message
            else "warning"), f"suggest-fixes: {review.message}"


def _is_dotenv_path(path: str) -> bool:
    name = PurePosixPath(path).name
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def _namespace(name: str) -> str:
    ns = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("._-")
    return ns[:64] or "default"
