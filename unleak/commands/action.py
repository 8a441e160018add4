"""``unleak action github``: the GitHub Action's entry (called by action.yml)."""

from __future__ import annotations

import os
import sys

import click

from unleak.commands.common import (
    scan_request,
)
from unleak.errors import EXIT_CLEAN, EXIT_FINDINGS


@click.group("action", hidden=True)
def action_group() -> None:
    """Entry points for CI integrations (called by action.yml)."""


@action_group.command("github")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (.unleak.toml).")
@click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False), help="Baseline file.")
def action_github(config_path: str | None, baseline_path: str | None) -> None:
    """Run the GitHub Action: scan the event's commits; annotations on stdout, SARIF, job summary, step outputs,
    optional review with suggested fixes. Reads the runner's environment (GITHUB_*) and UNLEAK_* inputs."""
    from unleak import action

    settings = action.Settings.from_env(os.environ)
    root = settings.workspace
    req, _ = scan_request(root, ("range",), (), config_path=config_path or None,
                           baseline_path=baseline_path or None)
    outcome = action.run(settings, req, config_path or None, baseline_path or None)
    click.echo(outcome.annotations, nl=False)
    for level, text in outcome.messages:
        click.echo(action.workflow_command(level, text))
    sys.exit(EXIT_FINDINGS if outcome.failed else EXIT_CLEAN)
