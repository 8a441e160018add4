"""A granted MCP run: the child started with the values in its environment only, its output masked and capped, stopped
at the timeout or when its grant ends."""


from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path


class _ExecResult:
    def __init__(self, exit_code: int, output: str, total: int, truncated: bool, timed_out: bool) -> None:
        self.exit_code, self.output, self.total = exit_code, output, total
        self.truncated, self.timed_out = truncated, timed_out


def execute_masked(argv: list[str], env: Mapping[str, str], secrets: Mapping[str, str], *, cwd: Path,
                   timeout: float, cap: int, on_start: Callable[[int], None] | None = None,
                   watch: Callable[[], str | None] | None = None) -> _ExecResult:
    """Run ``argv`` with ``env``; stdout and stderr (merged) pass through the masker, the first ``cap`` masked
    bytes are kept and the rest is counted and dropped. The child runs under the reaper supervisor, with no
    stdin: at its exit, at ``timeout`` or when ``watch`` (asked about once a second) gives a reason, everything
    it started is killed."""
    from unleak.masking import Masker
    from unleak.run import exit_status, spawn_supervised, stop_supervised

    # An agent's run: the child (code the agent may have written) gets no access to the vault, its key, grants,
    # policy or the audit log (Landlock, where the kernel has it).
    proc = spawn_supervised(argv, env, cwd, confine=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    if on_start is not None:
        on_start(proc.pid)
    assert proc.stdout is not None
    masker = Masker(dict(secrets))
    kept = bytearray()
    total = 0
    timed_out = False
    stopped: str | None = None
    deadline = time.monotonic() + timeout
    next_watch = 0.0
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)

    def keep(data: bytes) -> None:
        room = cap - len(kept)
        if room > 0:
            kept.extend(data[:room])

    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                stop_supervised(proc)
                break
            if watch is not None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + 1.0
                stopped = watch()
                if stopped is not None:
                    stop_supervised(proc)
                    break
            if not sel.select(timeout=min(left, 0.5)):
                continue
            data = os.read(fd, 1 << 16)
            if not data:
                break
            # Lengths are counted after masking: the unmasked length would tell the agent how long a value is.
            masked = masker.feed(data)
            total += len(masked)
            keep(masked)
        masked = masker.close()
        total += len(masked)
        keep(masked)
    finally:
        sel.close()
        proc.stdout.close()
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        stop_supervised(proc)
        code = proc.wait()
    text = kept.decode("utf-8", errors="replace")
    truncated = total > len(kept) and len(kept) >= cap
    if truncated:
        text += f"\n[unleak: output cut at {cap} bytes of {total}]"
    if timed_out:
        text += f"\n[unleak: killed after {timeout:g} s]"
    if stopped is not None:
        text += f"\n[unleak: stopped: {stopped}]"
    return _ExecResult(exit_status(code), text, total, truncated, timed_out)
