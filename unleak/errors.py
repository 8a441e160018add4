"""Exit codes and the one error handler of the front door (pre-commit's ``error_handler`` is the model).

Every entry point — the click group (:mod:`unleak.cli`) and the click-free pre-commit entry (:mod:`unleak.fastpath`)
— runs its command inside :func:`error_handler`, so an error means the same message and the same exit code whichever
way the command was parsed. This module imports nothing heavy and not click: the hook path loads it on every commit.

Exit codes (every command): 0 clean, 1 findings or changes needed, 2 usage or configuration error, 3 unexpected
internal error, 130 interrupted. ``unleak run`` returns the child's exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from scanner.errors import UnleakError

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130

__all__ = [
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "UnleakError",
    "error_handler",
    "fail",
    "internal_error",
    "interrupted",
    "usage_message",
]


def internal_error(exc: BaseException) -> str:
    """The message for an unexpected exception: its *type* only, as a message could carry a value that a library
    put there by mistake, and stderr is a channel a log or an agent reads (invariant 1)."""
    return (f"internal error ({type(exc).__name__}); run with UNLEAK_DEBUG=1 is not supported on purpose "
            "because tracebacks can carry values — please report the command you ran")


def usage_message(message: str, command: str | None = None) -> str:
    """The one format of a usage error, whether the parser or the command found it: ``unleak: <what is wrong>``,
    and where a command is known, where its options are listed."""
    return f"{message.rstrip('.')} (see '{command} --help')" if command else message


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, then exit with ``code``."""
    sys.stderr.write(f"unleak: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def interrupted() -> NoReturn:
    """Ctrl-C: one line, exit code 130.

    CPython (3.11) remembers a KeyboardInterrupt that passed through ``exec``/``eval`` of a string — dataclasses and
    namedtuples build their methods that way while a module is imported — and when the interpreter ends it kills itself
    with SIGINT instead of the exit code, even though the interrupt was handled. Evaluating any string clears that
    memory, so the exit code a script or a test reads is 130 whenever the interrupt landed."""
    exec("None")  # a constant; resets the interpreter's "unhandled KeyboardInterrupt" mark
    fail("interrupted", EXIT_INTERRUPTED)


@contextmanager
def error_handler(passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Map every exception raised inside to one line on stderr and a defined exit code; never a traceback.

    ``passthrough`` names exceptions the caller's framework handles itself (click's ``Exit`` and ``Abort``):
    this module must not import click, because the hook path runs through it without click."""
    try:
        yield
    except UnleakError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        interrupted()
    except SystemExit:
        raise
    except BrokenPipeError:
        # The reader went away (``unleak scan | head``): nothing left to tell anyone.
        raise SystemExit(EXIT_CLEAN) from None
    except Exception as exc:
        if passthrough and isinstance(exc, passthrough):
            raise
        if isinstance(exc, PermissionError) and _in_agent_sandbox():
            # Expected, not a bug: the sandbox of `unleak agent` denies unleak's own directories.
            fail("inside `unleak agent` this command cannot reach unleak's vault, grants, policy or audit log (the "
                 "sandbox denies them); run it in your own terminal", EXIT_USAGE)
        fail(internal_error(exc), EXIT_INTERNAL)


def _in_agent_sandbox() -> bool:
    from unleak.agent.sandboxenv import inside

    return inside()
