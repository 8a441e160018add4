"""Where a process stands towards ``unleak agent``: the environment variables the broker sets, the TCP ports the
agent's sandbox may reach, and whether this process is inside it.

A leaf module (standard library only): the error handler, ``unleak run`` and the fast path ask these questions on
every start without loading the broker.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping

from scanner.errors import UsageError

#: the inherited control socket's descriptor number, in the agent's environment
ENV_FD = "UNLEAK_BROKER_FD"
#: the same service at a path, for agents that close inherited descriptors when they start an MCP server
ENV_SOCKET = "UNLEAK_BROKER_SOCKET"
#: set for the agent and for every process the broker starts on its behalf: runs need a grant, children are confined
ENV_AGENT = "UNLEAK_AGENT"
#: the TCP ports the sandbox may connect to (so that unleak's own pages listen elsewhere)
ENV_PORTS = "UNLEAK_AGENT_PORTS"
#: what an agent needs by default: HTTPS to its model's API
DEFAULT_PORTS = (443,)


def parse_ports(specs: Iterable[str]) -> tuple[int, ...]:
    """``443``, ``8000-8010``, ``22,80`` → the ports, sorted; a bad spec is a :class:`UsageError`."""
    ports: set[int] = set()
    for spec in specs:
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            lo, _, hi = part.partition("-")
            try:
                a, b = int(lo), int(hi or lo)
            except ValueError:
                raise UsageError(f"--allow-port {part!r}: give a port (443) or a range (8000-8010)") from None
            if not 1 <= a <= b <= 65535:
                raise UsageError(f"--allow-port {part!r}: ports are 1-65535, low to high")
            ports.update(range(a, b + 1))
    return tuple(sorted(ports))


def format_ports(ports: Collection[int]) -> str:
    """The ports as ranges (``22,443,8000-8010``)."""
    out: list[str] = []
    run: list[int] = []
    for p in sorted(ports):
        if run and p == run[-1] + 1:
            run.append(p)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [p]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


def sandbox_ports(environ: Mapping[str, str] | None = None) -> tuple[int, ...] | None:
    """The ports the agent's sandbox may connect to, when this process works for one (None otherwise)."""
    env = os.environ if environ is None else environ
    spec = env.get(ENV_PORTS)
    if spec is None:
        return None
    try:
        return parse_ports([spec]) if spec else ()
    except UsageError:
        return ()


def inside(environ: Mapping[str, str] | None = None) -> bool:
    """True in the agent's sandbox of ``unleak agent`` (or anything it started)."""
    env = os.environ if environ is None else environ
    return ENV_FD in env or ENV_SOCKET in env
