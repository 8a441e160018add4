"""``unleak run``: resolve a reference file, start one child with the values in its environment, mask
its output.

Capability without possession: the child gets the real values (through its environment only, never argv and
never a file), while whatever it prints passes through :class:`unleak.masking.Masker` first, so a terminal, a
CI log or a coding agent reading the output sees ``<unleak:NAME>`` instead of a value.

Shape of a run:

1. :func:`prepare` reads the reference files (python-dotenv) and resolves *every* reference through the vault
   before anything starts (an unknown reference raises :class:`~scanner.errors.BadReferenceError` naming the
   variable and the reference, never a value), then builds the child's environment.
2. :func:`run_child` starts the command in its own session (so signals reach its whole process group and
   nothing else), streams stdout and stderr through separate maskers, forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT,
   and returns the child's exit status the way a shell reports it (``128 + N`` when signal ``N`` killed it).
   When our stdout is a terminal the child gets a pseudo-terminal, so it still behaves interactively
   (colours, line buffering, prompts) while its output is masked.
3. :func:`exec_child` is the ``--no-masking`` path: the process replaces itself with the command, so exit
   codes, signals and the terminal pass through untouched and nothing sits in the middle.

The child also gets ``UNLEAK_RUN=1``. A program that calls python-dotenv's ``load_dotenv()`` keeps the
injected values, because ``load_dotenv`` does not override variables that are already set (``override=False``
is its default); the reference strings in its ``.env`` never replace the real values.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import tty
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from scanner.errors import UsageError
from unleak import pump
from unleak.injection import MARKER as MARKER  # re-exported: callers use run.X
from unleak.injection import InjectionPlan as InjectionPlan
from unleak.injection import build_env as build_env
from unleak.injection import default_env_file as default_env_file
from unleak.injection import plaintext_secrets as plaintext_secrets
from unleak.injection import prepare as prepare
from unleak.injection import read_reference_files as read_reference_files
from unleak.injection import reference_sources as reference_sources
from unleak.masking import Masker
from unleak.pump import RunLimits as RunLimits  # re-exported: callers use run.RunLimits
from unleak.reaper import exit_status as exit_status  # re-exported: callers use run.exit_status
from unleak.reaper import kill_descendants

Resolver = Callable[[str], str]
IsReference = Callable[[str], bool]

# Signals a user or a supervisor sends to "the program"; they go to the child's whole process group.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

# Bigger pipes mean fewer wake-ups per megabyte (Linux; silently skipped elsewhere).
_PIPE_SIZE = 1 << 20


class CommandNotFoundError(UsageError):
    """The command to run does not exist or is not executable (exit 127, as a shell reports it)."""

    exit_code = 127


# -------------------------------------------------------------------------------------------------- running


def exec_child(cmd: Sequence[str], plan: InjectionPlan) -> NoReturn:
    """Replace this process with ``cmd`` (``--no-masking``): nothing stays in between, so everything passes
    through."""
    _check_command(cmd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(cmd[0], list(cmd), dict(plan.env))
    except OSError as exc:
        raise CommandNotFoundError(f"cannot run {cmd[0]!r}: {exc.strerror}") from None


def _check_command(cmd: Sequence[str]) -> None:
    if not cmd:
        raise UsageError("no command given: use `unleak run -- COMMAND [ARGS...]`")


def _copy_winsize(src_fd: int, dst_fd: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src_fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, size)


def _in_foreground(fd: int) -> bool:
    """False when ``fd`` is our controlling terminal and we are a background job (``cmd &``): switching it to raw
    mode would stop us with SIGTTOU, so a background run leaves stdin alone. A terminal that is not our
    controlling terminal has no job control, so it counts as ours."""
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return True


def _become_tty_owner() -> None:  # pragma: no cover - runs in the child between fork and exec
    # The child is a new session leader (start_new_session); its stdout is the pty slave. Making that terminal
    # the session's controlling terminal lets /dev/tty, job control and Ctrl-C work inside the child.
    with contextlib.suppress(OSError):
        fcntl.ioctl(1, termios.TIOCSCTTY, 0)


class _SignalForwarder:
    """Sends the signals we receive to the child's process group while it runs.

    The child is in its own session, so a terminal's Ctrl-C reaches only us and we pass it on. Installed *before*
    the child is spawned: a signal that arrives in between is remembered and delivered as soon as the child
    exists, instead of killing us and orphaning it. Outside the main thread Python cannot handle signals, so
    nothing is installed there.
    """

    def __init__(self, extra: Mapping[int, Callable[[], None]] | None = None) -> None:
        self._pgid: int | None = None
        self._early: list[int] = []
        self._extra = dict(extra or {})
        self._previous: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}

    def __enter__(self) -> _SignalForwarder:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in FORWARDED_SIGNALS:
                self._previous[sig] = signal.getsignal(sig)
                signal.signal(sig, self._forward)
            for sig_num in self._extra:
                self._previous[sig_num] = signal.getsignal(sig_num)
                signal.signal(sig_num, self._other)
            # Job control: Ctrl-Z stops us (we are in the terminal's foreground group) and must stop the child
            # too, which sits in its own session; `fg` / `bg` then continue both.
            for sig_num, handler in ((signal.SIGTSTP, self._suspend), (signal.SIGCONT, self._resume)):
                self._previous[sig_num] = signal.getsignal(sig_num)
                signal.signal(sig_num, handler)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def started(self, pgid: int) -> None:
        self._pgid = pgid
        for signum in self._early:
            self._send(signum)
        self._early.clear()

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if self._pgid is None:
            self._early.append(signum)
        else:
            self._send(signum)

    def _other(self, signum: int, _frame: FrameType | None) -> None:
        self._extra[signum]()

    def _suspend(self, _signum: int, _frame: FrameType | None) -> None:
        # SIGSTOP, not SIGTSTP: the child's process group is orphaned (its parent is in another session), and
        # the kernel discards terminal stop signals sent to orphaned groups.
        if self._pgid is not None:
            self._send(signal.SIGSTOP)
        os.kill(os.getpid(), signal.SIGSTOP)

    def _resume(self, _signum: int, _frame: FrameType | None) -> None:
        if self._pgid is not None:
            self._send(signal.SIGCONT)

    def _send(self, signum: int) -> None:
        assert self._pgid is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pgid, signum)


def run_child(
    cmd: Sequence[str],
    plan: InjectionPlan,
    *,
    masking: bool = True,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    use_pty: bool | None = None,
    cwd: Path | None = None,
    limits: RunLimits | None = None,
) -> int:
    """Run ``cmd`` with the plan's environment and its output masked; returns its exit status (128 + N when
    signal N killed it). ``limits`` bound its lifetime (see :class:`RunLimits`; masked runs only).

    ``stdin``/``stdout``/``stderr`` are file descriptors (default: ours). ``use_pty`` defaults to "our stdout
    is a terminal"; with a pty the child sees a terminal on stdout (and on stdin/stderr where ours are
    terminals).
    """
    _check_command(cmd)
    in_fd = 0 if stdin is None else stdin
    out_fd = 1 if stdout is None else stdout
    err_fd = 2 if stderr is None else stderr
    if not masking:
        return _spawn_unmasked(cmd, plan, in_fd, out_fd, err_fd, cwd)
    if use_pty is None:
        use_pty = os.isatty(out_fd)
    limits = limits or RunLimits()
    if limits.contain:
        from unleak.reaper import become_subreaper, protect_process

        protect_process()
        become_subreaper()
    return _spawn_masked(cmd, plan, in_fd, out_fd, err_fd, use_pty, cwd, limits)


def spawn(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None, *, confine: bool = False, **kwargs: object
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session (signals reach its whole group and nothing else); a command that cannot
    start is a :class:`CommandNotFoundError` (exit 127), named by its program only.

    ``confine``: the child runs in a Landlock domain without access to unleak's directories (vault and key,
    grants, policy, audit log) — see :mod:`unleak.confine`; unconfined where the kernel has no Landlock."""
    ruleset_fd = None
    from unleak.agent.sandboxenv import ENV_AGENT, sandbox_ports

    # Whatever `unleak agent`'s broker starts for the agent is confined like the agent (and to its TCP ports).
    if confine or os.environ.get(ENV_AGENT):
        from unleak import confine as cf

        hook = cf.preexec(connect_ports=sandbox_ports())
        if hook is not None:
            restrict, ruleset_fd = hook
            inner = kwargs.pop("preexec_fn", None)

            def both() -> None:  # pragma: no cover - runs in the child between fork and exec
                if callable(inner):
                    inner()
                restrict()

            kwargs["preexec_fn"] = both
    try:
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            list(cmd), env=dict(env), cwd=cwd, start_new_session=True, close_fds=True, **kwargs
        )
    except FileNotFoundError:
        raise CommandNotFoundError(f"command not found: {cmd[0]!r}") from None
    except PermissionError:
        raise CommandNotFoundError(f"command is not executable: {cmd[0]!r}") from None
    except OSError as exc:
        raise CommandNotFoundError(f"cannot run {cmd[0]!r}: {exc.strerror}") from None
    finally:
        if ruleset_fd is not None:
            os.close(ruleset_fd)


def spawn_supervised(
    cmd: Sequence[str], env: Mapping[str, str], cwd: Path | None, *, confine: bool = False, **kwargs: object
) -> subprocess.Popen[bytes]:
    """:func:`spawn` ``cmd`` under the :mod:`unleak.reaper` supervisor, for a caller that has other children (the
    MCP server): everything ``cmd`` starts dies with it. End it early with :func:`stop_supervised`."""
    import shutil

    from unleak.reaper import supervisor_argv

    _check_command(cmd)
    prog = cmd[0]
    if "/" in prog:
        path = Path(prog) if os.path.isabs(prog) else (cwd or Path.cwd()) / prog
        found = str(path) if path.is_file() and os.access(path, os.X_OK) else None
    else:
        found = shutil.which(prog, path=env.get("PATH", os.defpath))
    if found is None:
        # The same message spawn() gives, before the supervisor exists.
        raise CommandNotFoundError(f"command not found: {prog!r}")
    return spawn(supervisor_argv(list(cmd)), env, cwd, confine=confine, **kwargs)


def stop_supervised(proc: subprocess.Popen[bytes]) -> None:
    """Stop a :func:`spawn_supervised` run: the supervisor kills the whole tree and exits (SIGKILL after 5 s if
    it does not)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _spawn_unmasked(
    cmd: Sequence[str], plan: InjectionPlan, in_fd: int, out_fd: int, err_fd: int, cwd: Path | None
) -> int:
    with _SignalForwarder() as forwarder:
        proc = spawn(cmd, plan.env, cwd, stdin=in_fd, stdout=out_fd, stderr=err_fd)
        forwarder.started(proc.pid)
        while True:
            try:
                return exit_status(proc.wait())
            except InterruptedError:
                continue


def _spawn_masked(
    cmd: Sequence[str],
    plan: InjectionPlan,
    in_fd: int,
    out_fd: int,
    err_fd: int,
    use_pty: bool,
    cwd: Path | None,
    limits: RunLimits,
) -> int:
    to_close: list[int] = []  # child-side ends, closed in the parent once the child has them
    relay_stdin = False
    if use_pty:
        out_master, out_slave = os.openpty()
        _copy_winsize(out_fd, out_slave)
        to_close.append(out_slave)
        if os.isatty(err_fd):
            err_master, err_slave = os.openpty()
            _copy_winsize(err_fd, err_slave)
        else:
            err_master, err_slave = os.pipe()
        to_close.append(err_slave)
        # With a terminal on both sides the child reads its input from the pty too (so /dev/tty, getpass and
        # line editing work); our terminal goes raw and we copy keystrokes across, as `script` does.
        relay_stdin = os.isatty(in_fd) and _in_foreground(in_fd)
        child_in = out_slave if relay_stdin else in_fd
        preexec: Callable[[], None] | None = _become_tty_owner
    else:
        out_master, out_slave = os.pipe()
        err_master, err_slave = os.pipe()
        for fd in (out_master, err_master):
            with contextlib.suppress(OSError, AttributeError):
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        to_close += [out_slave, err_slave]
        child_in = in_fd
        preexec = None
    streams = [
        pump.Stream(out_master, out_fd, Masker(plan.masked)),
        pump.Stream(err_master, err_fd, Masker(plan.masked)),
    ]
    extra: dict[int, Callable[[], None]] = {}
    if use_pty:
        extra[signal.SIGWINCH] = lambda: _copy_winsize(out_fd, out_master)
    saved_tty: list[Any] | None = None
    forwarder = _SignalForwarder(extra)
    try:
        with forwarder:
            try:
                proc = spawn(
                    cmd, plan.env, cwd, stdin=child_in, stdout=out_slave, stderr=err_slave, preexec_fn=preexec
                )
            finally:
                for fd in to_close:
                    os.close(fd)
            forwarder.started(proc.pid)
            if relay_stdin:
                with contextlib.suppress(termios.error):
                    saved_tty = termios.tcgetattr(in_fd)
                    tty.setraw(in_fd)
            pump.pump(proc, streams, in_fd if relay_stdin else None, out_master, limits)
            while True:
                try:
                    returncode = proc.wait()
                    break
                except InterruptedError:
                    continue
    finally:
        if limits.contain:
            kill_descendants()
        if saved_tty is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(in_fd, termios.TCSAFLUSH, saved_tty)
        for stream in streams:
            if stream.read_fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(stream.read_fd)
    return exit_status(returncode)


def run(
    cmd: Sequence[str],
    *,
    env_files: Sequence[Path] = (),
    masking: bool = True,
    override: bool = True,
    cwd: Path | None = None,
    resolver: Resolver | None = None,
    is_reference: IsReference | None = None,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
    use_pty: bool | None = None,
    limits: RunLimits | None = None,
) -> int:
    """Prepare and run in one call (the library form of ``unleak run``); returns the child's exit status."""
    _check_command(cmd)
    plan = prepare(
        env_files, cwd=cwd, override=override, resolver=resolver, is_reference=is_reference
    )
    return run_child(
        cmd, plan, masking=masking, stdin=stdin, stdout=stdout, stderr=stderr, use_pty=use_pty, cwd=cwd,
        limits=limits,
    )
