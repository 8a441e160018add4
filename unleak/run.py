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
import errno
import fcntl
import os
import re
import selectors
import signal
import struct
import subprocess
import sys
import termios
import time
import tty
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from remediate.vault.refs import REFERENCE_PREFIXES
from scanner.errors import BadReferenceError, UnleakError, UsageError
from unleak.masking import Masker, names_too_short
from unleak.reaper import exit_status as exit_status  # re-exported: callers use run.exit_status
from unleak.reaper import kill_descendants

#: set in the child's environment so programs (and nested ``unleak run``) know the values are injected
MARKER = "UNLEAK_RUN"


Resolver = Callable[[str], str]
IsReference = Callable[[str], bool]

# Signals a user or a supervisor sends to "the program"; they go to the child's whole process group.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

_CHUNK = 1 << 16
# Bigger pipes mean fewer wake-ups per megabyte (Linux; silently skipped elsewhere).
_PIPE_SIZE = 1 << 20
# A stream that has been quiet this long gets everything written that cannot begin a value (prompts appear).
_IDLE_FLUSH = 0.02
# After the child exits, grandchildren that still hold the pipe are read until they have been quiet this long.
_LINGER = 2.0


class CommandNotFoundError(UsageError):
    """The command to run does not exist or is not executable (exit 127, as a shell reports it)."""

    exit_code = 127


@dataclass(frozen=True)
class InjectionPlan:
    """What a child gets. ``repr`` shows names only: values never appear in a log or a traceback."""

    env: Mapping[str, str] = field(repr=False)
    secrets: Mapping[str, str] = field(repr=False)
    plain: tuple[str, ...] = ()
    sources: tuple[Path, ...] = ()
    #: plain (non-reference) values whose names say they are secrets: masked too, and the user is told to fix
    plaintext: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def masked(self) -> dict[str, str]:
        """Every value the output masker replaces: resolved references and plaintext secret-named values."""
        return {**self.plaintext, **self.secrets}

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.secrets))

    @property
    def unmasked(self) -> tuple[str, ...]:
        """Names whose values are too short to mask; the caller warns the user about them."""
        return names_too_short(self.masked)

    def __repr__(self) -> str:
        return (
            f"InjectionPlan(secrets={list(self.secret_names)!r}, plain={list(self.plain)!r}, "
            f"plaintext={sorted(self.plaintext)!r}, sources={[str(p) for p in self.sources]!r})"
        )


# A plain value under a name like these is most likely a secret nobody has moved to the vault yet.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIAL|PRIVATE|DSN", re.IGNORECASE)
_NOT_SECRET_VALUE = re.compile(r"(?i)true|false|yes|no|on|off|none|null|[0-9.]+|\$\{[^}]*\}")


def plaintext_secrets(plain: Mapping[str, str]) -> dict[str, str]:
    """Plain values that look like secrets by their variable's name (``API_KEY=...`` still in clear in the
    reference file): the output masks them as well, and the caller tells the user to run ``unleak fix``."""
    return {
        name: value
        for name, value in plain.items()
        if _SECRET_NAME.search(name) and len(value) >= 8 and not _NOT_SECRET_VALUE.fullmatch(value)
    }


# ------------------------------------------------------------------------------------------ reference files


def default_env_file(cwd: Path) -> Path | None:
    """``.env`` in ``cwd``, else ``.env`` at the root of the git work tree that contains ``cwd``."""
    candidate = cwd / ".env"
    if candidate.is_file():
        return candidate
    for parent in (cwd, *cwd.parents):
        if (parent / ".git").exists():
            root_env = parent / ".env"
            return root_env if root_env.is_file() else None
    return None


def read_reference_files(paths: Sequence[Path]) -> dict[str, str]:
    """Variables of all files in order (a later file wins); keys without ``=`` carry nothing, so skip them."""
    from dotenv import dotenv_values

    merged: dict[str, str] = {}
    for path in paths:
        if not path.is_file():
            raise UsageError(f"reference file not found: {path}; pass an existing file with --env-file")
        try:
            # Interpolate ${VAR} like load_dotenv() does, so the program sees the same plain values it saw
            # when it read the file itself (the injected ones win, so its own load_dotenv cannot redo this).
            values = dotenv_values(path, interpolate=True)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read reference file {path} ({type(exc).__name__}); is it a text .env file?"
            ) from None
        for key, value in values.items():
            if value is not None:
                merged[key] = value
    return merged


def _default_resolver() -> tuple[Resolver, IsReference]:
    # Imported here so `unleak run --help` and the scanner never pay for the vault's crypto imports.
    from remediate.vault import resolve_reference
    from remediate.vault.refs import is_reference

    return resolve_reference, is_reference


def resolve_values(
    variables: Mapping[str, str],
    resolver: Resolver | None = None,
    is_reference: IsReference | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Split variables into (resolved secrets, plain values).

    Every reference is resolved here, before any child starts; failures are collected so one run names every
    bad reference at once (by variable and reference, never by value).
    """
    if resolver is None or is_reference is None:
        default_resolve, default_is_ref = _default_resolver()
        resolver = resolver or default_resolve
        is_reference = is_reference or default_is_ref
    secrets: dict[str, str] = {}
    plain: dict[str, str] = {}
    problems: list[str] = []
    for name, value in variables.items():
        # A value that starts like a reference but does not parse is a broken reference, not a plain value:
        # passing "unleak://typo" to the program would fail much later and much less clearly.
        if not (is_reference(value) or value.startswith(REFERENCE_PREFIXES)):
            plain[name] = value
            continue
        try:
            secrets[name] = resolver(value)
        except UnleakError as exc:
            problems.append(f"{name}={value} ({exc})")
    if problems:
        raise BadReferenceError(
            "cannot resolve " + "; ".join(problems) + ". The command was not started; store the value with "
            "`unleak fix` or correct the reference."
        )
    return secrets, plain


def build_env(
    base: Mapping[str, str], injected: Mapping[str, str], *, override: bool = True
) -> dict[str, str]:
    """The child's environment: ``base``, then ``injected`` (winning unless ``override`` is false), then the
    marker."""
    env = dict(base)
    for name, value in injected.items():
        if override or name not in env:
            env[name] = value
    env[MARKER] = "1"
    return env


def reference_sources(env_files: Sequence[Path], cwd: Path) -> tuple[Path, ...]:
    """The reference files a run reads: the given ones (relative to ``cwd``), else the default ``.env``."""
    if env_files:
        return tuple(p if p.is_absolute() else cwd / p for p in env_files)
    found = default_env_file(cwd)
    if found is None:
        raise UsageError(
            "no reference file: there is no .env in this directory or at the repository root; "
            "pass one with --env-file FILE"
        )
    return (found,)


def prepare(
    env_files: Sequence[Path] = (),
    *,
    cwd: Path | None = None,
    base_env: Mapping[str, str] | None = None,
    override: bool = True,
    resolver: Resolver | None = None,
    is_reference: IsReference | None = None,
    variables: Mapping[str, str] | None = None,
) -> InjectionPlan:
    """Read, resolve and merge: everything that can fail happens here, before a child exists.

    ``variables`` are the files' contents as already read by a caller that checked them against a grant: the
    file is not read again, so it cannot be swapped between the check and the run."""
    cwd = cwd or Path.cwd()
    sources = reference_sources(env_files, cwd)
    if variables is None:
        variables = read_reference_files(sources)
    secrets, plain = resolve_values(variables, resolver, is_reference)
    env = build_env(os.environ if base_env is None else base_env, {**plain, **secrets}, override=override)
    return InjectionPlan(
        env=env, secrets=secrets, plain=tuple(sorted(plain)), sources=sources, plaintext=plaintext_secrets(plain)
    )


# -------------------------------------------------------------------------------------------------- running


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


def _write_all(fd: int, data: bytes) -> bool:
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


@dataclass
class _Stream:
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
            self.out_ok = _write_all(self.out_fd, data)


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
        _Stream(out_master, out_fd, Masker(plan.masked)),
        _Stream(err_master, err_fd, Masker(plan.masked)),
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
            _pump(proc, streams, in_fd if relay_stdin else None, out_master, limits)
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


def _stop(proc: subprocess.Popen[bytes], limits: RunLimits, reason: str) -> None:
    """End the run now: the command's whole tree when we own it, else its process group."""
    limits.stopped = reason
    if limits.contain:
        kill_descendants(spare=(proc.pid,))
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _pump(
    proc: subprocess.Popen[bytes], streams: list[_Stream], relay_from: int | None, relay_to: int,
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
                    _stop(proc, limits, f"time limit of {limits.timeout:g} s reached")
                elif limits.watch is not None and now >= next_watch:
                    next_watch = now + 1.0
                    reason = limits.watch()
                    if reason is not None:
                        _stop(proc, limits, reason)
            if exited_at is not None and now - max(exited_at, last_activity) >= _LINGER:
                break
    finally:
        for stream in streams:
            if stream.open:
                _close_stream(selector, stream)
        selector.close()


def _close_stream(selector: selectors.BaseSelector, stream: _Stream) -> None:
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
        _write_all(dst, data)


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
