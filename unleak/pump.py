"""The masked run's output loop: the child's stdout and stderr are read, passed through their maskers and written
on; what the user types is relayed to the child's terminal; the run is stopped at its deadline or when its watch
says so, and, when it owns its process tree, nothing the command started outlives it."""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from unleak.masking import Masker
from unleak.reaper import kill_descendants

_CHUNK = 1 << 16
# A stream that has been quiet this long gets everything written that cannot begin a value (prompts appear).
_IDLE_FLUSH = 0.02
# After the child exits, grandchildren that still hold the pipe are read until they have been quiet this long.
_LINGER = 2.0


@dataclass
class RunLimits:
    """When a run must end before its command does, and whether it owns its whole process tree.

    ``contain``: this process is dedicated to the run (the ``unleak run`` command), so it becomes the subreaper of
    the command's tree and kills every descendant when the command exits or the run is stopped: nothing the command
    started (a ``setsid`` double fork included) outlives the run. ``timeout`` is in seconds; ``watch`` is called
    about once a second and returns why the run must stop now (a revoked or expired grant), or None. After the
    run, ``stopped`` says why it was stopped, if it was."""

    timeout: float | None = None
    watch: Callable[[], str | None] | None = None
    contain: bool = False
    stopped: str | None = None


def write_all(fd: int, data: bytes) -> bool:
    """Write everything; False when the reader has gone (EPIPE), so the caller stops writing there."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except BrokenPipeError:
            return False
        except BlockingIOError:
            time.sleep(0.001)
            continue
        view = view[n:]
    return True


@dataclass
class Stream:
    """One output of the child: where we read it, its masker and where it goes."""

    read_fd: int
    out_fd: int
    masker: Masker
    last_data: float = 0.0
    idle_flushed: bool = True  # nothing new since the last idle flush: do not rescan the held tail
    open: bool = True
    out_ok: bool = True

    def emit(self, data: bytes) -> None:
        if data and self.out_ok:
            self.out_ok = write_all(self.out_fd, data)


def stop(proc: subprocess.Popen[bytes], limits: RunLimits, reason: str) -> None:
    """End the run now: the command's whole tree when we own it, else its process group."""
    limits.stopped = reason
    if limits.contain:
        kill_descendants(spare=(proc.pid,))
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def pump(
    proc: subprocess.Popen[bytes], streams: list[Stream], relay_from: int | None, relay_to: int,
    limits: RunLimits | None = None,
) -> None:
    """Copy the child's outputs through their maskers until both are closed (or, once the child has exited,
    quiet for a while: a daemonised grandchild holding the pipe must not keep us alive forever). With
    ``limits``, stop the run at its deadline or when its watch says so; when the run owns its tree, kill what
    is left of it as soon as the command exits."""
    limits = limits or RunLimits()
    deadline = None if limits.timeout is None else time.monotonic() + limits.timeout
    next_watch = 0.0
    selector = selectors.DefaultSelector()
    by_fd = {s.read_fd: s for s in streams}
    for s in streams:
        selector.register(s.read_fd, selectors.EVENT_READ)
    if relay_from is not None:
        selector.register(relay_from, selectors.EVENT_READ)
    exited_at: float | None = None
    last_activity = time.monotonic()
    try:
        while any(s.open for s in streams):
            pending = any(s.masker.pending and not s.idle_flushed for s in streams if s.open)
            timeout = _IDLE_FLUSH if pending else 0.1
            try:
                events = selector.select(timeout)
            except InterruptedError:
                continue
            now = time.monotonic()
            for key, _mask in events:
                fd = key.fd
                if fd == relay_from:
                    _relay(selector, relay_from, relay_to)
                    continue
                stream = by_fd[fd]
                try:
                    data = os.read(fd, _CHUNK)
                except OSError as exc:
                    # A pty whose last writer has gone reports EIO instead of end of file.
                    if exc.errno not in (errno.EIO, errno.EBADF):
                        raise
                    data = b""
                if not data:
                    _close_stream(selector, stream)
                    continue
                stream.last_data = now
                stream.idle_flushed = False
                last_activity = now
                stream.emit(stream.masker.feed(data))
            for stream in streams:
                if stream.open and not stream.idle_flushed and now - stream.last_data >= _IDLE_FLUSH:
                    stream.emit(stream.masker.flush_idle())
                    stream.idle_flushed = True
                if stream.open and not stream.out_ok:
                    # Our reader went away (`unleak run -- yes | head`): stop reading so the child gets
                    # EPIPE / SIGPIPE as it would have without us, instead of running forever.
                    _close_stream(selector, stream)
                    os.close(stream.read_fd)
                    stream.read_fd = -1
            if exited_at is None and proc.poll() is not None:
                exited_at = now
                if limits.contain:
                    kill_descendants()  # what it left behind must not outlive it (and keeps our pipes open)
            elif exited_at is None and limits.stopped is None:
                if deadline is not None and now >= deadline:
                    stop(proc, limits, f"time limit of {limits.timeout:g} s reached")
                elif limits.watch is not None and now >= next_watch:
                    next_watch = now + 1.0
                    reason = limits.watch()
                    if reason is not None:
                        stop(proc, limits, reason)
            if exited_at is not None and now - max(exited_at, last_activity) >= _LINGER:
                break
    finally:
        for stream in streams:
            if stream.open:
                _close_stream(selector, stream)
        selector.close()


def _close_stream(selector: selectors.BaseSelector, stream: Stream) -> None:
    stream.emit(stream.masker.close())
    stream.open = False
    with contextlib.suppress(KeyError, ValueError):
        selector.unregister(stream.read_fd)


def _relay(selector: selectors.BaseSelector, src: int, dst: int) -> None:
    """Copy what the user typed into the child's terminal; on end of input stop listening."""
    try:
        data = os.read(src, _CHUNK)
    except OSError:
        data = b""
    if not data:
        selector.unregister(src)
        return
    with contextlib.suppress(OSError):
        write_all(dst, data)
