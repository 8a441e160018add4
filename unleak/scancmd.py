"""The body of ``unleak scan``, shared by the click command (:mod:`unleak.cli`) and the click-free entry that runs
the pre-commit hook (:mod:`unleak.fastpath`). Front-door code: it writes the report and returns the exit code.
It imports neither click nor anything heavy at module level; every option arrives as a keyword, named as click
names the command's parameters.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from scanner.errors import UsageError

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_INCOMPLETE = 2  # --strict and some git object could not be read, or a configured pattern was stopped

_MODE_FLAGS = ("staged", "changes", "range", "history", "diff", "agent-logs")


def run_scan(*, paths: tuple[str, ...] = (), staged: bool = False, changes: bool = False, pre_push: bool = False,
             range_: str | None = None, history: bool = False, diff: str | None = None, agent_logs: bool = False,
             fmt: str = "text", output: str | None = None, baseline_path: str | None = None,
             no_baseline: bool = False, config_path: str | None = None, min_confidence: str | None = None,
             explain: bool = False, exit_zero: bool = False, strict: bool = False, repo_dir: str = ".",
             verify: bool | None = None, verify_timeout: float | None = None, verified_first: bool = False,
             only_verified: bool = False, group: bool = True, max_archive_depth: int | None = None,
             recorder: dict[str, Any] | None = None) -> int:
    """Find secrets; returns 1 when any are found (0 with ``exit_zero``), 0 when clean; with ``strict``, 2 when
    some git object could not be read or a configured pattern was stopped (everything else is scanned and reported
    first). ``recorder`` receives what the run wrote (for :mod:`unleak.replay`) and ``replayable`` when every commit
    came from the scan cache."""
    rec: dict[str, Any] = recorder if recorder is not None else {}
    out, err = [], []

    def say(text: str) -> None:
        sys.stderr.write(text)
        err.append(text)
    root = Path(repo_dir).resolve()
    if not root.is_dir():
        raise UsageError(f"{repo_dir}: not a directory")
    if pre_push:
        if staged or changes or range_ is not None or history or diff is not None or agent_logs:
            raise UsageError("--pre-push chooses the commits itself; use it alone")
        # pre-commit's pre-push stage names the pushed range; without it (a push that includes the root commit,
        # or a run by hand) every commit is scanned. Paths are pre-commit's file list: the commits say more.
        frm, to = os.environ.get("PRE_COMMIT_FROM_REF", ""), os.environ.get("PRE_COMMIT_TO_REF", "")
        range_, history, paths = (f"{frm}..{to}", False, ()) if frm and to else (None, True, ())
    if staged and paths:
        from scanner import git

        # pre-commit passes the staged files' names on a commit; with --all-files or --files (pre-commit.ci, CI
        # jobs) nothing is staged, and the named files' contents are what must be checked.
        top = git.require_repo(root, "--staged")
        if not git.has_staged_changes(top):
            staged = False
    on = (staged, changes, range_ is not None, history, diff is not None, agent_logs)
    modes = [mode for mode, flag in zip(_MODE_FLAGS, on, strict=True) if flag]
    if paths and modes and modes not in (["agent-logs"], ["staged"]):
        raise UsageError("PATHS apply to a working-tree scan or --agent-logs, not to "
                         + ", ".join("--" + m for m in modes))
    if not modes:
        modes = ["files"]
    from unleak.config import scan_request

    req, cfg = scan_request(root, tuple(modes), paths, range_=range_, diff=diff, config_path=config_path,
                            baseline_path=baseline_path, use_baseline=not no_baseline,
                            min_confidence=min_confidence, explain=explain, archive_depth=max_archive_depth,
                            named_ignored=True)
    for warning in cfg.warnings:  # what a migrated gitleaks config could not carry over
        say(f"warning: {warning}\n")
    vcfg = verify_config(cfg)
    verifying = vcfg["enabled"] if verify is None else verify
    if (verified_first or only_verified) and not verifying:
        raise UsageError("--verified-first and --only-verified need --verify")
    if verifying:
        from dataclasses import replace

        req = replace(req, cache=False)  # cached history records keep no values, and verifying needs them
    big = any(m in modes for m in ("history", "range")) or (modes == ["files"] and not paths)
    result = progress_scan(req, enabled=big and sys.stderr.isatty() and fmt != "github")
    if verifying:
        verify_result(result, root, budget=verify_timeout or vcfg["timeout"], cache_ttl=vcfg["cache-ttl"])
        result.verified_first = verified_first
        if only_verified:
            result.findings = [f for f in result.findings if (v := result.verifications.get(f.fingerprint))
                               and v.status.value == "valid"]
    from scanner.report import render

    color = output is None and fmt == "text" and use_color(sys.stdout)
    text = render(fmt, result, color=color, root=str(root), group=group)
    if explain and fmt == "text" and result.explanations:
        lines = ["dropped candidates (rule, place, filter):"]
        lines += [f"  {e.rule_id}  {e.path}:{e.line}{f' (commit {e.commit[:10]})' if e.commit else ''}  {e.filter}"
                  for e in result.explanations]
        text += "\n".join(lines) + "\n"
    if output:
        from scanner.fileio import write_report
        from scanner.report.text import summary

        write_report(Path(output), text)
        say(summary(result) + "\n")
        rec["output_text"] = text
    else:
        sys.stdout.write(text)
        out.append(text)
    sys.stdout.flush()
    if result.skipped:
        from scanner.report.text import skipped_warning

        say(skipped_warning(result.skipped, strict) + "\n")
    from unleak.audit import record

    detail: dict[str, Any] = {"modes": modes, "rules": sorted({f.rule_id for f in result.findings})}
    if verifying:
        detail["verified"] = sorted(v.status.value for v in result.verifications.values())
    record("scan", result=f"{len(result.findings)} findings", detail=detail)
    code = (EXIT_INCOMPLETE if (result.skipped or result.stopped) and strict
            else EXIT_FINDINGS if result.findings and not exit_zero else EXIT_CLEAN)
    rec.update(stdout="".join(out), stderr="".join(err), audit_result=f"{len(result.findings)} findings",
               audit_detail=detail, code=code, replayable=result.replayable and not verifying,
               inputs={"config": cfg.source, "baseline": cfg.baseline})
    view = (result.as_rescan() if recorder is not None and modes == ["history"] and not verifying and not explain
            else None)
    if view is not None:
        # Every commit this run read is in the scan cache now: the report a rescan with nothing new would give (the
        # same findings; its counters and a note say the commits came from the cache) is recorded at once, so the
        # first rescan is replayed too (unleak.replay). The summary on stderr counts commits, which do not change.
        shown = render(fmt, view, color=color, root=str(root), group=group)
        rec.update({"output_text" if output else "stdout": shown, "replayable": True})
    return code


def use_color(stream: Any) -> bool:
    """Colour on a terminal; NO_COLOR (no-color.org) turns it off and FORCE_COLOR (force-color.org) on, for CI
    logs that render ANSI; each counts when set to a non-empty value, and NO_COLOR wins."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return bool(stream.isatty())


_VERIFY_DEFAULTS: dict[str, Any] = {"enabled": False, "timeout": 60.0, "cache-ttl": 24 * 3600.0}


def verify_config(cfg: Any) -> dict[str, Any]:
    """The ``[verify]`` table of the config (enabled, timeout, cache-ttl), validated; errors name file and key."""
    from scanner.errors import ConfigError

    table = cfg.sections.get("verify", {})
    out = dict(_VERIFY_DEFAULTS)
    for key, value in table.items():
        if key not in out:
            raise ConfigError(f"{cfg.source}: unknown key 'verify.{key}' (known: {', '.join(out)})")
        want = bool if key == "enabled" else (int, float)
        if not isinstance(value, want) or (key != "enabled" and (isinstance(value, bool) or value <= 0)):
            raise ConfigError(f"{cfg.source}: 'verify.{key}' must be "
                              + ("true or false" if key == "enabled" else "a positive number of seconds"))
        out[key] = value
    return out


def verify_result(result: Any, root: Path, *, budget: float, cache_ttl: float) -> None:
    """Ask providers about the findings' credentials (once per distinct secret) and attach the verdicts."""
    result.verifications = verify_findings(result.findings, root, budget=budget, cache_ttl=cache_ttl)


def verify_findings(findings: list[Any], root: Path, *, budget: float, cache_ttl: float) -> dict[str, Any]:
    """Verdicts by fingerprint for ``findings`` (scan or exposure). Before anything is sent, stderr says which
    hosts will be contacted and for how many credentials."""
    from scanner import verify

    opts = verify.VerifyOptions(budget=budget, cache_dir=verify.cache_dir_for(root), cache_ttl=cache_ttl,
                                read_line=verify.line_reader(root))
    todo, _ = verify.prepare(findings, opts)
    hosts = verify.hosts_for([p for p in todo if p.cred.value])
    if hosts:
        n = sum(hosts.values())
        sys.stderr.write(f"unleak: verifying {n} credential{'s' if n != 1 else ''}, each only with its own provider "
                         "(over HTTPS; a database URL at its own host): "
                         + ", ".join(f"{h} ({c})" for h, c in hosts.items()) + "\n")
        sys.stderr.flush()
    return verify.verify(findings, opts).results


def progress_scan(req: Any, enabled: bool) -> Any:
    """Run the scan, with a progress bar on stderr for history-sized scans when stderr is a terminal."""
    from scanner.api import scan

    if not enabled:
        return scan(req)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scanner import git

    total = None
    if "history" in req.modes or "range" in req.modes:
        top = git.history_root(req.root)
        if top is not None:
            revs = ["--all"] if "history" in req.modes else [req.range or "HEAD"]
            total = git.count_commits(top, revs) or None
    seen: set[str] = set()
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("commits" if total else "files", total=total)

        def tick(chunk: Any) -> None:
            if chunk.commit is not None:
                if chunk.commit.sha not in seen:
                    seen.add(chunk.commit.sha)
                    bar.advance(task)
            else:
                bar.advance(task)

        return scan(req, progress=tick)

