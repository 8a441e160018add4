"""``unleak agent -- CMD``: a broker outside the sandbox, the agent inside it.

The broker is the process the human starts. It keeps everything that must stay out of the agent's reach — the
vault and its key, grants, policy and the audit log are read only by processes it starts *outside* the sandbox —
and runs the agent (``claude``, ``codex``, any command) in a Landlock domain that cannot read or write unleak's
data, state and config directories and can open TCP connections only to the ports it was allowed (443 by default,
never the port of unleak's approval page, which Landlock's port rules cannot tell apart from any other loopback
port unless it is left out).

Inside, ``unleak mcp`` and ``unleak run`` are thin clients: they find the broker's control socket in the inherited
file descriptor named by ``UNLEAK_BROKER_FD`` and hand it their own standard streams (``SCM_RIGHTS``) with what to
do. The broker starts the real command outside the sandbox on those very streams — the MCP server with the vault
key, ``unleak run`` under the grant rules — so no byte of the conversation passes through the agent's domain,
and the client waits for the exit status. The broker is the child subreaper of the whole tree: when the agent
exits, everything it or the broker started is killed.

The control socket is ``SOCK_SEQPACKET``: each request is one message with its descriptors attached, so clients
started in parallel (several MCP servers, a run from the shell) never interleave. Agents that close inherited
descriptors before they start an MCP server (Python's ``subprocess`` does by default) reach the same service at
the path in ``UNLEAK_BROKER_SOCKET`` (a 0700 directory of the broker's); the broker serves a connection there only
when the peer is one of its own descendants (``SO_PEERCRED``).

Only the standard library here: ``unleak mcp`` and ``unleak run`` inside the sandbox import nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import UnleakError, UsageError
from scanner.workerproc import PR_SET_PDEATHSIG, prctl
from unleak.agent.sandboxenv import (
    DEFAULT_PORTS,
    ENV_AGENT,
    ENV_FD,
    ENV_PORTS,
    ENV_SOCKET,
    format_ports,
    sandbox_ports,
)

_MAX_MESSAGE = 1 << 16
_MAX_FDS = 4


# ------------------------------------------------------------------------------------------------ settings


def approval_port(environ: Mapping[str, str] | None = None) -> int:
    """The port for unleak's approval page: 0 (any) normally; inside ``unleak agent`` a free port the sandbox cannot
    connect to. Chosen by binding, so it is free now; the page binds it again at once."""
    allowed = sandbox_ports(environ)
    if not allowed:
        return 0
    for _ in range(64):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in allowed:
            return port
    raise UnleakError("no free port outside the agent's allowed ports for the approval page; allow fewer ports")


@dataclass(frozen=True)
class Sandbox:
    """What the agent's Landlock domain denies, as ``doctor`` and the start-up banner report it."""

    abi: int
    deny: tuple[Path, ...]
    #: TCP ports the agent may connect to; None when the kernel cannot restrict TCP (the approval port is reachable)
    connect_ports: tuple[int, ...] | None

    @property
    def confined(self) -> bool:
        return self.abi > 0

    def warnings(self) -> list[str]:
        out: list[str] = []
        if not self.confined:
            out.append("Landlock is not available on this system (Linux >= 5.13 with landlock in the LSM list): the "
                       "agent runs UNCONFINED and can read unleak's vault key, grants and audit log as before")
        elif self.connect_ports is None:
            from unleak.confine import NET_ABI

            out.append(f"Landlock ABI {self.abi} has no TCP rules (needs {NET_ABI}, Linux >= 6.7): the agent can "
                       "connect to unleak's approval page; approve only in your own terminal")
        return out


def sandbox(allow_ports: Collection[int] = DEFAULT_PORTS) -> Sandbox:
    from unleak import confine

    version = confine.abi()
    ports = tuple(sorted(set(allow_ports))) if version >= confine.NET_ABI else None
    return Sandbox(abi=version, deny=confine.unleak_dirs(), connect_ports=ports)


def session(allow_ports: Sequence[str], command: Sequence[str], warn: Callable[[str], None]) -> int:
    """``unleak agent -- COMMAND``: the broker here, COMMAND in the sandbox; COMMAND's exit status. Each reason the
    sandbox's guarantees do not hold here goes to ``warn`` first (said at every start, loudly)."""
    from unleak.agent.sandboxenv import parse_ports

    box = sandbox(parse_ports(allow_ports))
    for warning in box.warnings():
        warn(warning)
    register_project(warn)
    return Broker(box, dict(os.environ)).run(command)


def register_project(warn: Callable[[str], None]) -> None:
    """Record the repository the human starts the agent in under its vault namespace, before the agent runs: a
    vault made before repositories were registered is then this repository's, and a directory of the same name
    that the agent creates cannot claim it (see remediate.vault.identity). Imported here, outside the sandbox."""
    from remediate.vault import repository_namespace
    from scanner import git

    if git.repository_identity(Path.cwd()) is None:
        return  # not a repository (a home or scratch directory): nothing to claim
    try:
        repository_namespace(Path.cwd(), register=True)
    except UnleakError as exc:
        warn(f"could not register this repository's vault namespace: {exc}")


# ------------------------------------------------------------------------------------------------- the broker


def _send(sock: socket.socket, data: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(json.dumps(data).encode() + b"\n")


@dataclass
class Broker:
    """Starts the agent confined and serves its thin clients until it exits."""

    box: Sandbox
    #: the environment of everything the broker starts outside the sandbox (the human's, at start)
    environ: Mapping[str, str]
    #: the warm process brokered runs are forked from (None: each run starts an interpreter)
    zygote: Any = field(default=None, init=False)

    def child_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.environ.items() if k not in (ENV_FD, ENV_SOCKET)}
        env[ENV_AGENT] = "1"
        if self.box.connect_ports is not None:
            env[ENV_PORTS] = format_ports(self.box.connect_ports)
        return env

    def run(self, cmd: Sequence[str], cwd: Path | None = None) -> int:
        """Run the agent ``cmd`` to its end; returns its exit status as a shell reports it."""
        from unleak import confine, reaper
        from unleak.userenv import ensure_private_dir

        if not cmd:
            raise UsageError("no command given: use `unleak agent -- COMMAND [ARGS...]`")
        reaper.protect_process()
        reaper.become_subreaper()
        # Created before the domain is planned, so the agent can neither create them nor plant files in them.
        for d in self.box.deny:
            ensure_private_dir(d)
        from unleak import integrity

        integrity.key()
        hook = None
        if self.box.confined:
            hook = confine.preexec(self.box.deny, connect_ports=self.box.connect_ports)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        import tempfile

        rundir = tempfile.mkdtemp(prefix="unleak-agent-", dir=os.environ.get("XDG_RUNTIME_DIR") or None)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(os.path.join(rundir, "broker.sock"))
        listener.listen(16)
        env = self.child_env()
        env[ENV_FD] = str(theirs.fileno())
        env[ENV_SOCKET] = os.path.join(rundir, "broker.sock")
        if os.environ.get("UNLEAK_AGENT_NO_ZYGOTE") != "1":
            from unleak.agent.zygote import Zygote

            self.zygote = Zygote.start(self.child_env(), confine_git)  # forked before any thread of ours exists
        threading.Thread(target=self._serve, args=(ours,), daemon=True, name="unleak-broker").start()
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="unleak-broker-path").start()
        try:
            try:
                # Same process group and terminal as us: the agent is the foreground job (a TUI needs that);
                # Ctrl-C reaches it directly, and we ignore it while it runs, as a shell does.
                proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, pass_fds=(theirs.fileno(),),
                                        preexec_fn=_agent_setup(hook[0] if hook else None))
            except FileNotFoundError:
                from unleak.run import CommandNotFoundError

                raise CommandNotFoundError(f"command not found: {cmd[0]!r}") from None
            except PermissionError:
                from unleak.run import CommandNotFoundError

                raise CommandNotFoundError(f"command is not executable: {cmd[0]!r}") from None
            finally:
                theirs.close()
                if hook is not None:
                    os.close(hook[1])
            previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                                                         signal.SIGHUP)}
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGQUIT, signal.SIG_IGN)
                for sig in (signal.SIGTERM, signal.SIGHUP):
                    signal.signal(sig, lambda n, _f: proc.send_signal(n))
                while True:
                    try:
                        code = proc.wait()
                        break
                    except InterruptedError:
                        continue
            finally:
                for s, h in previous.items():
                    signal.signal(s, h if h is not None else signal.SIG_DFL)
        finally:
            # Nothing the agent or we started for it outlives the session: servers, runs, daemons. The run server
            # first (it is always there; without it there is often nothing left to look for).
            if self.zygote is not None:
                self.zygote.close()
            reaper.kill_descendants()
            ours.close()
            listener.close()
            import shutil

            shutil.rmtree(rundir, ignore_errors=True)
        return reaper.exit_status(code)

    def _accept(self, listener: socket.socket) -> None:
        import struct

        from unleak.reaper import descendants

        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            pid = struct.unpack("3i", creds)[0]
            if pid not in descendants(os.getpid())[0]:
                conn.close()  # not the agent's: another session's sandbox, or anybody else
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # -- the control socket

    def _serve(self, ctl: socket.socket) -> None:
        from unleak.agent.zygote import receive

        while True:
            msg, fds = receive(ctl, _MAX_MESSAGE, _MAX_FDS)
            if not msg and not fds:
                return  # every holder of the agent's end has gone, or the socket failed
            threading.Thread(target=self._handle, args=(msg, fds), daemon=True).start()

    def _handle(self, msg: bytes, fds: list[int]) -> None:
        if not fds:
            return
        try:
            status = socket.socket(fileno=fds[0])
        except OSError:  # the agent sent something else than a socket to answer on: nothing to answer
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            return
        streams = fds[1:]
        try:
            try:
                argv, cwd = self._command(msg, len(streams))
            except UsageError as exc:
                _send(status, {"error": str(exc)})
                return
            if self.zygote is not None and argv[len(_BROKERED):len(_BROKERED) + 1] == ["run"]:
                answer = self.zygote.run(argv[len(_BROKERED) + 1:], cwd, status, streams)
                if answer is not None:  # the streams went to the zygote's child and are closed here
                    streams = []
                    _send(status, answer)
                    return
            try:
                # stderr: the run's own for `unleak run`; the human's terminal (ours) for the MCP server, whose
                # log carries approval links the agent must not read.
                proc = subprocess.Popen(argv, env=self.child_env(), cwd=cwd, close_fds=True, stdin=streams[0],
                                        stdout=streams[1], stderr=streams[2] if len(streams) > 2 else None)
            except OSError as exc:
                _send(status, {"error": f"the broker cannot start unleak ({exc.strerror})"})
                return
            for fd in streams:
                os.close(fd)
            streams = []
            # The client going away (the agent stopped its MCP server) ends what it asked for.
            watcher = threading.Thread(target=_end_with_client, args=(status, proc), daemon=True)
            watcher.start()
            code = proc.wait()
            _send(status, {"exit": _shell_status(code)})
        finally:
            for fd in streams:
                with contextlib.suppress(OSError):
                    os.close(fd)
            status.close()

    def _command(self, msg: bytes, nstreams: int) -> tuple[list[str], str]:
        """The unleak command line a request asks for; every field is checked (the agent wrote it)."""
        try:
            req = json.loads(msg.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise UsageError("malformed request to the broker") from None
        if not isinstance(req, dict):
            raise UsageError("malformed request to the broker")
        cwd = req.get("cwd")
        if not isinstance(cwd, str) or not os.path.isabs(cwd) or not os.path.isdir(cwd):
            raise UsageError("the request's working directory is not a directory")
        # -P: the working directory is the agent's repository, and `python -m` would import from it first (a
        # json.py there would run outside the sandbox). This module's entry confines git before anything runs.
        base = list(_BROKERED)
        op = req.get("op")
        if op == "mcp" and nstreams == 2:
            return [*base, "mcp", "-C", cwd, *(["--read-only"] if req.get("read_only") is True else [])], cwd
        if op == "run" and nstreams == 3:
            args = req.get("args")
            if not isinstance(args, list) or not args or not all(isinstance(a, str) and "\0" not in a
                                                                   for a in args):
                raise UsageError("the run request carries no command")
            self._check_env_files(args, cwd)
            # The arguments go to `unleak run`'s own parser, which decides what they mean (options, then
            # COMMAND after them): the same rules as at the human's terminal.
            return [*base, "run", *args], cwd
        raise UsageError("unknown request to the broker")


    def _check_env_files(self, args: Sequence[str], cwd: str) -> None:
        """No reference file from unleak's own directories: the run outside reads it with our access, for the
        agent, which must not learn even the shape of those files."""
        named: list[str] = []
        for i, a in enumerate(args):
            if a == "--" or not a.startswith("-"):
                break
            if a == "--env-file" and i + 1 < len(args):
                named.append(args[i + 1])
            elif a.startswith("--env-file="):
                named.append(a.split("=", 1)[1])
        for name in named:
            real = Path(os.path.realpath(os.path.join(cwd, name)))
            if any(real == d or d in real.parents for d in map(Path, map(os.path.realpath, self.box.deny))):
                raise UsageError("--env-file names a file in unleak's own directories, which the agent may not use")


_BROKERED = (sys.executable, "-P", "-m", "unleak.agent.brokered")


def _shell_status(code: int) -> int:
    return 128 - code if code < 0 else code


def _agent_setup(restrict: Callable[[], None] | None) -> Callable[[], None]:
    def setup() -> None:  # pragma: no cover - runs in the child between fork and exec
        # The broker gone (killed), the agent must not go on without it: SIGTERM, as a closing terminal sends.
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if restrict is not None:
            restrict()

    return setup


def _end_with_client(status: socket.socket, proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        while status.recv(1):
            pass
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()


def confine_git() -> None:
    """Every git this process starts runs in the agent's sandbox: the repository is the agent's, and its config can
    name commands git runs (``core.fsmonitor``, filter drivers), which must not run with our access to the key."""
    from scanner.git import proc
    from unleak import confine

    if not confine.available():
        return
    ports = sandbox_ports() if confine.abi() >= confine.NET_ABI else None
    fd = confine.ruleset(confine.plan(confine.unleak_dirs()), connect_ports=ports)  # close-on-exec, kept open

    def enter() -> None:  # pragma: no cover - runs in the child between fork and exec
        confine.restrict(fd)

    proc.child_setup = enter
