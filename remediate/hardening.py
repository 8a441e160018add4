"""Process hardening for code that holds secret values (``fix``, ``secrets``, ``run``, the MCP server, the broker).

A core dump of such a process would write its values to disk, readable by whoever reads the dump (systemd-coredump,
apport, a ``core`` file in the working directory). :func:`no_core_dumps` sets RLIMIT_CORE to 0 (inherited by
children, so nothing we start dumps either) and, on Linux, PR_SET_DUMPABLE to 0 (no dump even when a core pattern
pipes to a helper, and other processes of the same user cannot ptrace or read /proc/PID/mem). Best effort: a
platform without these just keeps its defaults.
"""

from __future__ import annotations

import contextlib
import sys

PR_SET_DUMPABLE = 4


def no_core_dumps() -> None:
    import resource

    with contextlib.suppress(OSError, ValueError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


__all__ = ["no_core_dumps"]
