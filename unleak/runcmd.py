"""``unleak run`` without click: the command line is parsed by :mod:`unleak.commands.run` (click) or, for the plain
forms, by :mod:`unleak.fastpath`; both call :func:`run_main`. A run is the hot path of every secret use — at the
terminal, from an MCP ``run`` and inside ``unleak agent`` — and click is ~20 ms of its start-up."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from unleak.audit import record as audit_action


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run_main(env_files: tuple[str, ...], no_masking: bool, no_override: bool, command: tuple[str, ...]) -> int:
    """Run ``command`` with the secrets of the reference files in its environment, masked in its output; its exit
    status (128+N when killed by signal N)."""
    from unleak.agent import sandboxenv

    if sandboxenv.inside():
        from unleak.agent import client

        # Inside `unleak agent` this process cannot read the vault: the broker runs `unleak run` with these very
        # arguments outside, on our stdin/stdout/stderr, under the grant rules.
        return client.forward_run([*(a for f in env_files for a in ("--env-file", f)),
                                   *(["--no-masking"] if no_masking else []),
                                   *(["--no-override"] if no_override else []), "--", *command])
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
        _say(f"unleak: warning: {name} holds a plaintext value, not a reference; run `unleak fix` to move it "
             "into the vault" + ("" if no_masking else " (it is masked in the output meanwhile)"))
    from unleak.masking import Masker

    # The audit log is a channel too: a value the user typed on the command line is masked there as in the output.
    masker = Masker(plan.masked)

    def scrub(text: str) -> str:
        return masker.mask_all(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")

    if no_masking:
        _say("unleak: masking is off; the command's output is not filtered")
        audit_action("run.start", secrets=sorted(plan.secrets), argv=list(command), detail={"masking": False},
                     scrub=scrub)
        runner.exec_child(command, plan)
    for name in plan.unmasked:
        _say(f"unleak: warning: {name} is shorter than 4 characters and is not masked in the output")
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
        _say(f"unleak: the command was stopped: {limits.stopped}")
    audit_action("run.end", secrets=sorted(plan.secrets), argv=list(command), result=f"exit {code}", scrub=scrub,
                 **who)
    return code
