"""``unleak run``: a command with the secrets of a reference file in its environment, masked output."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from unleak.commands.common import (
    audit_action,
)


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
    from unleak.agent import broker, sandboxenv

    if sandboxenv.inside():
        # Inside `unleak agent` this process cannot read the vault: the broker runs `unleak run` with these very
        # arguments outside, on our stdin/stdout/stderr, under the grant rules.
        sys.exit(broker.forward_run([*(a for f in env_files for a in ("--env-file", f)),
                                     *(["--no-masking"] if no_masking else []),
                                     *(["--no-override"] if no_override else []), "--", *command]))
    from unleak import run as runner
    from unleak.agent import runguard
    from unleak.agent.policy import load_policy
    from unleak.reaper import protect_process

    # Before any value is read: no core file, no same-user ptrace or /proc/PID/mem of this process.
    protect_process()
    paths = [Path(f) for f in env_files]
    policy = load_policy()
    why = runguard.gate_reason(policy)
    grant = None
    if why is not None:
        # Not the human's own terminal: the same grant rules as an MCP `run`, checked on names before anything
        # is resolved.
        cwd = Path.cwd()
        sources = runner.reference_sources(paths, cwd)
        grant = runguard.check(command, runner.read_reference_files(sources), sources, cwd=cwd, policy=policy,
                               why=why, masking=not no_masking)
    plan = runner.prepare(paths, override=not no_override)
    for name in sorted(plan.plaintext):
        click.echo(
            f"unleak: warning: {name} holds a plaintext value, not a reference; run `unleak fix` to move it "
            "into the vault" + ("" if no_masking else " (it is masked in the output meanwhile)"),
            err=True,
        )
    from unleak.masking import Masker

    # The audit log is a channel too: a value the user typed on the command line is masked there as in the output.
    masker = Masker(plan.masked)

    def scrub(text: str) -> str:
        return masker.mask_all(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")

    if no_masking:
        click.echo("unleak: masking is off; the command's output is not filtered", err=True)
        audit_action("run.start", secrets=sorted(plan.secrets), argv=list(command), detail={"masking": False},
               scrub=scrub)
        runner.exec_child(command, plan)
    for name in plan.unmasked:
        click.echo(
            f"unleak: warning: {name} is shorter than 4 characters and is not masked in the output", err=True
        )
    who: dict[str, Any] = {} if grant is None else {"grant": grant.id, "actor": runguard.SHELL_CLIENT}
    audit_action("run.start", secrets=sorted(plan.secrets), argv=list(command), scrub=scrub, **who)
    # The run owns its process tree: nothing the command starts outlives it. Under a grant it also ends at the
    # policy's time limit, or as soon as the grant is revoked or expires.
    limits = runner.RunLimits(contain=True)
    if grant is not None:
        limits.timeout = policy.run_timeout
        limits.watch = runguard.grant_watch(grant.id)
    code = runner.run_child(command, plan, limits=limits)
    if limits.stopped:
        click.echo(f"unleak: the command was stopped: {limits.stopped}", err=True)
    audit_action("run.end", secrets=sorted(plan.secrets), argv=list(command), result=f"exit {code}", scrub=scrub, **who)
    sys.exit(code)
