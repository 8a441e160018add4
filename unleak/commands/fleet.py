"""``unleak fleet``: many repositories at once on Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from unleak.commands.common import (
    audit_action,
)
from unleak.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE


@click.group()
def fleet() -> None:
    """Scan many repositories at once on Ray (pip install 'unleak[fleet]')."""


@fleet.command("scan")
@click.argument("targets", nargs=-1, required=True)
@click.option("--address", help="Join a running Ray cluster (ray://… or HOST:PORT); default: a local Ray for this run.")
@click.option("--workers", type=click.IntRange(min=0), default=0, help="CPUs of the local Ray (0: all).")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default="unleak-fleet-report",
              show_default=True, help="fleet.json, sarif/<repository>.sarif and index.html go here.")
@click.option("--cache-dir", type=click.Path(file_okay=False),
              help="Clones and scan caches on each node (default: $XDG_CACHE_HOME/unleak/fleet).")
@click.option("--split-commits", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Split a history larger than this into blocks scanned as separate tasks.")
@click.option("--block-commits", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option("--timeout", type=click.FloatRange(min=1), default=3600, show_default=True,
              help="Seconds per task; a task past it is cancelled and reported.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def fleet_scan(targets: tuple[str, ...], address: str | None, workers: int, output_dir: str, cache_dir: str | None,
               split_commits: int, block_commits: int, timeout: float, fmt: str) -> None:
    """Scan the history of every TARGET: a local repository, a clone URL, or a file listing them one a line.

    Findings are merged by fingerprint across repositories. Exit 1 when any secret is found, 2 when none is found
    but a repository could not be scanned, 0 when every repository is clean."""
    from unleak import fleet as fl
    from unleak import fleet_report

    found = fl.read_targets(list(targets))
    opts = fl.FleetOptions(address=address, workers=workers, split_commits=split_commits,
                           block_commits=block_commits, timeout=timeout,
                           cache_root=str(Path(cache_dir).resolve()) if cache_dir else None)
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(stderr=True),
                      transient=True) as bar:
            task = bar.add_task("starting Ray…")

            def tick(_event: str, repos: int, commits: int) -> None:
                bar.update(task, description=f"{repos}/{len(found)} repositories, {commits} commits scanned")

            results = fl.run(found, opts, tick)
    else:
        results = fl.run(found, opts)
    merged = fl.merge(results)
    written = fleet_report.write(Path(output_dir), results, merged)
    if fmt == "json":
        import json

        click.echo(json.dumps(fleet_report.document(results, merged), indent=2))
    else:
        click.echo(fleet_report.text_summary(results, merged), nl=False)
        click.echo(f"report: {written['html']} · {written['json']} · {len(results)} SARIF files in "
                   f"{Path(output_dir) / 'sarif'}")
    audit_action("fleet-scan", result=f"{len(merged)} secrets",
           detail={"repositories": len(results), "failed": sum(1 for r in results if not r.ok)})
    if merged:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_USAGE if any(not r.ok for r in results) else EXIT_CLEAN)
