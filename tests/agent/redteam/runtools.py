"""Shared by the red-team tests of runs and hooks (a module, not a conftest, so other red-team suites in this
package keep their own conftest): a repository whose token is in the vault, and ways to start a process the way a
human at a terminal does (a real pseudo-terminal that is its controlling terminal)."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.conftest import GitRepo

PY = sys.executable

# Writes the value somewhere the agent can read it later: masking of the output does not help against this, so
# only the gate stands between an agent and the value.
STASH = """\
import os, sys
open(sys.argv[1] if len(sys.argv) > 1 else "stash.txt", "w").write(os.environ["TOKEN"][::-1])
print("stashed")
"""


def make_vault_repo(repo: GitRepo, canary: str) -> GitRepo:
    """``repo`` with ``canary`` in the vault as TOKEN, referenced from .env, and the stash script."""
    from remediate.vault import open_vault

    ref = open_vault(repo_path=repo.path).put("TOKEN", canary)
    repo.commit("app", {".env": f"TOKEN={ref}\n", "stash.py": STASH})
    return repo


def agent_env(**extra: str) -> dict[str, str]:
    """The environment of a coding agent's shell tool."""
    return {**os.environ, "CLAUDECODE": "1", "CLAUDE_CODE_ENTRYPOINT": "cli", **extra}


def human_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "UNLEAK_RUN",
                                                             "UNLEAK_MCP", "CODEX_SANDBOX"}}
    return {**env, **extra}


def in_terminal(argv: Sequence[str], cwd: Path, env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` as the session leader of a new pseudo-terminal (its controlling terminal, stdin/stdout/stderr
    on it, the foreground job): what a human's terminal gives a command. Returns (exit status, output)."""
    pid, master = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.chdir(cwd)
            os.execve(argv[0], list(argv), env)
        finally:
            os._exit(127)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    else:
        os.kill(pid, 9)
    os.close(master)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def mcp_calls(root: Path, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The answers of a real MCP client session over stdio in ``root`` to each (tool, arguments) in turn."""
    from tests.unleak.test_mcp import Agent, run_agent

    out: list[dict[str, Any]] = []

    async def scenario(agent: Agent) -> None:
        for name, args in calls:
            out.append(await agent.call(name, args))

    run_agent(root, scenario)
    return out
