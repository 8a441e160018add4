"""``unleak run``: a command with the secrets of a reference file in its environment, masked output."""

from __future__ import annotations

import sys

import click


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    metavar="FILE",
    help="Reference file (.env whose values are unleak:// or op:// references); repeatable, later files win. "
    "Default: .env here or at the repository root.",
)
@click.option("--no-masking", is_flag=True, help="Do not mask values in the output (the command is exec'd).")
@click.option("--no-override", is_flag=True, help="Variables already set in the environment win.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(
    env_files: tuple[str, ...], no_masking: bool, no_override: bool, command: tuple[str, ...]
) -> None:
    """Run COMMAND with the secrets of a reference file in its environment, masked in its output.

    Every reference is resolved before COMMAND starts; values reach it through its environment only (never its
    command line), and UNLEAK_RUN=1 is set. The exit status is COMMAND's (128+N when killed by signal N).

    \b
    Example:  unleak run -- python manage.py runserver
    """
    from unleak.runcmd import run_main

    sys.exit(run_main(env_files, no_masking, no_override, command))
