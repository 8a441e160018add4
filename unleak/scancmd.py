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

_MODE_FLAGS = ("staged", "changes", "range", "history", "diff", "agent-logs")


def run_scan(*, paths: tuple[str, ...] = (), staged: bool = False, changes: bool = False,
             range_: str | None = None, history: bool = False, diff: str | None = None, agent_logs: bool = False,
             fmt: str = "text", output: str | None = None, baseline_path: str | None = None,
             no_baseline: bool = False, config_path: str | None = None, min_confidence: str | None = None,
             explain: bool = False, exit_zero: bool = False, repo_dir: str = ".") -> int:
    """Find secrets; returns 1 when any are found (0 with ``exit_zero``), 0 when clean."""
    root = Path(repo_dir).resolve()
    if not root.is_dir():
        raise UsageError(f"{repo_dir}: not a directory")
    on = (staged, changes, range_ is not None, history, diff is not None, agent_logs)
    modes = [mode for mode, flag in zip(_MODE_FLAGS, on, strict=True) if flag]
    if paths and modes and modes != ["agent-logs"]:
        raise UsageError("PATHS apply to a working-tree scan or --agent-logs, not to "
                         + ", ".join("--" + m for m in modes))
    if not modes:
        modes = ["files"]
    from unleak.config import scan_request

    req, cfg = scan_request(root, tuple(modes), paths, range_=range_, diff=diff, config_path=config_path,
                            baseline_path=baseline_path, use_baseline=not no_baseline,
                            min_confidence=min_confidence, explain=explain)
    for warning in cfg.warnings:  # what a migrated gitleaks config could not carry over
        sys.stderr.write(f"warning: {warning}\n")
    big = any(m in modes for m in ("history", "range")) or (modes == ["files"] and not paths)
    result = progress_scan(req, enabled=big and sys.stderr.isatty() and fmt != "github")
    from scanner.report import render

    color = output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = render(fmt, result, color=color, root=str(root))
    if explain and fmt == "text" and result.explanations:
        lines = ["dropped candidates (rule, place, filter):"]
        lines += [f"  {e.rule_id}  {e.path}:{e.line}  {e.filter}" for e in result.explanations]
        text += "\n".join(lines) + "\n"
    if output:
        from scanner.fileio import atomic_write_text
        from scanner.report.text import summary

        atomic_write_text(Path(output), text)
        sys.stderr.write(summary(result) + "\n")
    else:
        sys.stdout.write(text)
    sys.stdout.flush()
    from unleak.audit import record

    record("scan", result=f"{len(result.findings)} findings",
           detail={"modes": modes, "rules": sorted({f.rule_id for f in result.findings})})
    return EXIT_FINDINGS if result.findings and not exit_zero else EXIT_CLEAN


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
        top = git.toplevel(req.root)
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

