"""The GitHub Action's logic (``action.yml`` is a thin shim that calls ``unleak action github``).

From the event payload it decides which commits to scan (every commit of a pull request, or of a push), scans them,
and produces what a workflow consumes: workflow-command annotations, a SARIF file for code scanning, a Markdown
table in the job summary, step outputs, and, when asked, one pull-request review whose comments are GitHub
suggestion blocks carrying the lines `unleak fix` would write.

Nothing here prints or exits (the CLI does); nothing it returns, writes or posts contains a secret value: findings are
redacted records, and every suggestion body is checked for the values before it leaves.
"""

from __future__ import annotations

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

ZERO_SHA = "0" * 40
FAIL_ON = ("high", "medium", "low", "none")
REVIEW_MARKER = "<!-- unleak:suggested-fixes -->"
_PR_EVENTS = {"pull_request", "pull_request_target"}


# ------------------------------------------------------------------------------------------------ settings


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
    sarif_file: str = "unleak.sarif"
    suggest_fixes: bool = False
    token: str = field(default="", repr=False)
    api_url: str = "https://api.github.com"
    repository: str = ""

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
        return cls(
            workspace=Path(env.get("GITHUB_WORKSPACE") or ".").resolve(),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            event_path=path("GITHUB_EVENT_PATH"),
            output_path=path("GITHUB_OUTPUT"),
            summary_path=path("GITHUB_STEP_SUMMARY"),
            fail_on=fail_on,
            sarif_file=(env.get("UNLEAK_SARIF_FILE") or "unleak.sarif").strip(),
            suggest_fixes=suggest in ("true", "yes", "1"),
            token=env.get("UNLEAK_GITHUB_TOKEN", ""),
            api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            repository=env.get("GITHUB_REPOSITORY", ""),
        )

    def payload(self) -> dict[str, Any]:
        if self.event_path is None or not self.event_path.is_file():
            return {}
        try:
            data = json.loads(self.event_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"GITHUB_EVENT_PATH {self.event_path}: not a JSON event payload ({exc})") from None
        return data if isinstance(data, dict) else {}


# ------------------------------------------------------------------------------------------- what to scan


@dataclass(frozen=True)
class Target:
    """The commits to scan, as ``git log`` arguments; ``revs == []`` means there is nothing to scan (a deleted
    branch); ``revs is None`` means scan the checked-out files instead (an event with no commits of its own)."""

    revs: list[str] | None
    label: str
    pr_number: int | None = None
    base: str | None = None
    head: str | None = None


def _has_commit(repo: Path, sha: str) -> bool:
    try:
        git.run(["cat-file", "-e", f"{sha}^{{commit}}"], repo)
        return True
    except GitError:
        return False


def _need(repo: Path, sha: str, what: str) -> None:
    if not _has_commit(repo, sha):
        raise GitError(f"the {what} commit {sha[:12]} is not in the checkout; check out with "
                       "`actions/checkout` and `fetch-depth: 0` so every commit of the change can be scanned")


def _str(d: Any, *keys: str) -> str:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d if isinstance(d, str) else ""


def target_for(event_name: str, payload: Mapping[str, Any], repo: Path) -> Target:
    """Which commits the event brings. Pull requests: base..head from the payload (every commit, so a secret added
    and removed inside the pull request is still found). Pushes: before..after; a new branch (all-zeros before, or a
    before that a force-push made unreachable) is scanned from where it left the default branch."""
    if event_name in _PR_EVENTS:
        pr = payload.get("pull_request") or {}
        base, head = _str(pr, "base", "sha"), _str(pr, "head", "sha")
        if not base or not head:
            raise UsageError(f"{event_name} payload has no pull_request.base.sha / head.sha")
        _need(repo, base, "base")
        _need(repo, head, "head")
        number = pr.get("number") if isinstance(pr.get("number"), int) else payload.get("number")
        return Target([f"{base}..{head}"], f"pull request #{number}" if number else "pull request",
                      number if isinstance(number, int) else None, base, head)
    if event_name == "merge_group":
        mg = payload.get("merge_group") or {}
        base, head = _str(mg, "base_sha"), _str(mg, "head_sha")
        _need(repo, base, "base")
        _need(repo, head, "head")
        return Target([f"{base}..{head}"], "merge group", None, base, head)
    if event_name == "push":
        before, after = _str(payload, "before"), _str(payload, "after")
        if not after or after == ZERO_SHA:
            return Target([], "deleted ref: nothing to scan")
        _need(repo, after, "pushed")
        ref = _str(payload, "ref")
        if before and before != ZERO_SHA and _has_commit(repo, before):
            return Target([f"{before}..{after}"], f"push to {ref or 'a ref'}", None, before, after)
        # A new branch (or a force-push whose old tip is gone): scan what is not on the default branch.
        default = _str(payload, "repository", "default_branch")
        for candidate in (f"refs/remotes/origin/{default}", f"refs/heads/{default}") if default else ():
            if ref != f"refs/heads/{default}" and _has_commit(repo, candidate):
                return Target([after, "--not", candidate], f"new branch {ref or after[:12]} (since {default})",
                              None, candidate, after)
        return Target([after], f"new ref {ref or after[:12]} (all of its history)", None, None, after)
    return Target(None, "checked-out files")


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
        if git.is_shallow(top):
            result.notes.append("shallow clone: commits before the shallow boundary were not scanned "
                                "(use actions/checkout with fetch-depth: 0)")
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


def summary_markdown(result: ScanResult, target: Target, fail_on: str, failed: bool,
                     present: Mapping[tuple[str, str], bool], limit: int = 200) -> str:
    n = len(result.findings)
    icon = "❌" if failed else ("⚠️" if n else "✅")
    lines = [f"## {icon} unleak: {n} secret{'s' if n != 1 else ''} in {target.label}", ""]
    s = result.stats
    scope = f"{s.commits} commit{'s' if s.commits != 1 else ''}" if target.revs is not None else f"{s.files} files"
    lines.append(f"Scanned {scope}; fail-on: `{fail_on}`"
                 + (f"; {result.baselined} known finding(s) in the baseline" if result.baselined else "") + ".")
    lines.append("")
    if n:
        lines += ["| Rule | File | Line | Commit | Preview | At head |", "|---|---|---|---|---|---|"]
        for f in result.findings[:limit]:
            commit = f"`{f.commit.sha[:12]}`" if f.commit else "working tree"
            here = present.get((f.path, f.fingerprint))
            state = "—" if here is None else ("yes" if here else "removed, still in history")
            lines.append(f"| {f.rule_id} {_cell(f.title)} | `{_cell(f.path)}` | {f.line} | {commit} | "
                         f"`{_cell(f.preview)}` | {state} |")
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
    from unleak.hooks import scan_text

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
    status, existing = _request("GET", base + "?per_page=100", token)
    if status == 200 and isinstance(existing, list):
        for r in existing:
            if isinstance(r, dict) and r.get("commit_id") == head and REVIEW_MARKER in str(r.get("body") or ""):
                return ReviewResult(False, f"a review with suggested fixes for {head[:12]} exists already")
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
    messages: list[str] = field(default_factory=lambda: [])


def run(settings: Settings, req: ScanRequest) -> Outcome:
    from scanner.report import render

    repo = git.toplevel(settings.workspace) or settings.workspace
    payload = settings.payload()
    target = target_for(settings.event_name, payload, repo) if git.toplevel(settings.workspace) else \
        Target(None, "checked-out files")
    result = scan_target(replace(req, root=repo), target)
    bad = failing(result.findings, settings.fail_on)
    messages: list[str] = []

    sarif = Path(settings.sarif_file)
    sarif_path = sarif if sarif.is_absolute() else settings.workspace / sarif
    sarif_path.parent.mkdir(parents=True, exist_ok=True)
    from scanner.fileio import atomic_write_text

    atomic_write_text(sarif_path, render("sarif", result, root=str(repo)))
    present = at_head(repo, target.head, result.findings)
    append_summary(settings.summary_path, summary_markdown(result, target, settings.fail_on, bool(bad), present))

    if settings.suggest_fixes:
        if target.pr_number is None or not target.base or not target.head:
            messages.append("suggest-fixes: only pull request events get a review; skipped")
        elif not settings.token:
            messages.append("suggest-fixes: no github-token input; skipped")
        elif not result.findings:
            messages.append("suggest-fixes: nothing to suggest")
        else:
            from remediate.vault import default_namespace

            namespace = default_namespace(repo) if not settings.repository else \
                _namespace(settings.repository.split("/")[-1])
            fixes = plan_suggestions(req, repo, target.base, target.head, namespace)
            review = post_review(settings.api_url, settings.repository, target.pr_number, settings.token,
                                 target.head, fixes)
            messages.append(f"suggest-fixes: {review.message}")

    write_outputs(settings.output_path, {"findings": str(len(result.findings)), "sarif-file": str(sarif_path),
                                         "failed": "true" if bad else "false"})
    annotations = render("github", result)
    if bad:
        messages.append(f"{len(bad)} finding(s) at or above fail-on={settings.fail_on}")
    return Outcome(result, target, bool(bad), annotations, messages)


def _is_dotenv_path(path: str) -> bool:
    name = PurePosixPath(path).name
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def _namespace(name: str) -> str:
    ns = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("._-")
    return ns[:64] or "default"
