"""The remediation bot: the Action's ``remediate: commit | pull-request`` modes.

``commit`` (pull requests from the same repository) and ``pull-request`` (pushes to the default branch) both do the
same remediation, in a separate worktree of the commit that was scanned: plan ``unleak fix`` against the
repository's GitHub Actions secrets (``remediate.vault.github``: values go in sealed and can never be read back),
store each value there, rewrite the code to read the environment, re-scan, and commit as the GitHub Actions bot.
``commit`` pushes that commit to the pull request's own branch; ``pull-request`` pushes it to
``unleak/fix-<sha>`` and opens a pull request whose body is the redacted plan, the manual steps and the rotation
checklist (first commit, refs that hold each secret, where to revoke it).

Nobody sees a value: the plan's text is redacted, the commit holds references only (the re-scan proves it before
anything is pushed), and every request but the sealed ``PUT`` carries names only.

Idempotent: a run finds nothing to move once the fix is in (the head no longer holds the values), an existing
``unleak/fix-<sha>`` branch or open pull request is left alone, and pushes are never forced, so a human's commits
on the bot's branch are never overwritten.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner import git
from scanner.api import ScanRequest
from scanner.errors import GitError, UnleakError

MODES = ("off", "suggest", "commit", "pull-request")
BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
BRANCH_PREFIX = "unleak/fix-"
WORKFLOWS = ".github/workflows"


@dataclass
class Remediation:
    """What one bot run did, for the log, the summary and the tests. Names, never values."""

    level: str  # notice | warning
    message: str
    moved: list[str] = field(default_factory=lambda: [])  # secret names now in the repository's Actions secrets
    commit: str = ""
    branch: str = ""
    pull_request: str = ""  # URL of the pull request opened
    body: str = ""  # the pull request's body (redacted)


def _fork(payload: Mapping[str, Any], repository: str) -> bool:
    pr = payload.get("pull_request")
    head = pr.get("head") if isinstance(pr, dict) else None
    repo = head.get("repo") if isinstance(head, dict) else None
    name = repo.get("full_name") if isinstance(repo, dict) else None
    return not isinstance(name, str) or name.lower() != repository.lower()


def default_branch(payload: Mapping[str, Any]) -> str:
    repo = payload.get("repository")
    name = repo.get("default_branch") if isinstance(repo, dict) else None
    return name if isinstance(name, str) and name else ""


@contextlib.contextmanager
def _worktree(repo: Path, sha: str, temp: Path | None) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="unleak-bot-", dir=temp))
    wt = base / "wt"
    git.worktree_add(repo, wt, sha)
    try:
        yield wt
    finally:
        git.worktree_remove(repo, wt)
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@dataclass
class _Fixed:
    """A fix applied in the worktree: the plan, the names moved, and how the workflows were wired."""

    plan: Any
    names: list[str]
    wired: list[str] = field(default_factory=lambda: [])  # "`.github/workflows/ci.yml` job `test`, step ...: NAME"
    wiring_manual: list[str] = field(default_factory=lambda: [])
    expressions: dict[str, str] = field(default_factory=lambda: {})  # env variable the code reads -> expression
    workflows_refused: bool = False  # the workflow edits could not be pushed (no Workflows permission)


def _fix(req: ScanRequest, wt: Path, vault: Any) -> _Fixed | None:
    """Plan and apply the fix in ``wt`` and wire the workflows; None when there is nothing to move."""
    from remediate.fix import apply_fix, plan_fix

    plan, _ = plan_fix(replace(req, root=wt, paths=()), vault)
    # The reference file would hold `${{ secrets.NAME }}` expressions, which only a workflow can read: the
    # workflows pass the secrets as environment variables instead.
    plan.changes = [c for c in plan.changes if not c.reference_file]
    if not plan.changes or not plan.secrets:
        return None
    result = apply_fix(plan, vault)
    fixed = _Fixed(plan, list(result.stored))
    _wire_workflows(wt, fixed, vault)
    return fixed


def _wire_workflows(wt: Path, fixed: _Fixed, vault: Any) -> None:
    """Give the workflow steps that run the rewritten code the secrets it now reads (``env:``, step by step)."""
    from remediate.codemods import workflow, workflow_env
    from scanner.fileio import atomic_write_text

    code = [c for c in fixed.plan.changes if not workflow.handles(c.path)]
    fixed.expressions = {s.name: vault.reference_for(s.name) for s in fixed.plan.secrets
                         if s.name in fixed.names and any({s.value, *s.raws} & c.removes for c in code)}
    folder = wt / ".github" / "workflows"
    if not fixed.expressions or folder.is_symlink() or not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        rel = path.relative_to(wt).as_posix()
        if not workflow.handles(rel) or path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        w = workflow_env.wire(text, fixed.expressions, [c.path for c in code])
        if w.text is not None:
            atomic_write_text(path, w.text)
        fixed.wired += [f"`{rel}` {x}" for x in w.wired]
        fixed.wiring_manual += [f"`{rel}` {x}" for x in w.manual]


def _commit_message(names: list[str]) -> str:
    return (f"unleak: move {len(names)} secret{'s' if len(names) != 1 else ''} to GitHub Actions secrets\n\n"
            "The code now reads " + ", ".join(names) + " from the environment; the values are stored as "
            "repository secrets (write-only). Rotate them: they are still in this repository's history.\n")


def _commit_and_push(wt: Path, fixed: _Fixed, ref: str) -> str:
    """Commit the fix (the workflow edits as a commit of their own, on top) and push it to ``ref``; the commit
    pushed. GitHub refuses a push that changes workflows unless the token has the Workflows permission, which
    ``GITHUB_TOKEN`` never has: then the code commit alone is pushed and the pull request says what to add."""
    code = git.commit_all(wt, _commit_message(fixed.names), BOT_NAME, BOT_EMAIL, exclude=(WORKFLOWS,))
    flows = git.commit_all(wt, "unleak: pass the moved secrets to the workflow steps that run the code\n",
                           BOT_NAME, BOT_EMAIL)
    top = flows or code
    if top is None:
        raise GitError("the fix left nothing to commit")
    try:
        git.push(wt, "origin", top, ref)
        return top
    except GitError as exc:
        if flows is None or code is None or "workflow" not in str(exc).lower():
            raise
    git.push(wt, "origin", code, ref)
    fixed.workflows_refused = True
    return code


def _env_block(expressions: dict[str, str]) -> str:
    lines = "\n".join(f"  {n}: {e}" for n, e in expressions.items())
    return f"```yaml\nenv:\n{lines}\n```"


def _wiring_text(fixed: _Fixed) -> str:
    """The pull request's "Wire the workflows" section."""
    from remediate.codemods import workflow

    block = _env_block(fixed.expressions or {n: f"${{{{ secrets.{n} }}}}" for n in fixed.names})
    steps = "\n".join(f"- {w}" for w in fixed.wired)
    if fixed.wired and not fixed.workflows_refused:
        text = ("The workflow steps that run the rewritten code now receive the secrets in their own `env:` "
                "(no other step or action sees them):\n" + steps)
    elif fixed.wired:
        text = ("GitHub refused the workflow edits: the token that checked the repository out lacks the Workflows "
                "permission (`GITHUB_TOKEN` never has it). Add to each of these steps, or give `actions/checkout` a "
                "token with Workflows: write and re-run:\n" + steps + "\n\n" + block)
        left = sorted({c.path for c in fixed.plan.changes if workflow.handles(c.path)} -
                      {w.split("`")[1] for w in fixed.wired})
        if left:
            text += "\n\nThe change below to " + ", ".join(f"`{p}`" for p in left) + " was not pushed either."
    elif fixed.expressions:
        text = "No workflow step was found that runs the rewritten code; pass the secrets to the steps that do:\n\n" \
               + block
    else:
        text = ""
    if fixed.wiring_manual:
        text += "\n\nBy hand:\n" + "\n".join(f"- {m}" for m in fixed.wiring_manual)
    return text.strip()


def _rotation(repo: Path, req: ScanRequest, values: dict[str, str]) -> list[str]:
    """Markdown rows: each moved secret's first commit, the refs that hold it, where to revoke it."""
    from scanner.exposure.analysis import analyze

    try:
        report = analyze(repo, replace(req, root=repo, paths=()))
    except UnleakError as exc:
        return [f"| (exposure could not be computed: {exc}) | | | |"]
    revoke = {fp: item.revoke for item in report.rotation for fp in item.fingerprints}
    by_value = {v: n for n, v in values.items()}
    rows = []
    for e in report.exposures:
        name = by_value.get(e.secret.reveal())
        if name is None:
            continue
        refs = [*e.branches, *e.tags, *e.remote_refs][:6]
        where = revoke.get(e.fingerprint) or "where it was issued"
        rows.append(f"| `{name}` | {e.first.sha[:10]} ({e.first.date[:10]}) | "
                    f"{', '.join(f'`{r}`' for r in refs) or '—'} | {where} |")
    return rows


def pr_body(fixed: _Fixed, rotation: list[str], head: str) -> str:
    from remediate.patch import unified_diff

    plan, names = fixed.plan, fixed.names
    diff = unified_diff(plan.changes, plan.redactions())
    manual = [f"- `{m.path}` line {m.line}: {m.reason}" for m in plan.manual]
    parts = [
        f"unleak moved {len(names)} secret{'s' if len(names) != 1 else ''} found at {head[:10]} into this "
        "repository's GitHub Actions secrets (write-only: nobody can read them back) and rewrote the code to read "
        "them from the environment. No value appears in this pull request.",
        "### Rotate first\nMoving a value does not un-leak it: every one of these is in the repository's history. "
        "Revoke and replace each, then update the repository secret.\n\n| secret | first commit | refs that hold it "
        "| where to revoke |\n|---|---|---|---|\n" + ("\n".join(rotation) or "| (none found in history) | | | |"),
    ]
    wiring = _wiring_text(fixed)
    if wiring:
        parts.append("### Wire the workflows\n" + wiring)
    parts.append("### The change (values redacted)\n```diff\n" + diff.rstrip("\n") + "\n```")
    if manual:
        parts.append("### Manual steps\n" + "\n".join(manual))
    parts.append("`unleak exposure` lists every secret in history; `unleak purge` rewrites history once rotated.")
    return "\n\n".join(parts) + "\n"


def _vault(repository: str, token: str, api_url: str) -> Any:
    from remediate.vault.github import GitHubSecretsVault

    return GitHubSecretsVault(repository, token=token, api_url=api_url)


def commit_to_pull_request(req: ScanRequest, repo: Path, *, repository: str, secrets_token: str, api_url: str,
                           head: str, head_ref: str, temp: Path | None) -> Remediation:
    """Fix the pull request's head and push the fix commit to its own branch (never forced)."""
    tip = git.remote_branch_tip(repo, "origin", head_ref)
    if tip != head:
        # A re-run of an older event, or someone (the bot included) pushed since: the run for the new head decides.
        return Remediation("notice", f"remediate: {head_ref} has moved on since this event ({head[:10]} → "
                           f"{(tip or 'gone')[:10]}); nothing done")
    with _worktree(repo, head, temp) as wt:
        fixed = _fix(req, wt, _vault(repository, secrets_token, api_url))
        if fixed is None:
            return Remediation("notice", "remediate: nothing to move at the pull request's head")
        names = fixed.names
        try:
            sha = _commit_and_push(wt, fixed, f"refs/heads/{head_ref}")
        except GitError as exc:
            return Remediation("warning", f"remediate: the values are stored as Actions secrets ({', '.join(names)}) "
                               f"but the fix commit could not be pushed to {head_ref} ({exc}); run `unleak fix` "
                               "on the branch", moved=names)
    wiring = _wiring_note(fixed)
    return Remediation("warning" if fixed.workflows_refused else "notice",
                       f"remediate: moved {', '.join(names)} to Actions secrets and pushed {sha[:10]} to "
                       f"{head_ref}" + (f"; {wiring}" if wiring else ""), moved=names, commit=sha, branch=head_ref)


def _wiring_note(fixed: _Fixed) -> str:
    """One clause for the log line: what happened to the workflows."""
    if fixed.workflows_refused:
        return ("the workflow edits were refused (the checkout's token lacks the Workflows permission); add "
                + ", ".join(fixed.expressions) + " to the env of the steps that run the code")
    if fixed.wired:
        n = len(fixed.wired)
        return f"{n} workflow step{'s' if n != 1 else ''} now receive{'s' if n == 1 else ''} them"
    return ""


def open_pull_request(req: ScanRequest, repo: Path, *, repository: str, secrets_token: str, token: str,
                      api_url: str, head: str, base: str, temp: Path | None) -> Remediation:
    """Fix ``head`` on ``unleak/fix-<sha>`` and open a pull request into ``base`` (once per head)."""
    from unleak.github_api import request_json

    branch = BRANCH_PREFIX + head[:12]
    owner = repository.split("/")[0]
    status, open_prs = request_json("GET", f"{api_url}/repos/{repository}/pulls?state=open&head={owner}:{branch}"
                                    "&per_page=10", token)
    if status == 200 and isinstance(open_prs, list) and open_prs:
        return Remediation("notice", f"remediate: pull request #{open_prs[0].get('number')} for {head[:10]} exists "
                           "already; nothing done", branch=branch)
    if git.remote_has_branch(repo, "origin", branch):
        return Remediation("notice", f"remediate: branch {branch} exists already (closed or being edited); "
                           "nothing done", branch=branch)
    with _worktree(repo, head, temp) as wt:
        fixed = _fix(req, wt, _vault(repository, secrets_token, api_url))
        if fixed is None:
            return Remediation("notice", f"remediate: nothing to move at {head[:10]}")
        names = fixed.names
        values = {s.name: s.value for s in fixed.plan.secrets}
        # The checklist is taken before the push, so the bot's own branch is not listed among the refs.
        rotation = _rotation(repo, req, values)
        values.clear()
        sha = _commit_and_push(wt, fixed, f"refs/heads/{branch}")
        body = pr_body(fixed, rotation, head)
    status, pr = request_json("POST", f"{api_url}/repos/{repository}/pulls", token, {
        "title": f"unleak: move {len(names)} secret{'s' if len(names) != 1 else ''} to GitHub Actions secrets",
        "head": branch, "base": base, "body": body, "maintainer_can_modify": True})
    if status != 201 or not isinstance(pr, dict):
        return Remediation("warning", f"remediate: pushed {branch} but opening the pull request failed (HTTP "
                           f"{status}); open it from the branch", moved=names, commit=sha, branch=branch, body=body)
    wiring = _wiring_note(fixed)
    return Remediation("warning" if fixed.workflows_refused else "notice",
                       f"remediate: opened pull request #{pr.get('number')} ({branch}) moving "
                       f"{', '.join(names)}" + (f"; {wiring}" if wiring else ""), moved=names, commit=sha,
                       branch=branch, pull_request=str(pr.get("html_url", "")), body=body)


def decide(mode: str, event_name: str, payload: Mapping[str, Any], repository: str, ref: str,
           secrets_token: str) -> tuple[str, str]:
    """The mode that applies to this event, and why it differs from the input (or '')."""
    if mode == "commit":
        if event_name not in ("pull_request", "pull_request_target") or "pull_request" not in payload:
            return "off", "remediate: commit works on pull request events; nothing done"
        if _fork(payload, repository):
            return "suggest", "remediate: the pull request comes from a fork, which the bot cannot push to; " \
                              "suggestions instead"
    if mode == "pull-request":
        default = default_branch(payload)
        if event_name != "push" or not default or ref != f"refs/heads/{default}":
            return "off", "remediate: pull-request works on pushes to the default branch; nothing done"
    if mode in ("commit", "pull-request") and not secrets_token:
        fallback = "suggest" if mode == "commit" else "off"
        return fallback, ("remediate: no secrets-token input, so nothing is moved (GITHUB_TOKEN cannot write "
                          "Actions secrets; give a token with the Secrets: write permission)"
                          + ("; suggestions instead" if fallback == "suggest" else ""))
    return mode, ""
