"""Who may start ``unleak run`` without a grant: the human at their own terminal, and nobody else.

A coding agent with a shell (Claude Code's Bash tool, Codex) runs as the same OS user as the human, so it can call
``unleak run`` directly instead of the MCP ``run`` tool, and unset any environment variable that names it
(``env -u CLAUDECODE``). Environment markers are therefore hints, never the gate. The gate is the other way round:
a run needs a grant, exactly as an MCP ``run`` does, *unless* every sign says a human typed it:

* no agent marker in the environment (``CLAUDECODE``, ``CODEX_SANDBOX``, ``UNLEAK_RUN``, ...);
* no coding agent among its ancestor processes (an agent cannot rename the processes above it);
* its standard input is a terminal, that terminal is its controlling terminal, and it is the terminal's
  foreground job (an agent's tool calls read from pipes; ``< /dev/tty`` from an agent's background job fails the
  foreground test);
* the session leader of that terminal is one of its ancestors (a job that detached itself from the agent, e.g. a
  double fork, is re-parented to init and loses that link).

This is not a boundary against a same-user process that sets out to forge all of it (a detached ``script`` gives
it a terminal of its own). ``run_requires_grant = "always"`` in the user's policy makes every run need a grant; the
hard boundary is OS confinement of the agent (see the README's threat model).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from scanner.errors import PolicyError, UnleakError
from unleak.agent.policy import AGENT_ENV_MARKERS, Grant, GrantStore, Policy, dangerous_reason, run_context

#: programs of coding agents, as their process name (comm) or the base name of their first two argv words
AGENT_PROGRAMS = frozenset({
    "claude", "claude-code", "codex", "cursor-agent", "gemini", "aider", "opencode", "goose", "amp", "copilot",
    "crush", "qwen", "cline", "kilocode", "droid", "auggie",
})

#: who a run the gate let through is attributed to in the audit log
SHELL_CLIENT = "shell"


class _Stat(NamedTuple):
    comm: str
    ppid: int
    session: int
    tty: int  # device number of the controlling terminal, 0 for none
    foreground: int  # the controlling terminal's foreground process group


def _proc_stat(pid: int) -> _Stat | None:
    """What ``/proc/PID/stat`` says about ``pid``, or None when it is gone or unreadable."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # comm is in parentheses and may itself contain ") ": the fields after it start at the last ")".
    head, _, tail = raw.rpartition(")")
    fields = tail.split()
    try:
        return _Stat(head.partition("(")[2], int(fields[1]), int(fields[3]), int(fields[4]), int(fields[5]))
    except (IndexError, ValueError):
        return None


def _argv_words(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [w.decode("utf-8", "replace") for w in raw.split(b"\0")[:2] if w]


def _is_agent(comm: str, words: Sequence[str]) -> bool:
    names = {comm, *(os.path.basename(w) for w in words)}
    if names & AGENT_PROGRAMS:
        return True
    # Node-based agents run as `node .../@anthropic-ai/claude-code/cli.js` and the like.
    return any("claude-code" in w or "/codex/" in w for w in words)


def ancestors(pid: int | None = None) -> list[int]:
    """``pid`` (default: this process) and its ancestors up to init, nearest first."""
    chain: list[int] = []
    current = os.getpid() if pid is None else pid
    while current > 0 and current not in chain and len(chain) < 512:
        chain.append(current)
        stat = _proc_stat(current)
        if stat is None:
            break
        current = stat.ppid
    return chain


def agent_ancestor() -> str | None:
    """The name of a coding agent among this process's ancestors, or None."""
    for pid in ancestors()[1:]:
        stat = _proc_stat(pid)
        if stat is not None and _is_agent(stat.comm, _argv_words(pid)):
            return stat.comm
    return None


def untrusted_reason(environ: Mapping[str, str] | None = None, stdin_fd: int = 0) -> str | None:
    """None when this process looks like the human's own interactive terminal; otherwise why it does not."""
    env = os.environ if environ is None else environ
    for var in AGENT_ENV_MARKERS:
        if env.get(var):
            return f"{var} is set (a coding agent's shell, an MCP server or another `unleak run`)"
    agent = agent_ancestor()
    if agent is not None:
        return f"it was started from a coding agent ({agent})"
    if not os.isatty(stdin_fd):
        return "its input is not a terminal"
    me = _proc_stat(os.getpid())
    if me is None or me.tty == 0:
        return "it has no controlling terminal"
    if os.fstat(stdin_fd).st_rdev != me.tty:
        return "its input is not its controlling terminal"
    if me.foreground != os.getpgrp():
        return "it is not the terminal's foreground job"
    if me.session not in ancestors():
        return "the terminal's shell is not among its parents"
    return None


def gate_reason(policy: Policy) -> str | None:
    """Why this ``unleak run`` needs a grant under ``policy``, or None when it does not."""
    if policy.run_requires_grant == "never":
        return None
    if policy.run_requires_grant == "always":
        return "the user's policy requires a grant for every run (run_requires_grant = \"always\")"
    return untrusted_reason()


def check(argv: Sequence[str], variables: Mapping[str, str], sources: Sequence[Path], *, cwd: Path,
          policy: Policy, why: str, masking: bool = True, store: GrantStore | None = None) -> Grant:
    """The grant that lets this run go ahead, by the rules of an MCP ``run``; otherwise a :class:`PolicyError`
    saying what the human can do (a pending approval request when one can help). Only names and references are
    looked at: nothing is resolved before the grant exists."""
    from remediate.vault import default_namespace
    from scanner import git
    from unleak import audit

    store = store or GrantStore(policy=policy)
    repo = git.toplevel(cwd) or cwd
    branch = git.current_branch(repo) if git.toplevel(cwd) and git.has_head(repo) else "HEAD"
    # As for MCP runs (one definition, policy.run_context): the names checked are the variables *and* the vault
    # entries they point to, the tier is the label a human put on those entries, the program is what argv[0]
    # resolves to, and an unleak:// reference may only point into this repository's namespace.
    ctx, foreign = run_context(argv, variables, repo=repo, cwd=cwd, branch=branch, client=SHELL_CLIENT,
                               env_file=sources[-1] if sources else None)
    names, tier, own_ns = ctx.secrets, ctx.tier, default_namespace(repo)
    fields: dict[str, Any] = {"actor": SHELL_CLIENT, "secrets": names, "argv": list(argv), "cwd": str(cwd),
                              "repo": str(repo), "branch": branch}
    intro = f"unleak run needs a grant here: {why}."

    def refuse(reason: str) -> PolicyError:
        audit.record("run.refused", result="refused", detail={"reason": reason, "tier": tier, "why": why}, **fields)
        return PolicyError(f"{intro} {reason}")

    if not masking:
        raise refuse("--no-masking is only for the human's own terminal: whoever reads this output would see the "
                     "values. Run without it.")
    if foreign:
        raise refuse(f"The reference file points outside this repository's vault namespace {own_ns!r} "
                     f"({', '.join(foreign)}); a run under a grant may only use this repository's secrets.")
    if tier not in policy.mcp_tiers:
        raise refuse(f"{tier}-tier secrets are not reachable by agents under the user's policy "
                     f"(mcp_tiers = {list(policy.mcp_tiers)} in the user's policy.toml).")
    grant = store.find_grant(ctx)
    if grant is not None:
        return grant
    danger = dangerous_reason(argv, program=ctx.program)
    if danger is not None:
        raise refuse(f"It is refused: {danger}. Such commands could print the secrets, so they run only under a "
                     "grant a human makes for exactly that command with `unleak grant --allow-dangerous`.")
    req = store.create_request(ctx)
    audit.record("run.request", request=req.id, result="approval_required",
                 detail={"tier": tier, "ttl": req.ttl, "why": why}, **fields)
    raise PolicyError(
        f"{intro} No grant covers this command. Ask the human to approve request {req.id} in their own terminal "
        f"(`unleak approve {req.id}`, optionally --ttl 30m), then run the same command again.")


def grant_watch(grant_id: str, store: GrantStore | None = None) -> Callable[[], str | None]:
    """A run's watch (see :class:`unleak.run.RunLimits`): why the run under ``grant_id`` must stop now (revoked,
    expired, gone), or None while the grant stands. Read from the grants file each time, so a revocation from
    another terminal reaches a run in progress."""
    store = store or GrantStore()

    def watch() -> str | None:
        try:
            grant = next((g for g in store.grants() if g.id == grant_id), None)
        except UnleakError:
            return "the grants file cannot be read"
        if grant is None:
            return f"grant {grant_id} no longer exists"
        if grant.revoked is not None:
            return f"grant {grant_id} was revoked"
        if not grant.active():
            return f"grant {grant_id} expired"
        return None

    return watch
