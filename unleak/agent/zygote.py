"""A warm process that each brokered ``unleak run`` is forked from, instead of starting a new interpreter.

``unleak run`` in the agent's shell is a thin client: the broker runs the real one outside the sandbox. Started as
``python -P -m unleak.agent.brokered run ...`` that costs a second interpreter and its imports (~150 ms) on every
run. The broker instead forks this process once, at its start, before it starts any thread (a fork of a
single-threaded process is safe; a fork of the threaded broker is not). It imports what a run needs and then only
forks: each request becomes a child that is already warm, takes the client's stdin/stdout/stderr and working
directory, and runs ``unleak run``'s own entry (:func:`unleak.fastpath.main`) with the broker's environment for
its children.

Protocol (a SOCK_SEQPACKET pair with the broker): a request is a JSON ``{"args": [...], "cwd": "..."}`` with four
descriptors: the reply socket, stdin, stdout, stderr. The reply socket gets ``{"exit": N}\\n`` when the run ends, or
``{"error": "..."}\\n``. The broker closes its end of the reply socket when its client goes away: the run is then
terminated (SIGTERM, SIGKILL 5 s later), as the broker does with runs it starts itself. The zygote ends when the
broker's end of the pair closes. Its own module search path has no entry for the working directory (the broker
may have been started with ``python -m`` inside the agent's repository, whose files the agent writes).
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence

_MAX_MESSAGE = 1 << 20
_GRACE = 5.0
_WARM_DELAY = 0.3
_ENTRY = "unleak.fastpath"  # its main() is the console script's: `unleak run` parsed as at the human's terminal


class Zygote:
    """The broker's handle on the zygote process."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.sock, self.pid = sock, pid

    @classmethod
    def start(cls, env: Mapping[str, str], setup: Callable[[], None]) -> Zygote | None:
        """Fork the zygote (call before the broker starts threads); None when it cannot be started. ``setup`` runs
        in it first (the broker confines the git its runs start)."""
        try:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        except OSError:
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the zygote; its behaviour is tested through the runs it serves
            code = 0
            try:
                # Nothing of the broker's but the terminal: not the agent's socket, the listener, the ruleset.
                keep = theirs.fileno()
                os.closerange(3, keep)
                os.closerange(keep + 1, _max_fd())
                _serve(theirs, dict(env), setup)
            except BaseException:  # nothing may unwind into the broker's code in this process
                code = 1
            os._exit(code)
        theirs.close()
        return cls(ours, pid)

    def request(self, args: Sequence[str], cwd: str, reply: int, streams: Sequence[int]) -> bool:
        """Hand a run to the zygote; False when it is gone (the caller starts the run itself)."""
        body = json.dumps({"args": list(args), "cwd": cwd}).encode()
        try:
            self.sock.sendmsg([body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [reply, *streams]))])
        except OSError:
            return False
        return True

    def run(self, args: Sequence[str], cwd: str, status: socket.socket, streams: Sequence[int]
            ) -> dict[str, object] | None:
        """Run ``unleak run ARGS`` as a fork of the zygote on the client's ``streams`` (closed here once handed
        over) and wait for it; the answer for the client, or None when the zygote is gone (``streams`` untouched:
        the caller starts an interpreter instead). The client closing ``status`` ends the run."""
        import threading

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            if not self.request(args, cwd, theirs.fileno(), streams):
                ours.close()
                return None
        finally:
            theirs.close()
        for fd in streams:
            with contextlib.suppress(OSError):
                os.close(fd)

        def end_with_client() -> None:
            # The client going away ends the run: the zygote sees its reply socket shut and terminates it.
            with contextlib.suppress(OSError):
                while status.recv(1):
                    pass
            with contextlib.suppress(OSError):
                ours.shutdown(socket.SHUT_WR)

        threading.Thread(target=end_with_client, daemon=True).start()
        data = b""
        with contextlib.suppress(OSError):
            while not data.endswith(b"\n"):
                chunk = ours.recv(4096)
                if not chunk:
                    break
                data += chunk
        ours.close()
        try:
            answer = json.loads(data)
        except ValueError:
            return {"error": "the run server of `unleak agent` ended before answering"}
        return answer if isinstance(answer, dict) else {"error": "malformed answer from the run server"}

    def close(self) -> None:
        """End the zygote (its runs are the broker's to collect, as descendants)."""
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, 0)


# ------------------------------------------------------------------------------------------- in the zygote


def _max_fd() -> int:  # pragma: no cover - runs in the zygote
    import resource

    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft if 0 < soft < 1 << 20 else 1 << 16


#: What every run imports: loaded once here, so each forked run starts warm. By name: the broker imports this module,
#: and the run's entry (unleak.fastpath) imports the broker.
_WARM = ("unleak.fastpath", "unleak.runcmd", "unleak.run", "unleak.masking", "unleak.agent.policy",
         "unleak.agent.runguard", "remediate.vault.local", "dotenv.main",
         "cryptography.hazmat.primitives.ciphers.aead")


def _preload() -> None:  # pragma: no cover - runs in the zygote
    import importlib

    for name in _WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _serve(sock: socket.socket, env: dict[str, str], setup: Callable[[], None]
           ) -> None:  # pragma: no cover - runs in the zygote
    setup()
    cwd = os.getcwd()
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != cwd]
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the human's Ctrl-C is the agent's, as for the broker
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "request")
    sel.register(wake_r, selectors.EVENT_READ, "child")
    runs: dict[int, socket.socket] = {}  # pid -> reply socket
    deadlines: dict[int, float] = {}  # pid -> when to SIGKILL (its client went away)
    # The imports wait until the agent has started (they would take CPU from its start-up on a small machine), or
    # until the first request, whichever comes first.
    warm_at: float | None = time.monotonic() + _WARM_DELAY
    while True:
        due = [*deadlines.values(), *([warm_at] if warm_at is not None else [])]
        timeout = max(0.0, min(due) - time.monotonic()) if due else None
        events = sel.select(timeout)
        if warm_at is not None and (events or time.monotonic() >= warm_at):
            _preload()
            warm_at = None
        for key, _ in events:
            if key.data == "request":
                msg, fds = receive(sock)
                if not msg and not fds:
                    return  # the broker is gone
                _start(msg, fds, env, runs, sel, sock, wake_r)
            elif key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
            else:  # a reply socket: readable means the broker closed it, its client went away
                pid = key.data
                sel.unregister(key.fileobj)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                deadlines[pid] = time.monotonic() + _GRACE
        _reap(runs, deadlines, sel)
        now = time.monotonic()
        for pid in [p for p, t in deadlines.items() if t <= now]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadlines[pid] = now + 3600


def receive(sock: socket.socket, max_message: int = _MAX_MESSAGE, max_fds: int = 4) -> tuple[bytes, list[int]]:
    """One message and the descriptors it carries (SCM_RIGHTS); ``(b"", [])`` when the socket failed."""
    try:
        msg, anc, _flags, _addr = sock.recvmsg(max_message, socket.CMSG_SPACE(max_fds * 4))
    except OSError:
        return b"", []
    fds: list[int] = []
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(data[: len(data) - len(data) % a.itemsize])
            fds.extend(a)
    return msg, fds


def _start(msg: bytes, fds: list[int], env: Mapping[str, str], runs: dict[int, socket.socket],
           sel: selectors.BaseSelector, sock: socket.socket, wake_r: int) -> None:  # pragma: no cover - zygote
    if len(fds) != 4:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        return
    reply = socket.socket(fileno=fds[0])
    try:
        req = json.loads(msg.decode("utf-8"))
        args, cwd = req["args"], req["cwd"]
        if not (isinstance(args, list) and all(isinstance(a, str) for a in args) and isinstance(cwd, str)):
            raise ValueError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        _answer(reply, {"error": "malformed request to the run server"})
        reply.close()
        for fd in fds[1:]:
            os.close(fd)
        return
    pid = os.fork()
    if pid == 0:
        _child(args, cwd, fds[1:], env, [sock.fileno(), wake_r, reply.fileno(), *(s.fileno() for s in runs.values())])
    for fd in fds[1:]:
        os.close(fd)
    runs[pid] = reply
    sel.register(reply, selectors.EVENT_READ, pid)


def _child(args: list[str], cwd: str, streams: list[int], env: Mapping[str, str],
           close: list[int]) -> None:  # pragma: no cover - the forked run
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in close:
            with contextlib.suppress(OSError):
                os.close(fd)
        for target, fd in enumerate(streams):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        import importlib

        importlib.import_module(_ENTRY).main(["run", *args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # a traceback here would reach the agent's terminal
        code = 3
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap(runs: dict[int, socket.socket], deadlines: dict[int, float],
          sel: selectors.BaseSelector) -> None:  # pragma: no cover - runs in the zygote
    while runs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        reply = runs.pop(pid, None)
        deadlines.pop(pid, None)
        if reply is None:
            continue
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(reply)
        code = os.waitstatus_to_exitcode(status)
        _answer(reply, {"exit": 128 - code if code < 0 else code})
        reply.close()


def _answer(reply: socket.socket, body: dict[str, object]) -> None:  # pragma: no cover - runs in the zygote
    with contextlib.suppress(OSError):
        reply.sendall(json.dumps(body).encode() + b"\n")
