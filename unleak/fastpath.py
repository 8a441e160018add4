"""The console script's entry: ``unleak scan --staged [FILE...]`` (the pre-commit hook) without importing click.

A hook runs many times a day, and click with what it pulls in is ~10 ms of a ~60 ms run. An invocation made only of
``scan``, ``--staged`` or ``--changes`` and the plain options a hook passes is parsed here and handed to the very
function the click command calls (:func:`unleak.scancmd.run_scan`); anything else — help, paths, other commands, an
unknown, repeated or malformed option — goes to :mod:`unleak.cli`, which owns every message. A test proves that
for each accepted command line this parse equals click's.

Errors map to the same one-line messages and exit codes as the click command (see ``unleak.cli._Group``). After a
fast run the process ends with ``os._exit`` once stdout and stderr are flushed: the scan leaves nothing for
interpreter teardown to do, and tearing down every imported module is ~8 ms.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

_FLAGS = {"--staged": "staged", "--changes": "changes", "--pre-push": "pre_push", "--no-baseline": "no_baseline",
          "--exit-zero": "exit_zero"}
# option -> (parameter, allowed values or None for any value)
_VALUED: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "--format": ("fmt", ("text", "json", "sarif", "github")),
    "--min-confidence": ("min_confidence", ("high", "medium", "low")),
    "--baseline": ("baseline_path", None),
    "--config": ("config_path", None),
    "-C": ("repo_dir", None),
    "--repo": ("repo_dir", None),
}
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


def parse(argv: Sequence[str]) -> dict[str, Any] | None:
    """The keyword arguments of :func:`~unleak.scancmd.run_scan` for a hook-style command line, or None when
    click should handle it."""
    if not argv or argv[0] != "scan":
        return None
    params: dict[str, Any] = {}
    paths: list[str] = []
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--":  # everything after it is a path, as for click
            paths += rest
            break
        if arg and not arg.startswith("-"):  # a file name pre-commit passes
            paths.append(arg)
            continue
        if arg in _FLAGS:
            name = _FLAGS[arg]
            if name in params:
                return None
            params[name] = True
            continue
        opt, eq, value = arg.partition("=")
        if opt not in _VALUED or (eq and not opt.startswith("--")):
            return None
        if not eq:
            if not rest:
                return None
            value = rest.pop(0)
        name, allowed = _VALUED[opt]
        if name in params or not value or value.startswith("-") or (allowed is not None and value not in allowed):
            return None
        params[name] = value
    if not (params.get("staged") or params.get("changes") or params.get("pre_push")):
        return None
    if paths:
        params["paths"] = tuple(paths)
    return params


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    params = parse(args)
    if params is None:
        from unleak.cli import main as cli_main

        cli_main(args)
        return
    try:
        code = _run(params)
        sys.stdout.flush()
        sys.stderr.flush()
    except KeyboardInterrupt:  # between the scan's own handler and here
        code = _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        code = 0
    if argv is None:
        os._exit(code)
    sys.exit(code)


def _run(params: dict[str, Any]) -> int:
    from scanner.errors import UnleakError

    try:
        from unleak.scancmd import run_scan

        return run_scan(**params)
    except UnleakError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        return 0
    except Exception as exc:
        return _fail(internal_error(exc), EXIT_INTERNAL)


def internal_error(exc: BaseException) -> str:
    """The message for an unexpected exception: its *type* only, as a message could carry a value that a library
    put there by mistake, and stderr is a channel a log or an agent reads (invariant 1)."""
    return (f"internal error ({type(exc).__name__}); run with UNLEAK_DEBUG=1 is not supported on purpose "
            "because tracebacks can carry values — please report the command you ran")


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"unleak: {message}\n")
    return code
