"""Process lifetime of a run with secrets: nothing it starts outlives it, and the process holding values is closed.

A child can escape its process group and session (``setsid``, a double fork) and keep the injected values long after
the run, its grant's expiry or a revocation. Linux's child subreaper (``PR_SET_CHILD_SUBREAPER``) makes every orphan
of the tree come back to us instead of init, so walking ``/proc`` for our descendants finds all of them, and
killing them until none is left ends the run for real.

The process that holds values (``unleak run``, the MCP server, the supervisor below) is made non-dumpable
(``PR_SET_DUMPABLE`` 0: another process of the same user can no longer ptrace it or read ``/proc/PID/mem`` or
``environ``) and gets no core file (``RLIMIT_CORE`` 0).

``python -m unleak.reaper -- COMMAND...`` is a supervisor for a caller that has other children (the MCP server):
it becomes the subreaper of COMMAND alone, passes its exit status on as a shell does, and on exit, SIGTERM, SIGINT,
SIGHUP or its parent's death kills everything COMMAND started. It imports nothing but the standard library (and
:func:`scanner.workerproc.prctl`, itself standard-library only).

Only the standard library on purpose (and that one function): this module is on the path of every run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Collection
from types import FrameType
from typing import NoReturn

from scanner.workerproc import PR_SET_PDEATHSIG
from scanner.workerproc import prctl as _prctl

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36

#: the supervisor's exit status when COMMAND cannot be started, as a shell reports it
NOT_FOUND = 127


def protect_process() -> None:
    """No core file and no same-user ptrace or ``/proc/PID/mem`` for this process, which holds values."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _prctl(_PR_SET_DUMPABLE, 0)


def become_subreaper() -> bool:
    """Orphans among our descendants are re-parented to us, not to init (Linux 3.4+); False where unsupported."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) of every process we can see."""
    table: dict[int, tuple[int, str]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        with contextlib.suppress(IndexError, ValueError):
            table[int(name)] = (int(fields[1]), fields[0].decode("ascii", "replace"))
    return table


def descendants(root: int) -> tuple[list[int], list[int]]:
    """(live, zombie) descendants of ``root``."""
    children: dict[int, list[int]] = {}
    table = _processes()
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    live: list[int] = []
    zombies: list[int] = []
    todo = list(children.get(root, ()))
    seen: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        (zombies if table[pid][1] in "ZX" else live).append(pid)
        todo.extend(children.get(pid, ()))
    return live, zombies


def kill_descendants(root: int | None = None, *, spare: Collection[int] = (), rounds: int = 400) -> int:
    """SIGKILL every descendant of ``root`` (default: this process) until none is left, reaping the zombies that
    are ours except ``spare`` (a child whose ``Popen`` must still collect its status). Returns how many were killed.

    Repeated because a process can fork between our look and our kill; SIGKILL cannot be caught, so every round
    leaves fewer processes that can still fork."""
    me = os.getpid() if root is None else root
    killed: set[int] = set()
    for _ in range(rounds):
        live, zombies = descendants(me)
        for pid in zombies:
            if pid not in spare:
                with contextlib.suppress(ChildProcessError, OSError):
                    os.waitpid(pid, os.WNOHANG)
        if not live:
            break
        for pid in live:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        time.sleep(0.005)
    return len(killed)


def exit_status(returncode: int) -> int:
    """A child's status as a shell reports it: its exit code, or 128 + N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode


def supervise(cmd: list[str]) -> NoReturn:
    """Run ``cmd`` (stdio, environment and working directory inherited) as the only tree under this subreaper."""
    protect_process()
    become_subreaper()
    parent = os.getppid()
    # Our parent (the MCP server) dying must end the run too; SIGTERM so the handler below cleans up. The signal
    # follows the *thread* that started us: the server's caller blocks in that thread until we exit.
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before the line above took effect
        os._exit(128 + signal.SIGTERM)

    def stop(signum: int, _frame: FrameType | None) -> None:
        kill_descendants()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        child = subprocess.Popen(cmd, start_new_session=True, close_fds=True)
    except OSError as exc:
        sys.stderr.write(f"unleak: cannot run {cmd[0]!r}: {exc.strerror}\n")
        sys.stderr.flush()
        os._exit(NOT_FOUND)
    code = child.wait()
    kill_descendants()
    os._exit(exit_status(code))


def supervisor_argv(cmd: list[str]) -> list[str]:
    """The command line that runs ``cmd`` under :func:`supervise`."""
    return [sys.executable, "-m", "unleak.reaper", "--", *cmd]


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--" or len(args) < 2:
        sys.stderr.write("usage: python -m unleak.reaper -- COMMAND [ARGS...]\n")
        sys.exit(2)
    supervise(args[1:])
