"""The GitHub Action's suggested fixes: the lines `unleak fix` would write, planned against a vault that stores
nothing, as one pull-request review of GitHub suggestion blocks (posted once per head commit). Every body is checked
for the values before it leaves."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from scanner import git
from scanner.api import ScanRequest
from scanner.errors import GitError, UnleakError, UsageError
from unleak.github_api import request_json

REVIEW_MARKER = "<!-- unleak:suggested-fixes -->"


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
    from remediate.dotenv import is_dotenv_path
    from remediate.plan import build
    from scanner.api import scan_text

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
        envs = [p for p in written if is_dotenv_path(p)]
        plan = build(root, result.findings, PlanOnlyVault(namespace), python_files=py, dotenv_files=envs)
        values = [v for v in plan.redactions() if v] + [f.secret.reveal() for f in result.findings]
        allowed = commentable_lines(repo, base, head)

        def safe(lines: Sequence[str]) -> bool:
            text = "\n".join(lines)
            # An allow comment in a suggestion would be the fix's own doing: it cannot vouch for the text.
            return not any(v and v in text for v in values) and not scan_text(
                text, "<suggestion>", root, ignore_filters=frozenset({"allow-comment"})).findings

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
                        "vault and `unleak run` resolves it." if change.reference_file else
                        f"unleak: the value moves into your vault (`unleak fix --apply`) and its reference into "
                        f"`{plan.reference_file}`, which `unleak run` reads." if is_dotenv_path(change.path) else "")
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


def post_review(api_url: str, repository: str, pr_number: int, token: str, head: str, fixes: FixSuggestions
                ) -> ReviewResult:
    """One review per head commit (a re-run does not post it twice), event COMMENT, with suggestion comments."""
    if not fixes.suggestions and not fixes.notes:
        return ReviewResult(False, "no fix to suggest")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository):
        raise UsageError(f"GITHUB_REPOSITORY {repository!r} is not owner/name")
    base = f"{api_url}/repos/{repository}/pulls/{pr_number}/reviews"
    for page in range(1, 51):  # 100 reviews a page, GitHub's maximum; a pull request rarely has a second page
        status, existing = request_json("GET", f"{base}?per_page=100&page={page}", token)
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
    status, answer = request_json("POST", base, token, payload)
    if status == 422 and payload["comments"]:
        # A line GitHub does not consider part of the diff rejects the whole review: post the suggestions as text.
        text = [f"- `{s.path}` lines {s.start_line}-{s.end_line}: " + " / ".join(f"`{x.strip()}`"
                                                                            for x in s.new_lines)
                for s in fixes.suggestions]
        payload = {**payload, "comments": [], "body": payload["body"] + "\n" + "\n".join(text)}
        status, answer = request_json("POST", base, token, payload)
        if status in (200, 201):
            return ReviewResult(True, "posted the review without inline suggestions (GitHub rejected the lines)")
    if status in (200, 201):
        return ReviewResult(True, f"posted a review with {len(payload['comments'])} suggestion(s)",
                            len(payload["comments"]))
    msg = answer.get("message") if isinstance(answer, dict) else None
    hint = " (a pull request from a fork gets a read-only token: use pull_request_target with care, or skip)" \
        if status in (401, 403) else ""
    return ReviewResult(False, f"GitHub answered {status} to the review: {msg or 'no message'}{hint}")
