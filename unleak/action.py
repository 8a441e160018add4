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
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scanner import git
from scanner.api import ScanRequest
from scanner.errors import ConfigError, GitError, UnleakError, UsageError
from scanner.finding import Confidence, Finding
from scanner.result import ScanResult
from scanner.words import plural
from unleak.action_config import Hidden, hidden_by_config
from unleak.action_review import plan_suggestions, post_review
from unleak.action_target import Target, scan_target, target_for

FAIL_ON = ("high", "medium", "low", "none")


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
    remediate: str = "off"  # off | suggest | commit | pull-request (unleak.bot)
    secrets_token: str = field(default="", repr=False)  # can write Actions secrets; GITHUB_TOKEN cannot
    ref: str = ""

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
        from unleak.bot import MODES

        remediate = (env.get("UNLEAK_REMEDIATE") or "").strip().lower()
        if remediate and remediate not in MODES:
            raise UsageError(f"input remediate: {remediate!r} is not one of {', '.join(MODES)}")
        # remediate wins; without it, suggest-fixes: true is the older spelling of remediate: suggest.
        remediate = remediate or ("suggest" if suggest in ("true", "yes", "1") else "off")
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
            remediate=remediate,
            secrets_token=env.get("UNLEAK_SECRETS_TOKEN", ""),
            ref=env.get("GITHUB_REF", ""),
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

def failing(findings: Iterable[Finding], fail_on: str) -> list[Finding]:
    if fail_on == "none":
        return []
    floor = Confidence.parse(fail_on).rank
    return [f for f in findings if f.confidence.rank >= floor]


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
            here = present.get((f.path, f.fingerprint))
            state = "—" if here is None else ("yes" if here else "removed, still in history")
            verdict = result.verifications.get(f.fingerprint)
            extra = (f" {_cell(verdict.short()) if verdict is not None else '—'} |") if verified else ""
            lines.append(f"{_row(f)} {state} |{extra}")
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


def _row(f: Finding) -> str:
    """A summary table's first cells for one finding: rule, file, line, commit, redacted preview."""
    commit = f"`{f.commit.sha[:12]}`" if f.commit else "working tree"
    return f"| {f.rule_id} {_cell(f.title)} | `{_cell(f.path)}` | {f.line} | {commit} | `{_cell(f.preview)}` |"


def hidden_markdown(hidden: Hidden, limit: int = 50) -> str:
    """The job summary's section on findings the commits' own configuration change hides ("" when none)."""
    if not hidden.findings:
        return ""
    n = len(hidden.findings)
    lines = [f"### {_plural(n, 'finding')} hidden by this change to "
             f"{', '.join(f'`{_cell(c)}`' for c in hidden.changed)}", "",
             "The base commit's configuration reports them; the changed one does not. A change to what is scanned "
             "is reviewed on its own: make it in a pull request of its own.", "",
             "| Rule | File | Line | Commit | Preview |", "|---|---|---|---|---|"]
    lines += [_row(f) for f in hidden.findings[:limit]]
    if n > limit:
        lines.append(f"\n…and {n - limit} more (see the annotations).")
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


# ------------------------------------------------------------------------------------------------- the run


@dataclass
class Outcome:
    result: ScanResult
    target: Target
    failed: bool
    annotations: str
    # (level, text): level is a workflow command (notice, warning); the CLI prints ``::level title=unleak::text``
    messages: list[tuple[str, str]] = field(default_factory=lambda: [])


def run(settings: Settings, req: ScanRequest, config_path: str | None = None,
        baseline_path: str | None = None) -> Outcome:
    """Scan, then write everything a workflow consumes (SARIF, summary, outputs; the annotations are returned)
    before anything that talks to the network: a failed review costs a warning, never the scan's results.
    ``config_path`` and ``baseline_path`` are the inputs ``req`` was built from: when the commits change the
    configuration, what that change hides is reported too (:mod:`unleak.action_config`)."""
    from scanner.fileio import atomic_write_text
    from scanner.report import github, render

    top = git.toplevel(settings.workspace)
    repo = top or settings.workspace
    payload = settings.payload()
    target = target_for(settings.event_name, payload, repo, settings.scan) if top else \
        Target(None, "checked-out files")
    result = scan_target(replace(req, root=repo), target)
    if settings.verify:
        from unleak.scancmd import verify_findings

        result.verifications = verify_findings(result.findings, repo, budget=60.0, cache_ttl=24 * 3600.0)
    hidden = hidden_by_config(req, repo, target, result.findings, config_path, baseline_path) if top else Hidden()
    because = (f"hidden by this change to {', '.join(hidden.changed)}: the base commit's configuration reports it"
               if hidden.changed else "")
    bad = failing(result.findings, settings.fail_on) + failing(hidden.findings, settings.fail_on)
    messages: list[tuple[str, str]] = [("warning", w) for w in target.warnings]
    if hidden.warning:
        messages.append(("warning", hidden.warning))

    analysed = git.head_sha(repo) if top else None
    doc, sarif_warnings = sarif_document(_for_code_scanning(req, repo, target, result), target, repo, analysed)
    messages += [("warning", w) for w in sarif_warnings]
    sarif_path = settings.sarif_path()
    sarif_path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(sarif_path, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    present = at_head(repo, target.head, result.findings)
    write_outputs(settings.output_path, {"findings": str(len(result.findings)), "sarif-file": str(sarif_path),
                                         "failed": "true" if bad else "false", "coverage": target.coverage,
                                         "category": f"unleak/{target.kind}/",
                                         "hidden-by-config": str(len(hidden.findings))})
    append_summary(settings.summary_path, summary_markdown(
        result, target, settings.fail_on, bool(bad), present,
        warnings=[*target.warnings, *sarif_warnings, *([hidden.warning] if hidden.warning else [])])
        + hidden_markdown(hidden))
    annotations = render("github", result)
    if hidden.findings:
        annotations += github.render(ScanResult(findings=list(hidden.findings)), because=because)
        messages.append(("error", f"{_plural(len(hidden.findings), 'finding')} hidden by this change to "
                                  f"{', '.join(hidden.changed)}: the base commit's configuration reports "
                                  f"{'them' if len(hidden.findings) > 1 else 'it'}. Change the configuration in a "
                                  "pull request of its own"))

    messages += _remediate(settings, req, repo, target, result, payload)
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


def _remediate(settings: Settings, req: ScanRequest, repo: Path, target: Target, result: ScanResult,
               payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The remediate input: suggestions in a review, or the bot's commit / pull request (unleak.bot)."""
    from unleak import bot

    mode, why = bot.decide(settings.remediate, settings.event_name, payload, settings.repository, settings.ref,
                           settings.secrets_token)
    # Falling back for want of a secrets-token is a configuration problem (a warning); the rest are notices.
    out = [("warning" if "secrets-token" in why else "notice", why)] if why else []
    if mode == "suggest":
        out.append(_review(settings, req, repo, target, result))
    elif mode in ("commit", "pull-request"):
        if not result.findings or not target.head:
            return [*out, ("notice", "remediate: nothing to move")]
        try:
            if mode == "commit":
                pr = payload.get("pull_request") or {}
                done = bot.commit_to_pull_request(
                    req, repo, repository=settings.repository, secrets_token=settings.secrets_token,
                    api_url=settings.api_url, head=target.head, head_ref=str((pr.get("head") or {}).get("ref", "")),
                    temp=settings.runner_temp)
            else:
                done = bot.open_pull_request(
                    req, repo, repository=settings.repository, secrets_token=settings.secrets_token,
                    token=settings.token, api_url=settings.api_url, head=target.head,
                    base=bot.default_branch(payload), temp=settings.runner_temp)
        except UnleakError as exc:
            return [*out, ("warning", f"remediate: {exc}; the scan's results above are complete")]
        except Exception as exc:  # the bot is an extra: its failure must not cost the scan's results
            return [*out, ("warning", f"remediate failed ({type(exc).__name__}); the scan's results above are "
                                      "complete")]
        out.append((done.level, done.message))
    return out


def _review(settings: Settings, req: ScanRequest, repo: Path, target: Target, result: ScanResult
            ) -> tuple[str, str]:
    if target.pr_number is None or not target.base or not target.head:
        return "notice", "suggest-fixes: only pull request events get a review; skipped"
    if not settings.token:
        return "warning", "suggest-fixes: no github-token input; skipped"
    if not result.findings:
        return "notice", "suggest-fixes: nothing to suggest"
    try:
        namespace = review_namespace(settings.repository, repo)
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


def review_namespace(repository: str, repo: Path) -> str:
    """The vault namespace the suggested references use: the one ``unleak fix`` uses in a clone of the repository,
    which is named after it (``OWNER/NAME`` -> ``NAME``), whatever the runner called its checkout."""
    from remediate.vault import default_namespace, sanitize_namespace

    return sanitize_namespace(repository.split("/")[-1]) if repository else default_namespace(repo)
