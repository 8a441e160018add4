"""``unleak exposure``, ``unleak purge-plan`` and ``unleak purge``: where a secret went in history, and removing it."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from scanner.words import plural
from unleak.commands.common import (
    scan_request,
)
from unleak.errors import EXIT_CLEAN, EXIT_FINDINGS


@click.command("exposure")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--agent-logs", "agent_logs", is_flag=False, flag_value="", default=None, metavar="[PATH]",
              help="Also look for each secret in coding-agent transcripts (PATH, or the default locations).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write a self-contained HTML page (timelines, refs, sortable table; no values) to FILE.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (.unleak.toml).")
@click.option("--verify/--no-verify", default=None,
              help="Ask each secret's own provider whether it is still live; live ones come first.")
@click.option("--verify-timeout", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Time budget for all verification (default 60).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def exposure_cmd(fmt: str, as_json: bool, agent_logs: str | None, output: str | None, html_path: str | None,
                 config_path: str | None, verify: bool | None, verify_timeout: float | None, repo_dir: str) -> None:
    """Every secret ever committed: since when, where it still is, whether it was pushed, how to rotate it.

    Exit 1 when history holds any secret, 0 when it is clean. Values are never shown.
    """
    from scanner.exposure.analysis import analyze
    from scanner.exposure.model import apply_verification, as_findings
    from scanner.report.exposure import render

    root = Path(repo_dir).resolve()
    req, cfg = scan_request(root, ("history",), (), config_path=config_path)
    logs = None if agent_logs is None else ([agent_logs] if agent_logs else [])
    if sys.stderr.isatty():
        report = _with_commit_progress(root, lambda tick, phase: analyze(
            root, req, agent_logs=logs, progress=tick, phase=phase))
    else:
        report = analyze(root, req, agent_logs=logs)
    from unleak.scancmd import verify_config, verify_findings

    vcfg = verify_config(cfg)
    if vcfg["enabled"] if verify is None else verify:
        verdicts = verify_findings(as_findings(report), root, budget=verify_timeout or vcfg["timeout"],
                                   cache_ttl=vcfg["cache-ttl"])
        apply_verification(report, verdicts)
    text = render(report, "json" if as_json else fmt)
    if html_path:
        from scanner.fileio import write_report
        from scanner.report.exposure_html import render_html

        write_report(Path(html_path), render_html(report, f"Secret exposure: {root.name}"))
        click.echo(f"wrote {html_path}: {plural(len(report.exposures), 'secret')} in history", err=True)
    if output:
        from scanner.fileio import write_report

        write_report(Path(output), text)
        click.echo(f"wrote {output}: {plural(len(report.exposures), 'secret')} in history", err=True)
    else:
        click.echo(text, nl=False)
    sys.exit(EXIT_FINDINGS if report.exposures else EXIT_CLEAN)


def _with_commit_progress(root: Path, run: Callable[[Callable[[Any], None], Callable[[str, int | None], None]], Any]
                          ) -> Any:
    """Run a history-sized job with a transient progress bar on stderr: one bar per phase the job announces
    (``phase(name, total)``), advanced once per commit."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from scanner import git

    top = git.history_root(root)
    total = (git.count_commits(top, ["--all"]) or None) if top is not None else None
    seen: set[str] = set()
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("history", total=total)

        def tick(chunk: Any) -> None:
            if chunk.commit is not None and chunk.commit.sha not in seen:
                seen.add(chunk.commit.sha)
                bar.advance(task)

        def phase(name: str, count: int | None) -> None:
            seen.clear()
            bar.reset(task, total=count if count is not None else total, description=name)

        return run(tick, phase)


def _echo_plan(p: Any) -> None:
    click.echo(f"{len(p.targets)} secret(s) selected for purging:")
    for e in p.targets:
        click.echo(f"  {e.fingerprint}  {e.preview}  {e.rule_id}  {', '.join(e.paths)}")
    click.echo(f"replacement expressions: {p.replacements_file} (mode 0600; holds the values: never share it)")
    click.echo("warnings:")
    for w in p.warnings:
        click.echo(f"  ! {w}")
    click.echo("commands (run on a fresh mirror clone, never on this working clone):")
    for c in p.commands:
        click.echo(f"  {c}")


@click.command("purge-plan")
@click.option("--fingerprint", "fingerprints", multiple=True, metavar="FP",
              help="Purge only this secret (fingerprint or a unique prefix of 6+ characters); repeatable. "
              "Default: every secret in history.")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def purge_plan_cmd(fingerprints: tuple[str, ...], repo_dir: str) -> None:
    """Write git-filter-repo --replace-text expressions into .git/unleak/ and print the commands and warnings."""
    from remediate import purge

    root = Path(repo_dir).resolve()
    req, _ = scan_request(root, ("history",), ())
    _echo_plan(purge.plan(root, list(fingerprints), request=req))


@click.command("purge")
@click.option("--execute", is_flag=True, help="Actually rewrite history (on a fresh mirror clone) and prove it.")
@click.option("--fingerprint", "fingerprints", multiple=True, metavar="FP",
              help="Purge only this secret (fingerprint or unique prefix); repeatable. Default: all.")
@click.option("--workdir", type=click.Path(file_okay=False), help="Where to put the mirror (default .git/unleak/).")
@click.option("-C", "--repo", "repo_dir", type=click.Path(file_okay=False), default=".",
              help="Run as if started in DIR.")
def purge_cmd(execute: bool, fingerprints: tuple[str, ...], workdir: str | None, repo_dir: str) -> None:
    """Remove secrets from all history with git-filter-repo, on a fresh mirror clone, then prove the result.

    Without --execute, only shows the plan (exit 1). Your working clone is never rewritten; you push the mirror.
    """
    from remediate import purge, purge_run

    root = Path(repo_dir).resolve()
    req, _ = scan_request(root, ("history",), ())
    if not execute:
        _echo_plan(purge.plan(root, list(fingerprints), request=req))
        click.echo("nothing was changed; add --execute to rewrite a mirror clone", err=True)
        sys.exit(EXIT_FINDINGS)
    res = purge_run.execute(root, list(fingerprints), Path(workdir) if workdir else None, request=req)
    pr = res.proof
    click.echo(f"rewrote {pr.commits} commit(s) in {res.mirror}: {pr.blobs_changed} file version(s) and "
               f"{pr.messages_changed} message(s) had values replaced; {pr.refs} ref(s)")
    if not pr.ok:
        click.echo("PROOF FAILED, do not push this mirror:", err=True)
        for problem in pr.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(EXIT_FINDINGS)
    click.echo(f"proof: {pr.objects_searched} objects searched, no purged value left; a history scan finds none "
               "of the purged secrets; every other file, commit message, author and parent is unchanged")
    for note in pr.notes:
        click.echo(f"  note: {note}")
    click.echo("warnings:")
    for w in res.plan.warnings:
        click.echo(f"  ! {w}")
    click.echo("to publish the rewritten history:")
    for c in res.push:
        click.echo(f"  {c}")
