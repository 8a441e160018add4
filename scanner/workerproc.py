"""The lifetime of the scan's forked worker processes (:mod:`scanner.parallel`): how many, garbage collection while
they scan, and dying with the scan process however it ends; and :func:`prctl`, which :mod:`unleak.reaper` and the
agent broker use too. Standard library only."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1  # prctl(2)


def prctl(option: int, arg: int) -> bool:
    """Linux's ``prctl(option, arg)``; False where it failed or there is none (not Linux). ``ctypes`` is loaded on
    first use (a caller about to fork many times loads it once before)."""
    try:
        import ctypes

        return int(ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def end_with(parent: int) -> None:
    """Make this forked worker die the moment the scan process ``parent`` does, however it ends (SIGTERM from
    ``timeout``, a CI runner cancelling the step, SIGKILL): a worker left behind kept scanning, then waited forever to
    hand its results to nobody, holding the caller's stdout and stderr open, so the command that ran the scan hung.
    Its git processes end once it does (their input and output pipes close). Linux's parent-death signal; where
    there is none, a worker ends when it next finds its parent gone (``scanner.parallel._worker``)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(1)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while commits are scanned: a scan allocates millions of short-lived objects
    and makes almost no cycles (~600 collectable objects in sqlalchemy's 24,000 commits), so its collections were
    ~8 % of the scanning processes' CPU for nothing. Reference counting still frees everything else."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
