"""The thin client inside ``unleak agent``: ``unleak run`` and ``unleak mcp`` there hand their command line, working
directory and stdin/stdout/stderr to the broker outside the sandbox (see :mod:`unleak.agent.broker`), over the
socket the agent inherited or the broker's socket path, and exit with the status it answers."""

from __future__ import annotations

import array
import json
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scanner.errors import UsageError
from unleak.agent.sandboxenv import ENV_FD, ENV_SOCKET


class BrokerError(UsageError):
    """``unleak mcp``/``run`` inside ``unleak agent`` cannot reach the broker."""


def _inherited() -> socket.socket | None:
    try:
        fd = int(os.environ.get(ENV_FD, ""))
        sock = socket.socket(fileno=os.dup(fd))
    except (ValueError, OSError):
        return None
    try:
        if sock.family == socket.AF_UNIX and sock.type == socket.SOCK_SEQPACKET:
            return sock
    except OSError:
        pass
    sock.close()
    return None


def _control() -> socket.socket:
    sock = _inherited()
    if sock is not None:
        return sock
    path = os.environ.get(ENV_SOCKET, "")
    if path:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            sock.connect(path)
            return sock
        except OSError:
            sock.close()
    raise BrokerError("inside `unleak agent`, but its broker cannot be reached from here (neither the inherited "
                      f"socket {ENV_FD} nor {ENV_SOCKET}); restart the agent with `unleak agent -- ...`")


def request(op: str, fields: Mapping[str, Any], streams: Sequence[int], cwd: Path | None = None) -> int:
    """Ask the broker to run ``op`` outside the sandbox on our ``streams``; returns its exit status."""
    ctl = _control()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        body = json.dumps({"op": op, "cwd": str((cwd or Path.cwd()).resolve()), **fields}).encode()
        try:
            ctl.sendmsg([body], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                  array.array("i", [theirs.fileno(), *streams]))])
        except OSError as exc:
            raise BrokerError(f"the broker of `unleak agent` is gone ({exc.strerror}); restart the agent") from None
        theirs.close()
        data = b""
        while not data.endswith(b"\n"):
            chunk = ours.recv(4096)
            if not chunk:
                raise BrokerError("the broker of `unleak agent` ended before answering")
            data += chunk
    finally:
        ours.close()
        ctl.close()
    answer = json.loads(data)
    if "error" in answer:
        raise BrokerError(str(answer["error"]))
    return int(answer["exit"])


def serve_mcp(repo: Path, read_only: bool) -> int:
    """``unleak mcp`` inside the sandbox: the broker serves our stdin/stdout with the real server for ``repo``."""
    return request("mcp", {"read_only": read_only}, (0, 1), cwd=repo)


def fast_forward(argv: Sequence[str]) -> int | None:
    """``unleak run ARGS`` / ``unleak mcp [-C DIR] [--read-only]`` inside the sandbox, handed to the broker; None
    for any other command line (the CLI parses it and says what is wrong)."""
    if argv[:1] == ["run"]:
        # `unleak run`'s own parser, outside, reads these arguments as it would here.
        return forward_run(argv[1:])
    if argv[:1] != ["mcp"]:
        return None
    repo, read_only, rest = ".", False, list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--read-only":
            read_only = True
        elif arg in ("-C", "--repo") and rest:
            repo = rest.pop(0)
        elif arg.startswith("--repo="):
            repo = arg.split("=", 1)[1]
        else:
            return None
    if not os.path.isdir(repo):
        return None
    return serve_mcp(Path(repo), read_only)


def forward_run(args: Sequence[str]) -> int:
    """``unleak run ARGS`` inside the sandbox: the broker runs it outside, on our stdin/stdout/stderr."""
    return request("run", {"args": list(args)}, (0, 1, 2))
